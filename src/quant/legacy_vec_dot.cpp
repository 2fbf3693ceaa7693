// Reference dot products of legacy weight rows with Q8_0 / Q8_1 activation rows: per block an exact integer sum of
// q_w * q_a, scaled by d_w * d_a in float (plus m_w * s_a for Q4_1/Q5_1), summed over blocks in float.
// Same float operations, in the same order, as llama.cpp's scalar ggml_vec_dot_q*_q8_*_generic.
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

// Sum over the block of (q[j] - zero) * a[j], exact in int (|term| <= 31 * 128, 32 terms).
int int_dot(const int* q, int zero, const int8_t* a) {
    int sum = 0;
    for (int j = 0; j < kN; ++j) sum += (q[j] - zero) * a[j];
    return sum;
}

}  // namespace

void vec_dot_q4_0_q8_0(int64_t n, float* out, const void* w, const void* a) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const BlockQ4_0 x = load_block<BlockQ4_0>(w, i);
        const BlockQ8_0 y = load_block<BlockQ8_0>(a, i);
        int q[kN];
        unpack_nibbles(x.qs, q);
        const int sumi = int_dot(q, 8, y.qs);
        sum += static_cast<float>(sumi) * half_to_float(x.d) * half_to_float(y.d);
    }
    *out = sum;
}

void vec_dot_q4_1_q8_1(int64_t n, float* out, const void* w, const void* a) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const BlockQ4_1 x = load_block<BlockQ4_1>(w, i);
        const BlockQ8_1 y = load_block<BlockQ8_1>(a, i);
        int q[kN];
        unpack_nibbles(x.qs, q);
        const int sumi = int_dot(q, 0, y.qs);
        sum += (half_to_float(x.d) * half_to_float(y.d)) * static_cast<float>(sumi) +
               half_to_float(x.m) * half_to_float(y.s);
    }
    *out = sum;
}

void vec_dot_q5_0_q8_0(int64_t n, float* out, const void* w, const void* a) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const BlockQ5_0 x = load_block<BlockQ5_0>(w, i);
        const BlockQ8_0 y = load_block<BlockQ8_0>(a, i);
        int q[kN];
        unpack_5bit(x.qs, x.qh, q);
        const int sumi = int_dot(q, 16, y.qs);
        sum += (half_to_float(x.d) * half_to_float(y.d)) * static_cast<float>(sumi);
    }
    *out = sum;
}

void vec_dot_q5_1_q8_1(int64_t n, float* out, const void* w, const void* a) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const BlockQ5_1 x = load_block<BlockQ5_1>(w, i);
        const BlockQ8_1 y = load_block<BlockQ8_1>(a, i);
        int q[kN];
        unpack_5bit(x.qs, x.qh, q);
        const int sumi = int_dot(q, 0, y.qs);
        sum += (half_to_float(x.d) * half_to_float(y.d)) * static_cast<float>(sumi) +
               half_to_float(x.m) * half_to_float(y.s);
    }
    *out = sum;
}

void vec_dot_q8_0_q8_0(int64_t n, float* out, const void* w, const void* a) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kLegacyBlockSize; ++i) {
        const BlockQ8_0 x = load_block<BlockQ8_0>(w, i);
        const BlockQ8_0 y = load_block<BlockQ8_0>(a, i);
        int sumi = 0;
        for (int j = 0; j < kN; ++j) sumi += x.qs[j] * y.qs[j];
        sum += static_cast<float>(sumi) * (half_to_float(x.d) * half_to_float(y.d));
    }
    *out = sum;
}

}  // namespace spool::quant
