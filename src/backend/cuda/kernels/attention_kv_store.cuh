// Storing one float into a KV cache row of type F32, F16, Q8_0 or Q4_0, bit-exact with the CPU cache
// (type_info(type).quantize_row): F16 is quant/float.cpp's float_to_half (round to nearest even, NaN kept), Q8_0 and
// Q4_0 are quant/legacy.cpp's quantize_row_q8_0_ref and quantize_row_q4_0_ref. Shared by launch_kv_append and
// launch_rope_kv_append.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "quant/type_ids.h"

namespace spool::cuda::kv {

inline constexpr uint16_t kHalfNaN = 0x7e00;

// core/half.h float_to_half, bit for bit (also for NaN payloads, which __float2half_rn does not keep).
__device__ __forceinline__ uint16_t float_to_half_bits(float f) {
    const uint32_t x = __float_as_uint(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t abs = x & 0x7fffffffu;
    if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
    if (abs < 0x38800000u) {
        if (abs < 0x33000000u) return static_cast<uint16_t>(sign);
        const uint32_t e = abs >> 23;
        const uint32_t m = (abs & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126u - e;
        uint32_t half_m = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1u);
        const uint32_t halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (half_m & 1u))) ++half_m;
        return static_cast<uint16_t>(sign | half_m);
    }
    uint32_t h = (abs >> 13) - (112u << 10);
    const uint32_t rem = abs & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
}

__device__ __forceinline__ float half_bits_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }

// legacy.cpp round_to_q8: roundf (half away from zero) clamped to [-127, 127]; NaN -> 0.
__device__ __forceinline__ int round_to_q8(float v) {
    if (isnan(v)) return 0;
    if (v <= -127.0f) return -127;
    if (v >= 127.0f) return 127;
    return static_cast<int>(roundf(v));
}

// legacy.cpp truncate_to_level: v (already scaled and shifted by zero + 0.5) truncated, clamped to [0, top]; NaN ->
// the zero level.
__device__ __forceinline__ int truncate_to_level(float v, int top, int zero_level) {
    if (isnan(v)) return zero_level;
    if (v <= 0.0f) return 0;
    if (v >= static_cast<float>(top)) return top;
    return static_cast<int>(v);
}

// fp16 bits of a finite scale, saturated at +-65504 instead of overflowing (legacy.cpp to_half_saturating); *scale
// becomes the stored value when it saturated, so the quants are chosen for the scale that is stored.
__device__ __forceinline__ uint16_t scale_to_half_saturating(float* scale, float* inverse) {
    uint16_t bits = float_to_half_bits(*scale);
    if ((bits & 0x7fffu) == 0x7c00u) {
        bits = static_cast<uint16_t>((bits & 0x8000u) | 0x7bffu);
        *scale = half_bits_to_float(bits);
        *inverse = 1.0f / *scale;
    }
    return bits;
}

// row[e] = x rounded to TYPE. Q8_0 and Q4_0 are warp-collective: the whole warp calls it at once, lane i with element
// 32 * j + i of the row for one j (the warp fills one block: fp16 scale, then 32 int8 for Q8_0 or 16 bytes of nibbles
// for Q4_0, element i in the low nibble of byte i % 16 for i < 16, in the high nibble for the others).
template <GgmlType TYPE>
__device__ __forceinline__ void store_element(uint8_t* row,  // [row_bytes] of one cache row
                                              int64_t e, float x) {
    if constexpr (TYPE == GgmlType::F32) {
        reinterpret_cast<float*>(row)[e] = x;
    } else if constexpr (TYPE == GgmlType::F16) {
        reinterpret_cast<uint16_t*>(row)[e] = float_to_half_bits(x);
    } else {
        static_assert(TYPE == GgmlType::Q8_0 || TYPE == GgmlType::Q4_0, "KV cache types are F32, F16, Q8_0 and Q4_0");
        const int lane = static_cast<int>(e & 31);
        uint8_t* block = row + (e >> 5) * (TYPE == GgmlType::Q8_0 ? 34 : 18);
        const bool all_finite = __all_sync(0xffffffffu, isfinite(x));
        int q = 0;
        uint16_t d_bits = kHalfNaN;
        if (all_finite) {
            float amax = fabsf(x);
            if constexpr (TYPE == GgmlType::Q8_0) {
                for (int offset = 16; offset > 0; offset >>= 1)
                    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
                float d = amax / 127.0f;
                float id = d != 0.0f ? 1.0f / d : 0.0f;
                d_bits = scale_to_half_saturating(&d, &id);
                q = round_to_q8(__fmul_rn(x, id));
            } else {
                // The signed value of largest magnitude, the lowest lane on ties (the CPU loop's first); d = max / -8.
                int at = lane;
                for (int offset = 16; offset > 0; offset >>= 1) {
                    const float other = __shfl_xor_sync(0xffffffffu, amax, offset);
                    const int other_at = __shfl_xor_sync(0xffffffffu, at, offset);
                    if (other > amax || (other == amax && other_at < at)) amax = other, at = other_at;
                }
                const float at_value = __shfl_sync(0xffffffffu, x, at);
                const float max = amax > 0.0f ? at_value : 0.0f;  // the CPU keeps +0 when no element beats it
                float d = max / -8.0f;
                float id = d != 0.0f ? 1.0f / d : 0.0f;
                d_bits = scale_to_half_saturating(&d, &id);
                q = truncate_to_level(__fadd_rn(__fmul_rn(x, id), 8.5f), 15, 8);  // two roundings, no FMA, as the CPU
            }
        }
        if constexpr (TYPE == GgmlType::Q8_0) {
            block[2 + lane] = static_cast<uint8_t>(static_cast<int8_t>(q));
        } else {
            const int high = __shfl_down_sync(0xffffffffu, q, 16);
            if (lane < 16) block[2 + lane] = static_cast<uint8_t>(q | (high << 4));
        }
        if (lane == 0) *reinterpret_cast<uint16_t*>(block) = d_bits;
    }
}

}  // namespace spool::cuda::kv
