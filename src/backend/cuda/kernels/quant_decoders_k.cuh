// Device decoders of the K-quant types (Q2_K ... Q6_K): the decoder contract is in quant_blocks.cuh; formulas
// from quant/kquants_dequantize.cpp (llama.cpp dequantize_row_q*_K).
#pragma once

#include "backend/cuda/kernels/quant_loads.cuh"

namespace spool::cuda::wq {

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

// Where the fields of a Q6_K block lie in WeightLayout::grouped (written by weight_layout.cu's regrouping kernel): a
// run of 8 blocks holds their ql (128 bytes each) at 0, then qh (64), scales (16) and d (2) at the offsets below.
// Runs start 16-byte aligned and block k sits 210 k bytes into its run, at 2 k mod 16, so the address of the block's
// place in the GGUF layout gives k and the run.
inline constexpr int kQ6KGroupedQh = 8 * 128, kQ6KGroupedScales = kQ6KGroupedQh + 8 * 64,
                     kQ6KGroupedD = kQ6KGroupedScales + 8 * 16;
struct Q6KGroupedBlock {
    const uint8_t* ql;      // 128 bytes, 16-byte aligned
    const uint8_t* qh;      // 64 bytes, 16-byte aligned
    const uint8_t* scales;  // 16 bytes, 16-byte aligned
    const uint8_t* d;       // 2 bytes
};
__device__ __forceinline__ Q6KGroupedBlock q6_k_grouped_block(const uint8_t* block) {
    const int k = static_cast<int>((reinterpret_cast<uintptr_t>(block) & 15) >> 1);
    const uint8_t* run = block - BlockBytes::q6_k * k;
    return {run + 128 * k, run + kQ6KGroupedQh + 64 * k, run + kQ6KGroupedScales + 16 * k, run + kQ6KGroupedD + 2 * k};
}

// Q6_K in WeightLayout::grouped: the same lanes, groups and values as DecQ6_K, every field one aligned load.
struct DecQ6_KGrouped : DecQ6_K {
    static constexpr int kRowAlign = 16;
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const Q6KGroupedBlock b = q6_k_grouped_block(tile + kBlockBytes * (lane >> 3));
        const int h = (lane >> 2) & 1, m8 = 8 * (lane & 3);
        return {ld_u32x2(b.ql + 64 * h + m8), ld_u32x2(b.ql + 64 * h + 32 + m8), ld_u32x2(b.qh + 32 * h + m8),
                ld_u32x2(b.scales + 8 * h), ld_u16(b.d)};
    }
};

}  // namespace spool::cuda::wq
