// Engine: opens a GGUF model and assembles the pieces every session shares, in dependency order
// (file, then tokenizer and backends (two for a -ngl split), then weights placed for the backend of the stage
// that uses them, then the bound model).
#include "spool/engine.h"

#include <algorithm>
#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "backend/registry.h"
#include "core/mib_text.h"
#include "gguf/file.h"
#include "model/registry.h"
#include "runtime/layer_split.h"
#include "runtime/weight_store.h"
#include "spool/errors.h"
#include "tokenizer/tokenizer.h"

namespace spool {
namespace {

int64_t layer_count(const gguf::GgufFile& file) {
    // The hyperparameters are read (and validated) when the model is bound; a missing count fails there.
    return static_cast<int64_t>(file.get_u64(file.architecture() + ".block_count", 0));
}

std::vector<model::StagePlacement> placements(const std::vector<runtime::StagePlan>& plan,
                                              const std::vector<std::unique_ptr<Backend>>& backends,
                                              const std::function<model::TensorPlacer(size_t)>& placer_of) {
    std::vector<model::StagePlacement> out;
    for (size_t i = 0; i < plan.size(); ++i) out.push_back({backends[i].get(), placer_of(i), plan[i].layer_begin});
    return out;
}

// The bytes of the weights each stage binds, found by binding the model with placers that only count: exactly
// what the stage's backend will hold (a tied embedding counts on both ends of a split), before any upload.
std::vector<uint64_t> weight_bytes(const gguf::GgufFile& file, const std::vector<runtime::StagePlan>& plan,
                                   const std::vector<std::unique_ptr<Backend>>& backends) {
    std::vector<std::unordered_set<const gguf::TensorInfo*>> bound(plan.size());
    model::load_model(file, placements(plan, backends, [&bound](size_t i) -> model::TensorPlacer {
                          return [&bound, i](const gguf::TensorInfo& t) -> const void* {
                              bound[i].insert(&t);
                              return t.data;
                          };
                      }));
    std::vector<uint64_t> bytes(plan.size(), 0);
    for (size_t i = 0; i < plan.size(); ++i) {
        for (const gguf::TensorInfo* t : bound[i]) bytes[i] += t->n_bytes;
    }
    return bytes;
}

// A device backend holds its stage's weights in its own memory: refuse before the first upload when they cannot
// fit, naming what is needed, what is free and the ways out.
void check_weights_fit(const gguf::GgufFile& file, const std::vector<runtime::StagePlan>& plan,
                       const std::vector<std::unique_ptr<Backend>>& backends, int64_t n_layer) {
    const bool any_device = std::any_of(backends.begin(), backends.end(),
                                        [](const std::unique_ptr<Backend>& b) { return !b->uses_host_memory(); });
    if (!any_device) return;
    const std::vector<uint64_t> needed = weight_bytes(file, plan, backends);
    for (size_t i = 0; i < plan.size(); ++i) {
        Backend& backend = *backends[i];
        if (backend.uses_host_memory()) continue;
        const MemoryInfo memory = backend.memory();
        // Keep room for the KV cache, activations and the runtime's own allocations.
        const uint64_t reserve = std::max<uint64_t>(uint64_t{512} << 20, memory.total_bytes / 50);
        if (needed[i] + reserve <= memory.free_bytes) continue;
        const int64_t n_offloaded = n_layer - plan[i].layer_begin;
        const std::string what = plan.size() == 1 ? "the model's weights"
                                                  : "the weights of the last " + std::to_string(n_offloaded) +
                                                        " layers (-ngl " + std::to_string(n_offloaded) +
                                                        ") and the output head";
        throw ResourceError(what + " need " + mib_text(needed[i]) + " on the " + backend.name() +
                                " device (plus about " + mib_text(reserve) + " for the KV cache and workspaces), but only " +
                                mib_text(memory.free_bytes) + " of " + mib_text(memory.total_bytes) +
                                " are free; use fewer GPU layers (-ngl N runs only the last N layers on the GPU), a "
                                "smaller quantization of the model, or --backend cpu",
                            needed[i] + reserve, memory.free_bytes);
    }
}

}  // namespace

struct Engine::Parts {
    // Declaration order is destruction order reversed: the model points into the stores and the file, the
    // stores' uploads belong to the backends.
    gguf::GgufFile file;
    tokenizer::Tokenizer tokenizer;
    std::vector<std::unique_ptr<Backend>> backends;             // [stage]
    std::vector<std::unique_ptr<runtime::WeightStore>> stores;  // [stage]
    std::unique_ptr<model::Model> model;

    Parts(gguf::GgufFile f, const EngineOptions& options) : file(std::move(f)), tokenizer(file) {
        const int64_t n_layer = layer_count(file);
        const std::vector<runtime::StagePlan> plan = runtime::plan_stages(options, n_layer);
        for (const runtime::StagePlan& stage : plan) {
            backends.push_back(make_backend(stage.backend, BackendOptions{options.n_threads, options.cpu_isa}));
        }
        check_weights_fit(file, plan, backends, n_layer);
        for (const std::unique_ptr<Backend>& backend : backends) {
            stores.push_back(std::make_unique<runtime::WeightStore>(*backend));
        }
        model = model::load_model(file, placements(plan, backends, [this](size_t i) { return stores[i]->placer(); }));
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
Backend& Engine::backend() const noexcept { return *parts_->backends.back(); }

}  // namespace spool
