// spool's public entry point: an Engine holds one model (its mapped GGUF, tokenizer, backend and bound
// weights) and is shared by the Sessions that run sequences on it (session.h).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

namespace spool {

class Backend;
namespace gguf {
class GgufFile;
}
namespace tokenizer {
class Tokenizer;
}
namespace model {
class Model;
struct HParams;
}

struct EngineOptions {
    std::string backend = "cpu";  // "cpu", "cuda" (when built and a GPU is present) or "ref" (slow float64 oracle)
    size_t n_threads = 0;         // cpu backend threads, the caller included; 0 = one per hardware thread
    std::string cpu_isa;          // cpu kernel set: "auto", "scalar", "avx2", "avx512"; "" = $SPOOL_CPU_ISA or auto
    // Layers on a GPU backend, as llama.cpp's -ngl: -1 = all (the default), >= the model's layer count = all.
    // 0 < n < n_layer splits the model: the LAST n layers, the output norm and the head run on `backend`; the
    // token embedding and the first n_layer - n layers run on `cpu_layers_backend`. (llama.cpp keeps the head
    // on the CPU when n == n_layer exactly; spool runs it on the GPU whenever the last layer is there.)
    // Applies when `backend` is "cuda", or to any backend when cpu_layers_backend is set; ignored otherwise.
    // 0 with a split backend is a UsageError (use backend "cpu"); so is a value below -1.
    int n_gpu_layers = -1;
    // For tests and diagnostics: the backend of the layers -ngl keeps off `backend`; "" = "cpu". Setting it
    // makes -ngl split any backend, so a machine without a GPU can run a split between two host backends
    // (backend "ref", cpu_layers_backend "cpu"). It gets n_threads and cpu_isa as `backend` does.
    std::string cpu_layers_backend;
};

class Engine {
public:
    // Maps the GGUF file, reads its tokenizer, creates the backend (two with a -ngl split) and binds every weight
    // on the backend that runs it. Throws SystemError (cannot open or map), FormatError (invalid file, missing
    // tensor, wrong shape), UnsupportedError (architecture, tensor type, tokenizer or backend spool lacks),
    // ResourceError (memory), UsageError (an -ngl value that cannot be honoured).
    explicit Engine(const std::filesystem::path& model_path, const EngineOptions& options = {});
    ~Engine();
    // Sessions keep a reference to their engine, so it neither copies nor moves.
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    const gguf::GgufFile& file() const noexcept;
    const tokenizer::Tokenizer& tokenizer() const noexcept;
    const model::Model& model() const noexcept;
    const model::HParams& hparams() const noexcept;
    // The backend runs one session's ops at a time: sessions of one engine must not run concurrently.
    // With a -ngl split it is the backend of the last stage (the offloaded layers and the output head);
    // model().stages() lists every stage and its backend.
    Backend& backend() const noexcept;

private:
    struct Parts;
    std::unique_ptr<Parts> parts_;
};

}  // namespace spool
