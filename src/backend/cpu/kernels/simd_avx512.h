// Small AVX-512 helpers shared by the *_avx512.cpp kernels. Include only from files built with the avx512 flags
// (F, BW, VL, DQ, VNNI, plus AVX2/FMA/F16C). Internal linkage throughout, for the reason given in simd_avx2.h.
#pragma once

// GCC 12's AVX-512 intrinsics initialise "undefined" vectors from themselves, which -Wall reports as uninitialised
// once inlined (GCC bug 105593, fixed in 12.3). The warnings point into the header, so silencing them there works.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>
#include <cstring>

namespace spool::cpu {
namespace {

inline float fp16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

inline __m512i load_i8x64(const void* p) { return _mm512_loadu_si512(p); }
inline __m256i load_i8x32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load_i8x16(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Two 32-byte pieces as one vector: a in the low half, b in the high half.
inline __m512i join_i8x32(__m256i a, __m256i b) { return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1); }

inline uint16_t load_u16(const void* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

inline uint32_t load_u32(const void* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Two fp16 values as floats in lanes 0 and 1 of an xmm (lanes 2, 3: zero).
inline __m128 fp16x2_to_f32(uint16_t a, uint16_t b) {
    return _mm_cvtph_ps(
        _mm_cvtsi32_si128(static_cast<int32_t>(static_cast<uint32_t>(a) | static_cast<uint32_t>(b) << 16)));
}

// Four horizontal sums at once: lane r of the result is the sum of the 16 lanes of v[r].
inline __m128 hsum4_f32x16(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
    // Fold 512 -> 256 for each, then reuse the 8-lane pattern.
    auto fold = [](__m512 v) { return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)); };
    const __m256 a = _mm256_hadd_ps(fold(v0), fold(v1));
    const __m256 b = _mm256_hadd_ps(fold(v2), fold(v3));
    const __m256 c = _mm256_hadd_ps(a, b);
    return _mm_add_ps(_mm256_castps256_ps128(c), _mm256_extractf128_ps(c, 1));
}

}  // namespace
}  // namespace spool::cpu
