// The shared llama-family blocks: feed-forward and output head.
#include "model/blocks.h"

#include <string>

namespace spool::model {

void observe(const ForwardBatch& batch, int64_t layer, std::string_view stage, const float* data, int64_t n_cols) {
    if (batch.observer == nullptr) return;
    const std::string name = layer < 0 ? std::string(stage) : "l" + std::to_string(layer) + "." + std::string(stage);
    (*batch.observer)(name, data, batch.n_tokens, n_cols);
}

namespace {

// residual += W x, and the next block's norm with it where there is one.
void residual_add(Backend& backend, const WeightView& w, const float* x, int64_t n_tokens, const HParams& hp,
                  const float* next_norm, Activations& act) {
    if (next_norm != nullptr) {
        backend.matmul_add_rms_norm(w, x, n_tokens, act.proj, act.residual, next_norm, hp.rms_eps, act.normed);
    } else {
        backend.matmul_add(w, x, n_tokens, act.proj, act.residual);
    }
}

}  // namespace

void attention_block(Backend& backend, const AttentionWeights& w, const HParams& hp, const RopeParams& rope,
                     const AttentionParams& attn, const ForwardBatch& batch, int64_t layer, const KvView& kv,
                     NormHandoff norms, Activations& act) {
    const int64_t n = batch.n_tokens;
    if (!norms.normed_in) backend.rms_norm(act.residual, w.norm, n, hp.n_embd, hp.rms_eps, act.normed);
    observe(batch, layer, "attn_norm", act.normed, hp.n_embd);
    const WeightView qkv[3] = {w.wq, w.wk, w.wv};
    const float* const biases[3] = {w.bq, w.bk, w.bv};
    float* const outputs[3] = {act.q, act.k, act.v};
    if (w.q_norm == nullptr && w.k_norm == nullptr) {
        backend.matmul_qkv_rope_kv_append(qkv, biases, act.normed, n, act.q, act.k, act.v, batch.positions,
                                          attn.n_head, attn.n_head_kv, attn.head_dim, rope, kv);
    } else {  // qwen3: q and k are normalized per head between the projections and the rotation
        backend.matmul_shared_input(3, qkv, biases, act.normed, n, outputs);
        if (w.q_norm != nullptr) backend.rms_norm(act.q, w.q_norm, n * hp.n_head, hp.head_dim, hp.rms_eps, act.q);
        if (w.k_norm != nullptr) backend.rms_norm(act.k, w.k_norm, n * hp.n_head_kv, hp.head_dim, hp.rms_eps, act.k);
        backend.rope_kv_append(act.q, act.k, act.v, batch.positions, n, attn.n_head, attn.n_head_kv, attn.head_dim,
                               rope, kv);
    }
    observe(batch, layer, "q_rope", act.q, hp.q_width());
    observe(batch, layer, "k_rope", act.k, hp.kv_width());
    observe(batch, layer, "v", act.v, hp.kv_width());
    backend.attention(act.q, kv, batch.positions, n, attn, act.attn_out);
    observe(batch, layer, "attn_out_pre_proj", act.attn_out, hp.q_width());
    residual_add(backend, w.wo, act.attn_out, n, hp, norms.next_norm, act);
    observe(batch, layer, "resid_after_attn", act.residual, hp.n_embd);
}

void feed_forward(Backend& backend, const FeedForwardWeights& w, const HParams& hp, const ForwardBatch& batch,
                  int64_t layer, Activation act_fn, NormHandoff norms, Activations& act) {
    const int64_t n = batch.n_tokens;
    if (!norms.normed_in) backend.rms_norm(act.residual, w.norm, n, hp.n_embd, hp.rms_eps, act.normed);
    observe(batch, layer, "ffn_norm", act.normed, hp.n_embd);
    // ffn_up is the gate's scratch; ffn_gate receives act(gate) * up.
    backend.matmul_glu(w.gate, w.up, act.normed, n, act_fn, act.ffn_up, act.ffn_gate);
    observe(batch, layer, "ffn_act", act.ffn_gate, hp.n_ff);
    residual_add(backend, w.down, act.ffn_gate, n, hp, norms.next_norm, act);
    observe(batch, layer, "resid_after_ffn", act.residual, hp.n_embd);
}

void output_head(Backend& backend, const float* norm, const WeightView& output, const HParams& hp,
                 const ForwardBatch& batch, bool normed_in, Activations& act) {
    // Only the rows whose logits are wanted go through the (large) output matmul.
    // A trace wants every row normed; otherwise only the last n_outputs are.
    const int64_t first = batch.observer != nullptr ? 0 : batch.n_tokens - batch.n_outputs;
    const int64_t offset = first * hp.n_embd;
    if (!normed_in) {
        backend.rms_norm(act.residual + offset, norm, batch.n_tokens - first, hp.n_embd, hp.rms_eps,
                         act.normed + offset);
    }
    observe(batch, -1, "output_norm", act.normed, hp.n_embd);
    const int64_t out_offset = (batch.n_tokens - batch.n_outputs) * hp.n_embd;
    backend.matmul(output, act.normed + out_offset, batch.n_outputs, nullptr, batch.logits);
}

}  // namespace spool::model
