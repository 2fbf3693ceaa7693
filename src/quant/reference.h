// Declarations of the scalar reference kernels, one family per .cpp: float.cpp (F32, F16, BF16),
// legacy.cpp (Q4_0 ... Q8_1), kquants.cpp (Q2_K ... Q8_K). types.cpp puts them in the type table.
// Each matches the llama.cpp ggml-quants.c function of the same name bit for bit in its output layout.
#pragma once

#include <cstdint>

namespace spool::quant {

#define SPOOL_DECLARE_REF_KERNELS(t)                                   \
    void dequantize_row_##t(const void* src, float* dst, int64_t n);   \
    void quantize_row_##t##_ref(const float* src, void* dst, int64_t n);

SPOOL_DECLARE_REF_KERNELS(f32)
SPOOL_DECLARE_REF_KERNELS(f16)
SPOOL_DECLARE_REF_KERNELS(bf16)
SPOOL_DECLARE_REF_KERNELS(q4_0)
SPOOL_DECLARE_REF_KERNELS(q4_1)
SPOOL_DECLARE_REF_KERNELS(q5_0)
SPOOL_DECLARE_REF_KERNELS(q5_1)
SPOOL_DECLARE_REF_KERNELS(q8_0)
SPOOL_DECLARE_REF_KERNELS(q8_1)
SPOOL_DECLARE_REF_KERNELS(q2_k)
SPOOL_DECLARE_REF_KERNELS(q3_k)
SPOOL_DECLARE_REF_KERNELS(q4_k)
SPOOL_DECLARE_REF_KERNELS(q5_k)
SPOOL_DECLARE_REF_KERNELS(q6_k)
SPOOL_DECLARE_REF_KERNELS(q8_k)
#undef SPOOL_DECLARE_REF_KERNELS

// Weight row (type W) dotted with an activation row already quantized to W's vec_dot type.
void vec_dot_f32_f32(int64_t n, float* out, const void* w, const void* a);
void vec_dot_f16_f16(int64_t n, float* out, const void* w, const void* a);
void vec_dot_bf16_bf16(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q4_0_q8_0(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q4_1_q8_1(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q5_0_q8_0(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q5_1_q8_1(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q8_0_q8_0(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q2_k_q8_k(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q3_k_q8_k(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q4_k_q8_k(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q5_k_q8_k(int64_t n, float* out, const void* w, const void* a);
void vec_dot_q6_k_q8_k(int64_t n, float* out, const void* w, const void* a);

}  // namespace spool::quant
