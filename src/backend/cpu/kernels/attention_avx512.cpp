// Attention spans (attention_dispatch.h) with AVX-512: 16-lane exp and value sums, scores of eight rows in 16-lane
// accumulators. Built with the avx512 flags; the algorithm is attention_kernel.h's, and expf is exp_avx512 below.
#include "backend/cpu/kernels/attention_decls.h"
#include "backend/cpu/kernels/attention_kernel.h"
#include "backend/cpu/kernels/simd_avx512.h"

namespace spool::cpu {
namespace {

// expf for 16 lanes, as exp_avx2 (Cody-Waite reduction, Taylor series to r^7), with vscalefps applying 2^n: it
// saturates to +inf by itself, so only the flush below ln FLT_MIN and NaN need masks.
inline __m512 exp_avx512(__m512 x) {
    const __m512 hi = _mm512_set1_ps(88.72283935546875f);  // ln(FLT_MAX) rounded up: above it expf overflows
    const __m512 lo = _mm512_set1_ps(-87.33654f);          // ln(FLT_MIN) rounded up
    const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-6f), r);
    __m512 t = _mm512_set1_ps(1.0f / 5040);
    t = _mm512_fmadd_ps(t, r, _mm512_set1_ps(1.0f / 720));
    t = _mm512_fmadd_ps(t, r, _mm512_set1_ps(1.0f / 120));
    t = _mm512_fmadd_ps(t, r, _mm512_set1_ps(1.0f / 24));
    t = _mm512_fmadd_ps(t, r, _mm512_set1_ps(1.0f / 6));
    t = _mm512_fmadd_ps(t, r, _mm512_set1_ps(0.5f));
    const __m512 p = _mm512_add_ps(_mm512_fmadd_ps(t, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    __m512 y = _mm512_scalef_ps(p, n);
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), _mm512_set1_ps(INFINITY));
    y = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ), y);  // x < lo -> 0 (NaN passes)
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

// The sum of a vector's two 8-lane halves.
__m256 fold(__m512 v) { return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)); }

struct Avx512Ops {
    using V = __m512;
    static constexpr int kLanes = 16;
    static V zero() { return _mm512_setzero_ps(); }
    static V set1(float f) { return _mm512_set1_ps(f); }
    static V load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
    static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
    static V max(V a, V b) { return _mm512_max_ps(a, b); }
    static V exp(V x) { return exp_avx512(x); }
    // For softmax weights (x <= 0): vscalefps needs no masks here, so the full expf costs little more.
    static V exp_nonpositive(V x) { return exp_avx512(x); }
    static float reduce_add(V v) { return _mm512_reduce_add_ps(v); }
    static float reduce_max(V v) { return _mm512_reduce_max_ps(v); }

    // Eight dot products in eight 16-lane accumulators, folded to 8 lanes and reduced by one transposing hadd tree.
    static void dot8(const float* q, const float* rows, size_t stride, int n, float* out) {
        __m512 a[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r) a[r] = _mm512_setzero_ps();
        for (int d = 0; d < n; d += 16) {
            const __m512 qv = _mm512_loadu_ps(q + d);
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r) a[r] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(rows + r * stride + d), a[r]);
        }
        const __m256 s01 = _mm256_hadd_ps(fold(a[0]), fold(a[1])), s23 = _mm256_hadd_ps(fold(a[2]), fold(a[3]));
        const __m256 s45 = _mm256_hadd_ps(fold(a[4]), fold(a[5])), s67 = _mm256_hadd_ps(fold(a[6]), fold(a[7]));
        const __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
        const __m256 lo = _mm256_permute2f128_ps(s0123, s4567, 0x20);
        const __m256 hi = _mm256_permute2f128_ps(s0123, s4567, 0x31);
        _mm256_storeu_ps(out, _mm256_add_ps(lo, hi));
    }

    // Two heads against four rows: each row load feeds two FMAs (6 loads per 8 FMAs, against 9 in dot8).
    static void dot2x4(const float* q0, const float* q1, const float* rows, size_t stride, int n, float* out0,
                       float* out1) {
        __m512 a[4], b[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) a[r] = b[r] = _mm512_setzero_ps();
        for (int d = 0; d < n; d += 16) {
            const __m512 qa = _mm512_loadu_ps(q0 + d), qb = _mm512_loadu_ps(q1 + d);
#pragma GCC unroll 4
            for (int r = 0; r < 4; ++r) {
                const __m512 k = _mm512_loadu_ps(rows + r * stride + d);
                a[r] = _mm512_fmadd_ps(qa, k, a[r]);
                b[r] = _mm512_fmadd_ps(qb, k, b[r]);
            }
        }
        _mm_storeu_ps(out0, hsum4_f32x16(a[0], a[1], a[2], a[3]));
        _mm_storeu_ps(out1, hsum4_f32x16(b[0], b[1], b[2], b[3]));
    }

    static float f16_to_f32_one(uint16_t h) { return fp16_to_f32(h); }
    static void f16_to_f32(const uint16_t* src, float* dst, int n) {
        for (int d = 0; d < n; d += 16) {
            _mm512_storeu_ps(dst + d, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + d))));
        }
    }
    static void q8_0_to_f32(const quant::BlockQ8_0* blocks, float* dst, int n) {
        for (int b = 0; b < n / 32; ++b) {
            const __m512 scale = _mm512_set1_ps(fp16_to_f32(blocks[b].d));
            for (int i = 0; i < 32; i += 16) {
                const __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load_i8x16(blocks[b].qs + i)));
                _mm512_storeu_ps(dst + b * 32 + i, _mm512_mul_ps(scale, f));
            }
        }
    }
    static void q4_0_to_f32(const quant::BlockQ4_0* blocks, float* dst, int n) {
        const __m128i low4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
        for (int b = 0; b < n / 32; ++b) {
            const __m512 scale = _mm512_set1_ps(fp16_to_f32(blocks[b].d));
            // Elements 0-15 are the low nibbles of qs, 16-31 the high ones (blocks_legacy.h), each as q - 8.
            const __m128i qs = load_i8x16(blocks[b].qs);
            const __m128i lo = _mm_sub_epi8(_mm_and_si128(qs, low4), eight);
            const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), low4), eight);
            _mm512_storeu_ps(dst + b * 32, _mm512_mul_ps(scale, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo))));
            _mm512_storeu_ps(dst + b * 32 + 16, _mm512_mul_ps(scale, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi))));
        }
    }
};

}  // namespace

const AttentionKernels& attention_kernels_avx512() noexcept {
    static constexpr AttentionKernels kKernels = make_attention_kernels<Avx512Ops>();
    return kKernels;
}

}  // namespace spool::cpu
