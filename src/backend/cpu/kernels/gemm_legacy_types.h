// The legacy weight types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) as the multi-token kernels see them: each 32-element
// block as levels in element order with its zero point, after blocks_legacy.h and quant/legacy_vec_dot.cpp.
// AVX2 code with internal linkage: include only from files built with -mavx2.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels/simd_avx2.h"
#include "quant/blocks_legacy.h"

namespace spool::cpu {
namespace {

using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ5_0;
using quant::BlockQ5_1;
using quant::BlockQ8_0;
using quant::BlockQ8_1;

// Bit 4 of the 32 quants of a 5-bit block, as 0x10 bytes.
inline __m256i fifth_bits(const uint8_t* qh) {
    uint32_t bits;
    std::memcpy(&bits, qh, 4);
    return _mm256_and_si256(expand_bits_32(bits), _mm256_set1_epi8(0x10));
}

// Per type: the block layouts, the quant levels in element order, and the zero point. kSteps: steps of 4 quants
// whose int16 maddubs sums may be added before widening: 2 * kSteps * max level * 128 must stay below 32768.
struct Q4_0Type {
    using W = BlockQ4_0;
    using A = BlockQ8_0;
    static constexpr int kSteps = 8;    // 16 * 15 * 128 = 30720
    static constexpr int kOffset = 8;   // w = d * (level - 8): 8 * sum(a) is subtracted per block
    static constexpr bool kHasMin = false;
    static constexpr bool kSigned = false;
    static constexpr int kRowGroup = 8;  // rows per gemv pass (LegacyRows)
    static __m256i levels(const W& x) { return unpack_nibbles_16(x.qs); }
};

struct Q4_1Type {
    using W = BlockQ4_1;
    using A = BlockQ8_1;
    static constexpr int kSteps = 8;
    static constexpr int kOffset = 0;
    static constexpr bool kHasMin = true;  // w = d * level + m: m * (d_a * sum(a)) is Q8_1's s
    static constexpr bool kSigned = false;
    static constexpr int kRowGroup = 4;  // rows per gemv pass (LegacyRows)
    static __m256i levels(const W& x) { return unpack_nibbles_16(x.qs); }
};

struct Q5_0Type {
    using W = BlockQ5_0;
    using A = BlockQ8_0;
    static constexpr int kSteps = 4;  // 8 * 31 * 128 = 31744
    static constexpr int kOffset = 16;
    static constexpr bool kHasMin = false;
    static constexpr bool kSigned = false;
    static constexpr int kRowGroup = 4;  // rows per gemv pass (LegacyRows)
    static __m256i levels(const W& x) { return _mm256_or_si256(unpack_nibbles_16(x.qs), fifth_bits(x.qh)); }
};

struct Q5_1Type {
    using W = BlockQ5_1;
    using A = BlockQ8_1;
    static constexpr int kSteps = 4;
    static constexpr int kOffset = 0;
    static constexpr bool kHasMin = true;
    static constexpr bool kSigned = false;
    static constexpr int kRowGroup = 4;  // rows per gemv pass (LegacyRows)
    static __m256i levels(const W& x) { return _mm256_or_si256(unpack_nibbles_16(x.qs), fifth_bits(x.qh)); }
};

// Signed quants: maddubs takes |w| and the activations with w's sign (dot_i8_i8 in simd_avx2.h); a pair of
// products reaches 2 * 128 * 127, so every step is widened on its own.
struct Q8_0Type {
    using W = BlockQ8_0;
    using A = BlockQ8_0;
    static constexpr int kSteps = 1;
    static constexpr int kOffset = 0;
    static constexpr bool kHasMin = false;
    static constexpr bool kSigned = true;
    static constexpr int kRowGroup = 4;  // rows per gemv pass (LegacyRows)
    static __m256i levels(const W& x) { return load_i8x32(x.qs); }
};

template <class T>
float row_min(const typename T::W& x, const float* f16) {
    if constexpr (T::kHasMin) {
        return f16[x.m];
    } else {
        return 0.0f;
    }
}

}  // namespace
}  // namespace spool::cpu
