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
    // Splitting a model between the GPU and the CPU (0 < n < layers) is not supported yet: UnsupportedError.
    int n_gpu_layers = -1;
};

class Engine {
public:
    // Maps the GGUF file, reads its tokenizer, creates the backend and binds every weight.
    // Throws SystemError (cannot open or map), FormatError (invalid file, missing tensor, wrong shape),
    // UnsupportedError (architecture, tensor type, tokenizer or backend spool lacks), ResourceError (memory).
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
    Backend& backend() const noexcept;

private:
    struct Parts;
    std::unique_ptr<Parts> parts_;
};

}  // namespace spool
