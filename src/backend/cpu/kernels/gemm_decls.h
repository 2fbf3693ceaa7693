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

#define SPOOL_CPU_DECLARE_GEMMS(isa)   \
    SPOOL_CPU_DECLARE_GEMM(q4_0, isa)  \
    SPOOL_CPU_DECLARE_GEMM(q4_1, isa)  \
    SPOOL_CPU_DECLARE_GEMM(q5_0, isa)  \
    SPOOL_CPU_DECLARE_GEMM(q5_1, isa)  \
    SPOOL_CPU_DECLARE_GEMM(q8_0, isa)  \
    SPOOL_CPU_DECLARE_GEMM(q2_k, isa)  \
    SPOOL_CPU_DECLARE_GEMM(q3_k, isa)  \
    SPOOL_CPU_DECLARE_GEMM(q4_k, isa)  \
    SPOOL_CPU_DECLARE_GEMM(q5_k, isa)  \
    SPOOL_CPU_DECLARE_GEMM(q6_k, isa)

SPOOL_CPU_DECLARE_GEMMS(avx2)
SPOOL_CPU_DECLARE_GEMMS(avx512)

// AMX tiles (gemm_legacy_amx.cpp, gemm_kquant_amx.cpp) define gemm and gemm_scratch of every quantized type, and its
// PackedGemm; their one-token form is the AVX2 gemv (gemm_dispatch.cpp).
SPOOL_CPU_DECLARE_GEMMS(amx)
#define SPOOL_CPU_DECLARE_PACKED(t) extern const PackedGemm packed_gemm_##t##_amx;
SPOOL_CPU_DECLARE_PACKED(q4_0)
SPOOL_CPU_DECLARE_PACKED(q4_1)
SPOOL_CPU_DECLARE_PACKED(q5_0)
SPOOL_CPU_DECLARE_PACKED(q5_1)
SPOOL_CPU_DECLARE_PACKED(q8_0)
SPOOL_CPU_DECLARE_PACKED(q2_k)
SPOOL_CPU_DECLARE_PACKED(q3_k)
SPOOL_CPU_DECLARE_PACKED(q4_k)
SPOOL_CPU_DECLARE_PACKED(q5_k)
SPOOL_CPU_DECLARE_PACKED(q6_k)
#undef SPOOL_CPU_DECLARE_PACKED

#undef SPOOL_CPU_DECLARE_GEMMS
#undef SPOOL_CPU_DECLARE_GEMM

}  // namespace spool::cpu
