// AVX2 activation quantizers: float rows -> Q8_0, Q8_1, Q8_K, F16, BF16, byte-identical to quant/'s references.
// The fast path does the reference's float operations in the same order (no FMA); a block the fast path does not
// cover (NaN/Inf, huge or tiny scales, a tie for Q8_K's signed maximum) is handed to the reference itself.
#include "backend/cpu/kernels/kernel_decls.h"
#include "backend/cpu/kernels/simd_avx2.h"
#include "quant/blocks_k.h"
#include "quant/blocks_legacy.h"
#include "quant/reference.h"

namespace spool::cpu {
namespace {

using quant::BlockQ8_0;
using quant::BlockQ8_1;
using quant::BlockQ8_K;

// Amax below this keeps Q8_0's d = amax / 127 under fp16's 65504 and the Q8_K scale 127 / max finite; bigger
// blocks take the reference path (which saturates), so the fast path never meets an fp16 overflow.
constexpr float kFastAmaxLimit = 8.0e6f;
// Below this (but not 0) 1 / d can overflow to infinity; the reference defines what happens there.
constexpr float kFastAmaxFloor = 1e-30f;

inline __m256 abs_f32x8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

inline float hmax_f32x8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

inline float hmin_f32x8(__m256 v) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// True when every |x[j]| of the vectors is <= limit (false for NaN: the ordered compare fails).
inline bool all_within(const __m256* v, int count, float limit) {
    __m256 ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (int k = 0; k < count; ++k)
        ok = _mm256_and_ps(ok, _mm256_cmp_ps(abs_f32x8(v[k]), _mm256_set1_ps(limit), _CMP_LE_OQ));
    return _mm256_movemask_ps(ok) == 0xff;
}

// roundf (half away from zero), exactly: trunc(v) plus +-1 when the dropped fraction (exact) is at least 0.5.
inline __m256 round_half_away(__m256 v) {
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = abs_f32x8(_mm256_sub_ps(v, t));
    const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 one = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

// 32 integral floats in [-128, 127] -> 32 bytes in element order.
inline __m256i pack_i8x32(__m256 f0, __m256 f1, __m256 f2, __m256 f3) {
    const __m256i a = _mm256_packs_epi32(_mm256_cvtps_epi32(f0), _mm256_cvtps_epi32(f1));
    const __m256i b = _mm256_packs_epi32(_mm256_cvtps_epi32(f2), _mm256_cvtps_epi32(f3));
    // packs work per 128-bit lane: the bytes come out as 4-element groups 0 2 4 6 1 3 5 7; put them back in order.
    return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Q8_0 / Q8_1 fast path: d = amax / 127, q = roundf(x * (1 / d)). Returns false (writes nothing) when the block
// needs the reference. qs: [32]; *d_out is the unrounded float d (Q8_1's sum is scaled by it).
[[gnu::always_inline]] inline bool quantize_block_q8(const float* x, int8_t* qs, float* d_out) {
    __m256 v[4];
#pragma GCC unroll 16
    for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(x + 8 * k);
    if (!all_within(v, 4, kFastAmaxLimit)) return false;
    const __m256 m =
        _mm256_max_ps(_mm256_max_ps(abs_f32x8(v[0]), abs_f32x8(v[1])), _mm256_max_ps(abs_f32x8(v[2]), abs_f32x8(v[3])));
    const float amax = hmax_f32x8(m);
    if (amax != 0.0f && amax < kFastAmaxFloor) return false;
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
#pragma GCC unroll 16
    for (int k = 0; k < 4; ++k) v[k] = round_half_away(_mm256_mul_ps(v[k], vid));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), pack_i8x32(v[0], v[1], v[2], v[3]));
    *d_out = d;
    return true;
}

}  // namespace

void quantize_row_q8_0_avx2(const float* x, void* y, int64_t n) {
    auto* blocks = static_cast<BlockQ8_0*>(y);
    for (int64_t i = 0; i < n / 32; ++i) {
        float d = 0.0f;
        if (quantize_block_q8(x + 32 * i, blocks[i].qs, &d)) {
            blocks[i].d = f32_to_fp16(d);
        } else {
            quant::quantize_row_q8_0_ref(x + 32 * i, &blocks[i], 32);
        }
    }
}

void quantize_row_q8_1_avx2(const float* x, void* y, int64_t n) {
    auto* blocks = static_cast<BlockQ8_1*>(y);
    for (int64_t i = 0; i < n / 32; ++i) {
        float d = 0.0f;
        if (!quantize_block_q8(x + 32 * i, blocks[i].qs, &d)) {
            quant::quantize_row_q8_1_ref(x + 32 * i, &blocks[i], 32);
            continue;
        }
        const int32_t sum = hsum_i32x8(dot_i8_i8(_mm256_set1_epi8(1), load_i8x32(blocks[i].qs)));
        uint16_t s = f32_to_fp16(static_cast<float>(sum) * d);
        if ((s & 0x7fffu) == 0x7c00u) s = static_cast<uint16_t>((s & 0x8000u) | 0x7bffu);  // saturate, as the reference
        blocks[i].d = f32_to_fp16(d);
        blocks[i].s = s;
    }
}

// Q8_K: the signed value of largest magnitude maps to -127: iscale = -127 / max, q = nearest_int(iscale * x)
// (round half to even, which _mm256_round_ps does), d = 1 / iscale, bsums = sums of 16 quants.
void quantize_row_q8_k_avx2(const float* x, void* y, int64_t n) {
    auto* blocks = static_cast<BlockQ8_K*>(y);
    constexpr int kVecs = quant::kQK_K / 8;
    for (int64_t i = 0; i < n / quant::kQK_K; ++i) {
        const float* xb = x + quant::kQK_K * i;
        BlockQ8_K& b = blocks[i];
        __m256 v[kVecs];
        __m256 vmax = _mm256_set1_ps(-__builtin_inff()), vmin = _mm256_set1_ps(__builtin_inff());
#pragma GCC unroll 16
        for (int k = 0; k < kVecs; ++k) {
            v[k] = _mm256_loadu_ps(xb + 8 * k);
            vmax = _mm256_max_ps(vmax, v[k]);
            vmin = _mm256_min_ps(vmin, v[k]);
        }
        const float hi = hmax_f32x8(vmax), lo = hmin_f32x8(vmin);
        // The reference takes the first element of largest magnitude; only a tie between +a and -a depends on
        // the order, and only the fast path's limits keep iscale finite: the reference handles the rest.
        if (!all_within(v, kVecs, kFastAmaxLimit) || hi == -lo || (hi < kFastAmaxFloor && -lo < kFastAmaxFloor)) {
            quant::quantize_row_q8_k_ref(xb, &b, quant::kQK_K);
            continue;
        }
        const float max = hi > -lo ? hi : lo;
        const float iscale = -127.0f / max;
        const __m256 vscale = _mm256_set1_ps(iscale);
        const __m256 top = _mm256_set1_ps(127.0f);
#pragma GCC unroll 16
        for (int k = 0; k < kVecs; k += 4) {
            __m256 r[4];
#pragma GCC unroll 16
            for (int j = 0; j < 4; ++j) {
                r[j] = _mm256_round_ps(_mm256_mul_ps(v[k + j], vscale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                r[j] = _mm256_min_ps(r[j], top);
            }
            const __m256i q = pack_i8x32(r[0], r[1], r[2], r[3]);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.qs + 8 * k), q);
            // Sums of 4 quants as 8 int32 (lanes 0-3: first 16 quants, 4-7: next 16), then of 16.
            __m256i s = dot_i8_i8(_mm256_set1_epi8(1), q);
            s = _mm256_hadd_epi32(s, s);
            s = _mm256_hadd_epi32(s, s);
            b.bsums[k / 2] = static_cast<int16_t>(_mm256_extract_epi32(s, 0));
            b.bsums[k / 2 + 1] = static_cast<int16_t>(_mm256_extract_epi32(s, 4));
        }
        b.d = 1.0f / iscale;
    }
}

void quantize_row_f16_avx2(const float* x, void* y, int64_t n) {
    auto* out = static_cast<unsigned char*>(y);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i), h);
    }
    for (; i < n; ++i) {
        const uint16_t h = f32_to_fp16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
    }
}

// bf16 = float bits rounded to nearest even in the top 16; NaN keeps its top bits and is made quiet (| 0x40),
// as core/half.h float_to_bf16.
void quantize_row_bf16_avx2(const float* x, void* y, int64_t n) {
    auto* out = static_cast<unsigned char*>(y);
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h[2];
#pragma GCC unroll 16
        for (int k = 0; k < 2; ++k) {
            const __m256i bits = _mm256_castps_si256(_mm256_loadu_ps(x + i + 8 * k));
            const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, abs_mask), inf);
            const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
            const __m256i rounded =
                _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
            const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
            h[k] = _mm256_blendv_epi8(rounded, quiet, nan);
        }
        // packus works per 128-bit lane: restore element order with a 64-bit permute.
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h[0], h[1]), 0xd8);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2 * i), packed);
    }
    if (i < n) quant::quantize_row_bf16_ref(x + i, out + 2 * i, n - i);
}

}  // namespace spool::cpu
