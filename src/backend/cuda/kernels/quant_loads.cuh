// Device-side GGUF weight layouts and the loads and level conversions every decoder shares: block sizes (checked
// against quant/blocks_*.h), narrow loads through the read-only path, exact small-integer-to-float conversions.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "quant/type_ids.h"

namespace spool::cuda::wq {

// ---- Block layouts, as quant/blocks_legacy.h and quant/blocks_k.h. Blocks sit at any 2-byte-aligned offset, so
// fields are read by byte offset rather than through packed structs.

inline constexpr int kLegacyBlock = 32;  // elements per legacy block (QK4_0 ... QK8_0)
inline constexpr int kSuperBlock = 256;  // elements per K-quant super-block (QK_K)
inline constexpr int kSpan = 256;        // elements per span: one super-block, eight legacy blocks

struct BlockBytes {
    static constexpr int q4_0 = 18;   // d:2 qs:16
    static constexpr int q4_1 = 20;   // d:2 m:2 qs:16
    static constexpr int q5_0 = 22;   // d:2 qh:4 qs:16
    static constexpr int q5_1 = 24;   // d:2 m:2 qh:4 qs:16
    static constexpr int q8_0 = 34;   // d:2 qs:32
    static constexpr int q2_k = 84;   // scales:16 qs:64 d:2 dmin:2
    static constexpr int q3_k = 110;  // hmask:32 qs:64 scales:12 d:2
    static constexpr int q4_k = 144;  // d:2 dmin:2 scales:12 qs:128
    static constexpr int q5_k = 176;  // d:2 dmin:2 scales:12 qh:32 qs:128
    static constexpr int q6_k = 210;  // ql:128 qh:64 scales:16 d:2
};
static_assert(BlockBytes::q4_0 == 2 + 16 && BlockBytes::q4_1 == 4 + 16 && BlockBytes::q5_0 == 2 + 4 + 16 &&
                  BlockBytes::q5_1 == 4 + 4 + 16 && BlockBytes::q8_0 == 2 + 32,
              "legacy block sizes as quant/blocks_legacy.h");
static_assert(BlockBytes::q2_k == 16 + 64 + 4 && BlockBytes::q3_k == 32 + 64 + 12 + 2 &&
                  BlockBytes::q4_k == 4 + 12 + 128 && BlockBytes::q5_k == 4 + 12 + 32 + 128 &&
                  BlockBytes::q6_k == 128 + 64 + 16 + 2,
              "K-quant block sizes as quant/blocks_k.h");

// ---- Loads of weight bytes, through the read-only path and L1: a block's fields are read by several narrow loads
// that share 32-byte sectors, and L1 serves the repeats (measured on an H100: with L1::no_allocate every repeat went
// to L2, and Q8_0 / Q4_0 / Q6_K matvecs ran at 42-44% of DRAM bandwidth instead of 59-66%). Not volatile: the compiler
// may merge and schedule them.

__device__ __forceinline__ uint32_t ld_u8(const uint8_t* p) {
    uint32_t v;
    asm("ld.global.nc.u8 %0, [%1];" : "=r"(v) : "l"(p));
    return v;
}

__device__ __forceinline__ uint32_t ld_u16(const uint8_t* p) {  // p: 2-byte aligned
    unsigned short v;
    asm("ld.global.nc.u16 %0, [%1];" : "=h"(v) : "l"(p));
    return v;
}

__device__ __forceinline__ uint32_t ld_u32(const uint8_t* p) {  // p: 4-byte aligned
    uint32_t v;
    asm("ld.global.nc.u32 %0, [%1];" : "=r"(v) : "l"(p));
    return v;
}

__device__ __forceinline__ uint2 ld_u32x2(const uint8_t* p) {  // p: 8-byte aligned
    uint2 v;
    asm("ld.global.nc.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
    return v;
}

__device__ __forceinline__ uint4 ld_u32x4(const uint8_t* p) {  // p: 16-byte aligned
    uint4 v;
    asm("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(p));
    return v;
}

// 8 bytes at a 4-byte-aligned address.
__device__ __forceinline__ uint2 ld_u32x2_a4(const uint8_t* p) { return make_uint2(ld_u32(p), ld_u32(p + 4)); }

// 4 bytes at a 2-byte-aligned address, little-endian.
__device__ __forceinline__ uint32_t ld_u32_a2(const uint8_t* p) { return ld_u16(p) | ld_u16(p + 2) << 16; }

// 8 bytes at a 2-byte-aligned address.
__device__ __forceinline__ uint2 ld_u32x2_a2(const uint8_t* p) { return make_uint2(ld_u32_a2(p), ld_u32_a2(p + 4)); }

// 8 bytes at a 2-byte-aligned address from aligned 4-byte loads: two words, a third only where p is not 4-byte
// aligned (predicated, so lanes of differently aligned blocks do not diverge), shifted into place. Where p is not
// 4-byte aligned this reads the 2 bytes after p + 7: callers keep them inside the block.
__device__ __forceinline__ uint2 ld_u32x2_a2_funnel(const uint8_t* p) {
    const uint8_t* a = reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t{3});
    const uint32_t shift = 8 * static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p) & 3);
    const uint32_t w0 = ld_u32(a), w1 = ld_u32(a + 4), w2 = shift != 0 ? ld_u32(a + 8) : 0u;
    return make_uint2(__funnelshift_r(w0, w1, shift), __funnelshift_r(w1, w2, shift));
}

// 16 bytes at a 2-byte-aligned address, as ld_u32x2_a2_funnel (a fifth word only where p is not 4-byte aligned;
// reads up to 2 bytes past p + 15 there: callers keep them inside the block).
__device__ __forceinline__ uint4 ld_u32x4_a2_funnel(const uint8_t* p) {
    const uint8_t* a = reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t{3});
    const uint32_t shift = 8 * static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p) & 3);
    const uint32_t w0 = ld_u32(a), w1 = ld_u32(a + 4), w2 = ld_u32(a + 8), w3 = ld_u32(a + 12);
    const uint32_t w4 = shift != 0 ? ld_u32(a + 16) : 0u;
    return make_uint4(__funnelshift_r(w0, w1, shift), __funnelshift_r(w1, w2, shift), __funnelshift_r(w2, w3, shift),
                      __funnelshift_r(w3, w4, shift));
}

__device__ __forceinline__ float half_bits_to_float(uint32_t bits) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(bits & 0xffffu)));
}

// ---- Levels (small unsigned integers, one per byte) to floats, exactly. Integer ops run at half the rate of float
// ops on Hopper, so two levels become one half2 (1024 + level, exact) with one byte permute, and the rest is half and
// float arithmetic.

__device__ __forceinline__ void halves_minus_bias(uint32_t pair, __half2 bias, float& a, float& b) {
    const float2 f = __half22float2(__hsub2(*reinterpret_cast<const __half2*>(&pair), bias));
    a = f.x, b = f.y;
}

// Bytes 0..3 of v (each < 256) as floats.
__device__ __forceinline__ void bytes_to_floats(uint32_t v, float* out) {
    const __half2 bias = __halves2half2(__ushort_as_half(0x6400), __ushort_as_half(0x6400));  // 1024
    halves_minus_bias(__byte_perm(v, 0x64646464u, 0x4240), bias, out[0], out[2]);
    halves_minus_bias(__byte_perm(v, 0x64646464u, 0x4341), bias, out[1], out[3]);
}

// The low (high = false) or high nibble of each byte of q as floats: a nibble at bits 0-3 of a half's mantissa
// under exponent 1024 reads 1024 + n; at bits 4-7 under exponent 64 it reads 64 + n.
__device__ __forceinline__ void nibbles_to_floats(uint32_t q, bool high, float* out) {
    const uint32_t mask = high ? 0x00F000F0u : 0x000F000Fu;
    const uint32_t magic = high ? 0x54005400u : 0x64006400u;
    const unsigned short b = high ? 0x5400 : 0x6400;
    const __half2 bias = __halves2half2(__ushort_as_half(b), __ushort_as_half(b));
    halves_minus_bias((q & mask) | magic, bias, out[0], out[2]);
    halves_minus_bias(((q >> 8) & mask) | magic, bias, out[1], out[3]);
}

// Bit i of x (i < 4) to bit 0 of byte i.
__device__ __forceinline__ uint32_t spread4(uint32_t x) { return (x * 0x00204081u) & 0x01010101u; }

__device__ __forceinline__ uint32_t byte_of(uint2 v, int index) {  // byte `index` (0..7) of 8 little-endian bytes
    return ((index < 4 ? v.x : v.y) >> (8 * (index & 3))) & 0xffu;
}

// Group g's levels: the low (g = 0) or high nibbles of 8 quant bytes (legacy and K-quant 4-bit fields).
__device__ __forceinline__ void nibble_levels(uint2 qs, int g, float* u) {
    nibbles_to_floats(qs.x, g != 0, u);
    nibbles_to_floats(qs.y, g != 0, u + 4);
}
__device__ __forceinline__ uint2 nibble_bytes(uint2 qs, int g) {
    return make_uint2((qs.x >> (4 * g)) & 0x0F0F0F0Fu, (qs.y >> (4 * g)) & 0x0F0F0F0Fu);
}
__device__ __forceinline__ void level_bytes_to_floats(uint2 b, float* u) {
    bytes_to_floats(b.x, u);
    bytes_to_floats(b.y, u + 4);
}

}  // namespace spool::cuda::wq
