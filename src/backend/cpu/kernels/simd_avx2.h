// Small AVX2 helpers shared by the *_avx2.cpp kernels. Include only from files built with -mavx2 -mfma -mf16c.
// Everything here has internal linkage (an unnamed namespace), so the linker can never hand a copy built with
// one ISA's flags to code built for another (the ODR trap of inline functions compiled per ISA).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace spool::cpu {
namespace {

inline float fp16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
// Rounds to nearest even, like core/half.h float_to_half (F16C and that function agree bit for bit).
inline uint16_t f32_to_fp16(float f) { return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)); }

inline float hsum_f32x8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline int32_t hsum_i32x8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

// Four horizontal sums at once: lane r of the result is the sum of the 8 lanes of v[r].
inline __m128 hsum4_f32x8(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
    const __m256 a = _mm256_hadd_ps(v0, v1);  // per 128-bit half: v0 pairs, v1 pairs
    const __m256 b = _mm256_hadd_ps(v2, v3);
    const __m256 c = _mm256_hadd_ps(a, b);  // per half: sums of 4 for v0, v1, v2, v3
    return _mm_add_ps(_mm256_castps256_ps128(c), _mm256_extractf128_ps(c, 1));
}

inline __m256i load_i8x32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load_i8x16(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// 16 packed bytes -> 32 nibbles: low 128 bits the low nibbles, high 128 bits the high nibbles (each 0..15).
inline __m256i unpack_nibbles_16(const uint8_t* qs) {
    const __m128i q = load_i8x16(qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// 32 bits -> 32 bytes: byte j is 0xff where bit j of bits is set, else 0.
inline __m256i expand_bits_32(uint32_t bits) {
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int32_t>(bits)),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000));
    const __m256i select = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

// Sums of 4 adjacent products u[j] * s[j] as 8 int32: u unsigned bytes, s signed bytes. Exact when each pair
// u[2k] s[2k] + u[2k+1] s[2k+1] fits int16 (maddubs saturates), which every caller's value ranges guarantee.
inline __m256i dot_u8_i8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// As dot_u8_i8 for two signed operands: |x| * (y with x's sign). Exact for x, y in [-128, 127] except y = -128
// with x < 0, which the activation quantizers never produce (they clamp to [-127, 127]).
inline __m256i dot_i8_i8(__m256i x, __m256i y) { return dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x)); }

}  // namespace
}  // namespace spool::cpu
