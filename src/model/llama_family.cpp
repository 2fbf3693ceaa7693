// The llama-family model: binds the tensors the traits ask for, each on the backend of the stage that uses it,
// and runs the shared blocks (model/blocks.h) over a stage's layer range.
#include "model/llama_family.h"

#include <cmath>
#include <string>
#include <vector>

#include "model/blocks.h"

namespace spool::model {
namespace {

struct Layer {
    AttentionWeights attn;
    FeedForwardWeights ffn;
    RopeParams rope;  // per layer: its rope factors (llama3) live on the layer's backend
};

class LlamaFamily final : public Model {
public:
    LlamaFamily(const ModelBinder& binder, const LlamaFamilyTraits& traits)
        : hp_(read_hparams(binder.file(), traits.rope_mode)) {
        binder.check_layer_count(hp_.n_layer);
        stages_ = binder.stages(hp_.n_layer);
        const WeightBinder& in = binder.input();
        token_embd_ = in.table("token_embd.weight", hp_.n_embd, hp_.n_vocab);
        const WeightBinder& out = binder.output();
        output_norm_ = out.vector("output_norm.weight", hp_.n_embd);
        // Tied embeddings (SmolLM, small Qwen models, the tiny test model) have no output.weight.
        output_ = out.has("output.weight") ? out.matrix("output.weight", hp_.n_embd, hp_.n_vocab)
                                           : out.matrix("token_embd.weight", hp_.n_embd, hp_.n_vocab);
        attn_ = AttentionParams{static_cast<int>(hp_.n_head), static_cast<int>(hp_.n_head_kv),
                                static_cast<int>(hp_.head_dim), 1.0f / std::sqrt(static_cast<float>(hp_.head_dim)), 0};
        for (int64_t l = 0; l < hp_.n_layer; ++l) {
            const WeightBinder& w = binder.layer(l);
            const std::string p = "blk." + std::to_string(l) + ".";
            Layer layer;
            const float* rope_freqs = traits.rope_freqs && w.has("rope_freqs.weight")
                                          ? w.vector("rope_freqs.weight", hp_.n_rot / 2)
                                          : nullptr;
            layer.rope = RopeParams{traits.rope_mode, static_cast<int>(hp_.n_rot), hp_.rope_freq_base,
                                    hp_.rope_freq_scale, rope_freqs};
            layer.attn.norm = w.vector(p + "attn_norm.weight", hp_.n_embd);
            layer.attn.wq = w.matrix(p + "attn_q.weight", hp_.n_embd, hp_.q_width());
            layer.attn.wk = w.matrix(p + "attn_k.weight", hp_.n_embd, hp_.kv_width());
            layer.attn.wv = w.matrix(p + "attn_v.weight", hp_.n_embd, hp_.kv_width());
            if (traits.qkv_bias) {
                layer.attn.bq = w.vector(p + "attn_q.bias", hp_.q_width());
                layer.attn.bk = w.vector(p + "attn_k.bias", hp_.kv_width());
                layer.attn.bv = w.vector(p + "attn_v.bias", hp_.kv_width());
            }
            if (traits.qk_norm) {
                layer.attn.q_norm = w.vector(p + "attn_q_norm.weight", hp_.head_dim);
                layer.attn.k_norm = w.vector(p + "attn_k_norm.weight", hp_.head_dim);
            }
            layer.attn.wo = w.matrix(p + "attn_output.weight", hp_.q_width(), hp_.n_embd);
            layer.ffn.norm = w.vector(p + "ffn_norm.weight", hp_.n_embd);
            layer.ffn.gate = w.matrix(p + "ffn_gate.weight", hp_.n_embd, hp_.n_ff);
            layer.ffn.up = w.matrix(p + "ffn_up.weight", hp_.n_embd, hp_.n_ff);
            layer.ffn.down = w.matrix(p + "ffn_down.weight", hp_.n_ff, hp_.n_embd);
            layers_.push_back(layer);
        }
    }

    const HParams& hparams() const noexcept override { return hp_; }
    std::span<const Stage> stages() const noexcept override { return stages_; }

    void forward_layers(Backend& be, const ForwardBatch& batch, int64_t layer_begin, int64_t layer_end,
                        std::span<const KvView> kv, Activations& act) const override {
        if (layer_begin == 0) {
            be.embed(token_embd_, batch.token_ids, batch.n_tokens, act.residual);
            observe(batch, -1, "embd", act.residual, hp_.n_embd);
        }
        // Each residual add also does the norm that starts the next block (Backend::matmul_add_rms_norm), except in a
        // trace, which observes every norm's output where the norm stands, and after the last layer of this call
        // when another call goes on from there.
        const bool hand_off = batch.observer == nullptr;
        const bool head = layer_end == hp_.n_layer;
        bool normed = false;
        for (int64_t l = layer_begin; l < layer_end; ++l) {
            const Layer& layer = layers_[static_cast<size_t>(l)];
            const float* after_attention = hand_off ? layer.ffn.norm : nullptr;
            attention_block(be, layer.attn, hp_, layer.rope, attn_, batch, l, kv[static_cast<size_t>(l - layer_begin)],
                            {normed, after_attention}, act);
            normed = after_attention != nullptr;
            const float* after_ffn = !hand_off           ? nullptr
                                     : l + 1 < layer_end ? layers_[static_cast<size_t>(l + 1)].attn.norm
                                     : head              ? output_norm_
                                                         : nullptr;
            feed_forward(be, layer.ffn, hp_, batch, l, Activation::silu, {normed, after_ffn}, act);
            normed = after_ffn != nullptr;
        }
        if (head) output_head(be, output_norm_, output_, hp_, batch, normed, act);
    }

private:
    HParams hp_;
    WeightView token_embd_;       // [n_vocab, n_embd]
    const float* output_norm_{};  // [n_embd]
    WeightView output_;           // [n_vocab, n_embd]
    AttentionParams attn_;
    std::vector<Layer> layers_;   // [n_layer]
    std::vector<Stage> stages_;
};

}  // namespace

std::unique_ptr<Model> load_llama_family(const ModelBinder& binder, const LlamaFamilyTraits& traits) {
    return std::make_unique<LlamaFamily>(binder, traits);
}

}  // namespace spool::model
