// Declarations of the per-ISA multi-token (GEMM) kernels, defined in gemm_*_<isa>.cpp (each built with that ISA's
// flags), for the table in gemm_dispatch.cpp. Declarations only: including this is safe; calling needs the ISA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cpu/kernels/dispatch.h"

namespace spool::cpu {

// gemm_<type>_<isa>: the GemmFn signature of dispatch.h; gemm_scratch_<type>_<isa>: its scratch_bytes;
// gemv_<type>_<isa>: its one-token form (GemmKernels::gemv), a VecDotRowsFn.
#define SPOOL_CPU_DECLARE_GEMM(t, isa)                                                                           \
    void gemm_##t##_##isa(int64_t n, const void* w, size_t w_row_stride, int64_t n_rows, const void* act,        \
                          size_t act_row_stride, int64_t n_tokens, float* out, int64_t out_stride, void* scratch); \
    size_t gemm_scratch_##t##_##isa(int64_t n, int64_t n_tokens);                                                  \
    void gemv_##t##_##isa(int64_t n, const void* w, size_t w_row_stride, int64_t n_rows, const void* act, float* out);

// The quantized types with multi-token kernels: X(type, isa) for each.
#define SPOOL_CPU_FOR_EACH_GEMM_TYPE(X, isa) \
    X(q4_0, isa)                             \
    X(q4_1, isa)                             \
    X(q5_0, isa)                             \
    X(q5_1, isa)                             \
    X(q8_0, isa)                             \
    X(q2_k, isa)                             \
    X(q3_k, isa)                             \
    X(q4_k, isa)                             \
    X(q5_k, isa)                             \
    X(q6_k, isa)
#define SPOOL_CPU_DECLARE_GEMMS(isa) SPOOL_CPU_FOR_EACH_GEMM_TYPE(SPOOL_CPU_DECLARE_GEMM, isa)

SPOOL_CPU_DECLARE_GEMMS(avx2)
SPOOL_CPU_DECLARE_GEMMS(avx512)

// AMX tiles (gemm_legacy_amx.cpp, gemm_kquant_amx.cpp) define gemm and gemm_scratch of every quantized type, and its
// PackedGemm; their one-token form is the AVX2 gemv (gemm_dispatch.cpp).
SPOOL_CPU_DECLARE_GEMMS(amx)
#define SPOOL_CPU_DECLARE_PACKED(t, isa) extern const PackedGemm packed_gemm_##t##_##isa;
SPOOL_CPU_FOR_EACH_GEMM_TYPE(SPOOL_CPU_DECLARE_PACKED, amx)
#undef SPOOL_CPU_DECLARE_PACKED

#undef SPOOL_CPU_DECLARE_GEMMS
#undef SPOOL_CPU_DECLARE_GEMM
#undef SPOOL_CPU_FOR_EACH_GEMM_TYPE

}  // namespace spool::cpu
