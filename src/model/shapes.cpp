// The shape table and each shape's GGUF tensor list. Numbers: the models' Hugging Face config.json files
// (checked 2025); tensor names and the rope_freqs formula: llama.cpp's convert_hf_to_gguf.py (LlamaModel).
#include "model/shapes.h"

#include <array>
#include <cctype>
#include <cmath>
#include <numbers>

namespace spool::model {
namespace {

constexpr Llama3RopeScaling kNoScaling{};

// Fields: name, description, arch, n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx_train, rope base,
// norm eps, tied, qkv bias, llama3 rope scaling, test only.
constexpr std::array kShapes = {
    ModelShape{"tinyllama-1.1b", "TinyLlama-1.1B (TinyLlama/TinyLlama-1.1B-Chat-v1.0 config.json)", "llama",
               2048, 22, 32, 4, 5632, 32000, 2048, 10000.0, 1e-5f, false, false, kNoScaling, false},
    ModelShape{"llama2-7b", "Llama-2-7B (meta-llama/Llama-2-7b-hf config.json)", "llama",
               4096, 32, 32, 32, 11008, 32000, 4096, 10000.0, 1e-5f, false, false, kNoScaling, false},
    ModelShape{"llama3.2-1b", "Llama-3.2-1B (meta-llama/Llama-3.2-1B config.json; tied embeddings, llama3 rope)",
               "llama", 2048, 16, 32, 8, 8192, 128256, 131072, 500000.0, 1e-5f, true, false, {32.0, 1.0, 4.0, 8192},
               false},
    ModelShape{"llama3.1-8b", "Llama-3.1-8B (meta-llama/Llama-3.1-8B config.json; llama3 rope)", "llama",
               4096, 32, 32, 8, 14336, 128256, 131072, 500000.0, 1e-5f, false, false, {8.0, 1.0, 4.0, 8192}, false},
    // v0.1's rope base 10000; v0.2 and v0.3 use 1e6 (and v0.3 has 32768 tokens). Shapes are the same.
    ModelShape{"mistral-7b", "Mistral-7B-v0.1 (mistralai/Mistral-7B-v0.1 config.json; rope base 10000 as in v0.1)",
               "llama", 4096, 32, 32, 8, 14336, 32000, 32768, 10000.0, 1e-5f, false, false, kNoScaling, false},
    ModelShape{"qwen2.5-0.5b", "Qwen2.5-0.5B (Qwen/Qwen2.5-0.5B config.json; tied embeddings, qkv biases)", "qwen2",
               896, 24, 14, 2, 4864, 151936, 32768, 1000000.0, 1e-6f, true, true, kNoScaling, false},
    // context 32768 as in Qwen2.5-7B-Instruct; it changes no tensor shape.
    ModelShape{"qwen2.5-7b", "Qwen2.5-7B (Qwen/Qwen2.5-7B-Instruct config.json; qkv biases)", "qwen2",
               3584, 28, 28, 4, 18944, 152064, 32768, 1000000.0, 1e-6f, false, true, kNoScaling, false},
    ModelShape{"test-tiny", "spool test shape: llama, 2 layers, GQA, llama3 rope, untied", "llama",
               256, 2, 4, 2, 512, 32000, 512, 500000.0, 1e-5f, false, false, {8.0, 1.0, 4.0, 64}, true},
    ModelShape{"test-tiny-qwen2", "spool test shape: qwen2, 2 layers, rows of 192 (k-quant fallbacks), tied, biases",
               "qwen2", 192, 2, 6, 2, 512, 32000, 512, 1000000.0, 1e-6f, true, true, kNoScaling, true},
};

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::span<const ModelShape> all_shapes() noexcept { return kShapes; }

const ModelShape* find_shape(std::string_view name) noexcept {
    for (const ModelShape& shape : kShapes) {
        if (iequals(shape.name, name)) return &shape;
    }
    return nullptr;
}

std::vector<TensorSpec> tensor_specs(const ModelShape& s, int64_t n_vocab) {
    const int64_t n_embd_kv = s.head_dim() * s.n_head_kv;
    std::vector<TensorSpec> specs;
    if (s.rope_scaling.factor != 0) specs.push_back({"rope_freqs.weight", {s.head_dim() / 2}, TensorRole::rope_freqs});
    specs.push_back({"token_embd.weight", {s.n_embd, n_vocab}, TensorRole::token_embd});
    for (int64_t l = 0; l < s.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        auto add_projection = [&](const char* what, int64_t rows, bool bias) {
            specs.push_back({p + what + ".weight", {s.n_embd, rows}, TensorRole::matrix});
            if (bias) specs.push_back({p + what + ".bias", {rows}, TensorRole::bias});
        };
        specs.push_back({p + "attn_norm.weight", {s.n_embd}, TensorRole::norm});
        add_projection("attn_q", s.n_embd, s.qkv_bias);
        add_projection("attn_k", n_embd_kv, s.qkv_bias);
        add_projection("attn_v", n_embd_kv, s.qkv_bias);
        add_projection("attn_output", s.n_embd, false);
        specs.push_back({p + "ffn_norm.weight", {s.n_embd}, TensorRole::norm});
        add_projection("ffn_gate", s.n_ff, false);
        add_projection("ffn_up", s.n_ff, false);
        specs.push_back({p + "ffn_down.weight", {s.n_ff, s.n_embd}, TensorRole::matrix});
    }
    specs.push_back({"output_norm.weight", {s.n_embd}, TensorRole::norm});
    if (!s.tied_embeddings) specs.push_back({"output.weight", {s.n_embd, n_vocab}, TensorRole::output});
    return specs;
}

std::vector<float> llama3_rope_factors(const ModelShape& s) {
    const Llama3RopeScaling& r = s.rope_scaling;
    if (r.factor == 0) return {};
    const int64_t dim = s.head_dim();
    const double old_ctx = static_cast<double>(r.original_context);
    const double low_freq_wavelen = old_ctx / r.low_freq_factor;    // longer waves than this are scaled fully
    const double high_freq_wavelen = old_ctx / r.high_freq_factor;  // shorter waves are left alone
    std::vector<float> factors;
    for (int64_t i = 0; i < dim; i += 2) {
        // The converter computes the frequency in float32; the factor is then exact for most pairs.
        const float freq = 1.0f / std::pow(static_cast<float>(s.rope_freq_base), static_cast<float>(i) / dim);
        const double wavelen = 2 * std::numbers::pi / freq;
        double f;
        if (wavelen < high_freq_wavelen) {
            f = 1.0;
        } else if (wavelen > low_freq_wavelen) {
            f = r.factor;
        } else {  // between the two: blend 1/factor and 1 by where the wave falls
            const double smooth = (old_ctx / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
            f = 1.0 / ((1.0 - smooth) / r.factor + smooth);
        }
        factors.push_back(static_cast<float>(f));
    }
    return factors;
}

int64_t parameter_count(const ModelShape& shape, int64_t n_vocab) {
    int64_t total = 0;
    for (const TensorSpec& t : tensor_specs(shape, n_vocab)) {
        int64_t n = 1;
        for (int64_t d : t.ne) n *= d;
        total += n;
    }
    return total;
}

}  // namespace spool::model
