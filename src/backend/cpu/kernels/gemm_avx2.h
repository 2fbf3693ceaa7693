// AVX2 pieces shared by the gemm_*_avx2.cpp kernels: the 8-row panel layout (lanes = rows) and its transpose.
// Include only from files built with -mavx2 -mfma -mf16c; internal linkage, as simd_avx2.h.
//
// Why lanes = rows: each 32-bit lane of a vector holds 4 consecutive quants of one weight row, so maddubs against
// 4 activation bytes broadcast to every lane gives each row's partial dot in its own lane. Nothing is summed
// across lanes, and the int16 products of several steps can be added before the widening madd (the quant ranges
// bound them; see each kernel's kSteps), about half the multiply-port work of a dot-per-row kernel. A step costs a
// broadcast, a maddubs and an add per token; Zen 3 runs about 1.4 of them per cycle at best (2 broadcast loads per
// cycle), and the kernels reach 1.0-1.1 (Q4_K: 111 GMAC/s on one core, vec_dot_rows per token 31).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace spool::cpu {
namespace {

inline constexpr int kPanelRows = 8;

// 4 activation bytes at p in every 32-bit lane (one vpbroadcastd from memory).
inline __m256i broadcast_4(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// v[r] = 32 bytes of row r -> v[j] = bytes 4j..4j+3 of every row r at lane r (an 8x8 transpose of dwords).
[[gnu::always_inline]] inline void transpose_8x8_dwords(__m256i* v) {
    const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
    const __m256i t4 = _mm256_unpacklo_epi32(v[4], v[5]), t5 = _mm256_unpackhi_epi32(v[4], v[5]);
    const __m256i t6 = _mm256_unpacklo_epi32(v[6], v[7]), t7 = _mm256_unpackhi_epi32(v[6], v[7]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    v[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    v[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    v[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    v[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    v[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    v[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    v[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    v[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

// [sum of v[0], sum of v[1], sum of v[2], sum of v[3]] (8 int32 lanes each; exact unless the sums overflow).
[[gnu::always_inline]] inline __m128i sum_lanes_4(const __m256i* v) {
    const __m256i t0 = _mm256_add_epi32(_mm256_unpacklo_epi32(v[0], v[1]), _mm256_unpackhi_epi32(v[0], v[1]));
    const __m256i t1 = _mm256_add_epi32(_mm256_unpacklo_epi32(v[2], v[3]), _mm256_unpackhi_epi32(v[2], v[3]));
    const __m256i u = _mm256_add_epi32(_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1));
    return _mm_add_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
}

// [sum of v[0], ..., sum of v[7]] (8 int32 lanes each).
[[gnu::always_inline]] inline __m256i sum_lanes_8(const __m256i* v) {
    __m256i t[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
        t[i] = _mm256_add_epi32(_mm256_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                                _mm256_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
    }
    // Per 128-bit half: partial sums of rows 0-3 (u0) and 4-7 (u1).
    const __m256i u0 = _mm256_add_epi32(_mm256_unpacklo_epi64(t[0], t[1]), _mm256_unpackhi_epi64(t[0], t[1]));
    const __m256i u1 = _mm256_add_epi32(_mm256_unpacklo_epi64(t[2], t[3]), _mm256_unpackhi_epi64(t[2], t[3]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

// The fp16 values at p[i] + offset bytes, i < kCount (4 or 8), packed in integer registers first: a chain of
// vector inserts made the one-token kernels 15% slower (its latency, once per block), GPR shifts are off that path.
template <int kCount>
[[gnu::always_inline]] inline __m128i gather_fp16(const void* const* p, size_t offset) {
    uint64_t q[2] = {0, 0};
#pragma GCC unroll 8
    for (int i = 0; i < kCount; ++i) {
        uint16_t h;
        std::memcpy(&h, static_cast<const uint8_t*>(p[i]) + offset, 2);
        q[i / 4] |= static_cast<uint64_t>(h) << (16 * (i % 4));
    }
    return _mm_set_epi64x(static_cast<int64_t>(q[1]), static_cast<int64_t>(q[0]));
}

// Four or eight fp16 values as floats (F16C: the same values as fp16_table() for every non-NaN input).
[[gnu::always_inline]] inline __m128 fp16x4(const void* const* p, size_t offset) {
    return _mm_cvtph_ps(gather_fp16<4>(p, offset));
}
[[gnu::always_inline]] inline __m256 fp16x8(const void* const* p, size_t offset) {
    return _mm256_cvtph_ps(gather_fp16<8>(p, offset));
}

// Pins v to a register at this point of the chain. Without it GCC reassociates a chain of adds into a tree
// (all products first, then the sums), which needs a register per product and spilled most of them to the stack
// (Q4_K tile on Zen 3: 60 GMAC/s with the spills, 91 without).
inline void keep_in_register(__m256i& v) { asm("" : "+x"(v)); }

// Sum of the 32 signed bytes at p, as an int32.
inline int32_t sum_i8x32(const void* p) {
    const __m256i v = _mm256_loadu_si256(static_cast<const __m256i*>(p));
    const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), v);
    const __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

}  // namespace
}  // namespace spool::cpu
