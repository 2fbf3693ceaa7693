// The multi-token kernel table per instruction set (dispatch.h cpu_gemm_kernels). Built without ISA flags: it
// only hands out function pointers. Types without a tiled kernel get one vec_dot_rows call per token.
#include <array>

#include "backend/cpu/kernels/dispatch.h"
#include "backend/cpu/kernels/gemm_decls.h"

namespace spool::cpu {
namespace {

using T = GgmlType;

// vec_dot_rows once per token: what the cpu backend did before the tiled kernels, kept for the types without one.
template <GgmlType W, CpuIsa I>
void gemm_by_rows(int64_t n, const void* w, size_t w_row_stride, int64_t n_rows, const void* act,
                  size_t act_row_stride, int64_t n_tokens, float* out, int64_t out_stride, void*) {
    const VecDotRowsFn rows = cpu_matmul_kernels(W, I)->vec_dot_rows;
    for (int64_t t = 0; t < n_tokens; ++t) {
        rows(n, w, w_row_stride, n_rows, static_cast<const uint8_t*>(act) + t * act_row_stride, out + t * out_stride);
    }
}

size_t no_scratch(int64_t, int64_t) { return 0; }

template <GgmlType W, CpuIsa I>
void vec_dot_rows_of(int64_t n, const void* w, size_t w_row_stride, int64_t n_rows, const void* act, float* out) {
    cpu_matmul_kernels(W, I)->vec_dot_rows(n, w, w_row_stride, n_rows, act, out);
}

template <GgmlType W, CpuIsa I>
constexpr GemmKernels by_rows() {
    return GemmKernels{W, gemm_by_rows<W, I>, no_scratch, vec_dot_rows_of<W, I>, 1, 1, false, nullptr};
}

// Tiled kernels: panels of `rows` rows (8 on AVX2, 16 on AVX-512). min_tokens: the fewest tokens at which
// packing a panel once pays for itself against one gemv per token (bench_cpu_kernels gemm/, 1024 x 2048, Zen 3:
// tiled at 2 tokens beat rows for every type but Q2_K, Q6_K and Q8_0, which lose 5-20% there and win from 3 tokens
// on). Every kernel set's tiled kernels round like the AVX2 ones, so the AVX2 gemv serves both (one-token kernels
// on AVX-512 are a TODO(cpu-gemm): measure whether the AVX2 ones keep up with DRAM there).
#define SPOOL_TILED(W, t, isa, rows, min_tokens)                                                                 \
    GemmKernels {                                                                                                \
        T::W, gemm_##t##_##isa, gemm_scratch_##t##_##isa, gemv_##t##_avx2, rows, min_tokens, true,              \
            SPOOL_PACKED_##isa(t)                                                                                \
    }
// The split form of the amx gemm (dispatch.h PackedGemm); the other sets have none.
#define SPOOL_PACKED_avx2(t) nullptr
#define SPOOL_PACKED_avx512(t) nullptr
#define SPOOL_PACKED_amx(t) &packed_gemm_##t##_amx

constexpr std::array kScalar = {
    by_rows<T::F32, CpuIsa::scalar>(),  by_rows<T::F16, CpuIsa::scalar>(),  by_rows<T::BF16, CpuIsa::scalar>(),
    by_rows<T::Q4_0, CpuIsa::scalar>(), by_rows<T::Q4_1, CpuIsa::scalar>(), by_rows<T::Q5_0, CpuIsa::scalar>(),
    by_rows<T::Q5_1, CpuIsa::scalar>(), by_rows<T::Q8_0, CpuIsa::scalar>(), by_rows<T::Q2_K, CpuIsa::scalar>(),
    by_rows<T::Q3_K, CpuIsa::scalar>(), by_rows<T::Q4_K, CpuIsa::scalar>(), by_rows<T::Q5_K, CpuIsa::scalar>(),
    by_rows<T::Q6_K, CpuIsa::scalar>(),
};

#if SPOOL_CPU_X86_KERNELS
// legacy_rows: the legacy types' panels (gemm_legacy_avx2.cpp: two groups of 8 rows on AVX2; Q5_1's and Q8_0's
// few-token kernels take 8, which chunks of 16 rows suit as well).
#define SPOOL_TILED_TABLE(isa, rows, legacy_rows)                                                                \
    std::array {                                                                                                 \
        by_rows<T::F32, CpuIsa::isa>(), by_rows<T::F16, CpuIsa::isa>(), by_rows<T::BF16, CpuIsa::isa>(),         \
            SPOOL_TILED(Q4_0, q4_0, isa, legacy_rows, 2), SPOOL_TILED(Q4_1, q4_1, isa, legacy_rows, 2),         \
            SPOOL_TILED(Q5_0, q5_0, isa, legacy_rows, 2), SPOOL_TILED(Q5_1, q5_1, isa, legacy_rows, 2),         \
            SPOOL_TILED(Q8_0, q8_0, isa, legacy_rows, 3), SPOOL_TILED(Q2_K, q2_k, isa, rows, 3),                \
            SPOOL_TILED(Q3_K, q3_k, isa, rows, 2), SPOOL_TILED(Q4_K, q4_k, isa, rows, 2),                       \
            SPOOL_TILED(Q5_K, q5_k, isa, rows, 2), SPOOL_TILED(Q6_K, q6_k, isa, rows, 3),                       \
    }
constexpr auto kAvx2 = SPOOL_TILED_TABLE(avx2, 8, 16);
constexpr auto kAvx512 = SPOOL_TILED_TABLE(avx512, 16, 16);
// amx: tiles for every quantized type. The K-quants of 16-element sub-blocks (Q2_K, Q3_K, Q6_K) fill half a tile
// product per scaling pass; since the products are stored two sub-blocks ahead of their scaling they still run
// 0-12% above avx512 (this workstation's Xeon, 2048 and 5632 columns x 128 tokens, one core: Q6_K 169-173 vs 154-164
// GMAC/s, Q2_K 170-191 vs 160-170, Q3_K 167-175 vs 164-175). The float types take avx512's rows.
constexpr auto kAmx = SPOOL_TILED_TABLE(amx, 16, 16);
#undef SPOOL_TILED_TABLE
#endif
#undef SPOOL_TILED
#undef SPOOL_PACKED_avx2
#undef SPOOL_PACKED_avx512
#undef SPOOL_PACKED_amx

template <size_t N>
const GemmKernels* find(const std::array<GemmKernels, N>& table, GgmlType w) {
    for (const GemmKernels& k : table) {
        if (k.weight_type == w) return &k;
    }
    return nullptr;
}

}  // namespace

const GemmKernels* cpu_gemm_kernels(GgmlType w, CpuIsa isa) noexcept {
#if SPOOL_CPU_X86_KERNELS
    if (isa == CpuIsa::avx2) return find(kAvx2, w);
    if (isa == CpuIsa::avx512) return find(kAvx512, w);
    if (isa == CpuIsa::amx) return find(kAmx, w);
#endif
    return find(kScalar, w);
}

}  // namespace spool::cpu
