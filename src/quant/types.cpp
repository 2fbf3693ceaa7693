// The type table: one row per ggml type id. Sizes from llama.cpp ggml-common.h; kernels from src/quant/*.cpp.
#include "quant/types.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "quant/reference.h"
#include "spool/errors.h"

namespace spool {
namespace {

using namespace spool::quant;
using T = GgmlType;

// Types spool can read but has no kernels for yet: listed so files that hold them parse and inspect.
constexpr TypeInfo unsupported(T t, std::string_view name, int64_t block, size_t bytes, bool quantized) {
    return {t, name, block, bytes, quantized, nullptr, nullptr, t, nullptr};
}

constexpr std::array kTypes = {
    TypeInfo{T::F32, "F32", 1, 4, false, dequantize_row_f32, quantize_row_f32_ref, T::F32, vec_dot_f32_f32},
    TypeInfo{T::F16, "F16", 1, 2, false, dequantize_row_f16, quantize_row_f16_ref, T::F16, vec_dot_f16_f16},
    TypeInfo{T::Q4_0, "Q4_0", 32, 18, true, dequantize_row_q4_0, quantize_row_q4_0_ref, T::Q8_0, vec_dot_q4_0_q8_0},
    TypeInfo{T::Q4_1, "Q4_1", 32, 20, true, dequantize_row_q4_1, quantize_row_q4_1_ref, T::Q8_1, vec_dot_q4_1_q8_1},
    TypeInfo{T::Q5_0, "Q5_0", 32, 22, true, dequantize_row_q5_0, quantize_row_q5_0_ref, T::Q8_0, vec_dot_q5_0_q8_0},
    TypeInfo{T::Q5_1, "Q5_1", 32, 24, true, dequantize_row_q5_1, quantize_row_q5_1_ref, T::Q8_1, vec_dot_q5_1_q8_1},
    TypeInfo{T::Q8_0, "Q8_0", 32, 34, true, dequantize_row_q8_0, quantize_row_q8_0_ref, T::Q8_0, vec_dot_q8_0_q8_0},
    TypeInfo{T::Q8_1, "Q8_1", 32, 36, true, dequantize_row_q8_1, quantize_row_q8_1_ref, T::Q8_1, nullptr},
    TypeInfo{T::Q2_K, "Q2_K", 256, 84, true, dequantize_row_q2_k, quantize_row_q2_k_ref, T::Q8_K, vec_dot_q2_k_q8_k},
    TypeInfo{T::Q3_K, "Q3_K", 256, 110, true, dequantize_row_q3_k, quantize_row_q3_k_ref, T::Q8_K, vec_dot_q3_k_q8_k},
    TypeInfo{T::Q4_K, "Q4_K", 256, 144, true, dequantize_row_q4_k, quantize_row_q4_k_ref, T::Q8_K, vec_dot_q4_k_q8_k},
    TypeInfo{T::Q5_K, "Q5_K", 256, 176, true, dequantize_row_q5_k, quantize_row_q5_k_ref, T::Q8_K, vec_dot_q5_k_q8_k},
    TypeInfo{T::Q6_K, "Q6_K", 256, 210, true, dequantize_row_q6_k, quantize_row_q6_k_ref, T::Q8_K, vec_dot_q6_k_q8_k},
    TypeInfo{T::Q8_K, "Q8_K", 256, 292, true, dequantize_row_q8_k, quantize_row_q8_k_ref, T::Q8_K, nullptr},
    unsupported(T::IQ2_XXS, "IQ2_XXS", 256, 66, true),
    unsupported(T::IQ2_XS, "IQ2_XS", 256, 74, true),
    unsupported(T::IQ3_XXS, "IQ3_XXS", 256, 98, true),
    unsupported(T::IQ1_S, "IQ1_S", 256, 50, true),
    unsupported(T::IQ4_NL, "IQ4_NL", 32, 18, true),
    unsupported(T::IQ3_S, "IQ3_S", 256, 110, true),
    unsupported(T::IQ2_S, "IQ2_S", 256, 82, true),
    unsupported(T::IQ4_XS, "IQ4_XS", 256, 136, true),
    unsupported(T::I8, "I8", 1, 1, false),
    unsupported(T::I16, "I16", 1, 2, false),
    unsupported(T::I32, "I32", 1, 4, false),
    unsupported(T::I64, "I64", 1, 8, false),
    unsupported(T::F64, "F64", 1, 8, false),
    unsupported(T::IQ1_M, "IQ1_M", 256, 56, true),
    TypeInfo{T::BF16, "BF16", 1, 2, false, dequantize_row_bf16, quantize_row_bf16_ref, T::BF16, vec_dot_bf16_bf16},
    unsupported(T::TQ1_0, "TQ1_0", 256, 54, true),
    unsupported(T::TQ2_0, "TQ2_0", 256, 66, true),
};

}  // namespace

const TypeInfo* find_type_info(uint32_t id) noexcept {
    for (const TypeInfo& info : kTypes) {
        if (static_cast<uint32_t>(info.type) == id) return &info;
    }
    return nullptr;
}

const TypeInfo& type_info(GgmlType t) noexcept { return *find_type_info(static_cast<uint32_t>(t)); }

std::span<const TypeInfo> all_type_infos() noexcept { return kTypes; }

std::optional<GgmlType> parse_type_name(std::string_view name) noexcept {
    for (const TypeInfo& info : kTypes) {
        if (std::equal(name.begin(), name.end(), info.name.begin(), info.name.end(),
                       [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; })) {
            return info.type;
        }
    }
    return std::nullopt;
}

size_t row_bytes(GgmlType t, int64_t n) {
    const TypeInfo& info = type_info(t);
    if (n < 0 || n % info.block_size != 0) {
        throw UsageError("a row of " + std::to_string(n) + " elements cannot be stored as " + std::string(info.name) +
                         ": the row length must be a multiple of its block size " + std::to_string(info.block_size));
    }
    return static_cast<size_t>(n / info.block_size) * info.block_bytes;
}

}  // namespace spool
