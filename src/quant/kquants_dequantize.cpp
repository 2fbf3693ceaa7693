// Scalar dequantizers of the K-quant types (Q2_K ... Q8_K). Each computes a value with the same float operations,
// in the same order, as llama.cpp ggml-quants.c dequantize_row_qX_K, so the floats are identical bit for bit.
#include <cstdint>

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

// Every function: src holds n / 256 blocks, dst has room for n floats; n is a multiple of 256 (checked by the caller).

void dequantize_row_q2_k(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ2_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const BlockQ2_K& b = blocks[i];
        const float d = half_to_float(b.d);
        const float dmin = half_to_float(b.dmin);
        float* out = dst + i * kQK_K;
        for (int e = 0; e < kQK_K; ++e) {
            const int s = e / 16;
            const float scale = d * static_cast<float>(b.scales[s] & 0xF);
            const float min = dmin * static_cast<float>(b.scales[s] >> 4);
            out[e] = scale * static_cast<float>(q2_k_level(b, e)) - min;
        }
    }
}

void dequantize_row_q3_k(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ3_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const BlockQ3_K& b = blocks[i];
        const float d = half_to_float(b.d);
        float* out = dst + i * kQK_K;
        for (int e = 0; e < kQK_K; ++e) {
            const float scale = d * static_cast<float>(q3_k_scale(b, e / 16));
            out[e] = scale * static_cast<float>(q3_k_level(b, e));
        }
    }
}

void dequantize_row_q4_k(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ4_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const BlockQ4_K& b = blocks[i];
        const float d = half_to_float(b.d);
        const float dmin = half_to_float(b.dmin);
        float* out = dst + i * kQK_K;
        for (int e = 0; e < kQK_K; ++e) {
            int sc = 0, m = 0;
            k4_scale_min(b.scales, e / 32, sc, m);
            const float scale = d * static_cast<float>(sc);
            const float min = dmin * static_cast<float>(m);
            out[e] = scale * static_cast<float>(q4_k_level(b, e)) - min;
        }
    }
}

void dequantize_row_q5_k(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ5_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const BlockQ5_K& b = blocks[i];
        const float d = half_to_float(b.d);
        const float dmin = half_to_float(b.dmin);
        float* out = dst + i * kQK_K;
        for (int e = 0; e < kQK_K; ++e) {
            int sc = 0, m = 0;
            k4_scale_min(b.scales, e / 32, sc, m);
            const float scale = d * static_cast<float>(sc);
            const float min = dmin * static_cast<float>(m);
            out[e] = scale * static_cast<float>(q5_k_level(b, e)) - min;
        }
    }
}

void dequantize_row_q6_k(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ6_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const BlockQ6_K& b = blocks[i];
        const float d = half_to_float(b.d);
        float* out = dst + i * kQK_K;
        for (int e = 0; e < kQK_K; ++e) {
            const float scale = d * static_cast<float>(b.scales[e / 16]);
            out[e] = scale * static_cast<float>(q6_k_level(b, e));
        }
    }
}

void dequantize_row_q8_k(const void* src, float* dst, int64_t n) {
    const auto* blocks = static_cast<const BlockQ8_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const BlockQ8_K& b = blocks[i];
        for (int e = 0; e < kQK_K; ++e) dst[i * kQK_K + e] = b.d * static_cast<float>(b.qs[e]);
    }
}

}  // namespace spool::quant
