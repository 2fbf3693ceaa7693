// Device-side GGUF weight layouts and per-type decoders: block sizes (checked against quant/blocks_*.h), how a lane
// loads and decodes its 8 elements of a 256-element span, and the reference's exact dequantization formulas
// (quant/legacy.cpp, quant/kquants_dequantize.cpp, quant/float.cpp; llama.cpp dequantize_row_*).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "backend/backend.h"
#include "quant/type_ids.h"
#include "spool/errors.h"

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

// ---- Decoders. A tile is kGroups consecutive 256-element spans of a row (kTileBytes bytes). Each of the 32 lanes
// handles kGroups groups of 8 consecutive elements, starting at group_elem(lane, g) within the tile: the groups a lane
// owns are all the elements stored in the quant bytes it loads (both nibbles of a 4-bit byte, all four 2-bit fields),
// so no quant byte is loaded by two lanes (only small shared fields: scales, high-bit masks) and registers hold as many
// distinct weight bytes as possible. A group lies in one block
// and one sub-block and dequantizes as w = scale * u - min with small unsigned levels u (the factored form lets a dot
// product multiply x by exact integer levels and apply scale and min once per group). Members:
//   kType, kBlockElems, kBlockBytes, kGroups, kTileBytes (= kGroups spans); kRowAlign: the alignment of row_bytes (and
//   of the 16-aligned base) the loads rely on; kFloat: F32/F16/BF16 (values(raw, w) instead of levels).
//   Raw load(tile, lane); levels(raw, lane, g, u[8]) of group g (level_bytes: the same as 8 bytes, element i in byte
//   i % 4 of word i / 4); exact(u, scale, min): the reference's value, with
//   its roundings. kSharedScales (Q4_K, Q5_K): scales are costly to unpack, so the matvec unpacks each (row,
//   super-block, sub-block) once per warp: head_scale_min(load_head(super-block), sub, ...); group g of a lane is in
//   sub-block lane_sub(lane) + g. Otherwise scale_min(raw, lane, g, scale, min).

__device__ __forceinline__ uint32_t byte_of(uint2 v, int index) {  // byte `index` (0..7) of 8 little-endian bytes
    return ((index < 4 ? v.x : v.y) >> (8 * (index & 3))) & 0xffu;
}

struct DecF32 {
    static constexpr spool::GgmlType kType = spool::GgmlType::F32;
    static constexpr int kBlockElems = 1, kBlockBytes = 4, kGroups = 1, kTileBytes = 4 * kSpan, kRowAlign = 16;
    static constexpr bool kFloat = true, kSharedScales = false;
    struct Raw { uint4 a, b; };
    __device__ static int group_elem(int lane, int) { return 8 * lane; }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        return {ld_u32x4(tile + 32 * lane), ld_u32x4(tile + 32 * lane + 16)};
    }
    __device__ static void values(const Raw& r, float* w) {
        w[0] = __uint_as_float(r.a.x), w[1] = __uint_as_float(r.a.y), w[2] = __uint_as_float(r.a.z);
        w[3] = __uint_as_float(r.a.w), w[4] = __uint_as_float(r.b.x), w[5] = __uint_as_float(r.b.y);
        w[6] = __uint_as_float(r.b.z), w[7] = __uint_as_float(r.b.w);
    }
    __device__ static float element(const uint8_t* row, int64_t i) { return __uint_as_float(ld_u32(row + 4 * i)); }
};

struct DecF16 {
    static constexpr spool::GgmlType kType = spool::GgmlType::F16;
    static constexpr int kBlockElems = 1, kBlockBytes = 2, kGroups = 1, kTileBytes = 2 * kSpan, kRowAlign = 16;
    static constexpr bool kFloat = true, kSharedScales = false;
    struct Raw { uint4 v; };
    __device__ static int group_elem(int lane, int) { return 8 * lane; }
    __device__ static Raw load(const uint8_t* tile, int lane) { return {ld_u32x4(tile + 16 * lane)}; }
    __device__ static void values(const Raw& r, float* w) {
        const uint32_t words[4] = {r.v.x, r.v.y, r.v.z, r.v.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[i]));
            w[2 * i] = f.x, w[2 * i + 1] = f.y;
        }
    }
    __device__ static float element(const uint8_t* row, int64_t i) { return half_bits_to_float(ld_u16(row + 2 * i)); }
};

struct DecBF16 {
    static constexpr spool::GgmlType kType = spool::GgmlType::BF16;
    static constexpr int kBlockElems = 1, kBlockBytes = 2, kGroups = 1, kTileBytes = 2 * kSpan, kRowAlign = 16;
    static constexpr bool kFloat = true, kSharedScales = false;
    struct Raw { uint4 v; };
    __device__ static int group_elem(int lane, int) { return 8 * lane; }
    __device__ static Raw load(const uint8_t* tile, int lane) { return {ld_u32x4(tile + 16 * lane)}; }
    __device__ static void values(const Raw& r, float* w) {
        const uint32_t words[4] = {r.v.x, r.v.y, r.v.z, r.v.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            w[2 * i] = __uint_as_float(words[i] << 16), w[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
        }
    }
    __device__ static float element(const uint8_t* row, int64_t i) {
        return __uint_as_float(ld_u16(row + 2 * i) << 16);
    }
};

// x = q * d with signed bytes q; as levels u = q + 128 (flip the sign bit), so x = d * u - 128 d. One group per lane:
// lane L reads block L / 4, elements 8 (L % 4) .. + 7. 34-byte blocks sit at any even offset: 2-byte loads.
struct DecQ8_0 {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q8_0;
    static constexpr int kBlockElems = kLegacyBlock, kBlockBytes = BlockBytes::q8_0, kGroups = 1;
    static constexpr int kTileBytes = 8 * kBlockBytes, kRowAlign = 2;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint32_t d; uint2 qs; };
    __device__ static int group_elem(int lane, int) { return 8 * lane; }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 2);
        return {ld_u16(b), ld_u32x2_a2(b + 2 + 8 * (lane & 3))};
    }
    __device__ static uint2 level_bytes(const Raw& r, int, int) {
        return make_uint2(r.qs.x ^ 0x80808080u, r.qs.y ^ 0x80808080u);
    }
    __device__ static void levels(const Raw& r, int, int, float* u) {
        bytes_to_floats(r.qs.x ^ 0x80808080u, u);
        bytes_to_floats(r.qs.y ^ 0x80808080u, u + 4);
    }
    __device__ static void scale_min(const Raw& r, int, int, float& scale, float& min) {
        scale = half_bits_to_float(r.d), min = 128.0f * scale;
    }
    __device__ static float exact(float u, float scale, float) { return __fmul_rn(u - 128.0f, scale); }
};

// Legacy 4- and 5-bit blocks, two lanes per block: lane L reads block L / 2 of a 16-block tile and its quant bytes
// qs[8m .. 8m + 7], m = L % 2: group 0 is elements 8m + i (low nibbles), group 1 is 16 + 8m + i (high nibbles). The
// 5-bit types add bit j of qh as bit 4 of element j: qh bytes m and 2 + m.
__device__ __forceinline__ int legacy_group_elem(int lane, int g) { return 32 * (lane >> 1) + 16 * g + 8 * (lane & 1); }

// Group g's levels: the low (g = 0) or high nibbles of the 8 quant bytes.
__device__ __forceinline__ void nibble_levels(uint2 qs, int g, float* u) {
    nibbles_to_floats(qs.x, g != 0, u);
    nibbles_to_floats(qs.y, g != 0, u + 4);
}
__device__ __forceinline__ uint2 nibble_bytes(uint2 qs, int g) {
    return make_uint2((qs.x >> (4 * g)) & 0x0F0F0F0Fu, (qs.y >> (4 * g)) & 0x0F0F0F0Fu);
}

// Levels of the 5-bit types: the nibbles of qs, plus as bit 4 the bits of qh byte m (group 0) or 2 + m (group 1).
__device__ __forceinline__ uint2 legacy_five_bit_bytes(uint2 qs, uint32_t qh, int lane, int g) {
    const uint32_t h = (qh >> (8 * (lane & 1) + 16 * g)) & 0xffu;
    const int shift = 4 * g;
    return make_uint2(((qs.x >> shift) & 0x0F0F0F0Fu) | spread4(h & 15) << 4,
                      ((qs.y >> shift) & 0x0F0F0F0Fu) | spread4(h >> 4) << 4);
}
__device__ __forceinline__ void level_bytes_to_floats(uint2 b, float* u) {
    bytes_to_floats(b.x, u);
    bytes_to_floats(b.y, u + 4);
}

// x = (q - 8) * d.
struct DecQ4_0 {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q4_0;
    static constexpr int kBlockElems = kLegacyBlock, kBlockBytes = BlockBytes::q4_0, kGroups = 2;
    static constexpr int kTileBytes = 16 * kBlockBytes, kRowAlign = 2;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint32_t d; uint2 qs; };
    __device__ static int group_elem(int lane, int g) { return legacy_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 1);
        return {ld_u16(b), ld_u32x2_a2(b + 2 + 8 * (lane & 1))};
    }
    __device__ static uint2 level_bytes(const Raw& r, int, int g) { return nibble_bytes(r.qs, g); }
    __device__ static void levels(const Raw& r, int, int g, float* u) { nibble_levels(r.qs, g, u); }
    __device__ static void scale_min(const Raw& r, int, int, float& scale, float& min) {
        scale = half_bits_to_float(r.d), min = 8.0f * scale;
    }
    __device__ static float exact(float u, float scale, float) { return __fmul_rn(u - 8.0f, scale); }
};

// x = q * d + m. 20-byte blocks: fields 4-byte aligned.
struct DecQ4_1 {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q4_1;
    static constexpr int kBlockElems = kLegacyBlock, kBlockBytes = BlockBytes::q4_1, kGroups = 2;
    static constexpr int kTileBytes = 16 * kBlockBytes, kRowAlign = 4;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint32_t dm; uint2 qs; };
    __device__ static int group_elem(int lane, int g) { return legacy_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 1);
        return {ld_u32(b), ld_u32x2_a4(b + 4 + 8 * (lane & 1))};
    }
    __device__ static uint2 level_bytes(const Raw& r, int, int g) { return nibble_bytes(r.qs, g); }
    __device__ static void levels(const Raw& r, int, int g, float* u) { nibble_levels(r.qs, g, u); }
    __device__ static void scale_min(const Raw& r, int, int, float& scale, float& min) {
        scale = half_bits_to_float(r.dm), min = -half_bits_to_float(r.dm >> 16);
    }
    __device__ static float exact(float u, float scale, float min) { return __fadd_rn(__fmul_rn(u, scale), -min); }
};

// x = (q - 16) * d, q in 0..31.
struct DecQ5_0 {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q5_0;
    static constexpr int kBlockElems = kLegacyBlock, kBlockBytes = BlockBytes::q5_0, kGroups = 2;
    static constexpr int kTileBytes = 16 * kBlockBytes, kRowAlign = 2;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint32_t d, qh; uint2 qs; };
    __device__ static int group_elem(int lane, int g) { return legacy_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 1);
        return {ld_u16(b), ld_u32_a2(b + 2), ld_u32x2_a2(b + 6 + 8 * (lane & 1))};
    }
    __device__ static uint2 level_bytes(const Raw& r, int lane, int g) {
        return legacy_five_bit_bytes(r.qs, r.qh, lane, g);
    }
    __device__ static void levels(const Raw& r, int lane, int g, float* u) {
        level_bytes_to_floats(level_bytes(r, lane, g), u);
    }
    __device__ static void scale_min(const Raw& r, int, int, float& scale, float& min) {
        scale = half_bits_to_float(r.d), min = 16.0f * scale;
    }
    __device__ static float exact(float u, float scale, float) { return __fmul_rn(u - 16.0f, scale); }
};

// x = q * d + m, q in 0..31. 24-byte blocks: qs 8-byte aligned.
struct DecQ5_1 {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q5_1;
    static constexpr int kBlockElems = kLegacyBlock, kBlockBytes = BlockBytes::q5_1, kGroups = 2;
    static constexpr int kTileBytes = 16 * kBlockBytes, kRowAlign = 8;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint32_t dm, qh; uint2 qs; };
    __device__ static int group_elem(int lane, int g) { return legacy_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 1);
        return {ld_u32(b), ld_u32(b + 4), ld_u32x2(b + 8 + 8 * (lane & 1))};
    }
    __device__ static uint2 level_bytes(const Raw& r, int lane, int g) {
        return legacy_five_bit_bytes(r.qs, r.qh, lane, g);
    }
    __device__ static void levels(const Raw& r, int lane, int g, float* u) {
        level_bytes_to_floats(level_bytes(r, lane, g), u);
    }
    __device__ static void scale_min(const Raw& r, int, int, float& scale, float& min) {
        scale = half_bits_to_float(r.dm), min = -half_bits_to_float(r.dm >> 16);
    }
    __device__ static float exact(float u, float scale, float min) { return __fadd_rn(__fmul_rn(u, scale), -min); }
};

// 2-bit K-quant fields (Q2_K, Q3_K, and Q6_K's high bits), four groups per lane: lane L reads super-block L / 8 of a
// 4-super-block tile, half h = (L / 4) % 2, bytes 32h + 8m .. + 7 (m = L % 4) of the 2-bit run, which hold elements
// 128h + 32k + 8m + i at bits 2k (k = 0..3, llama.cpp's qs layout); group k is those 8 elements, in sub-block of 16
// s = 8h + 2k + m / 2.
__device__ __forceinline__ int k2_group_elem(int lane, int g) {
    return kSuperBlock * (lane >> 3) + 128 * ((lane >> 2) & 1) + 32 * g + 8 * (lane & 3);
}

// w = d * (sc & 15) * q - dmin * (sc >> 4), q in 0..3. 84-byte blocks are 4-byte aligned.
struct DecQ2_K {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q2_K;
    static constexpr int kBlockElems = kSuperBlock, kBlockBytes = BlockBytes::q2_k, kGroups = 4;
    static constexpr int kTileBytes = 4 * kBlockBytes, kRowAlign = 4;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint2 qs, sc; uint32_t dm; };
    __device__ static int group_elem(int lane, int g) { return k2_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 3);
        const int h = (lane >> 2) & 1;
        return {ld_u32x2_a4(b + 16 + 32 * h + 8 * (lane & 3)), ld_u32x2_a4(b + 8 * h), ld_u32(b + 80)};
    }
    __device__ static uint2 level_bytes(const Raw& r, int, int k) {
        return make_uint2((r.qs.x >> (2 * k)) & 0x03030303u, (r.qs.y >> (2 * k)) & 0x03030303u);
    }
    __device__ static void levels(const Raw& r, int lane, int k, float* u) {
        level_bytes_to_floats(level_bytes(r, lane, k), u);
    }
    __device__ static void scale_min(const Raw& r, int lane, int k, float& scale, float& min) {
        const uint32_t sc = byte_of(r.sc, 2 * k + ((lane & 3) >> 1));  // scales[s], s = 8h + 2k + m / 2
        scale = __fmul_rn(half_bits_to_float(r.dm), static_cast<float>(sc & 15));
        min = __fmul_rn(half_bits_to_float(r.dm >> 16), static_cast<float>(sc >> 4));
    }
    __device__ static float exact(float u, float scale, float min) { return __fsub_rn(__fmul_rn(scale, u), min); }
};

// w = d * (sc6 - 32) * (q2 + 4 hbit - 4): levels u = q2 | hbit << 2 in 0..7, min = 4 scale. hmask bit e / 32 of byte
// e % 32 is the high bit: for a lane, bytes 8m .. + 7, bit 4h + k. The 6-bit scale of sub-block s: low 4 bits in the
// low (s < 8) or high nibble of scales[s % 8], high 2 bits at bit 2 (s / 4) of scales[8 + s % 4]. 110-byte blocks:
// 2-byte aligned (loads of 8 bytes end at least 2 bytes before the block does).
struct DecQ3_K {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q3_K;
    static constexpr int kBlockElems = kSuperBlock, kBlockBytes = BlockBytes::q3_k, kGroups = 4;
    static constexpr int kTileBytes = 4 * kBlockBytes, kRowAlign = 2;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint2 hm, qs, sc_low; uint32_t sc_high, d; };
    __device__ static int group_elem(int lane, int g) { return k2_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 3);
        const int h = (lane >> 2) & 1, m8 = 8 * (lane & 3);
        return {ld_u32x2_a2_funnel(b + m8), ld_u32x2_a2_funnel(b + 32 + 32 * h + m8), ld_u32x2_a2_funnel(b + 96),
                ld_u32_a2(b + 104), ld_u16(b + 108)};
    }
    __device__ static uint2 level_bytes(const Raw& r, int lane, int k) {
        const int bit = 4 * ((lane >> 2) & 1) + k;
        return make_uint2(((r.qs.x >> (2 * k)) & 0x03030303u) | ((r.hm.x >> bit) & 0x01010101u) << 2,
                          ((r.qs.y >> (2 * k)) & 0x03030303u) | ((r.hm.y >> bit) & 0x01010101u) << 2);
    }
    __device__ static void levels(const Raw& r, int lane, int k, float* u) {
        level_bytes_to_floats(level_bytes(r, lane, k), u);
    }
    __device__ static void scale_min(const Raw& r, int lane, int k, float& scale, float& min) {
        const int h = (lane >> 2) & 1, s = 8 * h + 2 * k + ((lane & 3) >> 1);
        const uint32_t low = (byte_of(r.sc_low, s & 7) >> (4 * h)) & 15;
        const uint32_t high = (r.sc_high >> (8 * (s & 3) + 2 * (s >> 2))) & 3;
        scale = __fmul_rn(half_bits_to_float(r.d), static_cast<float>(static_cast<int>(low | high << 4) - 32));
        min = 4.0f * scale;
    }
    __device__ static float exact(float u, float scale, float) { return __fmul_rn(scale, u - 4.0f); }
};

// Q4_K/Q5_K scale and min of sub-block s (0..7) from the 16-byte header {d, dmin, scales[12]} (llama.cpp
// get_scale_min_k4): head.y, .z, .w are scales[0..3], [4..7], [8..11].
__device__ __forceinline__ void k4_scale_min(const uint4& head, int s, float& scale, float& min) {
    const int j = 8 * (s & 3);
    uint32_t sc, m;
    if (s < 4) {
        sc = (head.y >> j) & 63;
        m = (head.z >> j) & 63;
    } else {
        sc = ((head.w >> j) & 15) | ((head.y >> (j + 6)) & 3) << 4;
        m = ((head.w >> (j + 4)) & 15) | ((head.z >> (j + 6)) & 3) << 4;
    }
    scale = __fmul_rn(half_bits_to_float(head.x), static_cast<float>(sc));
    min = __fmul_rn(half_bits_to_float(head.x >> 16), static_cast<float>(m));
}

// Q4_K/Q5_K nibbles, two groups per lane: lane L reads super-block L / 16 of a 2-super-block tile and bytes 32j + 8m
// .. + 7 of its nibble run (j = (L / 4) % 4, m = L % 4): group 0 is elements 64j + 8m + i (low nibbles, sub-block
// 2j), group 1 is 64j + 32 + 8m + i (high nibbles, sub-block 2j + 1).
__device__ __forceinline__ int k4_group_elem(int lane, int g) {
    return kSuperBlock * (lane >> 4) + 64 * ((lane >> 2) & 3) + 32 * g + 8 * (lane & 3);
}
__device__ __forceinline__ int k4_qs_offset(int lane) { return 32 * ((lane >> 2) & 3) + 8 * (lane & 3); }

// w = d * sc * q - dmin * m, q in 0..15; 144-byte blocks stay 16-byte aligned.
struct DecQ4_K {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q4_K;
    static constexpr int kBlockElems = kSuperBlock, kBlockBytes = BlockBytes::q4_k, kGroups = 2;
    static constexpr int kTileBytes = 2 * kBlockBytes, kRowAlign = 16;
    static constexpr bool kFloat = false, kSharedScales = true;
    struct Raw { uint2 qs; };
    __device__ static int group_elem(int lane, int g) { return k4_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        return {ld_u32x2(tile + kBlockBytes * (lane >> 4) + 16 + k4_qs_offset(lane))};
    }
    __device__ static uint2 level_bytes(const Raw& r, int, int g) { return nibble_bytes(r.qs, g); }
    __device__ static void levels(const Raw& r, int, int g, float* u) { nibble_levels(r.qs, g, u); }
    using Head = uint4;  // d, dmin, scales[12]
    __device__ static Head load_head(const uint8_t* block) { return ld_u32x4(block); }
    __device__ static void head_scale_min(const Head& head, int sub, float& scale, float& min) {
        k4_scale_min(head, sub, scale, min);
    }
    __device__ static int lane_sub(int lane) { return 2 * ((lane >> 2) & 3); }  // group g: sub-block lane_sub + g
    __device__ static float exact(float u, float scale, float min) { return __fsub_rn(__fmul_rn(scale, u), min); }
};

// As Q4_K with a fifth bit: bit e / 32 of qh[e % 32], for a lane bytes 8m .. + 7, bits 2j (group 0), 2j + 1.
// 176-byte blocks stay 16-byte aligned.
struct DecQ5_K {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q5_K;
    static constexpr int kBlockElems = kSuperBlock, kBlockBytes = BlockBytes::q5_k, kGroups = 2;
    static constexpr int kTileBytes = 2 * kBlockBytes, kRowAlign = 16;
    static constexpr bool kFloat = false, kSharedScales = true;
    struct Raw { uint2 qh, qs; };
    __device__ static int group_elem(int lane, int g) { return k4_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 4);
        return {ld_u32x2(b + 16 + 8 * (lane & 3)), ld_u32x2(b + 48 + k4_qs_offset(lane))};
    }
    __device__ static uint2 level_bytes(const Raw& r, int lane, int g) {
        const int bit = 2 * ((lane >> 2) & 3) + g, shift = 4 * g;
        return make_uint2(((r.qs.x >> shift) & 0x0F0F0F0Fu) | ((r.qh.x >> bit) & 0x01010101u) << 4,
                          ((r.qs.y >> shift) & 0x0F0F0F0Fu) | ((r.qh.y >> bit) & 0x01010101u) << 4);
    }
    __device__ static void levels(const Raw& r, int lane, int g, float* u) {
        level_bytes_to_floats(level_bytes(r, lane, g), u);
    }
    using Head = uint4;
    __device__ static Head load_head(const uint8_t* block) { return ld_u32x4(block); }
    __device__ static void head_scale_min(const Head& head, int sub, float& scale, float& min) {
        k4_scale_min(head, sub, scale, min);
    }
    __device__ static int lane_sub(int lane) { return 2 * ((lane >> 2) & 3); }
    __device__ static float exact(float u, float scale, float min) { return __fsub_rn(__fmul_rn(scale, u), min); }
};

// w = d * scales[s] * (q - 32), q 6-bit, four groups per lane as the 2-bit fields: group k's low 4 bits are nibble
// k / 2 of ql[64h + 32 (k % 2) + 8m + i], its high 2 bits are at bit 2k of qh[32h + 8m + i]; sub-block of 16
// s = 8h + 2k + m / 2. 210-byte blocks: 2-byte aligned (loads of 8 bytes end at least 2 bytes before the block does).
struct DecQ6_K {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q6_K;
    static constexpr int kBlockElems = kSuperBlock, kBlockBytes = BlockBytes::q6_k, kGroups = 4;
    static constexpr int kTileBytes = 4 * kBlockBytes, kRowAlign = 2;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint2 ql0, ql1, qh, sc; uint32_t d; };
    __device__ static int group_elem(int lane, int g) { return k2_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 3);
        const int h = (lane >> 2) & 1, m8 = 8 * (lane & 3);
        return {ld_u32x2_a2_funnel(b + 64 * h + m8), ld_u32x2_a2_funnel(b + 64 * h + 32 + m8),
                ld_u32x2_a2_funnel(b + 128 + 32 * h + m8), ld_u32x2_a2_funnel(b + 192 + 8 * h), ld_u16(b + 208)};
    }
    __device__ static uint2 level_bytes(const Raw& r, int, int k) {
        const uint2 ql = (k & 1) ? r.ql1 : r.ql0;
        const int low_shift = 4 * (k >> 1), high_shift = 2 * k;
        return make_uint2(((ql.x >> low_shift) & 0x0F0F0F0Fu) | ((r.qh.x >> high_shift) & 0x03030303u) << 4,
                          ((ql.y >> low_shift) & 0x0F0F0F0Fu) | ((r.qh.y >> high_shift) & 0x03030303u) << 4);
    }
    __device__ static void levels(const Raw& r, int lane, int k, float* u) {
        level_bytes_to_floats(level_bytes(r, lane, k), u);
    }
    __device__ static void scale_min(const Raw& r, int lane, int k, float& scale, float& min) {
        const uint32_t sc = byte_of(r.sc, 2 * k + ((lane & 3) >> 1));  // scales[8h + 2k + m / 2]
        scale = __fmul_rn(half_bits_to_float(r.d), static_cast<float>(static_cast<int>(sc << 24) >> 24));
        min = 32.0f * scale;
    }
    __device__ static float exact(float u, float scale, float) { return __fmul_rn(scale, u - 32.0f); }
};

// The reference values of a lane's 8 kGroups elements of a tile (dequantize, embed): w[8g + i] is element
// group_elem(lane, g) + i.
template <class Dec>
__device__ __forceinline__ void exact_values(const uint8_t* tile, int lane, float* w) {
    constexpr int G = Dec::kGroups;
    const typename Dec::Raw raw = Dec::load(tile, lane);
    if constexpr (Dec::kFloat) {
        Dec::values(raw, w);
    } else {
#pragma unroll
        for (int g = 0; g < G; ++g) {
            float u[8], scale, min;
            Dec::levels(raw, lane, g, u);
            if constexpr (Dec::kSharedScales) {
                const uint8_t* block = tile + Dec::kBlockBytes * (Dec::group_elem(lane, 0) / kSpan);
                Dec::head_scale_min(Dec::load_head(block), Dec::lane_sub(lane) + g, scale, min);
            } else {
                Dec::scale_min(raw, lane, g, scale, min);
            }
#pragma unroll
            for (int i = 0; i < 8; ++i) w[8 * g + i] = Dec::exact(u[i], scale, min);
        }
    }
}

// Calls f(Dec{}) with the decoder of `type`; returns false (and calls nothing) for a type without one.
template <class F>
bool with_decoder(spool::GgmlType type, F&& f) {
    using T = spool::GgmlType;
    switch (type) {
        case T::F32: f(DecF32{}); return true;
        case T::F16: f(DecF16{}); return true;
        case T::BF16: f(DecBF16{}); return true;
        case T::Q4_0: f(DecQ4_0{}); return true;
        case T::Q4_1: f(DecQ4_1{}); return true;
        case T::Q5_0: f(DecQ5_0{}); return true;
        case T::Q5_1: f(DecQ5_1{}); return true;
        case T::Q8_0: f(DecQ8_0{}); return true;
        case T::Q2_K: f(DecQ2_K{}); return true;
        case T::Q3_K: f(DecQ3_K{}); return true;
        case T::Q4_K: f(DecQ4_K{}); return true;
        case T::Q5_K: f(DecQ5_K{}); return true;
        case T::Q6_K: f(DecQ6_K{}); return true;
        default: return false;
    }
}

// ---- Host-side checks shared by the launchers (cheap: a few compares per launch).

enum class RowPath {
    groups,    // whole 8-element groups with the decoder's aligned loads (n_cols % 8 == 0)
    elements,  // float types only: one element at a time, any row length
};

inline const char* weight_type_name(spool::GgmlType type) {
    using T = spool::GgmlType;
    switch (type) {
        case T::F32: return "F32";
        case T::F16: return "F16";
        case T::BF16: return "BF16";
        case T::Q4_0: return "Q4_0";
        case T::Q4_1: return "Q4_1";
        case T::Q5_0: return "Q5_0";
        case T::Q5_1: return "Q5_1";
        case T::Q8_0: return "Q8_0";
        case T::Q2_K: return "Q2_K";
        case T::Q3_K: return "Q3_K";
        case T::Q4_K: return "Q4_K";
        case T::Q5_K: return "Q5_K";
        case T::Q6_K: return "Q6_K";
        default: return "an unsupported type";
    }
}

// Validates a weight view for `op` and picks how its rows are read. Throws UnsupportedError for a type without a
// decoder and UsageError for a malformed view: n_cols not a multiple of the block size, row_bytes too small, or a
// block-quantized matrix whose data is not 16-byte aligned (cudaMalloc gives 256; GGUF offsets are multiples of 32).
inline RowPath weight_row_path(const spool::WeightView& w, const char* op) {
    int block_elems = 0, block_bytes = 0, row_align = 0;
    const bool known = with_decoder(w.type, [&](auto dec) {
        using D = decltype(dec);
        block_elems = D::kBlockElems, block_bytes = D::kBlockBytes, row_align = D::kRowAlign;
    });
    const std::string where = std::string(op) + ": weights of type ";
    if (!known) {
        throw spool::UnsupportedError(std::string(op) + ": weight type id " +
                                      std::to_string(static_cast<uint32_t>(w.type)) +
                                      " has no CUDA kernel; supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, "
                                      "Q2_K, Q3_K, Q4_K, Q5_K, Q6_K");
    }
    const char* name = weight_type_name(w.type);
    if (w.n_cols < 1 || w.n_cols % block_elems != 0) {
        throw spool::UsageError(where + name + " need n_cols a positive multiple of " + std::to_string(block_elems) +
                                "; got " + std::to_string(w.n_cols));
    }
    const int64_t needed = w.n_cols / block_elems * block_bytes;
    if (static_cast<int64_t>(w.row_bytes) < needed) {
        throw spool::UsageError(where + name + " with n_cols " + std::to_string(w.n_cols) + " need row_bytes >= " +
                                std::to_string(needed) + "; got " + std::to_string(w.row_bytes));
    }
    const uintptr_t base = reinterpret_cast<uintptr_t>(w.data);
    if (base % 16 == 0 && w.row_bytes % row_align == 0 && w.n_cols % 8 == 0) return RowPath::groups;
    if (block_elems == 1 && base % block_bytes == 0 && w.row_bytes % block_bytes == 0) return RowPath::elements;
    throw spool::UsageError(where + name + " need 16-byte aligned data and row_bytes a multiple of " +
                            std::to_string(row_align) + "; got data at " + std::to_string(base % 16) +
                            " mod 16 and row_bytes " + std::to_string(w.row_bytes) +
                            ": upload weights to cudaMalloc'd memory at 32-byte aligned offsets");
}

}  // namespace spool::cuda::wq
