// The chunk decoders of the staged matvec kernel (matvec_staged.cu), one per weight type it takes: how a lane loads
// 32 weights of a row as a few aligned words and turns them into level bytes for dp4a with one (scale, min) per
// 16 elements. Bit layouts follow the GGUF block formats (quant_blocks.cuh). Each decoder also says how many chunks a
// lane keeps in flight (kUnroll, kUnrollManyWaves: matvec_staged.cu says why) and how many blocks of its kernel must
// fit on an SM at once at kUnroll (kMinBlocksPerSm, the register cap of __launch_bounds__) and in the many-waves form
// (kManyWavesBlocksPerSm: 3, or 4 where that fits 64 registers and paid), and whether one-wave single matrices split
// their row pairs (kSplitOneWave: matvec_staged.cu kSplitOneWaveBelowRows) in a kernel of kUnrollSplit chunks per lane
// compiled for 4 blocks per SM (1 where 2 spilled at 64 registers).
// kAssignPastEnd: a lane whose chunk lies past its row's end gets a zero Raw instead of keeping the previous step's,
// so the raw registers are not live across the kernel's loop. It lowers the registers of most kernels, but it paid
// only for Q4_0 (H100, tg128, two alternating rounds in one call, docs/cuda-performance.md v26): 7B Q4_0 411 / 414 ->
// 421 / 424 tok/s, while 7B Q4_K_M (-1%), 7B Q8_0 (-2%), TinyLlama Q4_K_M (-4%) and Q6_K (-7%) lost.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernels/matvec_kernel.cuh"

namespace spool::cuda::wq {

inline constexpr int kChunksPerBlock = 8;  // 16-byte chunks of a super-block's 128 nibble bytes

// Scale and min of sub-blocks 2j and 2j + 1 of a Q4_K header (llama.cpp get_scale_min_k4) without a branch: for
// j < 2 the 6-bit values are bytes 2j, 2j + 1 of scales[0..3] / [4..7]; for j >= 2 they are split between
// scales[8..11] (low 4 bits) and the top 2 bits of scales[0..3] / [4..7].
__device__ __forceinline__ void q4k_pair_scales(const uint4& head, int j, float (&scale)[2], float (&min)[2]) {
    const uint32_t sc_low = head.y & 0x3F3F3F3Fu, m_low = head.z & 0x3F3F3F3Fu;
    const uint32_t sc_high = (head.w & 0x0F0F0F0Fu) | ((head.y >> 2) & 0x30303030u);
    const uint32_t m_high = ((head.w >> 4) & 0x0F0F0F0Fu) | ((head.z >> 2) & 0x30303030u);
    const uint32_t sc = j < 2 ? sc_low : sc_high, m = j < 2 ? m_low : m_high;
    const float d = half_bits_to_float(head.x), dmin = half_bits_to_float(head.x >> 16);
    const int t = 2 * (j & 1);
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        scale[i] = __fmul_rn(d, static_cast<float>(__byte_perm(sc, 0, 0x4440 | (t + i))));  // byte t + i, zeros above
        min[i] = __fmul_rn(dmin, static_cast<float>(__byte_perm(m, 0, 0x4440 | (t + i))));
    }
}

// A chunk decoder: 8 chunks of 32 weights per super-block; chunk c holds 16 consecutive elements starting at group
// (of 8) low_group(c) and 16 starting at low_group(c) + kHighGroups, as level bytes (levels(raw, c, high): element i
// in byte i % 4 of word i / 4) with one (scale, min) each: w = scale * level - min.
struct StagedQ4K {
    static constexpr int kBlockBytes = BlockBytes::q4_k, kHighGroups = 4, kAlign = 16;
    // Many waves at U = 1 and 4 blocks per SM (62-63 registers), as the split form (kUnrollSplit): at U = 2 and 3
    // blocks per SM (80) the 7B glu ran at 34% occupancy and 1.8 TB/s where grouped Q4_0's ran at 45% and 2.1 TB/s
    // (ncu, same bytes). H100, GPU time per step (docs/cuda-performance.md, v37): 7B Q4_K_M 2,130 -> 2,061 us,
    // TinyLlama Q4_K_M 590 -> 576; at U = 2 and 4 blocks per SM it spilled 52-56 bytes and lost (2,293 us).
    static constexpr int kUnroll = 4, kUnrollManyWaves = 1, kMinBlocksPerSm = 1;
    static constexpr bool kAssignPastEnd = false, kSplitOneWave = true, kReadsDeferredNorm = true;
    static constexpr int kManyWavesBlocksPerSm = 4, kUnrollSplit = 1;
    struct Raw { uint4 q, head; };
    __device__ static Raw load(const uint8_t* block, int c) { return {ld_u32x4(block + 16 + 16 * c), ld_u32x4(block)}; }
    // Chunk c: nibble bytes 16c .. + 15 hold elements 64j + 16h + i (low nibbles, sub-block 2j) and 64j + 32 + 16h + i
    // (high nibbles, sub-block 2j + 1), j = c / 2, h = c % 2.
    __device__ static int low_group(int c) { return 8 * (c >> 1) + 2 * (c & 1); }
    __device__ static uint4 levels(const Raw& r, int, bool high) {
        constexpr uint32_t kLow = 0x0F0F0F0Fu;
        const int s = high ? 4 : 0;
        return make_uint4((r.q.x >> s) & kLow, (r.q.y >> s) & kLow, (r.q.z >> s) & kLow, (r.q.w >> s) & kLow);
    }
    __device__ static void scales(const Raw& r, int c, float (&scale)[2], float (&min)[2]) {
        q4k_pair_scales(r.head, c >> 1, scale, min);
    }
};

// Q6_K (210-byte blocks, 2-byte aligned): ql[128], qh[64], scales[16] (int8), d. Chunk c = 4n + 2p + h: ql bytes
// 64n + 32p + 16h .. + 15 and qh bytes 16h .. + 15 of half n (at 128 + 32n): low nibbles with qh bits 2p, 2p + 1 are
// elements 128n + 32p + 16h + i (scale 8n + 2p + h), high nibbles with bits 2p + 4, 2p + 5 are those + 64 (scale + 4);
// w = d * scale * (level - 32).
struct StagedQ6K {
    static constexpr int kBlockBytes = BlockBytes::q6_k, kHighGroups = 8, kAlign = 2;
    // Two blocks of 8 warps per SM caps it at 128 registers, without spills. Uncapped, reading a made x~ took 151
    // (one block per SM) and cost TinyLlama Q6_K decode 14% (1,076 -> 925 tok/s, H100); capped, Llama-2-7B Q4_K_M
    // (Q6_K ffn_down, attn_v, output) went 379-389 -> 400 tok/s (docs/cuda-performance.md, v13).
    // Many waves at U = 1 and 4 blocks per SM (61-64 registers) rather than U = 2 and 3 (79-80), as for Q4_K: H100,
    // GPU time per step (v37) TinyLlama Q6_K 685-693 -> 656-661 us, 7B Q4_K_M (its output head) -0.3%.
    static constexpr int kUnroll = 4, kUnrollManyWaves = 1, kMinBlocksPerSm = 2;
    // kReadsDeferredNorm false: its launches reading a DeferredNorm run the norm first. At U = 2 (80 registers) the
    // reader spilled 20-28 more bytes; at U = 1 it fits (61-64 registers) but measured level on H100 (7B Q4_K_M's
    // output head, TinyLlama Q6_K: docs/cuda-performance.md, v38 experiments). The mixed q/k/v kernel reads it for
    // its Q6_K segments.
    static constexpr bool kAssignPastEnd = false, kSplitOneWave = false, kReadsDeferredNorm = false;
    static constexpr int kManyWavesBlocksPerSm = 4, kUnrollSplit = kUnrollManyWaves;
    struct Raw { uint4 ql, qh; uint32_t sc_low, sc_high, d; };
    __device__ static Raw load(const uint8_t* block, int c) {
        const int n = c >> 2, p = (c >> 1) & 1, h = c & 1;
        const uint8_t* sc = block + 192 + 8 * n + 2 * p + h;
        return {ld_u32x4_a2_funnel(block + 64 * n + 32 * p + 16 * h), ld_u32x4_a2_funnel(block + 128 + 32 * n + 16 * h),
                ld_u8(sc), ld_u8(sc + 4), ld_u16(block + 208)};
    }
    __device__ static int low_group(int c) { return 16 * (c >> 2) + 4 * ((c >> 1) & 1) + 2 * (c & 1); }
    __device__ static uint4 levels(const Raw& r, int c, bool high) {
        constexpr uint32_t kLow = 0x0F0F0F0Fu, kTwo = 0x03030303u;
        const int s = high ? 4 : 0, b = 2 * ((c >> 1) & 1) + s;
        auto level = [&](uint32_t ql, uint32_t qh) { return ((ql >> s) & kLow) | ((qh >> b) & kTwo) << 4; };
        return make_uint4(level(r.ql.x, r.qh.x), level(r.ql.y, r.qh.y), level(r.ql.z, r.qh.z), level(r.ql.w, r.qh.w));
    }
    __device__ static void scales(const Raw& r, int, float (&scale)[2], float (&min)[2]) {
        const float d = half_bits_to_float(r.d);
        scale[0] = __fmul_rn(d, static_cast<float>(static_cast<int8_t>(r.sc_low)));
        scale[1] = __fmul_rn(d, static_cast<float>(static_cast<int8_t>(r.sc_high)));
        min[0] = 32.0f * scale[0], min[1] = 32.0f * scale[1];
    }
};

// Q6_K in WeightLayout::grouped (weight_layout.cu, q6_k_grouped_block): a chunk's ql and qh are one aligned 16-byte
// load each instead of four or five 4-byte loads and funnel shifts (rows of a multiple of 2,048 columns only).
// Measured on an H100 (docs/cuda-performance.md, v36), graph us per launch: 2,048 x 2,048 4.78 -> 3.74, 32,000 x
// 4,096 45.7 -> 43.2.
struct StagedQ6KGrouped : StagedQ6K {
    static constexpr int kAlign = 16;
    __device__ static Raw load(const uint8_t* block, int c) {
        const int n = c >> 2, p = (c >> 1) & 1, h = c & 1;
        const Q6KGroupedBlock b = q6_k_grouped_block(block);
        const uint8_t* sc = b.scales + 8 * n + 2 * p + h;
        return {ld_u32x4(b.ql + 64 * n + 32 * p + 16 * h), ld_u32x4(b.qh + 32 * n + 16 * h), ld_u8(sc), ld_u8(sc + 4),
                ld_u16(b.d)};
    }
};

// Q5_K (176-byte blocks, 16-aligned): Q4_K's header and nibbles (at 48) with a fifth bit from qh[32] (at 16): element
// l of sub-block 2j (2j + 1) takes bit 2j (2j + 1) of qh[l % 32]. Chunk c's 16 elements per nibble half sit at
// l = 16 (c % 2) + i, so its qh bytes are one 16-byte run.
struct StagedQ5K {
    static constexpr int kBlockBytes = BlockBytes::q5_k, kHighGroups = 4, kAlign = 16;
    static constexpr int kUnroll = 2, kUnrollManyWaves = 2, kMinBlocksPerSm = 1;
    static constexpr bool kAssignPastEnd = false, kSplitOneWave = false, kReadsDeferredNorm = true;
    static constexpr int kManyWavesBlocksPerSm = 3, kUnrollSplit = kUnrollManyWaves;
    struct Raw { uint4 q, qh, head; };
    __device__ static Raw load(const uint8_t* block, int c) {
        return {ld_u32x4(block + 48 + 16 * c), ld_u32x4(block + 16 + 16 * (c & 1)), ld_u32x4(block)};
    }
    __device__ static int low_group(int c) { return StagedQ4K::low_group(c); }
    __device__ static uint4 levels(const Raw& r, int c, bool high) {
        constexpr uint32_t kLow = 0x0F0F0F0Fu, kOne = 0x01010101u;
        const int s = high ? 4 : 0, b = 2 * (c >> 1) + (high ? 1 : 0);
        auto level = [&](uint32_t q, uint32_t qh) { return ((q >> s) & kLow) | ((qh >> b) & kOne) << 4; };
        return make_uint4(level(r.q.x, r.qh.x), level(r.q.y, r.qh.y), level(r.q.z, r.qh.z), level(r.q.w, r.qh.w));
    }
    __device__ static void scales(const Raw& r, int c, float (&scale)[2], float (&min)[2]) {
        q4k_pair_scales(r.head, c >> 1, scale, min);
    }
};

// ---- The legacy types: 32-element blocks, one per chunk; 8 consecutive blocks stand in for a super-block (rows of
// a multiple of 256 columns). Elements 0..15 of a block are the low halves of its 16 quant bytes (groups 4c, 4c + 1),
// 16..31 the high halves. Their 18/22/34-byte blocks are only 2-byte aligned, but a pair of blocks is 4-byte aligned
// from a 4-byte-aligned row: block c is read as whole aligned words from the start of its pair (odd c: from the
// previous block's last 2 bytes; even c: through the next block's first 2) and its fields shifted into place with
// clamped funnel shifts, so no word leaves the pair.

// Block c of a run of kBytes-byte blocks that starts 4-byte aligned, as kWords aligned words from the start of its
// pair: at(i) is block bytes 4i + 2 .. 4i + 5 (the fields after d), head16() bytes 0..1 (d). A shift of 16 bits
// (even c) or a clamped 32 (odd c, whose block starts 2 bytes into the first word) puts them in place.
template <int kWords, int kBytes>
struct PairWords {
    static_assert(kBytes % 4 == 2, "for 2-byte-aligned blocks whose pairs are 4-byte aligned");
    uint32_t w[kWords];
    uint32_t shift;
    __device__ PairWords(const uint8_t* run, int c) {
        const uint8_t* a = run + kBytes * c - 2 * (c & 1);
#pragma unroll
        for (int i = 0; i < kWords; ++i) w[i] = ld_u32(a + 4 * i);
        shift = (c & 1) ? 32u : 16u;
    }
    __device__ uint32_t at(int i) const { return __funnelshift_rc(w[i], w[i + 1], shift); }
    __device__ uint32_t head16() const { return __funnelshift_rc(w[0], w[1], shift - 16u) & 0xffffu; }
};

// Levels of a legacy chunk: the low or high nibbles of the 16 quant bytes, plus, for the 5-bit types, bit
// (16 * high + i) of qh as bit 4 of element i.
__device__ __forceinline__ uint4 legacy_nibbles(const uint4& q, bool high) {
    constexpr uint32_t kLow = 0x0F0F0F0Fu;
    const int s = high ? 4 : 0;
    return make_uint4((q.x >> s) & kLow, (q.y >> s) & kLow, (q.z >> s) & kLow, (q.w >> s) & kLow);
}
__device__ __forceinline__ uint4 legacy_five_bit(const uint4& q, uint32_t qh, bool high) {
    const uint4 n = legacy_nibbles(q, high);
    const uint32_t h = high ? qh >> 16 : qh;
    return make_uint4(n.x | spread4(h & 15) << 4, n.y | spread4((h >> 4) & 15) << 4, n.z | spread4((h >> 8) & 15) << 4,
                      n.w | spread4((h >> 12) & 15) << 4);
}

__device__ __forceinline__ void same_scales(float d, float m, float (&scale)[2], float (&min)[2]) {
    scale[0] = scale[1] = d;
    min[0] = min[1] = m;
}

struct StagedLegacy {
    static constexpr int kHighGroups = 2, kUnroll = 4, kUnrollManyWaves = 2, kMinBlocksPerSm = 1;
    static constexpr bool kAssignPastEnd = false, kSplitOneWave = false, kReadsDeferredNorm = true;
    static constexpr int kManyWavesBlocksPerSm = 3, kUnrollSplit = kUnrollManyWaves;
    __device__ static int low_group(int c) { return 4 * c; }
};

// Q4_0: d:2 qs:16, w = d * (q - 8).
struct StagedQ4_0 : StagedLegacy {
    static constexpr int kBlockBytes = 8 * BlockBytes::q4_0, kAlign = 4;
    static constexpr bool kAssignPastEnd = true, kSplitOneWave = true;
    struct Raw { uint4 q; uint32_t d; };
    __device__ static Raw load(const uint8_t* run, int c) {
        const PairWords<5, BlockBytes::q4_0> p(run, c);
        return {make_uint4(p.at(0), p.at(1), p.at(2), p.at(3)), p.head16()};
    }
    __device__ static uint4 levels(const Raw& r, int, bool high) { return legacy_nibbles(r.q, high); }
    __device__ static void scales(const Raw& r, int, float (&scale)[2], float (&min)[2]) {
        const float d = half_bits_to_float(r.d);
        same_scales(d, 8.0f * d, scale, min);
    }
};

// Q4_0 in WeightLayout::grouped (weight_layout.cu): a run of 8 blocks is their 8 x 16 quant bytes, then their 8 d, so
// a chunk is one aligned 16-byte load and a 2-byte one. Measured on an H100 (docs/cuda-performance.md, v33): Llama-2-7B
// Q4_0 decode 2,101-2,134 -> 1,888-1,909 us of GPU time per token (kernel table, 11,008 x 4,096: 15.15 -> 11.92 us).
// Its many-waves form (68 registers at 3 blocks per SM) fits 64 without spills, and 4 blocks per SM paid: 1,911-1,915 ->
// 1,893-1,895 us (against U = 3 at 3 blocks 1,989 us, U = 4 throughout 2,033-2,037); its one-wave split at U = 1
// rather than 2: 1,894-1,903 -> 1,885-1,886 us.
struct StagedQ4_0Grouped : StagedQ4_0 {
    static constexpr int kAlign = 16, kManyWavesBlocksPerSm = 4, kUnrollSplit = 1;
    __device__ static Raw load(const uint8_t* run, int c) {
        return {ld_u32x4(run + 16 * c), ld_u16(run + 128 + 2 * c)};
    }
};

// Q4_1: d:2 m:2 qs:16 (4-aligned), w = d * q + m.
struct StagedQ4_1 : StagedLegacy {
    static constexpr int kBlockBytes = 8 * BlockBytes::q4_1, kAlign = 4;
    struct Raw { uint4 q; uint32_t dm; };
    __device__ static Raw load(const uint8_t* run, int c) {
        const uint8_t* b = run + BlockBytes::q4_1 * c;
        return {make_uint4(ld_u32(b + 4), ld_u32(b + 8), ld_u32(b + 12), ld_u32(b + 16)), ld_u32(b)};
    }
    __device__ static uint4 levels(const Raw& r, int, bool high) { return legacy_nibbles(r.q, high); }
    __device__ static void scales(const Raw& r, int, float (&scale)[2], float (&min)[2]) {
        same_scales(half_bits_to_float(r.dm), -half_bits_to_float(r.dm >> 16), scale, min);
    }
};

// Q5_0: d:2 qh:4 qs:16, w = d * (q - 16).
struct StagedQ5_0 : StagedLegacy {
    static constexpr int kBlockBytes = 8 * BlockBytes::q5_0, kAlign = 4;
    struct Raw { uint4 q; uint32_t qh, d; };
    __device__ static Raw load(const uint8_t* run, int c) {
        const PairWords<6, BlockBytes::q5_0> p(run, c);
        return {make_uint4(p.at(1), p.at(2), p.at(3), p.at(4)), p.at(0), p.head16()};
    }
    __device__ static uint4 levels(const Raw& r, int, bool high) { return legacy_five_bit(r.q, r.qh, high); }
    __device__ static void scales(const Raw& r, int, float (&scale)[2], float (&min)[2]) {
        const float d = half_bits_to_float(r.d);
        same_scales(d, 16.0f * d, scale, min);
    }
};

// Q5_1: d:2 m:2 qh:4 qs:16 (8-aligned), w = d * q + m.
struct StagedQ5_1 : StagedLegacy {
    static constexpr int kBlockBytes = 8 * BlockBytes::q5_1, kAlign = 8;
    struct Raw { uint4 q; uint32_t qh, dm; };
    __device__ static Raw load(const uint8_t* run, int c) {
        const uint8_t* b = run + BlockBytes::q5_1 * c;
        const uint2 head = ld_u32x2(b), q0 = ld_u32x2(b + 8), q1 = ld_u32x2(b + 16);
        return {make_uint4(q0.x, q0.y, q1.x, q1.y), head.y, head.x};
    }
    __device__ static uint4 levels(const Raw& r, int, bool high) { return legacy_five_bit(r.q, r.qh, high); }
    __device__ static void scales(const Raw& r, int, float (&scale)[2], float (&min)[2]) {
        same_scales(half_bits_to_float(r.dm), -half_bits_to_float(r.dm >> 16), scale, min);
    }
};

// Q8_0: d:2 qs:32 (signed), w = d * q = d * (u - 128) with u = q ^ 0x80, so the levels stay unsigned as for dp4a.u32.
struct StagedQ8_0 : StagedLegacy {
    static constexpr int kBlockBytes = 8 * BlockBytes::q8_0, kAlign = 4;
    struct Raw { uint4 lo, hi; uint32_t d; };
    __device__ static Raw load(const uint8_t* run, int c) {
        const PairWords<9, BlockBytes::q8_0> p(run, c);
        return {make_uint4(p.at(0), p.at(1), p.at(2), p.at(3)), make_uint4(p.at(4), p.at(5), p.at(6), p.at(7)),
                p.head16()};
    }
    __device__ static uint4 levels(const Raw& r, int, bool high) {
        constexpr uint32_t kFlip = 0x80808080u;
        const uint4& q = high ? r.hi : r.lo;
        return make_uint4(q.x ^ kFlip, q.y ^ kFlip, q.z ^ kFlip, q.w ^ kFlip);
    }
    __device__ static void scales(const Raw& r, int, float (&scale)[2], float (&min)[2]) {
        const float d = half_bits_to_float(r.d);
        same_scales(d, 128.0f * d, scale, min);
    }
};

// Calls f with the staged decoder of `type`; false (f not called) for a type without one.
template <class F>
bool with_staged_decoder(GgmlType type, F&& f) {
    switch (type) {
        case GgmlType::Q4_0: f(StagedQ4_0{}); return true;
        case GgmlType::Q4_1: f(StagedQ4_1{}); return true;
        case GgmlType::Q5_0: f(StagedQ5_0{}); return true;
        case GgmlType::Q5_1: f(StagedQ5_1{}); return true;
        case GgmlType::Q8_0: f(StagedQ8_0{}); return true;
        case GgmlType::Q4_K: f(StagedQ4K{}); return true;
        case GgmlType::Q5_K: f(StagedQ5K{}); return true;
        case GgmlType::Q6_K: f(StagedQ6K{}); return true;
        default: return false;
    }
}

// with_staged_decoder for weights in WeightLayout::grouped when `grouped` (Q4_0, Q6_K).
template <class F>
bool with_staged_decoder(GgmlType type, bool grouped, F&& f) {
    if (!grouped) return with_staged_decoder(type, static_cast<F&&>(f));
    switch (type) {
        case GgmlType::Q4_0: f(StagedQ4_0Grouped{}); return true;
        case GgmlType::Q6_K: f(StagedQ6KGrouped{}); return true;
        default: return false;
    }
}

// Calls f with the staged decoders of a mixed launch's (first, alt) types, the alt segments grouped when
// alt_grouped; false for a pair without a kernel.
template <class F>
bool with_mixed_decoders(GgmlType type, GgmlType alt, bool alt_grouped, F&& f) {
    if (alt != GgmlType::Q6_K) return false;
    auto with_first = [&](auto alt_decoder) {
        switch (type) {
            case GgmlType::Q4_K: f(StagedQ4K{}, alt_decoder); return true;
            case GgmlType::Q5_K: f(StagedQ5K{}, alt_decoder); return true;
            default: return false;
        }
    };
    return alt_grouped ? with_first(StagedQ6KGrouped{}) : with_first(StagedQ6K{});
}

}  // namespace spool::cuda::wq
