// Scalar K-quant quantizers, reproducing llama.cpp ggml-quants.c quantize_row_qX_K_ref (what llama-quantize runs
// without an imatrix) byte for byte: the same searches (make_qkx2_quants, make_q3_quants, make_qx_quants), the same
// float operations in the same order, nearest_int's round-half-even, and the same bit packing.
//
// Bit-exactness needs plain IEEE float arithmetic: no -ffast-math, and no FMA contraction (llama.cpp's ggml-base, where
// these functions live, is built for baseline x86-64, without FMA); the pragma below turns contraction off here.
// tests/quant/kquants_files_test.cpp reports how many blocks match llama.cpp's files (100% of the tiny models).
//
// Inputs llama.cpp does not handle (its output there is undefined or Inf/NaN), with spool's documented result:
// - a block holding NaN or +-Inf is stored "poisoned": all quants 0 and every scale NaN, so it dequantizes to NaN;
// - finite magnitudes beyond what the fp16 scales can hold saturate: inputs are clamped to kMaxMagnitude of the type
//   and a scale that still rounds past the largest half is stored as +-65504, so such values dequantize to the
//   largest magnitude of their sign the block can hold, never to Inf;
// - Q8_K keeps a float32 scale, so only NaN/Inf (poisoned: d = NaN) and blocks below 3.7e-37 (stored as zeros) differ.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/half.h"
#include "quant/blocks_k.h"
#include "quant/reference.h"

// Keep a*b + c as two roundings even where the target has FMA (GCC contracts by default, clang within statements):
// llama.cpp's ggml-base is built without FMA, and a fused rounding changes about 1% of blocks (measured, -march=native).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace spool::quant {
namespace {

constexpr float kGroupMaxEps = 1e-15f;     // llama.cpp GROUP_MAX_EPS: a group below this is all zero
constexpr uint16_t kHalfNaN = 0x7e00;      // quiet NaN, the scale of a poisoned block
constexpr uint16_t kHalfMax = 0x7bff;      // 65504, the largest finite half

// Largest |x| each type can represent: 65504 (largest fp16 scale) times the largest 6/8-bit sub-scale times the
// largest quant level. Beyond it llama.cpp stores an Inf scale; spool clamps, so every intermediate stays finite.
constexpr float kMaxMagnitudeQ2_K = 65504.f * 15 * 3;
constexpr float kMaxMagnitudeQ3_K = 65504.f * 32 * 4;
constexpr float kMaxMagnitudeQ4_K = 65504.f * 63 * 15;
constexpr float kMaxMagnitudeQ5_K = 65504.f * 63 * 31;
constexpr float kMaxMagnitudeQ6_K = 65504.f * 128 * 32;

// llama.cpp nearest_int: adding 1.5 * 2^23 leaves round-half-to-even(v) in the low mantissa bits. It is exact for
// |v| <= 4194303 (llama.cpp asserts that); outside, spool saturates (and maps NaN to 0) instead of returning garbage.
int nearest_int(float v) {
    if (!(std::fabs(v) <= 4194303.f)) return std::isnan(v) ? 0 : (v > 0 ? 4194303 : -4194303);
    const int32_t bits = std::bit_cast<int32_t>(v + 12582912.f);
    return (bits & 0x007fffff) - 0x00400000;
}

// float_to_half, except that a finite value past the half range saturates to +-65504 instead of becoming Inf.
uint16_t to_half_saturating(float f) {
    if (std::isfinite(f) && std::fabs(f) >= 65520.f) return static_cast<uint16_t>(f > 0 ? kHalfMax : 0x8000u | kHalfMax);
    return float_to_half(f);
}

// Copies one super-block, clamped to +-bound. Returns false (and leaves xb unspecified) if it holds NaN or Inf.
bool load_block(const float* x, float bound, float* xb) {
    for (int e = 0; e < kQK_K; ++e) {
        if (!std::isfinite(x[e])) return false;
        xb[e] = std::clamp(x[e], -bound, bound);
    }
    return true;
}

// Scale and min for n values with levels 0..nmax: x ~ scale*L + min, min <= 0 (returned negated in the_min).
// Starts from the min/max fit, then tries nstep+1 inverse scales (rmin + rdelta*is + nmax)/(max - min) and keeps the
// weighted least-squares fit of each with the lowest weighted error (|diff| if use_mad, else diff^2).
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       float rmin, float rdelta, int nstep, bool use_mad) {
    uint8_t Laux[32];
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        std::memset(L, 0, static_cast<size_t>(n));
        *the_min = -min;
        return 0.f;
    }
    float iscale = static_cast<float>(nmax) / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
        float diff = scale * static_cast<float>(L[i]) + min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = static_cast<uint8_t>(l);
            const float w = weights[i];
            const float lf = static_cast<float>(l);
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {  // a positive offset is not representable: refit the scale alone
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * static_cast<float>(Laux[i]) + this_min - x[i];
                diff = use_mad ? std::fabs(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                std::memcpy(L, Laux, static_cast<size_t>(n));
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// Symmetric scale for n values with levels -nmax..nmax-1 (stored + nmax in L), weights x^2: rounds at -nmax/max,
// then up to 5 passes that move single levels while that raises sumlx^2/suml2 (llama.cpp make_q3_quants, do_rmse).
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) {
        std::memset(L, 0, static_cast<size_t>(n));
        return 0.f;
    }
    const float iscale = static_cast<float>(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = static_cast<int8_t>(l);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * static_cast<float>(l);
        suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            const float li = static_cast<float>(L[i]);
            float slx = sumlx - w * x[i] * li;
            if (slx > 0) {
                float sl2 = suml2 - w * li * li;
                const int new_l = std::max(-nmax, std::min(nmax - 1, nearest_int(x[i] * sl2 / slx)));
                if (new_l != L[i]) {
                    const float nl = static_cast<float>(new_l);
                    slx += w * x[i] * nl;
                    sl2 += w * nl * nl;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = static_cast<int8_t>(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Symmetric scale for n values with levels -nmax..nmax-1 (stored + nmax in L), weights x^2: tries the inverse scales
// -(nmax + 0.1*is)/max, is = -9..9, and keeps the least-squares fit with the largest sumlx^2/suml2
// (llama.cpp make_qx_quants with rmse_type 1 and no importance weights).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) {
        std::memset(L, 0, static_cast<size_t>(n));
        return 0.f;
    }
    auto level = [&](float iscale, int i) { return std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i]))); };
    float iscale = static_cast<float>(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = level(iscale, i);
        L[i] = static_cast<int8_t>(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * static_cast<float>(l);
        suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = level(iscale, i);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * static_cast<float>(l);
            suml2 += w * static_cast<float>(l) * static_cast<float>(l);
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + level(iscale, i));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Inverse of q2_field in blocks_k.h: ORs the 2-bit value v of element e into zeroed qs.
void set_q2_field(uint8_t* qs, int e, int v) {
    qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(v << (2 * ((e % 128) / 32)));
}

// Inverse of k4_nibble: ORs the 4-bit value v of element e into zeroed qs.
void set_k4_nibble(uint8_t* qs, int e, int v) {
    qs[32 * (e / 64) + e % 32] |= static_cast<uint8_t>(v << (4 * ((e % 64) / 32)));
}

// Inverse of k4_scale_min: packs eight 6-bit scales and mins into 12 bytes.
void pack_k4_scales(const uint8_t* ls, const uint8_t* lm, uint8_t* scales) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
            scales[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
        }
    }
}

// The Q4_K/Q5_K search: per 32-element sub-block, weights av_x + |x| (av_x = RMS of the sub-block), then the
// 6-bit quantization of the scales and mins against their maxima, and the final levels against the stored scales.
// Fills scales12, d, dmin and L (levels 0..nmax).
void quantize_k4_superblock(const float* x, int nmax, float rmin, float rdelta, int nstep, uint8_t* scales12,
                            uint16_t& d_out, uint16_t& dmin_out, uint8_t* L) {
    float weights[32];
    float mins[8], scales[8];
    float max_scale = 0, max_min = 0;  // mins are subtracted, so scales are never negative
    for (int j = 0; j < 8; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32.f);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] = make_qkx2_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], rmin, rdelta, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
        ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
        lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    }
    pack_k4_scales(ls, lm, scales12);
    d_out = to_half_saturating(max_scale / 63.f);
    dmin_out = to_half_saturating(max_min / 63.f);
    for (int j = 0; j < 8; ++j) {
        int sc = 0, m = 0;
        k4_scale_min(scales12, j, sc, m);
        const float d = half_to_float(d_out) * static_cast<float>(sc);
        if (d == 0) continue;  // keep the search's levels; they dequantize to -dm whatever they are
        const float dm = half_to_float(dmin_out) * static_cast<float>(m);
        for (int l = 0; l < 32; ++l) {
            const int q = nearest_int((x[32 * j + l] + dm) / d);
            L[32 * j + l] = static_cast<uint8_t>(std::max(0, std::min(nmax, q)));
        }
    }
}

}  // namespace

void quantize_row_q2_k_ref(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ2_K*>(dst);
    constexpr float q4scale = 15.f;
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        BlockQ2_K& y = blocks[i];
        std::memset(&y, 0, sizeof(y));
        float x[kQK_K];
        if (!load_block(src, kMaxMagnitudeQ2_K, x)) {
            y.d = y.dmin = kHalfNaN;
            continue;
        }
        uint8_t L[kQK_K];
        float weights[16], mins[16], scales[16];
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
            y.d = to_half_saturating(max_scale / q4scale);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < 16; ++j) y.scales[j] |= static_cast<uint8_t>(nearest_int(iscale * mins[j]) << 4);
            y.dmin = to_half_saturating(max_min / q4scale);
        }
        for (int j = 0; j < 16; ++j) {
            const float d = half_to_float(y.d) * static_cast<float>(y.scales[j] & 0xF);
            if (d == 0) continue;
            const float dm = half_to_float(y.dmin) * static_cast<float>(y.scales[j] >> 4);
            for (int l = 0; l < 16; ++l) {
                const int q = nearest_int((x[16 * j + l] + dm) / d);
                L[16 * j + l] = static_cast<uint8_t>(std::max(0, std::min(3, q)));
            }
        }
        for (int e = 0; e < kQK_K; ++e) set_q2_field(y.qs, e, L[e]);
    }
}

void quantize_row_q3_k_ref(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ3_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        BlockQ3_K& y = blocks[i];
        std::memset(&y, 0, sizeof(y));
        float x[kQK_K];
        if (!load_block(src, kMaxMagnitudeQ3_K, x)) {
            y.d = kHalfNaN;
            continue;
        }
        int8_t L[kQK_K];
        float scales[16];
        float max_scale = 0, amax = 0;  // the signed scale of largest magnitude
        for (int j = 0; j < 16; ++j) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > amax) {
                amax = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_scale != 0) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; ++j) {
                // llama.cpp stores the rounded value in an int8_t before clamping; |iscale*scale| <= 32 keeps it exact.
                const int8_t rounded = static_cast<int8_t>(nearest_int(iscale * scales[j]));
                const int l = std::max<int>(-32, std::min<int>(31, rounded)) + 32;
                if (j < 8) {
                    y.scales[j] = static_cast<uint8_t>(l & 0xF);
                } else {
                    y.scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
                }
                y.scales[8 + j % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
            }
            y.d = to_half_saturating(1 / iscale);
        }
        for (int j = 0; j < 16; ++j) {
            const float d = half_to_float(y.d) * static_cast<float>(q3_k_scale(y, j));
            if (d == 0) continue;
            for (int l = 0; l < 16; ++l) {
                const int q = nearest_int(x[16 * j + l] / d);
                L[16 * j + l] = static_cast<int8_t>(std::max(-4, std::min(3, q)) + 4);
            }
        }
        for (int e = 0; e < kQK_K; ++e) {  // L is 0..7: bit 2 goes to hmask, bits 0-1 to qs
            if (L[e] > 3) y.hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
            set_q2_field(y.qs, e, L[e] & 3);
        }
    }
}

void quantize_row_q4_k_ref(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ4_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        BlockQ4_K& y = blocks[i];
        std::memset(&y, 0, sizeof(y));
        float x[kQK_K];
        if (!load_block(src, kMaxMagnitudeQ4_K, x)) {
            y.d = y.dmin = kHalfNaN;
            continue;
        }
        uint8_t L[kQK_K];
        quantize_k4_superblock(x, 15, -1.f, 0.1f, 20, y.scales, y.d, y.dmin, L);
        for (int e = 0; e < kQK_K; ++e) set_k4_nibble(y.qs, e, L[e]);
    }
}

void quantize_row_q5_k_ref(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ5_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        BlockQ5_K& y = blocks[i];
        std::memset(&y, 0, sizeof(y));
        float x[kQK_K];
        if (!load_block(src, kMaxMagnitudeQ5_K, x)) {
            y.d = y.dmin = kHalfNaN;
            continue;
        }
        uint8_t L[kQK_K];
        quantize_k4_superblock(x, 31, -0.5f, 0.1f, 15, y.scales, y.d, y.dmin, L);
        for (int e = 0; e < kQK_K; ++e) {
            set_k4_nibble(y.qs, e, L[e] & 0xF);
            if (L[e] > 15) y.qh[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
        }
    }
}

void quantize_row_q6_k_ref(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ6_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        BlockQ6_K& y = blocks[i];
        std::memset(&y, 0, sizeof(y));
        float x[kQK_K];
        if (!load_block(src, kMaxMagnitudeQ6_K, x)) {
            y.d = kHalfNaN;
            continue;
        }
        int8_t L[kQK_K];
        float scales[16];
        float max_scale = 0, max_abs_scale = 0;  // the signed scale of largest magnitude
        for (int j = 0; j < 16; ++j) {
            scales[j] = make_qx_quants(16, 32, x + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > max_abs_scale) {
                max_abs_scale = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs_scale < kGroupMaxEps) continue;  // all zero: the zeroed block (d = 0) is llama.cpp's answer too
        const float iscale = -128.f / max_scale;
        y.d = to_half_saturating(1 / iscale);
        for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
        for (int j = 0; j < 16; ++j) {
            const float d = half_to_float(y.d) * static_cast<float>(y.scales[j]);
            if (d == 0) continue;
            for (int l = 0; l < 16; ++l) {
                const int q = nearest_int(x[16 * j + l] / d);
                L[16 * j + l] = static_cast<int8_t>(std::max(-32, std::min(31, q)) + 32);
            }
        }
        // L is 0..63: low 4 bits to ql, high 2 bits to qh (layout in q6_k_level).
        for (int e = 0; e < kQK_K; ++e) {
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            y.ql[64 * h + 32 * (k % 2) + l] |= static_cast<uint8_t>((L[e] & 0xF) << (4 * (k / 2)));
            y.qh[32 * h + l] |= static_cast<uint8_t>((L[e] >> 4) << (2 * k));
        }
    }
}

void quantize_row_q8_k_ref(const float* src, void* dst, int64_t n) {
    auto* blocks = static_cast<BlockQ8_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        BlockQ8_K& y = blocks[i];
        std::memset(&y, 0, sizeof(y));  // llama.cpp leaves bsums unwritten in an all-zero block; spool zeroes them
        float max = 0, amax = 0;
        bool finite = true;
        for (int e = 0; e < kQK_K; ++e) {
            finite = finite && std::isfinite(src[e]);
            if (std::fabs(src[e]) > amax) {
                amax = std::fabs(src[e]);
                max = src[e];
            }
        }
        if (!finite) {
            y.d = std::numeric_limits<float>::quiet_NaN();
            continue;
        }
        // -127 (not -128) keeps every quant in -127..127; llama.cpp changed it for IQ2_XXS's SIMD code.
        const float iscale = -127.f / max;
        if (amax == 0 || !std::isfinite(iscale)) continue;  // zero, or so small (< 3.7e-37) that 127/max overflows
        for (int e = 0; e < kQK_K; ++e) {
            y.qs[e] = static_cast<int8_t>(std::max(-128, std::min(127, nearest_int(iscale * src[e]))));
        }
        for (int g = 0; g < kQK_K / 16; ++g) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += y.qs[16 * g + l];
            y.bsums[g] = static_cast<int16_t>(sum);
        }
        y.d = 1 / iscale;
    }
}

}  // namespace spool::quant
