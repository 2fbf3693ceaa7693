// The table of GGUF tensor types (ggml_type ids): block size, bytes per block, and spool's reference kernels.
// Ids and sizes match llama.cpp ggml/include/ggml.h and ggml/src/ggml-common.h; tests iterate over this table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "quant/type_ids.h"

namespace spool {

// Reference kernels, plain C++ (src/quant/<family>.cpp). n is the element count; a multiple of block_size.
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);
// out = dot(dequantize(w), dequantize(act)), where act is a row already quantized to vec_dot_type.
using VecDotFn = void (*)(int64_t n, float* out, const void* w, const void* act);

struct TypeInfo {
    GgmlType type;
    std::string_view name;   // as llama.cpp spells it: "Q4_K", "BF16"
    int64_t block_size;      // elements per block
    size_t block_bytes;      // bytes per block
    bool is_quantized;
    // Null where spool has no kernel for the type (it can still be read, listed and skipped).
    DequantizeRowFn dequantize_row;
    QuantizeRowFn quantize_row;  // llama.cpp's "_ref" quantizer (what llama-quantize uses without an imatrix)
    GgmlType vec_dot_type;       // the format activations are quantized to for vec_dot
    VecDotFn vec_dot;
};

// Every type id a GGUF file may carry, supported or not. nullptr for an id that is not a ggml type.
const TypeInfo* find_type_info(uint32_t id) noexcept;
// Precondition: t is a value of GgmlType.
const TypeInfo& type_info(GgmlType t) noexcept;
std::span<const TypeInfo> all_type_infos() noexcept;
// Case-insensitive lookup by name ("q4_k", "F16"); nullopt if unknown.
std::optional<GgmlType> parse_type_name(std::string_view name) noexcept;
inline std::string_view type_name(GgmlType t) noexcept { return type_info(t).name; }

// Bytes of one row of n elements. Throws UsageError if n is not a multiple of the block size.
size_t row_bytes(GgmlType t, int64_t n);

}  // namespace spool
