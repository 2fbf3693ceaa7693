// AVX2 multi-token kernels for the legacy weight types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) against Q8_0 / Q8_1
// activation rows: panels of one or two groups of 8 rows, lanes = rows (gemm_avx2.h). Per block the integer sums are
// exact, as in quant/legacy_vec_dot.cpp; only the float summation order differs.
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

// One 32-element block of kGroups * 8 rows: group g holds rows 8g..8g+7 (lanes = rows, gemm_avx2.h).
template <int kGroups, bool kAbs>
struct LegacyPanel {
    // step j of group g: quants 4j..4j+3 of row 8g + r in lane r (unsigned levels; signed for Q8_0). kAbs: also
    // |q| at q[kGroups + g][j] (Q8_0), taken once per panel rather than once per tile.
    __m256i q[kAbs ? 2 * kGroups : kGroups][8];
    alignas(32) float d[8 * kGroups];  // row scales
    alignas(32) float m[8 * kGroups];  // row mins (Q4_1, Q5_1)
};

// kGroups groups of 8 rows by up to kTile tokens: each activation broadcast feeds kGroups maddubs. Q8_0 runs at
// about 0.6x the 4-bit types' MAC rate however it is tiled: its products fill an int16 pair in one step
// (2 * 128 * 127), so every maddubs needs its own widening madd, and the sign trick adds a vpsignb per token and
// step that competes with them for Zen 3's two multiply pipes; the 4-bit types widen once per 8 steps. An int16
// madd variant (weights and activations widened, no sign) measured 5-10% slower than this one.
template <class T, int kGroups, int kTileTokens>
struct LegacyKernel {
    using W = typename T::W;
    using A = typename T::A;
    // Q8_0's |q| in the panel: its 8 more stores per block pay off over many tokens (the 2-group shape), not over
    // the few of the 1-group one.
    static constexpr bool kAbs = T::kSigned && kGroups > 1;
    using Panel = LegacyPanel<kGroups, kAbs>;
    static constexpr int kRows = kPanelRows * kGroups;
    static constexpr int kTile = kTileTokens;
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
#pragma GCC unroll 2
            for (int g = 0; g < kGroups; ++g) {
                __m256i v[kPanelRows];
#pragma GCC unroll 8
                for (int r = 0; r < kPanelRows; ++r) {
                    const W& x = reinterpret_cast<const W*>(rows[kPanelRows * g + r])[b];
                    prefetch_ahead<sizeof(W)>(&x);
                    v[r] = T::levels(x);
                    p.d[kPanelRows * g + r] = f16[x.d];
                    p.m[kPanelRows * g + r] = row_min<T>(x, f16);
                }
                transpose_8x8_dwords(v);
#pragma GCC unroll 8
                for (int j = 0; j < 8; ++j) {
                    _mm256_store_si256(&p.q[g][j], v[j]);
                    if constexpr (kAbs) _mm256_store_si256(&p.q[kGroups + g][j], _mm256_sign_epi8(v[j], v[j]));
                }
            }
        }
    }

    // res[c][r] = dot(row r, token c) for C tokens.
    template <int C>
    static void tile(const Panel* panel, int64_t nb, const uint8_t* const* act, const int32_t* const* sums,
                     float (*res)[kRows]) {
        const float* f16 = fp16_table();
        const A* y[C];
        __m256 acc[kGroups][C];
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
            y[c] = reinterpret_cast<const A*>(act[c]);
#pragma GCC unroll 2
            for (int g = 0; g < kGroups; ++g) acc[g][c] = _mm256_setzero_ps();
        }
        const __m256i ones = _mm256_set1_epi16(1);
        for (int64_t b = 0; b < nb; ++b) {
            const Panel& p = panel[b];
            __m256i isum[kGroups][C];
#pragma GCC unroll 8
            for (int h = 0; h < 8 / T::kSteps; ++h) {
                __m256i s16[kGroups][C];
#pragma GCC unroll 8
                for (int k = 0; k < T::kSteps; ++k) {
                    const int j = h * T::kSteps + k;
                    __m256i w[kGroups];
                    [[maybe_unused]] __m256i w_abs[kGroups];  // Q8_0
#pragma GCC unroll 2
                    for (int g = 0; g < kGroups; ++g) {
                        w[g] = _mm256_load_si256(&p.q[g][j]);
                        if constexpr (kAbs) {
                            w_abs[g] = _mm256_load_si256(&p.q[kGroups + g][j]);
                        } else if constexpr (T::kSigned) {
                            w_abs[g] = _mm256_sign_epi8(w[g], w[g]);
                        }
                    }
#pragma GCC unroll 8
                    for (int c = 0; c < C; ++c) {
                        const __m256i a = broadcast_4(y[c][b].qs + 4 * j);
#pragma GCC unroll 2
                        for (int g = 0; g < kGroups; ++g) {
                            if constexpr (T::kSigned) {
                                // |w| times a with w's sign (dot_i8_i8): one step fills the int16 pairs.
                                s16[g][c] = _mm256_maddubs_epi16(w_abs[g], _mm256_sign_epi8(a, w[g]));
                            } else {
                                const __m256i prod = _mm256_maddubs_epi16(w[g], a);
                                s16[g][c] = k == 0 ? prod : _mm256_add_epi16(s16[g][c], prod);
                                keep_in_register(s16[g][c]);
                            }
                        }
                    }
                }
#pragma GCC unroll 8
                for (int c = 0; c < C; ++c) {
#pragma GCC unroll 2
                    for (int g = 0; g < kGroups; ++g) {
                        const __m256i s32 = _mm256_madd_epi16(s16[g][c], ones);
                        isum[g][c] = h == 0 ? s32 : _mm256_add_epi32(isum[g][c], s32);
                        keep_in_register(isum[g][c]);
                    }
                }
            }
#pragma GCC unroll 8
            for (int c = 0; c < C; ++c) {
                const __m256 yd = _mm256_broadcast_ss(f16 + y[c][b].d);
#pragma GCC unroll 2
                for (int g = 0; g < kGroups; ++g) {
                    __m256i total = isum[g][c];
                    if constexpr (T::kOffset != 0) total = _mm256_sub_epi32(total, _mm256_set1_epi32(sums[c][b]));
                    const __m256 scale = _mm256_mul_ps(_mm256_load_ps(p.d + kPanelRows * g), yd);
                    acc[g][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), scale, acc[g][c]);
                    if constexpr (T::kHasMin) {
                        acc[g][c] = _mm256_fmadd_ps(_mm256_load_ps(p.m + kPanelRows * g),
                                                    _mm256_broadcast_ss(f16 + y[c][b].s), acc[g][c]);
                    }
                }
            }
        }
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
#pragma GCC unroll 2
            for (int g = 0; g < kGroups; ++g) _mm256_store_ps(res[c] + kPanelRows * g, acc[g][c]);
        }
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

// Below kWideFrom tokens the Few kernel, from it the Wide one. Both give the same bits (gemm_test.cpp
// RowsDoNotDependOnTheBatch), and scratch_bytes grows with the token count, so a scratch sized for n tokens serves
// any fewer.
template <class Few, class Wide, int64_t kWideFrom>
struct ByTokens {
    static void run(int64_t n, const void* w, size_t ws, int64_t n_rows, const void* act, size_t as, int64_t n_tokens,
                    float* out, int64_t os, void* scratch) {
        if (n_tokens >= kWideFrom) {
            gemm<Wide>(n, w, ws, n_rows, act, as, n_tokens, out, os, scratch);
        } else {
            gemm<Few>(n, w, ws, n_rows, act, as, n_tokens, out, os, scratch);
        }
    }
    static size_t scratch_bytes(int64_t n, int64_t n_tokens) {
        return n_tokens >= kWideFrom ? gemm_scratch<Wide>(n, n_tokens) : gemm_scratch<Few>(n, n_tokens);
    }
};
template <class K>
using Always = ByTokens<K, K, 0>;

}  // namespace

// Tile shapes (groups of 8 rows x tokens), Zen 3, against the former 1 x 4 (bench_cpu_kernels gemm/, 2048 and
// 5632 columns, one thread): 2 x 4 for the 4- and 5-bit types, +10-25% from 32 to 128 tokens (spool bench pp128
// Q4_0, TinyLlama, 2 threads: +11-17%). Q5_1's 2 x 4 lost 5-15% at 2 and 4 tokens and broke even at 16, so fewer
// tokens keep the 1 x 4. Q8_0: 2 x 3 from 64 tokens, +3-12% at 64 and 128 (2 x 4 was 5% slower); below 64 the 1 x 4,
// 15% faster than the 2 x 3 at 4 tokens, 3% at 32. gemm_dispatch.cpp splits rows over threads by 16 (legacy_rows).
using GemmQ4_0 = Always<LegacyKernel<Q4_0Type, 2, 4>>;
using GemmQ4_1 = Always<LegacyKernel<Q4_1Type, 2, 4>>;
using GemmQ5_0 = Always<LegacyKernel<Q5_0Type, 2, 4>>;
using GemmQ5_1 = ByTokens<LegacyKernel<Q5_1Type, 1, 4>, LegacyKernel<Q5_1Type, 2, 4>, 16>;
using GemmQ8_0 = ByTokens<LegacyKernel<Q8_0Type, 1, 4>, LegacyKernel<Q8_0Type, 2, 3>, 64>;

#define SPOOL_GEMM_LEGACY(t, Type, Kernels)                                                                       \
    void gemm_##t##_avx2(int64_t n, const void* w, size_t ws, int64_t n_rows, const void* act, size_t as,        \
                         int64_t n_tokens, float* out, int64_t os, void* scratch) {                                \
        Kernels::run(n, w, ws, n_rows, act, as, n_tokens, out, os, scratch);                                       \
    }                                                                                                              \
    size_t gemm_scratch_##t##_avx2(int64_t n, int64_t n_tokens) { return Kernels::scratch_bytes(n, n_tokens); }  \
    void gemv_##t##_avx2(int64_t n, const void* w, size_t ws, int64_t n_rows, const void* act, float* out) {     \
        LegacyRows<Type>::rows(n, w, ws, n_rows, act, out);                                                        \
    }

SPOOL_GEMM_LEGACY(q4_0, Q4_0Type, GemmQ4_0)
SPOOL_GEMM_LEGACY(q4_1, Q4_1Type, GemmQ4_1)
SPOOL_GEMM_LEGACY(q5_0, Q5_0Type, GemmQ5_0)
SPOOL_GEMM_LEGACY(q5_1, Q5_1Type, GemmQ5_1)
SPOOL_GEMM_LEGACY(q8_0, Q8_0Type, GemmQ8_0)

#undef SPOOL_GEMM_LEGACY

}  // namespace spool::cpu
