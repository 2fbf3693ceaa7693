// The AVX-512 VNNI multi-token kernel of the K-quant weight types (Q2_K ... Q6_K) against Q8_K activation rows:
// 16-row panels, lanes = rows (gemm_avx512.h). gemm_kquant_avx512.cpp instantiates it; gemm_kquant_amx.cpp packs the
// same panels and repeats its float operations. Include only from files built with the avx512 flags; internal
// linkage.
#pragma once

#include "backend/cpu/kernels/fp16_table.h"
#include "backend/cpu/kernels/gemm_avx512.h"
#include "backend/cpu/kernels/gemm_kquant_types.h"
#include "backend/cpu/kernels/prefetch.h"

namespace spool::cpu {
namespace {

// One 256-element super-block of 16 rows, with kSub sub-blocks and kPairs int16 pairs of min weights per row.
template <int kSub, int kPairs>
struct KPanel16 {
    alignas(64) uint8_t q[64][64];         // step j: levels 4j..4j+3 of row r at bytes 4r..4r+3 (unsigned)
    alignas(64) int32_t sc[kSub][16];      // sub-block s's scale of row r (a dpbusd sum is int32: mullo)
    alignas(64) int16_t mp[kPairs][16][2];  // row r's weights of activation sums 2k and 2k + 1
    alignas(64) float d[16];               // row scales
    alignas(64) float dmin[16];            // row scales of the min term (types without one: unused)
};

template <class T>
struct KQuantKernel512 {
    using W = typename T::W;
    using Panel = KPanel16<T::kSub, T::kPairs>;
    static constexpr int kRows = kPanelRows512;
    static constexpr int kTile = 8;  // 8 tokens: sub-block sums, block sums and accumulators in 24 of 32 registers
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

    // Rows 8h .. 8h + 7 of the panel (rows8: their 8 row pointers) at super-block b.
    static void pack_half(const uint8_t* const* rows8, int h, int64_t b, Panel& p, const float* f16) {
        for (int r = 0; r < kPanelRows; ++r) prefetch_ahead<sizeof(W)>(reinterpret_cast<const W*>(rows8[r]) + b);
#pragma GCC unroll 8
        for (int e = 0; e < 8; ++e) {  // elements 32e .. 32e + 31
            __m256i v[kPanelRows];
#pragma GCC unroll 8
            for (int r = 0; r < kPanelRows; ++r) v[r] = T::group(reinterpret_cast<const W*>(rows8[r])[b], e);
            transpose_8x8_dwords(v);
#pragma GCC unroll 8
            for (int j = 0; j < 8; ++j) _mm256_store_si256(reinterpret_cast<__m256i*>(p.q[8 * e + j] + 32 * h), v[j]);
        }
        __m128i sc_rows[kPanelRows], mp_rows[kPanelRows], sc_cols[8], mp_cols[8];
#pragma GCC unroll 8
        for (int r = 0; r < kPanelRows; ++r) {
            const W& x = reinterpret_cast<const W*>(rows8[r])[b];
            T::scale_bytes(x, &sc_rows[r], &mp_rows[r]);
            p.d[kPanelRows * h + r] = f16[x.d];
            p.dmin[kPanelRows * h + r] = row_dmin<T>(x, f16);
        }
        transpose_8x16_bytes(sc_rows, sc_cols);
        transpose_8x16_bytes(mp_rows, mp_cols);
#pragma GCC unroll 16
        for (int s = 0; s < T::kSub; ++s) {
            // Column s (8 bytes, one per row) as int32.
            const __m128i col = s % 2 == 0 ? sc_cols[s / 2] : _mm_srli_si128(sc_cols[s / 2], 8);
            _mm256_store_si256(reinterpret_cast<__m256i*>(p.sc[s] + kPanelRows * h), _mm256_cvtepi8_epi32(col));
        }
#pragma GCC unroll 8
        for (int k = 0; k < T::kPairs; ++k) {
            // Columns 2k and 2k + 1 interleaved: row r = [mp_2k, mp_2k+1] as int16.
            const __m128i pair = _mm_unpacklo_epi8(mp_cols[k], _mm_srli_si128(mp_cols[k], 8));
            const __m256i wide = _mm256_slli_epi16(_mm256_cvtepi8_epi16(pair), T::kMinShift);
            _mm256_store_si256(reinterpret_cast<__m256i*>(p.mp[k][kPanelRows * h]), wide);
        }
    }

    static void pack(const uint8_t* const* rows, int64_t nb, Panel* panel) {
        const float* f16 = fp16_table();
        for (int64_t b = 0; b < nb; ++b) {
            pack_half(rows, 0, b, panel[b], f16);
            pack_half(rows + kPanelRows, 1, b, panel[b], f16);
        }
    }

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
        __m512 acc[C];
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
            y[c] = reinterpret_cast<const BlockQ8_K*>(act[c]);
            acc[c] = _mm512_setzero_ps();
        }
        for (int64_t b = 0; b < nb; ++b) {
            const Panel& p = panel[b];
            __m512i isum[C];
#pragma GCC unroll 8
            for (int c = 0; c < C; ++c) isum[c] = _mm512_setzero_si512();
#pragma GCC unroll 16
            for (int s = 0; s < T::kSub; ++s) {
                __m512i sub[C];
#pragma GCC unroll 8
                for (int c = 0; c < C; ++c) sub[c] = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int k = 0; k < kStepsPerSub; ++k) {
                    const int j = s * kStepsPerSub + k;
                    const __m512i w = load_512(p.q[j]);
#pragma GCC unroll 8
                    for (int c = 0; c < C; ++c) {
                        sub[c] = _mm512_dpbusd_epi32(sub[c], w, broadcast_4_512(y[c][b].qs + 4 * j));
                    }
                }
                const __m512i sc = load_512(p.sc[s]);
#pragma GCC unroll 8
                for (int c = 0; c < C; ++c) {
                    isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(sub[c], sc));
                    keep_in_register(isum[c]);
                }
            }
            const __m512 d = _mm512_load_ps(p.d);
#pragma GCC unroll 8
            for (int c = 0; c < C; ++c) {
                const auto* m16 = static_cast<const int16_t*>(min_sums(y[c][b], sums[c], b));
                __m512i mins = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int k = 0; k < T::kPairs; ++k) {
                    mins = _mm512_dpwssd_epi32(mins, load_512(p.mp[k]), broadcast_4_512(m16 + 2 * k));
                }
                const __m512 yd = _mm512_set1_ps(y[c][b].d);
                if constexpr (T::kFoldMin) {
                    const __m512i total = _mm512_sub_epi32(isum[c], mins);
                    acc[c] = _mm512_fmadd_ps(to_float(total), _mm512_mul_ps(d, yd), acc[c]);
                } else {
                    acc[c] = _mm512_fmadd_ps(to_float(isum[c]), _mm512_mul_ps(d, yd), acc[c]);
                    const __m512 dmin = _mm512_mul_ps(_mm512_load_ps(p.dmin), yd);
                    acc[c] = _mm512_fnmadd_ps(to_float(mins), dmin, acc[c]);
                }
            }
        }
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) _mm512_store_ps(res[c], acc[c]);
    }
};

}  // namespace
}  // namespace spool::cpu
