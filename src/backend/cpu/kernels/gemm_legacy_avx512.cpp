// AVX-512 VNNI multi-token kernels for the legacy weight types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) against Q8_0 / Q8_1
// activation rows: 16-row panels, lanes = rows (gemm_avx512.h). Each row gets the same exact block integers and then
// the same float operations, in the same order, as gemm_legacy_avx2.cpp's kernels, so the two give the same bits
// (and the one-token AVX2 kernel serves both).
#include "backend/cpu/kernels/gemm_legacy_avx512.h"

#include "backend/cpu/kernels/gemm_decls.h"
#include "backend/cpu/kernels/gemm_driver.h"

namespace spool::cpu {

#define SPOOL_GEMM_LEGACY_512(t, Type)                                                                            \
    void gemm_##t##_avx512(int64_t n, const void* w, size_t ws, int64_t n_rows, const void* act, size_t as,      \
                           int64_t n_tokens, float* out, int64_t os, void* scratch) {                              \
        gemm<LegacyKernel512<Type>>(n, w, ws, n_rows, act, as, n_tokens, out, os, scratch);                      \
    }                                                                                                              \
    size_t gemm_scratch_##t##_avx512(int64_t n, int64_t n_tokens) {                                              \
        return gemm_scratch<LegacyKernel512<Type>>(n, n_tokens);                                                  \
    }

SPOOL_GEMM_LEGACY_512(q4_0, Q4_0Type)
SPOOL_GEMM_LEGACY_512(q4_1, Q4_1Type)
SPOOL_GEMM_LEGACY_512(q5_0, Q5_0Type)
SPOOL_GEMM_LEGACY_512(q5_1, Q5_1Type)
SPOOL_GEMM_LEGACY_512(q8_0, Q8_0Type)

#undef SPOOL_GEMM_LEGACY_512

}  // namespace spool::cpu
