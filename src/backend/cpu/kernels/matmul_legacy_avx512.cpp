// AVX-512 (VNNI + VBMI) dot products of legacy weight rows (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) with Q8_0 / Q8_1 rows.
// A group of blocks (4 of a 4/5-bit type, 2 of Q8_0) is read as a 128-byte window and vpermt2b moves quants and
// scales into place, so one vpdpbusd pair and one FMA serve 4 blocks. Integer sums per block are exact (unsigned
// weight quants, zero * sum(q_a) subtracted); only the float summation order differs from quant/.
#include "backend/cpu/kernels/kernel_decls.h"
#include "backend/cpu/kernels/legacy_groups.h"
#include "backend/cpu/kernels/prefetch.h"
#include "backend/cpu/kernels/row_groups.h"
#include "backend/cpu/kernels/simd_avx512.h"
#include "quant/blocks_legacy.h"

namespace spool::cpu {
namespace {

namespace lg = legacy_groups;
using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ5_0;
using quant::BlockQ5_1;
using quant::BlockQ8_0;
using quant::BlockQ8_1;

constexpr int64_t kBlock = quant::kLegacyBlockSize;
constexpr int kRowGroup = 4;

// Per type: block sizes and where each field goes. kBlocks = blocks per group; kZero = the unsigned offset of the
// weight quants; kActShift = where the window of the second half of the activation quants starts.
template <class Wb, class Ab, int kBlocksT, char kZeroT, bool kMinT, bool kFifthT, int kQsOff, int kQhOff,
          int kActShiftT>
struct Layout {
    using W = Wb;
    using A = Ab;
    static constexpr int kBlocks = kBlocksT;
    static constexpr int kW = sizeof(Wb), kA = sizeof(Ab);
    static constexpr char kZero = kZeroT;
    static constexpr bool kHasMin = kMinT, kFifthBit = kFifthT, kEightBit = kBlocksT == 2;
    static constexpr int kActShift = kActShiftT;
    static constexpr int kActQs = sizeof(Ab) == 34 ? 2 : 4;
    static constexpr lg::Index kWQuants = kEightBit ? lg::q8_bytes(kW, kQsOff) : lg::nibble_bytes(kW, kQsOff);
    static constexpr lg::Index kWScales = lg::scale_pattern(kBlocks, kW, 0, kMinT ? 2 : 0);  // d | m
    static constexpr lg::Index kHigh0 = lg::high_bit_bytes(kW, kQhOff, 0), kHigh1 = lg::high_bit_bytes(kW, kQhOff, 1);
    static constexpr lg::Index kAct0 = kEightBit ? lg::q8_bytes(kA, kActQs) : lg::act_bytes(kA, kActQs, 0, 0);
    static constexpr lg::Index kAct1 = lg::act_bytes(kA, kActQs, 1, kActShiftT);
    static constexpr lg::Index kAScales = lg::scale_pattern(kBlocks, kA, 0, 2);  // d | s (Q8_1)
    static_assert(lg::fits_window(kWQuants) && lg::fits_window(kWScales) && lg::fits_window(kAct0) &&
                  (kEightBit || lg::fits_window(kAct1)) &&
                  (!kFifthT || (lg::fits_window(kHigh0) && lg::fits_window(kHigh1))) && lg::fits_window(kAScales));
};

using Q4_0Layout = Layout<BlockQ4_0, BlockQ8_0, 4, 8, false, false, 2, 0, 8>;
using Q4_1Layout = Layout<BlockQ4_1, BlockQ8_1, 4, 0, true, false, 4, 0, 16>;
using Q5_0Layout = Layout<BlockQ5_0, BlockQ8_0, 4, 16, false, true, 6, 2, 8>;
using Q5_1Layout = Layout<BlockQ5_1, BlockQ8_1, 4, 0, true, true, 8, 4, 16>;
using Q8_0Layout = Layout<BlockQ8_0, BlockQ8_0, 2, static_cast<char>(0x80), false, false, 2, 0, 0>;

inline __m512i load_index(const lg::Index& idx) { return _mm512_loadu_si512(idx.at); }

// 64 bytes at p + pos, reading nothing at or past p + end (those bytes are zero): the windows of the last group
// reach past the row, which may end at the end of a mapping.
inline __m512i load64(const uint8_t* p, int64_t pos, int64_t end) {
    if (pos + 64 <= end) return _mm512_loadu_si512(p + pos);
    if (pos >= end) return _mm512_setzero_si512();
    return _mm512_maskz_loadu_epi8((uint64_t{1} << (end - pos)) - 1, p + pos);
}

inline __m512i permute(__m512i lo, const __m512i& idx, __m512i hi) { return _mm512_permutex2var_epi8(lo, idx, hi); }

// R rows over nb blocks, kBlocks blocks per step (a short last group reads zeros: quants and scales 0, adding 0).
// rows: [R] weight rows of nb blocks; act: [nb] blocks; out: [R].
template <class L, int R>
void dot_rows(int64_t nb, const void* const* rows, const void* act, float* out) {
    const auto* a = static_cast<const uint8_t*>(act);
    const int64_t w_end = nb * L::kW, a_end = nb * L::kA;
    const __m512i w_quants = load_index(L::kWQuants), w_scales = load_index(L::kWScales);
    const __m512i act0 = load_index(L::kAct0), act1 = load_index(L::kAct1), a_scales = load_index(L::kAScales);
    const __m512i high0 = load_index(L::kHigh0), high1 = load_index(L::kHigh1);
    // Byte j of a 5-bit group tests bit j % 8 of its qh byte.
    const __m512i bit_of_byte = _mm512_set1_epi64(static_cast<int64_t>(0x8040201008040201ull));
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    __m512 acc[R], acc_min[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[r] = acc_min[r] = _mm512_setzero_ps();

    for (int64_t g = 0; g * L::kBlocks < nb; ++g) {
        const int64_t wpos = g * L::kBlocks * L::kW, apos = g * L::kBlocks * L::kA;
        // Activation group, shared by all rows: quants, their zero-point correction, scales.
        const __m512i a0 = load64(a, apos, a_end), a1 = load64(a, apos + 64, a_end);
        const __m512i y0 = permute(a0, act0, a1);
        __m512i y1 = _mm512_setzero_si512();
        if constexpr (!L::kEightBit) {
            y1 = permute(load64(a, apos + L::kActShift, a_end), act1, load64(a, apos + L::kActShift + 64, a_end));
        }
        __m512i start = _mm512_setzero_si512();  // -zero * sum(q_a) per int32 lane
        if constexpr (L::kZero != 0) {
            __m512i corr = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(L::kZero), y0);
            if constexpr (!L::kEightBit) corr = _mm512_dpbusd_epi32(corr, _mm512_set1_epi8(L::kZero), y1);
            start = _mm512_sub_epi32(start, corr);
        }
        const __m512i asc = permute(a0, a_scales, a1);
        const __m512 ad = _mm512_cvtph_ps(_mm512_castsi512_si256(asc));
        __m512 as = _mm512_setzero_ps();  // Q8_1 s / lanes per block, so the lanes of a block sum to m * s
        if constexpr (L::kHasMin) {
            as = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(asc, 1)), _mm512_set1_ps(0.25f));
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const auto* w = static_cast<const uint8_t*>(rows[r]);
            prefetch_ahead<L::kBlocks * L::kW>(w + wpos);
            const __m512i w0 = load64(w, wpos, w_end), w1 = load64(w, wpos + 64, w_end);
            const __m512i q = permute(w0, w_quants, w1);
            __m512i dot;
            if constexpr (L::kEightBit) {
                dot = _mm512_dpbusd_epi32(start, _mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80))), y0);
            } else {
                __m512i lo = _mm512_and_si512(q, low4);
                __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
                if constexpr (L::kFifthBit) {
                    const __mmask64 h0 = _mm512_test_epi8_mask(permute(w0, high0, w1), bit_of_byte);
                    const __mmask64 h1 = _mm512_test_epi8_mask(permute(w0, high1, w1), bit_of_byte);
                    lo = _mm512_mask_add_epi8(lo, h0, lo, _mm512_set1_epi8(0x10));
                    hi = _mm512_mask_add_epi8(hi, h1, hi, _mm512_set1_epi8(0x10));
                }
                dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(start, lo, y0), hi, y1);
            }
            const __m512i wsc = permute(w0, w_scales, w1);
            const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(wsc)), ad);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[r]);
            if constexpr (L::kHasMin) {
                acc_min[r] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(wsc, 1)), as, acc_min[r]);
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        if constexpr (L::kHasMin) acc[r] = _mm512_add_ps(acc[r], acc_min[r]);
    }
    if constexpr (R == 4) {
        _mm_storeu_ps(out, hsum4_f32x16(acc[0], acc[1], acc[2], acc[3]));
    } else {
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
    }
}

template <class L>
void vec_dot(int64_t n, float* out, const void* w, const void* act) {
    const void* rows[1] = {w};
    dot_rows<L, 1>(n / kBlock, rows, act, out);
}

template <class L>
void vec_dot_rows(int64_t n, const void* w, size_t stride, int64_t n_rows, const void* act, float* out) {
    dot_all_rows<kRowGroup>(w, stride, n_rows, out, [&]<int R>(const void* const* rows, float* sums) {
        dot_rows<L, R>(n / kBlock, rows, act, sums);
    });
}

}  // namespace

void vec_dot_q4_0_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q4_0Layout>(n, out, w, act); }
void vec_dot_q4_1_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q4_1Layout>(n, out, w, act); }
void vec_dot_q5_0_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q5_0Layout>(n, out, w, act); }
void vec_dot_q5_1_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q5_1Layout>(n, out, w, act); }
void vec_dot_q8_0_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q8_0Layout>(n, out, w, act); }

void vec_dot_rows_q4_0_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q4_0Layout>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q4_1_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q4_1Layout>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q5_0_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q5_0Layout>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q5_1_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q5_1Layout>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q8_0_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q8_0Layout>(n, w, s, n_rows, act, out);
}

}  // namespace spool::cpu
