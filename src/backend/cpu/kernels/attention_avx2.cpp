// Attention spans (attention_dispatch.h) with AVX2 + FMA + F16C: 8-lane scores, exp and value sums. Built with
// -mavx2 -mfma -mf16c; the algorithm is attention_kernel.h's, and expf is exp_avx2 below.
#include <immintrin.h>

#include "backend/cpu/kernels/attention_decls.h"
#include "backend/cpu/kernels/attention_kernel.h"
#include "backend/cpu/kernels/simd_avx2.h"

namespace spool::cpu {
namespace {

constexpr float kExpHigh = 88.72283935546875f;  // ln(FLT_MAX) rounded up: above it expf overflows
constexpr float kExpLow = -87.33654f;            // ln(FLT_MIN) rounded up

// e^x = p 2^n for x in [kExpLow, kExpHigh]: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 split in a 16-bit
// head, exact in n * head, and a tail), p = e^r by its Taylor series to r^7 (truncation r^8/8! < 6e-9 relative,
// far below a float ulp).
inline __m256 exp_reduce_avx2(__m256 x, __m256i* n_out) {
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-6f), r);
    __m256 t = _mm256_set1_ps(1.0f / 5040);
    t = _mm256_fmadd_ps(t, r, _mm256_set1_ps(1.0f / 720));
    t = _mm256_fmadd_ps(t, r, _mm256_set1_ps(1.0f / 120));
    t = _mm256_fmadd_ps(t, r, _mm256_set1_ps(1.0f / 24));
    t = _mm256_fmadd_ps(t, r, _mm256_set1_ps(1.0f / 6));
    t = _mm256_fmadd_ps(t, r, _mm256_set1_ps(0.5f));
    *n_out = _mm256_cvtps_epi32(n);
    return _mm256_add_ps(_mm256_fmadd_ps(t, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
}

// 2^n for n in [-126, 127], built in the exponent field.
inline __m256 pow2_avx2(__m256i n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}

// expf for 8 lanes (the ExpRowFn contract). 2^n is applied as 2^(n/2) 2^(n - n/2), so n = 128 (x near
// ln FLT_MAX) needs no special case. Below ln FLT_MIN the result is flushed to 0 (no denormal results, which are
// slow on some CPUs); above ln FLT_MAX it is +inf.
inline __m256 exp_avx2(__m256 x) {
    const __m256 lo = _mm256_set1_ps(kExpLow), hi = _mm256_set1_ps(kExpHigh);
    __m256i n;
    const __m256 p = exp_reduce_avx2(_mm256_min_ps(_mm256_max_ps(x, lo), hi), &n);
    const __m256i n1 = _mm256_srai_epi32(n, 1);
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, pow2_avx2(n1)), pow2_avx2(_mm256_sub_epi32(n, n1)));
    y = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), y);                             // -> 0
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));  // -> +inf
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));                      // NaN stays NaN
}

// expf for softmax weights, x <= 0 (a score minus the running max): x is clamped at ln FLT_MIN, so a weight
// that expf would give as e^-100 comes out as about 1e-38 (nothing, next to the max's weight of 1), which leaves out
// the masks and the split 2^n of exp_avx2 (~40% of its instructions). NaN stays NaN (max returns its second operand).
inline __m256 exp_nonpositive_avx2(__m256 x) {
    __m256i n;
    const __m256 p = exp_reduce_avx2(_mm256_max_ps(_mm256_set1_ps(kExpLow), x), &n);
    return _mm256_mul_ps(p, pow2_avx2(n));
}

struct Avx2Ops {
    using V = __m256;
    static constexpr int kLanes = 8;
    static V zero() { return _mm256_setzero_ps(); }
    static V set1(float f) { return _mm256_set1_ps(f); }
    static V load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
    static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
    static V max(V a, V b) { return _mm256_max_ps(a, b); }
    static V exp(V x) { return exp_avx2(x); }
    static V exp_nonpositive(V x) { return exp_nonpositive_avx2(x); }
    static float reduce_add(V v) { return hsum_f32x8(v); }
    static float reduce_max(V v) {
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        return _mm_cvtss_f32(m);
    }

    // Eight dot products in eight accumulators (independent FMA chains), then one transposing reduction.
    static void dot8(const float* q, const float* rows, size_t stride, int n, float* out) {
        __m256 a[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r) a[r] = _mm256_setzero_ps();
        for (int d = 0; d < n; d += 8) {
            const __m256 qv = _mm256_loadu_ps(q + d);
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r) a[r] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(rows + r * stride + d), a[r]);
        }
        // hadd pairs within 128-bit halves, then add the halves: lane r of the result is the sum of a[r].
        const __m256 s01 = _mm256_hadd_ps(a[0], a[1]), s23 = _mm256_hadd_ps(a[2], a[3]);
        const __m256 s45 = _mm256_hadd_ps(a[4], a[5]), s67 = _mm256_hadd_ps(a[6], a[7]);
        const __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
        const __m256 lo = _mm256_permute2f128_ps(s0123, s4567, 0x20);
        const __m256 hi = _mm256_permute2f128_ps(s0123, s4567, 0x31);
        _mm256_storeu_ps(out, _mm256_add_ps(lo, hi));
    }

    // Two heads against four rows: each row load feeds two FMAs (6 loads per 8 FMAs, against 9 in dot8).
    static void dot2x4(const float* q0, const float* q1, const float* rows, size_t stride, int n, float* out0,
                       float* out1) {
        __m256 a[4], b[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) a[r] = b[r] = _mm256_setzero_ps();
        for (int d = 0; d < n; d += 8) {
            const __m256 qa = _mm256_loadu_ps(q0 + d), qb = _mm256_loadu_ps(q1 + d);
#pragma GCC unroll 4
            for (int r = 0; r < 4; ++r) {
                const __m256 k = _mm256_loadu_ps(rows + r * stride + d);
                a[r] = _mm256_fmadd_ps(qa, k, a[r]);
                b[r] = _mm256_fmadd_ps(qb, k, b[r]);
            }
        }
        _mm_storeu_ps(out0, hsum4_f32x8(a[0], a[1], a[2], a[3]));
        _mm_storeu_ps(out1, hsum4_f32x8(b[0], b[1], b[2], b[3]));
    }

    static float f16_to_f32_one(uint16_t h) { return fp16_to_f32(h); }
    static void f16_to_f32(const uint16_t* src, float* dst, int n) {
        for (int d = 0; d < n; d += 8) {
            _mm256_storeu_ps(dst + d, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + d))));
        }
    }
    static void q8_0_to_f32(const quant::BlockQ8_0* blocks, float* dst, int n) {
        for (int b = 0; b < n / 32; ++b) {
            const __m256 scale = _mm256_set1_ps(fp16_to_f32(blocks[b].d));
            for (int i = 0; i < 32; i += 8) {
                const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blocks[b].qs + i));
                const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
                _mm256_storeu_ps(dst + b * 32 + i, _mm256_mul_ps(scale, f));
            }
        }
    }
    static void q4_0_to_f32(const quant::BlockQ4_0* blocks, float* dst, int n) {
        for (int b = 0; b < n / 32; ++b) {
            const __m256 scale = _mm256_set1_ps(fp16_to_f32(blocks[b].d));
            // Bytes 0-15: elements 0-15 (the low nibbles), bytes 16-31: elements 16-31 (the high ones), as q - 8.
            const __m256i q = _mm256_sub_epi8(unpack_nibbles_16(blocks[b].qs), _mm256_set1_epi8(8));
            const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
            const __m128i groups[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};  // 8 bytes each
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) {
                const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(groups[i]));
                _mm256_storeu_ps(dst + b * 32 + 8 * i, _mm256_mul_ps(scale, f));
            }
        }
    }
};

}  // namespace

const AttentionKernels& attention_kernels_avx2() noexcept {
    static constexpr AttentionKernels kKernels = make_attention_kernels<Avx2Ops>();
    return kKernels;
}

}  // namespace spool::cpu
