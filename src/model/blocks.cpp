// The shared llama-family blocks: feed-forward and output head.
#include "model/blocks.h"

#include <string>

namespace spool::model {

void observe(const ForwardBatch& batch, int64_t layer, std::string_view stage, const float* data, int64_t n_cols) {
    if (batch.observer == nullptr) return;
    const std::string name = layer < 0 ? std::string(stage) : "l" + std::to_string(layer) + "." + std::string(stage);
    (*batch.observer)(name, data, batch.n_tokens, n_cols);
}

void feed_forward(Backend& backend, const FeedForwardWeights& w, const HParams& hp, const ForwardBatch& batch,
                  int64_t layer, Activation act_fn, Activations& act) {
    const int64_t n = batch.n_tokens;
    backend.rms_norm(act.residual, w.norm, n, hp.n_embd, hp.rms_eps, act.normed);
    observe(batch, layer, "ffn_norm", act.normed, hp.n_embd);
    backend.matmul(w.gate, act.normed, n, nullptr, act.ffn_gate);
    backend.matmul(w.up, act.normed, n, nullptr, act.ffn_up);
    backend.glu(act.ffn_gate, act.ffn_up, n * hp.n_ff, act_fn, act.ffn_gate);
    observe(batch, layer, "ffn_act", act.ffn_gate, hp.n_ff);
    backend.matmul(w.down, act.ffn_gate, n, nullptr, act.proj);
    backend.add(act.residual, act.proj, n * hp.n_embd, act.residual);
    observe(batch, layer, "resid_after_ffn", act.residual, hp.n_embd);
}

void output_head(Backend& backend, const float* norm, const WeightView& output, const HParams& hp,
                 const ForwardBatch& batch, Activations& act) {
    // Only the rows whose logits are wanted go through the (large) output matmul.
    // A trace wants every row normed; otherwise only the last n_outputs are.
    const int64_t first = batch.observer != nullptr ? 0 : batch.n_tokens - batch.n_outputs;
    const int64_t offset = first * hp.n_embd;
    backend.rms_norm(act.residual + offset, norm, batch.n_tokens - first, hp.n_embd, hp.rms_eps, act.normed + offset);
    observe(batch, -1, "output_norm", act.normed, hp.n_embd);
    const int64_t out_offset = (batch.n_tokens - batch.n_outputs) * hp.n_embd;
    backend.matmul(output, act.normed + out_offset, batch.n_outputs, nullptr, batch.logits);
}

}  // namespace spool::model
