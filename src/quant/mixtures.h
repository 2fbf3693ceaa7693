// Quantization mixtures: what a name like Q4_K_M means tensor by tensor. Reproduces the per-tensor type
// choices of llama.cpp's llama_tensor_get_type (src/llama-quant.cpp) for the k-quant and legacy ftypes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quant/types.h"

namespace spool::quant {

// llama.cpp's llama_ftype values, as stored in general.file_type.
enum class FileType : uint32_t {
    ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q4_0 = 2, MOSTLY_Q4_1 = 3, MOSTLY_Q8_0 = 7, MOSTLY_Q5_0 = 8,
    MOSTLY_Q5_1 = 9, MOSTLY_Q2_K = 10, MOSTLY_Q3_K_S = 11, MOSTLY_Q3_K_M = 12, MOSTLY_Q3_K_L = 13,
    MOSTLY_Q4_K_S = 14, MOSTLY_Q4_K_M = 15, MOSTLY_Q5_K_S = 16, MOSTLY_Q5_K_M = 17, MOSTLY_Q6_K = 18,
    MOSTLY_BF16 = 32,
};

// "Q4_K_M", "F16", ... for any llama_ftype value llama.cpp defines (IQ types included); "" if unknown.
std::string_view file_type_name(uint32_t file_type) noexcept;

// What a TYPE argument of `spool quantize` / `spool synth` asks for.
struct QuantTarget {
    std::string name;     // as the user should see it: "Q4_K_M", "Q4_K"
    FileType file_type;   // written to general.file_type
    GgmlType base_type;   // the type most 2-D weights get
    bool pure = false;    // every 2-D weight gets base_type (only row-length fallbacks apply)
};

// Case-insensitive. A mixture name (Q2_K, Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M, Q6_K, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// F16, BF16, F32) gives llama.cpp's mixture; Q3_K, Q4_K and Q5_K are plain types and give a pure model.
std::optional<QuantTarget> parse_quant_target(std::string_view name);
std::vector<std::string_view> quant_target_names();  // every accepted name, for error messages

// The facts about a model that the mixture rules look at.
struct ModelFacts {
    std::string arch;     // general.architecture ("llama", "qwen2", "falcon", ...)
    int n_layer = 0;      // <arch>.block_count
    int n_head = 0;       // <arch>.attention.head_count (0 if unknown)
    int n_head_kv = 0;    // <arch>.attention.head_count_kv (n_head if absent)
    int n_expert = 0;     // <arch>.expert_count (0 or 1: dense)
    bool has_output = false;  // an output.weight tensor exists (false: tied to token_embd)
};

struct TensorChoice {
    GgmlType type;          // the type to store the tensor in
    bool quantized;         // false: llama.cpp leaves this tensor as it is (norms, biases, 1-D tensors)
    bool fallback = false;  // the row length did not fit the preferred type; a compatible one was used
    GgmlType preferred = GgmlType::F32;  // the type the rules chose before any fallback
};

// Whether llama.cpp quantizes a tensor at all: names ending in "weight", with 2 or more dimensions (trailing
// 1s ignored), and not a norm, MoE router, positional/token-type embedding or one of a few small tensors.
bool is_quantizable(std::string_view name, std::span<const int64_t> ne) noexcept;

// The type for one tensor. ne: GGUF dims, ne[0] contiguous; current: its type in the input.
// Tensors that are not quantizable keep `current`. Layer numbers come from "blk.N." in the name.
// Throws UnsupportedError when no type spool can write fits the row length (e.g. Q4_0 with ne[0] % 32 != 0).
TensorChoice choose_tensor_type(const QuantTarget& target, const ModelFacts& model, std::string_view name,
                                std::span<const int64_t> ne, GgmlType current);

}  // namespace spool::quant
