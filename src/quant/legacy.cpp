// Reference quantize / dequantize of the legacy types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 (dots: legacy_vec_dot.cpp).
// Quantizers produce the bytes of llama.cpp ggml-quants.c quantize_row_q*_ref (same scale rule, same float
// operations in the same order, same truncation); edge cases llama.cpp leaves undefined: quant/blocks_legacy.h.
#include <cmath>
#include <cstring>
#include <limits>

#include "core/half.h"
#include "quant/blocks_legacy.h"
#include "quant/legacy_pack.h"
#include "quant/reference.h"

// llama.cpp rounds each product before the next addition. A fused multiply-add, which the compiler may form when
// the target has FMA (-march=native), rounds once and changes results (measured: 21 of 73728 Q4_0 blocks of
// tiny-Q4_0.gguf), so contraction is off in this file.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace spool::quant {
namespace {

constexpr int kN = static_cast<int>(kLegacyBlockSize);
constexpr uint16_t kHalfNaN = 0x7e00;

bool all_finite(const float* x) {
    for (int j = 0; j < kN; ++j) {
        if (!std::isfinite(x[j])) return false;
    }
    return true;
}

// fp16 bits of a finite v, saturated at +-65504 instead of overflowing to infinity; sets *saturated when it did.
uint16_t to_half_saturating(float v, bool* saturated) {
    const uint16_t h = float_to_half(v);
    if ((h & 0x7fffu) != 0x7c00u) return h;
    *saturated = true;
    return static_cast<uint16_t>((h & 0x8000u) | 0x7bffu);
}

// The quant of a value already scaled and shifted by zero + 0.5: llama.cpp truncates with a C cast and then
// clamps the top (MIN(15, (int8_t)v)). Clamping first gives the same level for every v llama.cpp defines and
// never converts a NaN or out-of-range float (undefined in C++). NaN only arises as 0 * inf when 1/d overflowed,
// which happens only when d is so small that its fp16 is 0, so any level will do; the zero level is chosen.
int truncate_to_level(float v, int top, int zero_level) {
    if (std::isnan(v)) return zero_level;
    if (v <= 0.0f) return 0;
    if (v >= static_cast<float>(top)) return top;
    return static_cast<int>(v);
}

// roundf (half away from zero) of x * id, clamped to [-127, 127]: llama.cpp's Q8 rule without its undefined cases.
int round_to_q8(float v) {
    if (std::isnan(v)) return 0;
    if (v <= -127.0f) return -127;
    if (v >= 127.0f) return 127;
    return static_cast<int>(std::round(v));
}

// Q4_0 / Q5_0 (quantize_row_q4_0_ref, quantize_row_q5_0_ref): the signed value of largest magnitude (the first
// one on ties) maps to level 0, i.e. d = max / -zero; x[j] * (1/d) + zero + 0.5 is truncated and clamped to top.
// Returns d's fp16 bits and fills q[32].
uint16_t quantize_signed_max(const float* x, int zero, int top, int* q) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kN; ++j) {
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    const float d = max / static_cast<float>(-zero);
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    bool saturated = false;
    const uint16_t d_bits = to_half_saturating(d, &saturated);
    if (saturated) id = 1.0f / half_to_float(d_bits);  // choose the quants for the scale that is stored
    const float shift = static_cast<float>(zero) + 0.5f;  // 8.5f or 16.5f, exact
    for (int j = 0; j < kN; ++j) {
        const float scaled = x[j] * id;  // two roundings, as in llama.cpp: no fused multiply-add
        q[j] = truncate_to_level(scaled + shift, top, zero);
    }
    return d_bits;
}

// Q4_1 / Q5_1 (quantize_row_q4_1_ref, quantize_row_q5_1_ref): d = (max - min) / top, m = min;
// (x[j] - min) * (1/d) + 0.5 is truncated and clamped to top. Fills d, m bits and q[32].
void quantize_min_max(const float* x, int top, uint16_t* d_bits, uint16_t* m_bits, int* q) {
    float min = std::numeric_limits<float>::max();
    float max = -std::numeric_limits<float>::max();
    for (int j = 0; j < kN; ++j) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / static_cast<float>(top);
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    bool saturated = false;
    *d_bits = to_half_saturating(d, &saturated);
    *m_bits = to_half_saturating(min, &saturated);
    float base = min;
    if (saturated) {  // quantize against the stored, saturated scale and minimum
        const float d_stored = half_to_float(*d_bits);
        id = d_stored != 0.0f ? 1.0f / d_stored : 0.0f;
        base = half_to_float(*m_bits);
    }
    for (int j = 0; j < kN; ++j) {
        const float scaled = (x[j] - base) * id;
        q[j] = truncate_to_level(scaled + 0.5f, top, 0);
    }
}

// Q8_0 / Q8_1 (quantize_row_q8_0_ref): d = amax / 127, q = roundf(x * (1/d)). Returns d's fp16 bits; *d_used is
// the float d that Q8_1's sum is scaled by (llama.cpp uses the unrounded d there).
uint16_t quantize_abs_max(const float* x, int8_t* q, float* d_used) {
    float amax = 0.0f;
    for (int j = 0; j < kN; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    bool saturated = false;
    const uint16_t d_bits = to_half_saturating(d, &saturated);
    if (saturated) {
        d = half_to_float(d_bits);
        id = 1.0f / d;
    }
    for (int j = 0; j < kN; ++j) q[j] = static_cast<int8_t>(round_to_q8(x[j] * id));
    *d_used = d;
    return d_bits;
}

}  // namespace

// ---- Q4_0 ----

void quantize_row_q4_0_ref(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const float* x = src + i * kLegacyBlockSize;
        BlockQ4_0 b{};
        if (!all_finite(x)) {
            b.d = kHalfNaN;
        } else {
            int q[kN];
            b.d = quantize_signed_max(x, 8, 15, q);
            pack_nibbles(q, b.qs);
        }
        store_block(dst, i, b);
    }
}

void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const BlockQ4_0 b = load_block<BlockQ4_0>(src, i);
        const float d = half_to_float(b.d);
        int q[kN];
        unpack_nibbles(b.qs, q);
        for (int j = 0; j < kN; ++j) dst[i * kLegacyBlockSize + j] = static_cast<float>(q[j] - 8) * d;
    }
}

// ---- Q4_1 ----

void quantize_row_q4_1_ref(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const float* x = src + i * kLegacyBlockSize;
        BlockQ4_1 b{};
        if (!all_finite(x)) {
            b.d = b.m = kHalfNaN;
        } else {
            int q[kN];
            quantize_min_max(x, 15, &b.d, &b.m, q);
            pack_nibbles(q, b.qs);
        }
        store_block(dst, i, b);
    }
}

void dequantize_row_q4_1(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const BlockQ4_1 b = load_block<BlockQ4_1>(src, i);
        const float d = half_to_float(b.d);
        const float m = half_to_float(b.m);
        int q[kN];
        unpack_nibbles(b.qs, q);
        for (int j = 0; j < kN; ++j) dst[i * kLegacyBlockSize + j] = static_cast<float>(q[j]) * d + m;
    }
}

// ---- Q5_0 ----

void quantize_row_q5_0_ref(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const float* x = src + i * kLegacyBlockSize;
        BlockQ5_0 b{};
        if (!all_finite(x)) {
            b.d = kHalfNaN;
        } else {
            int q[kN];
            b.d = quantize_signed_max(x, 16, 31, q);
            pack_5bit(q, b.qs, b.qh);
        }
        store_block(dst, i, b);
    }
}

void dequantize_row_q5_0(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const BlockQ5_0 b = load_block<BlockQ5_0>(src, i);
        const float d = half_to_float(b.d);
        int q[kN];
        unpack_5bit(b.qs, b.qh, q);
        for (int j = 0; j < kN; ++j) dst[i * kLegacyBlockSize + j] = static_cast<float>(q[j] - 16) * d;
    }
}

// ---- Q5_1 ----

void quantize_row_q5_1_ref(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const float* x = src + i * kLegacyBlockSize;
        BlockQ5_1 b{};
        if (!all_finite(x)) {
            b.d = b.m = kHalfNaN;
        } else {
            int q[kN];
            quantize_min_max(x, 31, &b.d, &b.m, q);
            pack_5bit(q, b.qs, b.qh);
        }
        store_block(dst, i, b);
    }
}

void dequantize_row_q5_1(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const BlockQ5_1 b = load_block<BlockQ5_1>(src, i);
        const float d = half_to_float(b.d);
        const float m = half_to_float(b.m);
        int q[kN];
        unpack_5bit(b.qs, b.qh, q);
        for (int j = 0; j < kN; ++j) dst[i * kLegacyBlockSize + j] = static_cast<float>(q[j]) * d + m;
    }
}

// ---- Q8_0 ----

void quantize_row_q8_0_ref(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const float* x = src + i * kLegacyBlockSize;
        BlockQ8_0 b{};
        if (!all_finite(x)) {
            b.d = kHalfNaN;
        } else {
            float d = 0.0f;
            b.d = quantize_abs_max(x, b.qs, &d);
        }
        store_block(dst, i, b);
    }
}

void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const BlockQ8_0 b = load_block<BlockQ8_0>(src, i);
        const float d = half_to_float(b.d);
        for (int j = 0; j < kN; ++j) dst[i * kLegacyBlockSize + j] = static_cast<float>(b.qs[j]) * d;
    }
}

// ---- Q8_1 ----

void quantize_row_q8_1_ref(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const float* x = src + i * kLegacyBlockSize;
        BlockQ8_1 b{};
        if (!all_finite(x)) {
            b.d = b.s = kHalfNaN;
        } else {
            float d = 0.0f;
            b.d = quantize_abs_max(x, b.qs, &d);
            int sum = 0;
            for (int j = 0; j < kN; ++j) sum += b.qs[j];
            bool saturated = false;
            b.s = to_half_saturating(static_cast<float>(sum) * d, &saturated);
        }
        store_block(dst, i, b);
    }
}

void dequantize_row_q8_1(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const BlockQ8_1 b = load_block<BlockQ8_1>(src, i);
        const float d = half_to_float(b.d);
        for (int j = 0; j < kN; ++j) dst[i * kLegacyBlockSize + j] = static_cast<float>(b.qs[j]) * d;
    }
}

}  // namespace spool::quant
