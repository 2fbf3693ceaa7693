// The AVX-512 VNNI multi-token kernel of the legacy weight types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) against Q8_0 / Q8_1
// activation rows: 16-row panels, lanes = rows (gemm_avx512.h). gemm_legacy_avx512.cpp instantiates it;
// gemm_legacy_amx.cpp packs the same panels with signed levels and repeats its float operations. Include only from
// files built with the avx512 flags; internal linkage.
#pragma once

#include "backend/cpu/kernels/fp16_table.h"
#include "backend/cpu/kernels/gemm_avx512.h"
#include "backend/cpu/kernels/gemm_legacy_types.h"
#include "backend/cpu/kernels/prefetch.h"

namespace spool::cpu {
namespace {

// One 32-element block of 16 rows.
struct LegacyPanel16 {
    alignas(64) uint8_t q[8][64];  // step j: levels 4j..4j+3 of row r at bytes 4r..4r+3 (see pack_levels)
    alignas(64) float d[16];       // row scales
    alignas(64) float m[16];       // row mins (Q4_1, Q5_1)
};

template <class T>
struct LegacyKernel512 {
    using W = typename T::W;
    using A = typename T::A;
    using Panel = LegacyPanel16;
    static constexpr int kRows = kPanelRows512;
    static constexpr int kTile = 8;  // 8 tokens: 8 sums and 8 accumulators of 32 zmm registers
    static constexpr int64_t kBlock = quant::kLegacyBlockSize;
    // dpbusd takes the weights unsigned: Q8_0's signed quants enter as q + 128 (a flipped sign bit), and
    // 128 * sum(a) leaves with the zero points of Q4_0 and Q5_0.
    static constexpr int kOffset = T::kSigned ? 128 : T::kOffset;
    static constexpr bool kActSums = kOffset != 0;
    static constexpr int kSumsPerBlock = 1;

    static void act_sums(const uint8_t* act_row, int64_t nb, int32_t* sums) {
        const auto* y = reinterpret_cast<const A*>(act_row);
        for (int64_t b = 0; b < nb; ++b) sums[b] = kOffset * sum_i8x32(y[b].qs);
    }

    static void pack(const uint8_t* const* rows, int64_t nb, Panel* panel) { pack_levels<false>(rows, nb, panel); }

    // kSignedLevels: each level minus the type's zero point (signed bytes, for the AMX kernels' tdpbssd); otherwise
    // unsigned levels for dpbusd (Q8_0's signed quants with the sign bit flipped).
    template <bool kSignedLevels>
    static void pack_levels(const uint8_t* const* rows, int64_t nb, Panel* panel) {
        const float* f16 = fp16_table();
        const __m256i zero_point = _mm256_set1_epi8(static_cast<char>(T::kSigned ? 0 : T::kOffset));
        for (int64_t b = 0; b < nb; ++b) {
            Panel& p = panel[b];
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                __m256i v[kPanelRows];
#pragma GCC unroll 8
                for (int r = 0; r < kPanelRows; ++r) {
                    const W& x = reinterpret_cast<const W*>(rows[kPanelRows * h + r])[b];
                    prefetch_ahead<sizeof(W)>(&x);
                    v[r] = T::levels(x);
                    if constexpr (kSignedLevels) {
                        v[r] = _mm256_sub_epi8(v[r], zero_point);
                    } else if constexpr (T::kSigned) {
                        v[r] = _mm256_xor_si256(v[r], _mm256_set1_epi8(static_cast<char>(0x80)));
                    }
                    p.d[kPanelRows * h + r] = f16[x.d];
                    if constexpr (T::kHasMin) p.m[kPanelRows * h + r] = row_min<T>(x, f16);  // else never read
                }
                transpose_8x8_dwords(v);
#pragma GCC unroll 8
                for (int j = 0; j < 8; ++j) _mm256_store_si256(reinterpret_cast<__m256i*>(p.q[j] + 32 * h), v[j]);
            }
        }
    }

    template <int C>
    static void tile(const Panel* panel, int64_t nb, const uint8_t* const* act, const int32_t* const* sums,
                     float (*res)[kRows]) {
        const float* f16 = fp16_table();
        const A* y[C];
        __m512 acc[C];
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) {
            y[c] = reinterpret_cast<const A*>(act[c]);
            acc[c] = _mm512_setzero_ps();
        }
        for (int64_t b = 0; b < nb; ++b) {
            const Panel& p = panel[b];
            __m512i isum[C];
#pragma GCC unroll 8
            for (int c = 0; c < C; ++c) isum[c] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int j = 0; j < 8; ++j) {
                const __m512i w = load_512(p.q[j]);
#pragma GCC unroll 8
                for (int c = 0; c < C; ++c) {
                    isum[c] = _mm512_dpbusd_epi32(isum[c], w, broadcast_4_512(y[c][b].qs + 4 * j));
                }
            }
            const __m512 d = _mm512_load_ps(p.d);
#pragma GCC unroll 8
            for (int c = 0; c < C; ++c) {
                if constexpr (kOffset != 0) isum[c] = _mm512_sub_epi32(isum[c], _mm512_set1_epi32(sums[c][b]));
                const __m512 scale = _mm512_mul_ps(d, _mm512_set1_ps(f16[y[c][b].d]));
                acc[c] = _mm512_fmadd_ps(to_float(isum[c]), scale, acc[c]);
                if constexpr (T::kHasMin) {
                    acc[c] = _mm512_fmadd_ps(_mm512_load_ps(p.m), _mm512_set1_ps(f16[y[c][b].s]), acc[c]);
                }
            }
        }
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c) _mm512_store_ps(res[c], acc[c]);
    }
};

}  // namespace
}  // namespace spool::cpu
