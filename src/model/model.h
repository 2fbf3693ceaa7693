// The model interface: one architecture's bound weights and its forward pass, written once against Backend.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "backend/backend.h"
#include "model/activations.h"
#include "model/hparams.h"

namespace spool::model {

// Called after each named stage of a forward pass with the stage's backend pointer [n_rows, n_cols], for
// layer-by-layer debugging against a trace (names as ../shared/reference/README.md's layer trace: "embd",
// "l0.attn_norm", "l0.q_rope", ..., "output_norm").
using StageObserver = std::function<void(std::string_view name, const float* data, int64_t n_rows, int64_t n_cols)>;

// One batch of consecutive tokens of one sequence.
struct ForwardBatch {
    int64_t n_tokens = 0;
    const int32_t* token_ids = nullptr;  // backend memory, [n_tokens], each < n_vocab
    const int32_t* positions = nullptr;  // backend memory, [n_tokens], each < the KV cache's n_ctx
    int64_t n_outputs = 1;               // logits for the last n_outputs tokens (1..n_tokens)
    float* logits = nullptr;             // backend memory, [n_outputs, n_vocab]
    const StageObserver* observer = nullptr;  // optional
};

class Model {
public:
    virtual ~Model() = default;
    virtual const HParams& hparams() const noexcept = 0;
    // Runs the batch, appending its keys and values to the cache (one KvView per layer) and writing logits.
    // Preconditions: n_tokens <= the capacity `act` was allocated for; kv.size() == n_layer; positions are
    // those of a causal sequence whose earlier rows are already cached. Never throws.
    virtual void forward(Backend& backend, const ForwardBatch& batch, std::span<const KvView> kv,
                         Activations& act) const = 0;
};

}  // namespace spool::model
