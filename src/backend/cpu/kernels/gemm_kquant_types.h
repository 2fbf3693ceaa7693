// The K-quant weight types (Q2_K ... Q6_K) as the multi-token kernels see them: each 32-element group of a super-
// block as unsigned levels, the sub-block scales and the min (or zero-point) weights as bytes, after blocks_k.h and
// quant/kquants_dot.cpp. AVX2 code with internal linkage: include only from files built with -mavx2.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels/simd_avx2.h"
#include "quant/blocks_k.h"

namespace spool::cpu {
namespace {

using quant::BlockQ2_K;
using quant::BlockQ3_K;
using quant::BlockQ4_K;
using quant::BlockQ5_K;
using quant::BlockQ6_K;
using quant::BlockQ8_K;
using quant::kQK_K;

// v holds only bit `from` of each byte; move it to bit `to` (16-bit shifts are safe: nothing crosses a byte).
inline __m256i move_bit(__m256i v, int from, int to) {
    return from > to ? _mm256_srli_epi16(v, from - to) : _mm256_slli_epi16(v, to - from);
}

inline __m256i low_bits(__m256i v, int shift, int mask) {
    return _mm256_and_si256(_mm256_srli_epi16(v, shift), _mm256_set1_epi8(static_cast<char>(mask)));
}

// 2-bit fields of Q2_K/Q3_K: elements 32g..32g+31 (g = 4h + k) are bits 2k of qs[32h .. 32h + 31].
inline __m256i two_bits(const uint8_t* qs, int g) { return low_bits(load_i8x32(qs + 32 * (g / 4)), 2 * (g % 4), 3); }

inline __m128i from_u32(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    return _mm_set_epi32(static_cast<int32_t>(d), static_cast<int32_t>(c), static_cast<int32_t>(b),
                         static_cast<int32_t>(a));
}

// Per type: levels of elements 32g..32g+31 (unsigned); scale_bytes: the sub-block scales (kSub signed bytes) and
// the weights of 2 * kPairs activation sums (signed bytes, times 2^kMinShift): of the 16 bsums groups, or
// (kPairs = 4) of the 8 sums of 32 that act_sums precomputes, half the madds; d / dmin. kSteps: steps of 4 levels
// whose int16 maddubs sums may be added before the widening madd (2 * kSteps * max level * 127 < 32768).
// kFoldMin: the sums term is a zero point scaled by d (subtracted from the integer sum), not a min scaled by dmin.
struct Q2KType {
    using W = BlockQ2_K;
    static constexpr int kSub = 16, kSteps = 4;
    static constexpr bool kFoldMin = false;
    static constexpr int kMinShift = 0, kPairs = 8;
    static __m256i group(const W& x, int g) { return two_bits(x.qs, g); }
    static void scale_bytes(const W& x, __m128i* sc, __m128i* mp) {
        const __m128i packed = load_i8x16(x.scales);
        *sc = _mm_and_si128(packed, _mm_set1_epi8(0xF));
        *mp = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0xF));
    }
};

// Q3_K: level = q + 4 (0..7); the -4 goes through bsums as 4 * scale.
struct Q3KType {
    using W = BlockQ3_K;
    static constexpr int kSub = 16, kSteps = 4;
    static constexpr bool kFoldMin = true;
    static constexpr int kMinShift = 2, kPairs = 8;
    static __m256i group(const W& x, int g) {
        const __m256i high = _mm256_and_si256(load_i8x32(x.hmask), _mm256_set1_epi8(static_cast<char>(1 << g)));
        return _mm256_or_si256(two_bits(x.qs, g), move_bit(high, g, 2));
    }
    // 16 six-bit scales minus 32: low 4 bits in the nibbles of bytes 0-7 (scales 0-7 low, 8-15 high nibble),
    // high 2 bits of scale s at bits 2(s / 4) of byte 8 + s % 4.
    static void scale_bytes(const W& x, __m128i* sc, __m128i* mp) {
        uint32_t a[3];
        std::memcpy(a, x.scales, 12);
        const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
        const __m128i s = from_u32((a[0] & m4) | ((a[2] & m2) << 4), (a[1] & m4) | (((a[2] >> 2) & m2) << 4),
                                   ((a[0] >> 4) & m4) | (((a[2] >> 4) & m2) << 4),
                                   ((a[1] >> 4) & m4) | (((a[2] >> 6) & m2) << 4));
        *sc = *mp = _mm_sub_epi8(s, _mm_set1_epi8(32));
    }
};

// Q4_K / Q5_K: group g is sub-block g (low nibbles of qs[32(g/2)..] for even g, high nibbles for odd g).
inline __m256i k4_nibbles(const uint8_t* qs, int g) {
    return low_bits(load_i8x32(qs + 32 * (g / 2)), 4 * (g % 2), 0xF);
}

// The 6-bit scales and mins (blocks_k.h k4_scale_min): s < 4 in the low 6 bits of bytes s and s + 4; s >= 4 in
// the nibbles of byte s + 4 plus the top 2 bits of bytes s - 4 (scale) and s (min). Min s weights the activation
// sum of sub-block s (bsums 2s + 2s+1, precomputed).
inline void k4_scale_bytes(const uint8_t* packed, __m128i* sc, __m128i* mp) {
    uint32_t u[3];
    std::memcpy(u, packed, 12);
    const uint32_t sc_high = (u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u);
    const uint32_t min_high = ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u);
    *sc = from_u32(u[0] & 0x3f3f3f3fu, sc_high, 0, 0);
    *mp = from_u32(u[1] & 0x3f3f3f3fu, min_high, 0, 0);
}

struct Q4KType {
    using W = BlockQ4_K;
    static constexpr int kSub = 8, kSteps = 8;
    static constexpr bool kFoldMin = false;
    static constexpr int kMinShift = 0, kPairs = 4;
    static __m256i group(const W& x, int g) { return k4_nibbles(x.qs, g); }
    static void scale_bytes(const W& x, __m128i* sc, __m128i* mp) { k4_scale_bytes(x.scales, sc, mp); }
};

struct Q5KType {
    using W = BlockQ5_K;
    static constexpr int kSub = 8, kSteps = 4;
    static constexpr bool kFoldMin = false;
    static constexpr int kMinShift = 0, kPairs = 4;
    static __m256i group(const W& x, int g) {
        const __m256i high = _mm256_and_si256(load_i8x32(x.qh), _mm256_set1_epi8(static_cast<char>(1 << g)));
        return _mm256_or_si256(k4_nibbles(x.qs, g), move_bit(high, g, 4));
    }
    static void scale_bytes(const W& x, __m128i* sc, __m128i* mp) { k4_scale_bytes(x.scales, sc, mp); }
};

// Q6_K: level = q + 32 (0..63); the -32 goes through bsums as 32 * scale. Elements 128h + 32k + l: low 4 bits
// in ql[64h + 32(k % 2) + l] (nibble k / 2), high 2 bits at bits 2k of qh[32h + l].
struct Q6KType {
    using W = BlockQ6_K;
    static constexpr int kSub = 16, kSteps = 2;  // 4 * 63 * 127 = 32004
    static constexpr bool kFoldMin = true;
    static constexpr int kMinShift = 5, kPairs = 8;
    static __m256i group(const W& x, int g) {
        const int h = g / 4, k = g % 4;
        const __m256i low = low_bits(load_i8x32(x.ql + 64 * h + 32 * (k % 2)), 4 * (k / 2), 0xF);
        // Bits 2k, 2k + 1 of qh moved straight to bits 4, 5 (a 16-bit shift, then the mask drops what crossed).
        const __m256i qh = load_i8x32(x.qh + 32 * h);
        const __m256i shifted = k < 2 ? _mm256_slli_epi16(qh, 4 - 2 * k) : k == 2 ? qh : _mm256_srli_epi16(qh, 2);
        return _mm256_or_si256(low, _mm256_and_si256(shifted, _mm256_set1_epi8(0x30)));
    }
    static void scale_bytes(const W& x, __m128i* sc, __m128i* mp) { *sc = *mp = load_i8x16(x.scales); }
};

// rows[r] = 16 bytes of row r -> cols[i] = bytes 2i (low 8 bytes) and 2i + 1 (high 8 bytes) of rows 0..7.
[[gnu::always_inline]] inline void transpose_8x16_bytes(const __m128i* rows, __m128i* cols) {
    __m128i t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
        t[i] = _mm_unpacklo_epi8(rows[2 * i], rows[2 * i + 1]);      // bytes 0-7 of rows 2i, 2i+1, interleaved
        t[4 + i] = _mm_unpackhi_epi8(rows[2 * i], rows[2 * i + 1]);  // bytes 8-15
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
        u[4 * h + 0] = _mm_unpacklo_epi16(t[4 * h + 0], t[4 * h + 1]);  // bytes 8h+0..3 of rows 0-3
        u[4 * h + 1] = _mm_unpackhi_epi16(t[4 * h + 0], t[4 * h + 1]);  // bytes 8h+4..7 of rows 0-3
        u[4 * h + 2] = _mm_unpacklo_epi16(t[4 * h + 2], t[4 * h + 3]);  // rows 4-7
        u[4 * h + 3] = _mm_unpackhi_epi16(t[4 * h + 2], t[4 * h + 3]);
        cols[4 * h + 0] = _mm_unpacklo_epi32(u[4 * h + 0], u[4 * h + 2]);
        cols[4 * h + 1] = _mm_unpackhi_epi32(u[4 * h + 0], u[4 * h + 2]);
        cols[4 * h + 2] = _mm_unpacklo_epi32(u[4 * h + 1], u[4 * h + 3]);
        cols[4 * h + 3] = _mm_unpackhi_epi32(u[4 * h + 1], u[4 * h + 3]);
    }
}

template <class T>
float row_dmin(const typename T::W& x, const float* f16) {
    if constexpr (T::kFoldMin) {
        return 0.0f;
    } else {
        return f16[x.dmin];
    }
}

}  // namespace
}  // namespace spool::cpu
