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

// The layers [layer_begin, layer_end) one backend runs, with their weights in its memory. The first stage
// (layer_begin == 0) also embeds the tokens; the last (layer_end == n_layer) also runs the output norm and head.
// A model split between backends (-ngl) is several stages in layer order; between two of them the caller copies
// the residual stream, the only state that crosses a layer boundary.
struct Stage {
    Backend* backend = nullptr;
    int64_t layer_begin = 0;
    int64_t layer_end = 0;
};

class Model {
public:
    virtual ~Model() = default;
    virtual const HParams& hparams() const noexcept = 0;
    // Where the weights were bound: one or more stages covering [0, n_layer) in order.
    virtual std::span<const Stage> stages() const noexcept = 0;

    // Runs layers [layer_begin, layer_end) of the batch on `backend`, which must be the backend of the stage
    // holding those layers (weights are bound there). layer_begin == 0: embeds batch.token_ids into act.residual
    // first; else act.residual must hold the residual stream after layer_begin - 1 (the previous stage's, copied
    // here). layer_end == n_layer: writes batch.logits last. Keys and values go to kv[l - layer_begin].
    // Preconditions: n_tokens <= the capacity `act` was allocated for; kv.size() == layer_end - layer_begin;
    // positions are those of a causal sequence whose earlier rows are already cached. Never throws.
    virtual void forward_layers(Backend& backend, const ForwardBatch& batch, int64_t layer_begin, int64_t layer_end,
                                std::span<const KvView> kv, Activations& act) const = 0;

    // The whole batch on a model of one stage: kv.size() == n_layer. Never throws.
    void forward(Backend& backend, const ForwardBatch& batch, std::span<const KvView> kv, Activations& act) const {
        forward_layers(backend, batch, 0, hparams().n_layer, kv, act);
    }
};

}  // namespace spool::model
