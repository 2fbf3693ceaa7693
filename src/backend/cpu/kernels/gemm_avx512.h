// AVX-512 pieces shared by the gemm_*_avx512.cpp kernels: 16-row panels (lanes = rows), packed as two 8-row halves
// with the AVX2 transpose of gemm_avx2.h. Include only from files built with the avx512 flags; internal linkage.
//
// VNNI's dpbusd adds four u8 x s8 products straight into each int32 lane, so the AVX2 kernels' int16 stage (and its
// kSteps limits) is gone: a step costs one broadcast and one dpbusd per token.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels/gemm_avx2.h"

namespace spool::cpu {
namespace {

inline constexpr int kPanelRows512 = 16;

// 4 activation bytes at p in every 32-bit lane.
inline __m512i broadcast_4_512(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

inline __m512i load_512(const void* p) { return _mm512_load_si512(p); }

// int32 -> float, as _mm512_cvtepi32_ps (round to nearest even), written through the zero-masked form: GCC 12's
// _mm512_cvtepi32_ps passes an "undefined" vector that -Wmaybe-uninitialized reports once inlined into these loops.
inline __m512 to_float(__m512i v) { return _mm512_maskz_cvtepi32_ps(static_cast<__mmask16>(0xffff), v); }

// As keep_in_register (gemm_avx2.h), for a zmm accumulator.
inline void keep_in_register(__m512i& v) { asm("" : "+v"(v)); }

}  // namespace
}  // namespace spool::cpu
