// Declarations of the per-ISA kernels (defined in the *_<isa>.cpp files, each built with that ISA's flags) for the
// tables in dispatch.cpp. Declarations only: including this from any file is safe; calling needs the ISA.
#pragma once

#include <cstddef>
#include <cstdint>

namespace spool::cpu {

// Activation quantizers: n floats -> one row of the named type (the same bytes as quant/ quantize_row_*_ref).
// Vec dots: (n, out, weight row, act row), the quant/types.h VecDotFn signature.
// Rows: the VecDotRowsFn signature of dispatch.h.
#define SPOOL_CPU_DECLARE_KERNELS(isa)                                \
    void quantize_row_q8_0_##isa(const float* x, void* y, int64_t n); \
    void quantize_row_q8_1_##isa(const float* x, void* y, int64_t n); \
    void quantize_row_q8_k_##isa(const float* x, void* y, int64_t n); \
    void quantize_row_f16_##isa(const float* x, void* y, int64_t n);  \
    void quantize_row_bf16_##isa(const float* x, void* y, int64_t n); \
    SPOOL_CPU_DECLARE_DOT(f32, isa)                                   \
    SPOOL_CPU_DECLARE_DOT(f16, isa)                                   \
    SPOOL_CPU_DECLARE_DOT(bf16, isa)                                  \
    SPOOL_CPU_DECLARE_DOT(q4_0, isa)                                  \
    SPOOL_CPU_DECLARE_DOT(q4_1, isa)                                  \
    SPOOL_CPU_DECLARE_DOT(q5_0, isa)                                  \
    SPOOL_CPU_DECLARE_DOT(q5_1, isa)                                  \
    SPOOL_CPU_DECLARE_DOT(q8_0, isa)                                  \
    SPOOL_CPU_DECLARE_DOT(q2_k, isa)                                  \
    SPOOL_CPU_DECLARE_DOT(q3_k, isa)                                  \
    SPOOL_CPU_DECLARE_DOT(q4_k, isa)                                  \
    SPOOL_CPU_DECLARE_DOT(q5_k, isa)                                  \
    SPOOL_CPU_DECLARE_DOT(q6_k, isa)

#define SPOOL_CPU_DECLARE_DOT(t, isa)                                                                             \
    void vec_dot_##t##_##isa(int64_t n, float* out, const void* w, const void* act);                              \
    void vec_dot_rows_##t##_##isa(int64_t n, const void* w, size_t w_row_stride, int64_t n_rows, const void* act, \
                                  float* out);

SPOOL_CPU_DECLARE_KERNELS(avx2)
SPOOL_CPU_DECLARE_KERNELS(avx512)

#undef SPOOL_CPU_DECLARE_DOT
#undef SPOOL_CPU_DECLARE_KERNELS

}  // namespace spool::cpu
