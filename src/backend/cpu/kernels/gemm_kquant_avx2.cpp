// AVX2 multi-token kernels for the K-quant weight types (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) against Q8_K activation
// rows: 8-row panels, lanes = rows (gemm_avx2.h). Per super-block the integer sums are exact, as in
// quant/kquants_dot.cpp; mins and zero points go through Q8_K's bsums. Only the float summation order differs.
#include <cstddef>

#include "backend/cpu/kernels/fp16_table.h"
#include "backend/cpu/kernels/gemm_avx2.h"
#include "backend/cpu/kernels/gemm_decls.h"
#include "backend/cpu/kernels/gemm_driver.h"
#include "backend/cpu/kernels/gemm_kquant_types.h"
#include "backend/cpu/kernels/prefetch.h"
#include "backend/cpu/kernels/row_groups.h"
#include "backend/cpu/kernels/simd_avx2.h"
#include "quant/blocks_k.h"

namespace spool::cpu {
namespace {

// One 256-element super-block of 8 rows, with kSub sub-blocks (8 of 32 or 16 of 16 elements) and kPairs int16
// pairs of min (or zero-point) weights per row.
template <int kSub, int kPairs>
struct KPanel {
    alignas(32) uint8_t q[64][32];         // step j: levels 4j..4j+3 of row r at bytes 4r..4r+3 (unsigned)
    alignas(32) int16_t sc[kSub][8][2];    // sub-block s's scale of row r, twice (madd weights both halves)
    alignas(32) int16_t mp[kPairs][8][2];  // row r's weights of activation sums 2k and 2k + 1
    alignas(32) float d[8];                // row scales
    alignas(32) float dmin[8];             // row scales of the min term (types without one: unused)
};

// 8 rows by up to kTile tokens. kTile 4 measured best on Zen 3 (3: -5%, 5-6: same, 8: spills, -40%); two groups of
// 8 rows sharing each activation broadcast measured no faster: GCC then reloads the weights (register pressure).
template <class T>
struct KQuantKernel {
    using W = typename T::W;
    using Panel = KPanel<T::kSub, T::kPairs>;
    static constexpr int kRows = kPanelRows;
    static constexpr int kTile = 4;
    static constexpr int64_t kBlock = kQK_K;
    static constexpr bool kActSums = T::kPairs == 4;
    static constexpr int kSumsPerBlock = 4;  // 8 int16 sums of 32 activation quants (bsums pairs)
    static constexpr int kStepsPerSub = 64 / T::kSub;

    static void act_sums(const uint8_t* act_row, int64_t nb, int32_t* sums) {
        const auto* y = reinterpret_cast<const BlockQ8_K*>(act_row);
        for (int64_t b = 0; b < nb; ++b) {
            const __m128i pair_sums = _mm_hadd_epi16(load_i8x16(y[b].bsums), load_i8x16(y[b].bsums + 8));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(sums + kSumsPerBlock * b), pair_sums);
        }
    }

    static void pack(const uint8_t* const* rows, int64_t nb, Panel* panel) {
        const float* f16 = fp16_table();
        for (int64_t b = 0; b < nb; ++b) {
            Panel& p = panel[b];
            for (int r = 0; r < kRows; ++r) prefetch_ahead<sizeof(W)>(reinterpret_cast<const W*>(rows[r]) + b);
#pragma GCC unroll 8
            for (int e = 0; e < 8; ++e) {  // elements 32e .. 32e + 31
                __m256i v[kRows];
#pragma GCC unroll 8
                for (int r = 0; r < kRows; ++r) v[r] = T::group(reinterpret_cast<const W*>(rows[r])[b], e);
                transpose_8x8_dwords(v);
#pragma GCC unroll 8
                for (int j = 0; j < 8; ++j) _mm256_store_si256(reinterpret_cast<__m256i*>(p.q[8 * e + j]), v[j]);
            }
            // Scales: one row of 16 bytes per weight row, transposed to columns of 8 rows, widened to int16.
            __m128i sc_rows[kRows], mp_rows[kRows], sc_cols[8], mp_cols[8];
#pragma GCC unroll 8
            for (int r = 0; r < kRows; ++r) {
                const W& x = reinterpret_cast<const W*>(rows[r])[b];
                T::scale_bytes(x, &sc_rows[r], &mp_rows[r]);
                p.d[r] = f16[x.d];
                p.dmin[r] = row_dmin<T>(x, f16);
            }
            transpose_8x16_bytes(sc_rows, sc_cols);
            transpose_8x16_bytes(mp_rows, mp_cols);
#pragma GCC unroll 16
            for (int s = 0; s < T::kSub; ++s) {
                // Column s, each byte twice: lane r = [sc, sc] as int16.
                const __m128i col = s % 2 == 0 ? _mm_unpacklo_epi8(sc_cols[s / 2], sc_cols[s / 2])
                                               : _mm_unpackhi_epi8(sc_cols[s / 2], sc_cols[s / 2]);
                _mm256_store_si256(reinterpret_cast<__m256i*>(p.sc[s]), _mm256_cvtepi8_epi16(col));
            }
#pragma GCC unroll 8
            for (int k = 0; k < T::kPairs; ++k) {
                // Columns 2k and 2k + 1 interleaved: lane r = [mp_2k, mp_2k+1] as int16.
                const __m128i pair = _mm_unpacklo_epi8(mp_cols[k], _mm_srli_si128(mp_cols[k], 8));
                const __m256i wide = _mm256_slli_epi16(_mm256_cvtepi8_epi16(pair), T::kMinShift);
                _mm256_store_si256(reinterpret_cast<__m256i*>(p.mp[k]), wide);
            }
        }
    }

    static __m256i load(const void* p) { return _mm256_load_si256(static_cast<const __m256i*>(p)); }

    // The activation sums that mp weights: bsums (16 groups of 16) or the precomputed sums of 32.
    static const void* min_sums(const BlockQ8_K& y, const int32_t* sums, int64_t b) {
        if constexpr (kActSums) {
            return sums + kSumsPerBlock * b;
        } else {
            return y.bsums;
        }
    }

    template <int C>
    static void tile(const Panel* panel, int64_t nb, const uint8_t* const* act, const int32_t* const* sums,
                     float (*res)[kRows]) {
        const BlockQ8_K* y[C];
        __m256 acc[C];
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
            y[c] = reinterpret_cast<const BlockQ8_K*>(act[c]);
            acc[c] = _mm256_setzero_ps();
        }
        for (int64_t b = 0; b < nb; ++b) {
            const Panel& p = panel[b];
            __m256i isum[C];
#pragma GCC unroll 16
            for (int s = 0; s < T::kSub; ++s) {
                const __m256i sc = load(p.sc[s]);
#pragma GCC unroll 8
                for (int h = 0; h < kStepsPerSub / T::kSteps; ++h) {
                    __m256i s16[C];
#pragma GCC unroll 8
                    for (int k = 0; k < T::kSteps; ++k) {
                        const int j = s * kStepsPerSub + h * T::kSteps + k;
                        const __m256i w = load(p.q[j]);
#pragma GCC unroll 8
                        for (int c = 0; c < C; ++c) {
                            const __m256i prod = _mm256_maddubs_epi16(w, broadcast_4(y[c][b].qs + 4 * j));
                            s16[c] = k == 0 ? prod : _mm256_add_epi16(s16[c], prod);
                            keep_in_register(s16[c]);
                        }
                    }
#pragma GCC unroll 8
                    for (int c = 0; c < C; ++c) {
                        const __m256i s32 = _mm256_madd_epi16(s16[c], sc);
                        isum[c] = s == 0 && h == 0 ? s32 : _mm256_add_epi32(isum[c], s32);
                        keep_in_register(isum[c]);
                    }
                }
            }
            const __m256 d = _mm256_load_ps(p.d);
#pragma GCC unroll 8
            for (int c = 0; c < C; ++c) {
                const auto* m16 = static_cast<const int16_t*>(min_sums(y[c][b], sums[c], b));
                __m256i mins = _mm256_madd_epi16(load(p.mp[0]), broadcast_4(m16));
#pragma GCC unroll 8
                for (int k = 1; k < T::kPairs; ++k) {
                    mins = _mm256_add_epi32(mins, _mm256_madd_epi16(load(p.mp[k]), broadcast_4(m16 + 2 * k)));
                }
                const __m256 yd = _mm256_set1_ps(y[c][b].d);
                if constexpr (T::kFoldMin) {
                    const __m256i total = _mm256_sub_epi32(isum[c], mins);
                    acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(d, yd), acc[c]);
                } else {
                    acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(d, yd), acc[c]);
                    const __m256 dmin = _mm256_mul_ps(_mm256_load_ps(p.dmin), yd);
                    acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), dmin, acc[c]);
                }
            }
        }
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) _mm256_store_ps(res[c], acc[c]);
    }
};

// One token (decode): out[r] = dot(row r, act), rows in their file layout (lanes = elements), four at a time. Each
// row gets the same integers and then the same float operations, in the same order, as in KQuantKernel::tile, so
// a row's result does not depend on how many tokens were batched with it (bit for bit). From DRAM (bench_cpu_kernels
// matvec/stream1GiB, Zen 3) within -6%..+6% of vec_dot_rows, which rounds in its own order.
template <class T>
struct KQuantRows {
    using W = typename T::W;

    // The madd weights of elements 32g..32g+31: sub-block g (kSub 8) or 2g and 2g + 1 (kSub 16, one per 128-bit
    // half). low / high: scales 0-7 / 8-15 as int16 in both halves.
    static __m256i group_scales(__m256i low, __m256i high, int g) {
        const int a = T::kSub == 8 ? g : 2 * g, b = T::kSub == 8 ? g : 2 * g + 1;
        const __m256i from = a < 8 ? low : high;
        const __m256i control = _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * (b % 8))),
                                                 _mm_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * (a % 8))));
        return _mm256_shuffle_epi8(from, control);
    }

    // The integer sums of one row's super-block: sum of scale * dot in *isum, of the min weights * bsums in *mins.
    static void block_sums(const W& x, const BlockQ8_K& y, __m256i* isum, __m256i* mins) {
        __m128i sc_bytes, mp_bytes;
        T::scale_bytes(x, &sc_bytes, &mp_bytes);
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc_bytes);
        const __m256i low = _mm256_permute2x128_si256(sc16, sc16, 0x00);
        const __m256i high = _mm256_permute2x128_si256(sc16, sc16, 0x11);
        __m256i sum = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int g = 0; g < 8; ++g) {
            const __m256i p = _mm256_maddubs_epi16(T::group(x, g), load_i8x32(y.qs + 32 * g));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, group_scales(low, high, g)));
        }
        *isum = sum;
        // kPairs 4: one min per sub-block of 32, i.e. per two bsums groups.
        const __m128i per_group = T::kPairs == 4 ? _mm_unpacklo_epi8(mp_bytes, mp_bytes) : mp_bytes;
        const __m256i weights = _mm256_slli_epi16(_mm256_cvtepi8_epi16(per_group), T::kMinShift);
        *mins = _mm256_madd_epi16(weights, load_i8x32(y.bsums));
    }

    // rows: [4] rows of nb super-blocks (repeats allowed); out: [4].
    static void dot4(int64_t nb, const W* const* rows, const BlockQ8_K* y, float* out) {
        __m128 acc = _mm_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
            __m256i isum[4], mins[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; ++r) {
                prefetch_ahead<sizeof(W)>(rows[r] + b);
                block_sums(rows[r][b], y[b], &isum[r], &mins[r]);
            }
            const __m128i isum4 = sum_lanes_4(isum), mins4 = sum_lanes_4(mins);
            const __m128 yd = _mm_set1_ps(y[b].d);
            const void* blocks[4] = {rows[0] + b, rows[1] + b, rows[2] + b, rows[3] + b};
            const __m128 d = fp16x4(blocks, offsetof(W, d));
            if constexpr (T::kFoldMin) {
                acc = _mm_fmadd_ps(_mm_cvtepi32_ps(_mm_sub_epi32(isum4, mins4)), _mm_mul_ps(d, yd), acc);
            } else {
                acc = _mm_fmadd_ps(_mm_cvtepi32_ps(isum4), _mm_mul_ps(d, yd), acc);
                const __m128 dmin = fp16x4(blocks, offsetof(W, dmin));
                acc = _mm_fnmadd_ps(_mm_cvtepi32_ps(mins4), _mm_mul_ps(dmin, yd), acc);
            }
        }
        _mm_storeu_ps(out, acc);
    }

    static void rows(int64_t n, const void* w, size_t stride, int64_t n_rows, const void* act, float* out) {
        const auto* y = static_cast<const BlockQ8_K*>(act);
        dot_all_rows<4>(w, stride, n_rows, out, [&]<int R>(const void* const* rows, float* sums) {
            const W* four[4];
            for (int r = 0; r < 4; ++r) four[r] = static_cast<const W*>(rows[r < R ? r : 0]);
            float all[4];
            dot4(n / kQK_K, four, y, all);
            for (int r = 0; r < R; ++r) sums[r] = all[r];
        });
    }
};

}  // namespace

#define SPOOL_GEMM_KQUANT(t, Type)                                                                                 \
    void gemm_##t##_avx2(int64_t n, const void* w, size_t ws, int64_t n_rows, const void* act, size_t as,         \
                         int64_t n_tokens, float* out, int64_t os, void* scratch) {                                 \
        gemm<KQuantKernel<Type>>(n, w, ws, n_rows, act, as, n_tokens, out, os, scratch);                           \
    }                                                                                                               \
    size_t gemm_scratch_##t##_avx2(int64_t n, int64_t n_tokens) {                                               \
        return gemm_scratch<KQuantKernel<Type>>(n, n_tokens);                                                      \
    }                                                                                                               \
    void gemv_##t##_avx2(int64_t n, const void* w, size_t ws, int64_t n_rows, const void* act, float* out) {     \
        KQuantRows<Type>::rows(n, w, ws, n_rows, act, out);                                                        \
    }

SPOOL_GEMM_KQUANT(q2_k, Q2KType)
SPOOL_GEMM_KQUANT(q3_k, Q3KType)
SPOOL_GEMM_KQUANT(q4_k, Q4KType)
SPOOL_GEMM_KQUANT(q5_k, Q5KType)
SPOOL_GEMM_KQUANT(q6_k, Q6KType)

#undef SPOOL_GEMM_KQUANT

}  // namespace spool::cpu
