// Scalar dot products of a K-quant weight row with a Q8_K activation row (llama.cpp ggml_vec_dot_qX_K_q8_K, generic
// version): exact integer sums per super-block, scaled once per block in float. Formats with mins use Q8_K's bsums,
// since sum(a * (d*sc*q - dmin*m)) = d*sum(sc * a.q) - dmin*sum(m * bsum) over the 16-element groups.
// llama.cpp sums the float block terms in 8 lanes (and its SIMD versions in other orders), so results agree with it
// to float rounding, not bit for bit.
#include <cstdint>

#include "core/half.h"
#include "quant/blocks_k.h"
#include "quant/reference.h"

namespace spool::quant {

// Every function: w holds n / 256 weight blocks, a holds n / 256 BlockQ8_K; n is a multiple of 256 (checked by the
// caller). Integer sums fit in int32: the largest, Q6_K's, is at most 256 * 127 * 32 * 128 (1.3e8).

void vec_dot_q2_k_q8_k(int64_t n, float* out, const void* w, const void* a) {
    const auto* wb = static_cast<const BlockQ2_K*>(w);
    const auto* ab = static_cast<const BlockQ8_K*>(a);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int32_t sum_q = 0, sum_m = 0;
        for (int s = 0; s < 16; ++s) {  // 16 sub-blocks of 16, each one bsums group
            int32_t dot = 0;
            for (int e = 16 * s; e < 16 * s + 16; ++e) dot += ab[i].qs[e] * q2_k_level(wb[i], e);
            sum_q += (wb[i].scales[s] & 0xF) * dot;
            sum_m += (wb[i].scales[s] >> 4) * ab[i].bsums[s];
        }
        const float d = ab[i].d * half_to_float(wb[i].d);
        const float dmin = ab[i].d * half_to_float(wb[i].dmin);
        sum += d * static_cast<float>(sum_q) - dmin * static_cast<float>(sum_m);
    }
    *out = sum;
}

void vec_dot_q3_k_q8_k(int64_t n, float* out, const void* w, const void* a) {
    const auto* wb = static_cast<const BlockQ3_K*>(w);
    const auto* ab = static_cast<const BlockQ8_K*>(a);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int32_t sum_q = 0;
        for (int s = 0; s < 16; ++s) {
            int32_t dot = 0;
            for (int e = 16 * s; e < 16 * s + 16; ++e) dot += ab[i].qs[e] * q3_k_level(wb[i], e);
            sum_q += q3_k_scale(wb[i], s) * dot;
        }
        sum += ab[i].d * half_to_float(wb[i].d) * static_cast<float>(sum_q);
    }
    *out = sum;
}

void vec_dot_q4_k_q8_k(int64_t n, float* out, const void* w, const void* a) {
    const auto* wb = static_cast<const BlockQ4_K*>(w);
    const auto* ab = static_cast<const BlockQ8_K*>(a);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int32_t sum_q = 0, sum_m = 0;
        for (int s = 0; s < 8; ++s) {  // 8 sub-blocks of 32, each two bsums groups
            int sc = 0, m = 0;
            k4_scale_min(wb[i].scales, s, sc, m);
            int32_t dot = 0;
            for (int e = 32 * s; e < 32 * s + 32; ++e) dot += ab[i].qs[e] * q4_k_level(wb[i], e);
            sum_q += sc * dot;
            sum_m += m * (ab[i].bsums[2 * s] + ab[i].bsums[2 * s + 1]);
        }
        const float d = ab[i].d * half_to_float(wb[i].d);
        const float dmin = ab[i].d * half_to_float(wb[i].dmin);
        sum += d * static_cast<float>(sum_q) - dmin * static_cast<float>(sum_m);
    }
    *out = sum;
}

void vec_dot_q5_k_q8_k(int64_t n, float* out, const void* w, const void* a) {
    const auto* wb = static_cast<const BlockQ5_K*>(w);
    const auto* ab = static_cast<const BlockQ8_K*>(a);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int32_t sum_q = 0, sum_m = 0;
        for (int s = 0; s < 8; ++s) {
            int sc = 0, m = 0;
            k4_scale_min(wb[i].scales, s, sc, m);
            int32_t dot = 0;
            for (int e = 32 * s; e < 32 * s + 32; ++e) dot += ab[i].qs[e] * q5_k_level(wb[i], e);
            sum_q += sc * dot;
            sum_m += m * (ab[i].bsums[2 * s] + ab[i].bsums[2 * s + 1]);
        }
        const float d = ab[i].d * half_to_float(wb[i].d);
        const float dmin = ab[i].d * half_to_float(wb[i].dmin);
        sum += d * static_cast<float>(sum_q) - dmin * static_cast<float>(sum_m);
    }
    *out = sum;
}

void vec_dot_q6_k_q8_k(int64_t n, float* out, const void* w, const void* a) {
    const auto* wb = static_cast<const BlockQ6_K*>(w);
    const auto* ab = static_cast<const BlockQ8_K*>(a);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int32_t sum_q = 0;
        for (int s = 0; s < 16; ++s) {
            int32_t dot = 0;
            for (int e = 16 * s; e < 16 * s + 16; ++e) dot += ab[i].qs[e] * q6_k_level(wb[i], e);
            sum_q += wb[i].scales[s] * dot;
        }
        sum += ab[i].d * half_to_float(wb[i].d) * static_cast<float>(sum_q);
    }
    *out = sum;
}

}  // namespace spool::quant
