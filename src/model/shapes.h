// The exact hyperparameters of real models (from their Hugging Face config.json), and the GGUF tensor list
// that llama.cpp's converter gives each one; `spool synth` builds random-weight models of these shapes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace spool::model {

// Llama 3's "rope_type": "llama3" frequency scaling; factor 0 means none.
struct Llama3RopeScaling {
    double factor = 0;
    double low_freq_factor = 0;
    double high_freq_factor = 0;
    int64_t original_context = 0;  // original_max_position_embeddings
};

struct ModelShape {
    std::string_view name;         // what --shape takes: "llama2-7b"
    std::string_view description;  // the model it copies, and where the numbers come from
    std::string_view arch;         // general.architecture: "llama" or "qwen2"
    int64_t n_embd;
    int64_t n_layer;
    int64_t n_head;
    int64_t n_head_kv;
    int64_t n_ff;
    int64_t n_vocab;
    int64_t n_ctx_train;           // <arch>.context_length (max_position_embeddings)
    double rope_freq_base;
    float norm_eps;                // RMS norm epsilon
    bool tied_embeddings;          // no output.weight: logits use token_embd
    bool qkv_bias;                 // attn_q/k/v have biases (qwen2)
    Llama3RopeScaling rope_scaling;  // adds a rope_freqs tensor when factor != 0
    bool test_only;                // tiny shapes for spool's own tests

    int64_t head_dim() const noexcept { return n_embd / n_head; }
};

std::span<const ModelShape> all_shapes() noexcept;
const ModelShape* find_shape(std::string_view name) noexcept;  // case-insensitive; nullptr if unknown

// What a tensor holds, which decides how synth fills it.
enum class TensorRole { token_embd, output, matrix, norm, bias, rope_freqs };

struct TensorSpec {
    std::string name;          // llama.cpp's GGUF name: "blk.3.attn_q.weight"
    std::vector<int64_t> ne;   // GGUF dims, ne[0] contiguous (the input features of a matrix)
    TensorRole role;
};

// Every tensor of the shape with n_vocab tokens, in llama.cpp's converter order: rope_freqs (llama3 scaling),
// token_embd, then per layer attn_norm, attn_q(+bias), attn_k(+bias), attn_v(+bias), attn_output, ffn_norm,
// ffn_gate, ffn_up, ffn_down; then output_norm and, unless tied, output.
std::vector<TensorSpec> tensor_specs(const ModelShape& shape, int64_t n_vocab);

// The rope_freqs values of a llama3-scaled shape: one divisor per rotated pair, head_dim / 2 of them, computed
// as llama.cpp's converter does from rope_scaling. Empty when the shape has no llama3 scaling.
std::vector<float> llama3_rope_factors(const ModelShape& shape);

// Parameters of the shape with n_vocab tokens (every element of every tensor).
int64_t parameter_count(const ModelShape& shape, int64_t n_vocab);

}  // namespace spool::model
