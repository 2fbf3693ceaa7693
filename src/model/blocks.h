// Pieces the llama-family forward passes share: the SwiGLU feed-forward block, the output head and
// stage reporting for traces. Each architecture's forward() still reads top to bottom in its own file.
#pragma once

#include <string_view>

#include "model/model.h"

namespace spool::model {

// The feed-forward half of a layer: x += down(act(gate(n)) * up(n)), n = rms_norm(x) * norm.
struct FeedForwardWeights {
    const float* norm = nullptr;  // [n_embd]
    WeightView gate;              // [n_ff, n_embd]
    WeightView up;                // [n_ff, n_embd]
    WeightView down;              // [n_embd, n_ff]
};

// The attention half of a layer: x += wo · attention(rope(q), rope(k), v) with q, k, v = W (rms_norm(x) * norm)
// (+ bias), and optionally an RMS norm over each q and k head before the rotation (qwen3).
struct AttentionWeights {
    const float* norm = nullptr;    // [n_embd]
    WeightView wq;                  // [n_head * head_dim, n_embd]
    WeightView wk;                  // [n_head_kv * head_dim, n_embd]
    WeightView wv;                  // [n_head_kv * head_dim, n_embd]
    WeightView wo;                  // [n_embd, n_head * head_dim]
    const float* bq = nullptr;      // [n_head * head_dim] or null (qwen2 has biases)
    const float* bk = nullptr;      // [n_head_kv * head_dim] or null
    const float* bv = nullptr;      // [n_head_kv * head_dim] or null
    const float* q_norm = nullptr;  // [head_dim] or null (qwen3 normalizes each head)
    const float* k_norm = nullptr;  // [head_dim] or null
};

// The norms at a block's two ends: `normed_in`, act.normed already holds this block's rms_norm(residual) * norm (the
// block before did it); `next_norm`, the weight of the norm that starts the block after this one, which this block
// then does with its residual add (Backend::matmul_add_rms_norm), or null.
struct NormHandoff {
    bool normed_in = false;
    const float* next_norm = nullptr;
};

// Reports a stage to batch.observer, if any, as "l<layer>.<stage>" (or just <stage> when layer < 0).
void observe(const ForwardBatch& batch, int64_t layer, std::string_view stage, const float* data, int64_t n_cols);

void attention_block(Backend& backend, const AttentionWeights& w, const HParams& hp, const RopeParams& rope,
                     const AttentionParams& attn, const ForwardBatch& batch, int64_t layer, const KvView& kv,
                     NormHandoff norms, Activations& act);

void feed_forward(Backend& backend, const FeedForwardWeights& w, const HParams& hp, const ForwardBatch& batch,
                  int64_t layer, Activation act_fn, NormHandoff norms, Activations& act);

// logits = output · (rms_norm(x) * norm), for the last batch.n_outputs rows of the residual stream (normed_in: the
// last block already normalized every row into act.normed).
void output_head(Backend& backend, const float* norm, const WeightView& output, const HParams& hp,
                 const ForwardBatch& batch, bool normed_in, Activations& act);

}  // namespace spool::model
