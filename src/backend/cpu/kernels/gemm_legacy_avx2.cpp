// AVX2 multi-token kernels for the legacy weight types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) against Q8_0 / Q8_1
// activation rows: 8-row panels, lanes = rows (gemm_avx2.h). Per block the integer sums are exact, as in
// quant/legacy_vec_dot.cpp; only the float summation order differs.
#include <cstddef>

#include "backend/cpu/kernels/fp16_table.h"
#include "backend/cpu/kernels/gemm_avx2.h"
#include "backend/cpu/kernels/gemm_decls.h"
#include "backend/cpu/kernels/gemm_driver.h"
#include "backend/cpu/kernels/gemm_legacy_types.h"
#include "backend/cpu/kernels/prefetch.h"
#include "backend/cpu/kernels/row_groups.h"
#include "backend/cpu/kernels/simd_avx2.h"
#include "quant/blocks_legacy.h"

namespace spool::cpu {
namespace {

// One 32-element block of 8 rows.
struct LegacyPanel {
    __m256i q[8];            // step j: quants 4j..4j+3 of row r in lane r (unsigned levels; signed for Q8_0)
    alignas(32) float d[8];  // row scales
    float m[8];              // row mins (Q4_1, Q5_1)
};

// 8 rows by up to kTile tokens: 4 measured within 3% of 5 and 6 and 4% above 3 (Q4_0, Q8_0 on Zen 3).
template <class T>
struct LegacyKernel {
    using W = typename T::W;
    using A = typename T::A;
    using Panel = LegacyPanel;
    static constexpr int kRows = kPanelRows;
    static constexpr int kTile = 4;
    static constexpr int64_t kBlock = quant::kLegacyBlockSize;
    static constexpr bool kActSums = T::kOffset != 0;
    static constexpr int kSumsPerBlock = 1;  // kOffset * sum of the block's activation quants

    static void act_sums(const uint8_t* act_row, int64_t nb, int32_t* sums) {
        const auto* y = reinterpret_cast<const A*>(act_row);
        for (int64_t b = 0; b < nb; ++b) sums[b] = T::kOffset * sum_i8x32(y[b].qs);
    }

    static void pack(const uint8_t* const* rows, int64_t nb, Panel* panel) {
        const float* f16 = fp16_table();
        for (int64_t b = 0; b < nb; ++b) {
            Panel& p = panel[b];
            __m256i v[kRows];
#pragma GCC unroll 8
            for (int r = 0; r < kRows; ++r) {
                const W& x = reinterpret_cast<const W*>(rows[r])[b];
                prefetch_ahead<sizeof(W)>(&x);
                v[r] = T::levels(x);
                p.d[r] = f16[x.d];
                p.m[r] = row_min<T>(x, f16);
            }
            transpose_8x8_dwords(v);
#pragma GCC unroll 8
            for (int j = 0; j < 8; ++j) _mm256_store_si256(&p.q[j], v[j]);
        }
    }

    // res[c][r] = dot(row r, token c) for C tokens.
    template <int C>
    static void tile(const Panel* panel, int64_t nb, const uint8_t* const* act, const int32_t* const* sums,
                     float (*res)[kRows]) {
        const float* f16 = fp16_table();
        const A* y[C];
        __m256 acc[C];
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
            y[c] = reinterpret_cast<const A*>(act[c]);
            acc[c] = _mm256_setzero_ps();
        }
        const __m256i ones = _mm256_set1_epi16(1);
        for (int64_t b = 0; b < nb; ++b) {
            const Panel& p = panel[b];
            __m256i isum[C];
#pragma GCC unroll 8
            for (int g = 0; g < 8 / T::kSteps; ++g) {
                __m256i s16[C];
#pragma GCC unroll 8
                for (int k = 0; k < T::kSteps; ++k) {
                    const int j = g * T::kSteps + k;
                    const __m256i w = _mm256_load_si256(&p.q[j]);
                    if constexpr (T::kSigned) {
                        const __m256i w_abs = _mm256_sign_epi8(w, w);
#pragma GCC unroll 8
                        for (int c = 0; c < C; ++c) {
                            const __m256i a = _mm256_sign_epi8(broadcast_4(y[c][b].qs + 4 * j), w);
                            s16[c] = _mm256_maddubs_epi16(w_abs, a);
                        }
                    } else {
#pragma GCC unroll 8
                        for (int c = 0; c < C; ++c) {
                            const __m256i prod = _mm256_maddubs_epi16(w, broadcast_4(y[c][b].qs + 4 * j));
                            s16[c] = k == 0 ? prod : _mm256_add_epi16(s16[c], prod);
                            keep_in_register(s16[c]);
                        }
                    }
                }
#pragma GCC unroll 8
                for (int c = 0; c < C; ++c) {
                    const __m256i s32 = _mm256_madd_epi16(s16[c], ones);
                    isum[c] = g == 0 ? s32 : _mm256_add_epi32(isum[c], s32);
                        keep_in_register(isum[c]);
                }
            }
            const __m256 d = _mm256_load_ps(p.d);
#pragma GCC unroll 8
            for (int c = 0; c < C; ++c) {
                if constexpr (T::kOffset != 0) isum[c] = _mm256_sub_epi32(isum[c], _mm256_set1_epi32(sums[c][b]));
                const __m256 scale = _mm256_mul_ps(d, _mm256_broadcast_ss(f16 + y[c][b].d));
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), scale, acc[c]);
                if constexpr (T::kHasMin) {
                    acc[c] = _mm256_fmadd_ps(_mm256_load_ps(p.m), _mm256_broadcast_ss(f16 + y[c][b].s), acc[c]);
                }
            }
        }
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) _mm256_store_ps(res[c], acc[c]);
    }
};

// One token (decode): out[r] = dot(row r, act), rows in their file layout (lanes = elements), kRowGroup at a time.
// Each row gets the same integers and then the same float operations, in the same order, as in LegacyKernel::tile,
// so a row's result does not depend on how many tokens were batched with it (bit for bit). The rows of a group
// share one lane-sum transpose and one float vector per block; 8 rows suit Q4_0 (4: -5% from DRAM), 4 the others
// (the 5-bit and Q8_0 unpacking needs the registers). From DRAM (bench_cpu_kernels matvec/stream1GiB, Zen 3) this
// is 0-8% slower than vec_dot_rows, which rounds in its own order.
template <class T>
struct LegacyRows {
    using W = typename T::W;
    using A = typename T::A;
    static constexpr int kGroup = T::kRowGroup;

    // rows: [kGroup] rows of nb blocks (repeats allowed); out: [kGroup].
    static void dot_group(int64_t nb, const W* const* rows, const A* y, float* out) {
        const float* f16 = fp16_table();
        const __m256i ones = _mm256_set1_epi16(1);
        __m256 acc8 = _mm256_setzero_ps();
        __m128 acc4 = _mm_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
            const __m256i qa = load_i8x32(y[b].qs);
            // The zero point, kOffset * sum(a), in int16 pairs: subtracted from each row's pairs before widening
            // (|pair - offset pair| <= 2 * 31 * 127 + 2 * 16 * 127, in range).
            const __m256i offset = _mm256_maddubs_epi16(_mm256_set1_epi8(T::kOffset), qa);
            __m256i isum[kGroup];
            const void* blocks[kGroup];
#pragma GCC unroll 8
            for (int r = 0; r < kGroup; ++r) {
                const W& x = rows[r][b];
                blocks[r] = &x;
                prefetch_ahead<sizeof(W)>(&x);
                const __m256i w = T::levels(x);
                __m256i prod = T::kSigned ? _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(qa, w))
                                          : _mm256_maddubs_epi16(w, qa);
                if constexpr (T::kOffset != 0) prod = _mm256_sub_epi16(prod, offset);
                isum[r] = _mm256_madd_epi16(prod, ones);
            }
            if constexpr (kGroup == 8) {
                const __m256 d = fp16x8(blocks, offsetof(W, d));
                const __m256 scale = _mm256_mul_ps(d, _mm256_broadcast_ss(f16 + y[b].d));
                acc8 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum_lanes_8(isum)), scale, acc8);
                if constexpr (T::kHasMin) {
                    acc8 = _mm256_fmadd_ps(fp16x8(blocks, offsetof(W, m)), _mm256_broadcast_ss(f16 + y[b].s), acc8);
                }
            } else {
                const __m128 d = fp16x4(blocks, offsetof(W, d));
                const __m128 scale = _mm_mul_ps(d, _mm_broadcast_ss(f16 + y[b].d));
                acc4 = _mm_fmadd_ps(_mm_cvtepi32_ps(sum_lanes_4(isum)), scale, acc4);
                if constexpr (T::kHasMin) {
                    acc4 = _mm_fmadd_ps(fp16x4(blocks, offsetof(W, m)), _mm_broadcast_ss(f16 + y[b].s), acc4);
                }
            }
        }
        if constexpr (kGroup == 8) {
            _mm256_storeu_ps(out, acc8);
        } else {
            _mm_storeu_ps(out, acc4);
        }
    }

    static void rows(int64_t n, const void* w, size_t stride, int64_t n_rows, const void* act, float* out) {
        const auto* y = static_cast<const A*>(act);
        dot_all_rows<kGroup>(w, stride, n_rows, out, [&]<int R>(const void* const* rows, float* sums) {
            const W* group[kGroup];
            for (int r = 0; r < kGroup; ++r) group[r] = static_cast<const W*>(rows[r < R ? r : 0]);
            float all[kGroup];
            dot_group(n / quant::kLegacyBlockSize, group, y, all);
            for (int r = 0; r < R; ++r) sums[r] = all[r];
        });
    }
};

}  // namespace

#define SPOOL_GEMM_LEGACY(t, Type)                                                                                \
    void gemm_##t##_avx2(int64_t n, const void* w, size_t ws, int64_t n_rows, const void* act, size_t as,        \
                         int64_t n_tokens, float* out, int64_t os, void* scratch) {                                \
        gemm<LegacyKernel<Type>>(n, w, ws, n_rows, act, as, n_tokens, out, os, scratch);                          \
    }                                                                                                              \
    size_t gemm_scratch_##t##_avx2(int64_t n, int64_t n_tokens) {                                               \
        return gemm_scratch<LegacyKernel<Type>>(n, n_tokens);                                                      \
    }                                                                                                               \
    void gemv_##t##_avx2(int64_t n, const void* w, size_t ws, int64_t n_rows, const void* act, float* out) {     \
        LegacyRows<Type>::rows(n, w, ws, n_rows, act, out);                                                        \
    }

SPOOL_GEMM_LEGACY(q4_0, Q4_0Type)
SPOOL_GEMM_LEGACY(q4_1, Q4_1Type)
SPOOL_GEMM_LEGACY(q5_0, Q5_0Type)
SPOOL_GEMM_LEGACY(q5_1, Q5_1Type)
SPOOL_GEMM_LEGACY(q8_0, Q8_0Type)

#undef SPOOL_GEMM_LEGACY

}  // namespace spool::cpu
