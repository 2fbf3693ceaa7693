// AVX-512 VNNI multi-token kernels for the K-quant weight types (Q2_K ... Q6_K) against Q8_K activation rows:
// 16-row panels, lanes = rows (gemm_avx512.h). Each row gets the same exact integers and then the same float
// operations, in the same order, as gemm_kquant_avx2.cpp's kernels, so the two give the same bits (and the
// one-token AVX2 kernel serves both).
#include "backend/cpu/kernels/gemm_kquant_avx512.h"

#include "backend/cpu/kernels/gemm_decls.h"
#include "backend/cpu/kernels/gemm_driver.h"

namespace spool::cpu {

#define SPOOL_GEMM_KQUANT_512(t, Type)                                                                            \
    void gemm_##t##_avx512(int64_t n, const void* w, size_t ws, int64_t n_rows, const void* act, size_t as,      \
                           int64_t n_tokens, float* out, int64_t os, void* scratch) {                              \
        gemm<KQuantKernel512<Type>>(n, w, ws, n_rows, act, as, n_tokens, out, os, scratch);                      \
    }                                                                                                              \
    size_t gemm_scratch_##t##_avx512(int64_t n, int64_t n_tokens) {                                              \
        return gemm_scratch<KQuantKernel512<Type>>(n, n_tokens);                                                  \
    }

SPOOL_GEMM_KQUANT_512(q2_k, Q2KType)
SPOOL_GEMM_KQUANT_512(q3_k, Q3KType)
SPOOL_GEMM_KQUANT_512(q4_k, Q4KType)
SPOOL_GEMM_KQUANT_512(q5_k, Q5KType)
SPOOL_GEMM_KQUANT_512(q6_k, Q6KType)

#undef SPOOL_GEMM_KQUANT_512

}  // namespace spool::cpu
