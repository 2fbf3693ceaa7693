// Engine: opens a GGUF model and assembles the pieces every session shares, in dependency order
// (file, then tokenizer and backend, then weights placed for that backend, then the bound model).
#include "spool/engine.h"

#include <algorithm>
#include <string>

#include "backend/registry.h"
#include "core/mib_text.h"
#include "gguf/file.h"
#include "model/registry.h"
#include "runtime/weight_store.h"
#include "spool/errors.h"
#include "tokenizer/tokenizer.h"

namespace spool {
namespace {

// -ngl: a GPU backend holds every layer or none (the caller picks the cpu backend for none).
void check_gpu_layers(const gguf::GgufFile& file, const EngineOptions& options) {
    if (options.n_gpu_layers < 0 || options.backend != "cuda") return;
    const std::string arch = file.architecture();
    const uint64_t n_layer = file.get_u64(arch + ".block_count", 0);
    if (options.n_gpu_layers == 0) {
        throw UsageError("-ngl 0 puts no layer on the GPU: use --backend cpu (or leave -ngl out with --backend cuda)");
    }
    if (n_layer > 0 && static_cast<uint64_t>(options.n_gpu_layers) < n_layer) {
        throw UnsupportedError("-ngl " + std::to_string(options.n_gpu_layers) + " would split the model's " +
                               std::to_string(n_layer) +
                               " layers between the GPU and the CPU, which spool does not support yet; use -ngl " +
                               std::to_string(n_layer) + " (or more) for all layers on the GPU, or --backend cpu");
    }
}

// A device backend holds every weight in its own memory: refuse before the first upload when they cannot fit,
// naming what is needed, what is free and the ways out.
Backend& check_weights_fit(const gguf::GgufFile& file, Backend& backend) {
    if (backend.uses_host_memory()) return backend;
    uint64_t needed = 0;
    for (const gguf::TensorInfo& t : file.tensors()) needed += t.n_bytes;
    const MemoryInfo memory = backend.memory();
    // Keep room for the KV cache, activations and the runtime's own allocations.
    const uint64_t reserve = std::max<uint64_t>(uint64_t{512} << 20, memory.total_bytes / 50);
    if (needed + reserve > memory.free_bytes) {
        throw ResourceError("the model's weights need " + mib_text(needed) + " on the " + backend.name() +
                                " device (plus about " + mib_text(reserve) + " for the KV cache and workspaces), but only " +
                                mib_text(memory.free_bytes) + " of " + mib_text(memory.total_bytes) +
                                " are free; use a smaller quantization of the model, or --backend cpu",
                            needed + reserve, memory.free_bytes);
    }
    return backend;
}

}  // namespace

struct Engine::Parts {
    // Declaration order is destruction order reversed: the model points into the store and the file.
    gguf::GgufFile file;
    tokenizer::Tokenizer tokenizer;
    std::unique_ptr<Backend> backend;
    runtime::WeightStore weights;
    std::unique_ptr<model::Model> model;

    Parts(gguf::GgufFile f, const EngineOptions& options)
        : file(std::move(f)),
          tokenizer(file),
          backend((check_gpu_layers(file, options),
                   make_backend(options.backend, BackendOptions{options.n_threads, options.cpu_isa}))),
          weights(check_weights_fit(file, *backend)),
          model(model::load_model(file, *backend, weights.placer())) {
        const model::HParams& hp = model->hparams();
        if (tokenizer.n_vocab() != hp.n_vocab) {
            throw FormatError(file.path(), 0, "tokenizer.ggml.tokens",
                              "the tokenizer has " + std::to_string(tokenizer.n_vocab()) +
                                  " tokens but the embedding table has " + std::to_string(hp.n_vocab) + " rows");
        }
    }
};

Engine::Engine(const std::filesystem::path& model_path, const EngineOptions& options)
    : parts_(std::make_unique<Parts>(gguf::GgufFile::open(model_path), options)) {}

Engine::~Engine() = default;

const gguf::GgufFile& Engine::file() const noexcept { return parts_->file; }
const tokenizer::Tokenizer& Engine::tokenizer() const noexcept { return parts_->tokenizer; }
const model::Model& Engine::model() const noexcept { return *parts_->model; }
const model::HParams& Engine::hparams() const noexcept { return parts_->model->hparams(); }
Backend& Engine::backend() const noexcept { return *parts_->backend; }

}  // namespace spool
