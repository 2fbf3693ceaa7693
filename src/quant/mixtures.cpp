// Per-tensor type rules of the quantization mixtures. The rules are facts taken from llama.cpp's
// llama_tensor_get_type (src/llama-quant.cpp, snapshot c392e50, Feb 2025); the code is spool's own.
#include "quant/mixtures.h"

#include <array>
#include <cctype>
#include <charconv>
#include <string>

#include "spool/errors.h"

namespace spool::quant {
namespace {

using T = GgmlType;
using F = FileType;

struct TargetRow {
    std::string_view name;
    F file_type;
    T base_type;
    bool pure;
};

// Mixture names first (as llama-quantize spells them), then the plain k-quant types that have no mixture of
// their own name. A plain type is labelled with the smallest mixture built on it ("mostly Q4_K").
constexpr std::array kTargets = {
    TargetRow{"Q2_K", F::MOSTLY_Q2_K, T::Q2_K, false},     TargetRow{"Q3_K_S", F::MOSTLY_Q3_K_S, T::Q3_K, false},
    TargetRow{"Q3_K_M", F::MOSTLY_Q3_K_M, T::Q3_K, false}, TargetRow{"Q3_K_L", F::MOSTLY_Q3_K_L, T::Q3_K, false},
    TargetRow{"Q4_K_S", F::MOSTLY_Q4_K_S, T::Q4_K, false}, TargetRow{"Q4_K_M", F::MOSTLY_Q4_K_M, T::Q4_K, false},
    TargetRow{"Q5_K_S", F::MOSTLY_Q5_K_S, T::Q5_K, false}, TargetRow{"Q5_K_M", F::MOSTLY_Q5_K_M, T::Q5_K, false},
    TargetRow{"Q6_K", F::MOSTLY_Q6_K, T::Q6_K, false},     TargetRow{"Q8_0", F::MOSTLY_Q8_0, T::Q8_0, false},
    TargetRow{"Q4_0", F::MOSTLY_Q4_0, T::Q4_0, false},     TargetRow{"Q4_1", F::MOSTLY_Q4_1, T::Q4_1, false},
    TargetRow{"Q5_0", F::MOSTLY_Q5_0, T::Q5_0, false},     TargetRow{"Q5_1", F::MOSTLY_Q5_1, T::Q5_1, false},
    TargetRow{"F16", F::MOSTLY_F16, T::F16, false},        TargetRow{"BF16", F::MOSTLY_BF16, T::BF16, false},
    TargetRow{"F32", F::ALL_F32, T::F32, false},           TargetRow{"Q3_K", F::MOSTLY_Q3_K_S, T::Q3_K, true},
    TargetRow{"Q4_K", F::MOSTLY_Q4_K_S, T::Q4_K, true},    TargetRow{"Q5_K", F::MOSTLY_Q5_K_S, T::Q5_K, true},
};

// Index = llama_ftype value; "" marks ids llama.cpp never assigned or retired.
constexpr std::array<std::string_view, 38> kFileTypeNames = {
    "F32",     "F16",    "Q4_0",   "Q4_1",   "Q4_1_SOME_F16", "",       "",       "Q8_0",   "Q5_0",   "Q5_1",
    "Q2_K",    "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S",        "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",   "IQ2_XXS",
    "IQ2_XS",  "Q2_K_S", "IQ3_XS", "IQ3_XXS", "IQ1_S",        "IQ4_NL", "IQ3_S",  "IQ3_M",  "IQ2_S",  "IQ2_M",
    "IQ4_XS",  "IQ1_M",  "BF16",   "Q4_0_4_4", "Q4_0_4_8",    "Q4_0_8_8", "TQ1_0", "TQ2_0",
};

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// The N of "blk.N." anywhere in the name, or 0. llama.cpp counts tensors in its load order, which sorts
// by layer number, so the count equals N for every model with one such tensor per layer.
int layer_of(std::string_view name) {
    const size_t at = name.find("blk.");
    if (at == std::string_view::npos) return 0;
    int layer = 0;
    const char* begin = name.data() + at + 4;
    const auto [end, ec] = std::from_chars(begin, name.data() + name.size(), layer);
    return ec == std::errc() && end != begin ? layer : 0;
}

// The layers that get more bits in the *_M mixtures: the first and last eighth, and every third between.
bool use_more_bits(int layer, int n_layer) {
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

bool fits(T type, int64_t row) { return row % type_info(type).block_size == 0; }

// The rules proper: the preferred type for a quantizable tensor, before the row-length check.
T preferred_type(F ftype, T base, const ModelFacts& m, std::string_view name, int64_t row) {
    const bool falcon = m.arch == "falcon";
    const int n_gqa = m.n_head_kv > 0 ? m.n_head / m.n_head_kv : 0;
    const bool eight_experts = m.n_expert == 8;
    const int layer = layer_of(name);
    const int n_layer = m.n_layer;
    T type = base;

    // The output projection (or the token embedding that doubles as it) is the most sensitive tensor.
    if (name == "output.weight" || (!m.has_output && name == "token_embd.weight")) {
        if (falcon || !fits(base, row)) return T::Q8_0;
        return base == T::Q8_0 ? T::Q8_0 : T::Q6_K;
    }
    if (name == "token_embd.weight") return type;  // the supported mixtures keep the base type here

    if (contains(name, "attn_v.weight")) {
        if (ftype == F::MOSTLY_Q2_K) {
            type = n_gqa >= 4 ? T::Q4_K : T::Q3_K;
        } else if (ftype == F::MOSTLY_Q3_K_M) {
            type = layer < 2 ? T::Q5_K : T::Q4_K;
        } else if (ftype == F::MOSTLY_Q3_K_L) {
            type = T::Q5_K;
        } else if ((ftype == F::MOSTLY_Q4_K_M || ftype == F::MOSTLY_Q5_K_M) && use_more_bits(layer, n_layer)) {
            type = T::Q6_K;
        } else if (ftype == F::MOSTLY_Q4_K_S && layer < 4) {
            type = T::Q5_K;
        }
        // A 70B llama shares each attn_v among 8 query heads, so the tensor is small and extra bits are cheap.
        const bool llama_70b = m.arch == "llama" && n_layer == 80 && m.n_head != m.n_head_kv;
        if (llama_70b && (type == T::Q3_K || type == T::Q4_K)) type = T::Q5_K;
        if (eight_experts) type = T::Q8_0;
        return type;
    }
    if (contains(name, "attn_k.weight")) return eight_experts ? T::Q8_0 : type;
    if (contains(name, "attn_q.weight")) return type;
    if (contains(name, "ffn_down")) {
        switch (ftype) {
            case F::MOSTLY_Q2_K: return T::Q3_K;
            case F::MOSTLY_Q3_K_M:
                if (layer < n_layer / 16) return T::Q5_K;
                return !falcon || use_more_bits(layer, n_layer) ? T::Q4_K : T::Q3_K;
            case F::MOSTLY_Q3_K_L: return falcon ? T::Q4_K : T::Q5_K;
            case F::MOSTLY_Q4_K_M:
                if (falcon) return layer < n_layer / 16 ? T::Q6_K : use_more_bits(layer, n_layer) ? T::Q5_K : T::Q4_K;
                return use_more_bits(layer, n_layer) ? T::Q6_K : type;
            case F::MOSTLY_Q5_K_M: return use_more_bits(layer, n_layer) ? T::Q6_K : type;
            case F::MOSTLY_Q4_K_S: return !falcon && layer < n_layer / 8 ? T::Q5_K : type;
            default: return type;
        }
    }
    if (contains(name, "attn_output.weight")) {
        if (falcon) return ftype == F::MOSTLY_Q3_K_L ? T::Q4_K : type;
        if (eight_experts) {
            const bool bump = ftype == F::MOSTLY_Q2_K || ftype == F::MOSTLY_Q3_K_S || ftype == F::MOSTLY_Q3_K_M ||
                              ftype == F::MOSTLY_Q4_K_S || ftype == F::MOSTLY_Q4_K_M;
            return bump ? T::Q5_K : type;
        }
        if (ftype == F::MOSTLY_Q2_K) return T::Q3_K;
        if (ftype == F::MOSTLY_Q3_K_M) return T::Q4_K;
        if (ftype == F::MOSTLY_Q3_K_L) return T::Q5_K;
        return type;
    }
    if (contains(name, "attn_qkv.weight")) {
        if (ftype == F::MOSTLY_Q3_K_M || ftype == F::MOSTLY_Q3_K_L) return T::Q4_K;
        if (ftype == F::MOSTLY_Q4_K_M) return T::Q5_K;
        if (ftype == F::MOSTLY_Q5_K_M) return T::Q6_K;
    }
    return type;
}

// llama.cpp's replacement when the row length is not a multiple of the preferred type's block.
// Its choice for Q2_K/Q3_K is IQ4_NL; spool uses Q4_0 (the same 4.5 bits per weight) until it has an
// IQ4_NL quantizer. TODO(quant): drop the Q4_0 stand-in once IQ4_NL has a quantize_row in types.cpp.
T fallback_type(T preferred, std::string_view name, int64_t row) {
    T type;
    switch (preferred) {
        case T::Q2_K:
        case T::Q3_K: type = type_info(T::IQ4_NL).quantize_row != nullptr ? T::IQ4_NL : T::Q4_0; break;
        case T::Q4_K: type = T::Q5_0; break;
        case T::Q5_K: type = T::Q5_1; break;
        case T::Q6_K: type = T::Q8_0; break;
        default:
            throw UnsupportedError("tensor '" + std::string(name) + "' has rows of " + std::to_string(row) +
                                   " elements, which " + std::string(type_name(preferred)) +
                                   " cannot store (its block size is " +
                                   std::to_string(type_info(preferred).block_size) +
                                   "); choose a k-quant mixture (they fall back per tensor) or F16");
    }
    return fits(type, row) ? type : T::F16;
}

}  // namespace

std::string_view file_type_name(uint32_t file_type) noexcept {
    return file_type < kFileTypeNames.size() ? kFileTypeNames[file_type] : std::string_view{};
}

std::optional<QuantTarget> parse_quant_target(std::string_view name) {
    for (const TargetRow& row : kTargets) {
        if (iequals(name, row.name)) return QuantTarget{std::string(row.name), row.file_type, row.base_type, row.pure};
    }
    return std::nullopt;
}

std::vector<std::string_view> quant_target_names() {
    std::vector<std::string_view> names;
    for (const TargetRow& row : kTargets) names.push_back(row.name);
    return names;
}

bool is_quantizable(std::string_view name, std::span<const int64_t> ne) noexcept {
    if (!name.ends_with("weight")) return false;
    size_t n_dims = ne.size();
    while (n_dims > 1 && ne[n_dims - 1] == 1) --n_dims;  // ggml_n_dims ignores trailing 1s
    if (n_dims < 2) return false;
    static constexpr std::string_view kNever[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d.weight", "time_mix_first.weight", "time_mix_w1.weight",
        "time_mix_w2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
        "attn_rel_b.weight",
    };
    for (std::string_view part : kNever) {
        if (contains(name, part)) return false;
    }
    return name != "position_embd.weight" && name != "token_types.weight";
}

TensorChoice choose_tensor_type(const QuantTarget& target, const ModelFacts& model, std::string_view name,
                                std::span<const int64_t> ne, GgmlType current) {
    if (!is_quantizable(name, ne)) return {current, false, false, current};
    const int64_t row = ne.empty() ? 1 : ne[0];
    const bool rules_apply = !target.pure && type_info(target.base_type).is_quantized;
    const T preferred =
        rules_apply ? preferred_type(target.file_type, target.base_type, model, name, row) : target.base_type;
    TensorChoice choice{preferred, true, false, preferred};
    if (!fits(preferred, row)) {
        choice.type = fallback_type(preferred, name, row);
        choice.fallback = true;
    }
    return choice;
}

}  // namespace spool::quant
