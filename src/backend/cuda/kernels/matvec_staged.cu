// The one-token matvecs with int8 activations for the common quantized types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K,
// Q5_K, Q6_K), laid out for DRAM bandwidth rather than for the shared decoder contract of matvec_kernel.cuh.
//
// Why a kernel of its own: on an H100 (ncu, 11008 x 4096, docs/cuda-performance.md) the shared kernel issued 0.36
// warp instructions per weight byte, so it needed the schedulers at full issue rate just to keep up with DRAM, and
// ran at 40% of the bandwidth. Most of those instructions were per lane and 8-weight group: rounding x (every block
// rounded the same x again for its 4 rows), unpacking scales, 64-bit addresses of 8-byte loads. Here each block
// first rounds the whole x once into shared memory (the same formula, quantize_x.cuh, so x~ is bit-identical), or
// reads the x~ that the kernel writing x made (launch.h int8_x_bytes: rms_norm's output), and each lane then owns
// chunks of 32 weights of a row (one 16-byte load of nibbles, or a few aligned words) and the matching 32 bytes of x~:
// about 0.12 instructions per byte.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/matvec_kernel.cuh"
#include "spool/errors.h"

namespace spool::cuda::wq {
namespace {

constexpr int kWarpRows = 2;          // rows per warp (glu: the gate row and the same row of W_up)
constexpr int kMaxStagedWarps = 8;
constexpr int kChunksPerBlock = 8;    // 16-byte chunks of a super-block's 128 nibble bytes
// Chunks per lane and row loaded before any is used, the kernel's U: Q::kUnroll (4; 2 where the raw chunk is large,
// so registers leave room for 2 blocks per SM), or Q::kUnrollManyWaves for grids of more warps than the GPU holds at
// once (measured on an H100 for Q8_0: 4 chunks in flight won at 4096 rows, one wave; 2 chunks, 77 registers instead
// of 117 and 3 blocks per SM instead of 2, won from 5632 rows: 7.57 -> 6.18 us at 5632 x 2048, 21.4 -> 18.9 us at
// 11008 x 4096, 57.9 -> 51.0 us at 32000 x 4096).
// Blocks wanted in the grid: two per SM of an H100 (132), so every SM streams from the first microsecond.
constexpr int64_t kTargetBlocks = 264;

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
    static constexpr int kUnroll = 4, kUnrollManyWaves = 4;
    static constexpr bool kReadsMadeX = true;  // x~ from a.x_int8 where given (XSource::kMade)
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
    static constexpr int kUnroll = 4, kUnrollManyWaves = 4;
    // Reading a made x~ through L1 instead of rounding x into shared memory cost TinyLlama Q6_K decode 14% (1,076 ->
    // 925 tok/s, H100): its large raw chunks leave no registers for x~ loads in flight. It rounds x itself.
    static constexpr bool kReadsMadeX = false;
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


// Q5_K (176-byte blocks, 16-aligned): Q4_K's header and nibbles (at 48) with a fifth bit from qh[32] (at 16): element
// l of sub-block 2j (2j + 1) takes bit 2j (2j + 1) of qh[l % 32]. Chunk c's 16 elements per nibble half sit at
// l = 16 (c % 2) + i, so its qh bytes are one 16-byte run.
struct StagedQ5K {
    static constexpr int kBlockBytes = BlockBytes::q5_k, kHighGroups = 4, kAlign = 16;
    static constexpr int kUnroll = 2, kUnrollManyWaves = 2;
    static constexpr bool kReadsMadeX = true;
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
    static constexpr int kHighGroups = 2, kUnroll = 4, kUnrollManyWaves = 4;
    static constexpr bool kReadsMadeX = true;
    __device__ static int low_group(int c) { return 4 * c; }
};

// Q4_0: d:2 qs:16, w = d * (q - 8).
struct StagedQ4_0 : StagedLegacy {
    static constexpr int kBlockBytes = 8 * BlockBytes::q4_0, kAlign = 4;
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
    static constexpr int kBlockBytes = 8 * BlockBytes::q8_0, kAlign = 4, kUnrollManyWaves = 2;
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


// Where a block reads x~: from shared memory, after rounding all of x into it (kStaged), or from a.x_int8, which the
// kernel that wrote x filled (launch.h int8_x_bytes), through L1 (kMade). Both hold x~ of every 8-element group (uint2
// of signed levels), then its (d, d * sum q) pairs.
enum class XSource { kStaged, kMade };

template <XSource S>
__device__ __forceinline__ uint4 x_load(const uint2* p) {
    if constexpr (S == XSource::kMade) return __ldg(reinterpret_cast<const uint4*>(p));
    return *reinterpret_cast<const uint4*>(p);
}
template <XSource S>
__device__ __forceinline__ float4 x_load(const float2* p) {
    if constexpr (S == XSource::kMade) return __ldg(reinterpret_cast<const float4*>(p));
    return *reinterpret_cast<const float4*>(p);
}

// One block's rows of matrix m in decoder Q's format, x~ from S.
template <class Q, int U, bool kRope, XSource S>
__device__ __forceinline__ void staged_rows(const MatvecArgs& a, const BlockMatrix& m) {
    extern __shared__ uint4 staged[];
    const int64_t n_groups = a.n_cols / 8;
    const uint2* xq = S == XSource::kMade ? static_cast<const uint2*>(a.x_int8) : reinterpret_cast<uint2*>(staged);
    const float2* xs = reinterpret_cast<const float2*>(xq + n_groups);

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    const int64_t n_rows = m.n_rows;
    const bool glu = is_glu(a.epilogue);
    // Output rows of this warp: glu one row (its gate and up rows), otherwise two consecutive rows. Rows past the
    // end read the last row (in bounds) and are never written.
    const int64_t warp_index = m.block * n_warps + warp;
    const int64_t out0 = glu ? warp_index : kWarpRows * warp_index;
    const int64_t last = n_rows - 1;
    const uint8_t* row[kWarpRows];
    row[0] = m.w + (out0 < last ? out0 : last) * m.row_bytes;
    row[1] = glu ? row[0] + a.up_delta : m.w + (out0 + 1 < last ? out0 + 1 : last) * m.row_bytes;

    const int n_chunks = static_cast<int>(a.n_cols / kSuperBlock) * kChunksPerBlock;
    typename Q::Raw raw[U][kWarpRows];
    auto load = [&](int k0) {
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int k = k0 + 32 * u + lane;
            const int64_t block_offset = static_cast<int64_t>(k / kChunksPerBlock) * Q::kBlockBytes;
#pragma unroll
            for (int r = 0; r < kWarpRows; ++r) {
                if (k < n_chunks) raw[u][r] = Q::load(row[r] + block_offset, k % kChunksPerBlock);
            }
        }
    };
    // The weights never change: the first loads go out before waiting for the kernel that writes x.
    load(0);
    // Rope + KV store: lane 0 writes the warp's two rows; its pair's angle is computed while the weights arrive.
    const bool rope_lane = kRope && lane == 0 && !glu;
    const int role = kRope ? a.rk.role[m.index] : kRoleNone;
    double power = 0.0;
    if (rope_lane) power = rope_kv_power(a.rk, role, out0);
    ops::wait_for_producers();
    ops::allow_dependents();
    double2 cos_sin = make_double2(1.0, 0.0);
    if (rope_lane) cos_sin = rope_kv_cos_sin(a.rk, role, out0, power);
    if constexpr (S == XSource::kStaged) {
        uint2* stage_q = reinterpret_cast<uint2*>(staged);
        float2* stage_s = reinterpret_cast<float2*>(stage_q + n_groups);
        for (int64_t g = threadIdx.x; g < n_groups; g += blockDim.x) {
            float4 lo, hi;
            load_x8(a.x + 8 * g, true, lo, hi);
            const QuantizedGroup q = quantize_group(lo, hi);
            stage_q[g] = q.q;
            stage_s[g] = make_float2(q.d, q.dsum);
        }
        __syncthreads();
    }

    float acc[kWarpRows] = {0.0f, 0.0f};
    for (int k0 = 0;;) {
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int k = k0 + 32 * u + lane;
            if (k >= n_chunks) continue;
            const int c = k % kChunksPerBlock;
            const int64_t g0 = static_cast<int64_t>(k / kChunksPerBlock) * 32 + Q::low_group(c);
            const uint4 x_low = x_load<S>(xq + g0), x_high = x_load<S>(xq + g0 + Q::kHighGroups);
            const float4 s_low = x_load<S>(xs + g0), s_high = x_load<S>(xs + g0 + Q::kHighGroups);
            const float sum_low = s_low.y + s_low.w, sum_high = s_high.y + s_high.w;
#pragma unroll
            for (int r = 0; r < kWarpRows; ++r) {
                const uint4 lo = Q::levels(raw[u][r], c, false), hi = Q::levels(raw[u][r], c, true);
                const int d0 = dot4_us(lo.y, x_low.y, dot4_us(lo.x, x_low.x, 0));
                const int d1 = dot4_us(lo.w, x_low.w, dot4_us(lo.z, x_low.z, 0));
                const int d4 = dot4_us(hi.y, x_high.y, dot4_us(hi.x, x_high.x, 0));
                const int d5 = dot4_us(hi.w, x_high.w, dot4_us(hi.z, x_high.z, 0));
                float scale[2], min[2];
                Q::scales(raw[u][r], c, scale, min);
                const float low = fmaf(s_low.z, static_cast<float>(d1), s_low.x * static_cast<float>(d0));
                const float high = fmaf(s_high.z, static_cast<float>(d5), s_high.x * static_cast<float>(d4));
                acc[r] = fmaf(scale[0], low, fmaf(-min[0], sum_low, acc[r]));
                acc[r] = fmaf(scale[1], high, fmaf(-min[1], sum_high, acc[r]));
            }
        }
        k0 += 32 * U;
        if (k0 >= n_chunks) break;
        load(k0);
    }

    const float totals[kWarpRows] = {ops::warp_sum(acc[0]), ops::warp_sum(acc[1])};  // in every lane
    if (glu) {
        const float value = glu_output(a.epilogue, totals[0], totals[1]);
        if (lane == 0 && out0 < n_rows) m.y[out0] = value;
        // The block's 8 warps hold one 8-element group of y (staged_glu_writes_int8): x~ for the next matvec.
        if (a.y_int8 != nullptr) {
            __shared__ float group[kMaxStagedWarps];
            if (lane == 0) group[warp] = value;
            __syncthreads();
            if (threadIdx.x == 0) {
                const QuantizedGroup q = quantize_group(make_float4(group[0], group[1], group[2], group[3]),
                                                        make_float4(group[4], group[5], group[6], group[7]));
                store_quantized_group(a.y_int8, n_rows / 8, m.block, q);
            }
        }
        return;
    }
    if (lane != 0) return;
    if (kRope && role != kRoleNone) {
        // n_rows is whole heads: the warp's two rows are both in the matrix or both past its end.
        if (out0 < n_rows) {
            rope_kv_store(a.rk, role, m.y, out0, with_bias(totals[0], m.bias, out0),
                          with_bias(totals[1], m.bias, out0 + 1), cos_sin);
        }
        return;
    }
#pragma unroll
    for (int r = 0; r < kWarpRows; ++r) {
        if (out0 + r < n_rows) store_output(a.epilogue, m.y + out0 + r, totals[r], m.bias, out0 + r);
    }
}

template <class Q, int U, bool kRope, XSource S>
__global__ void __launch_bounds__(32 * kMaxStagedWarps) matvec_staged_kernel(MatvecArgs a) {
    staged_rows<Q, U, kRope, S>(a, block_matrix(a));
}

// A batch whose segments hold two types (a block's matrix has one, so the branch is uniform per block): Q4_K_M and
// Q5_K_M files store attn_v as Q6_K beside Q4_K / Q5_K q and k, and one launch instead of two saves its fixed cost.
template <class QA, class QB, bool kRope, XSource S>
__global__ void __launch_bounds__(32 * kMaxStagedWarps) matvec_staged_mixed_kernel(MatvecArgs a) {
    const BlockMatrix m = block_matrix(a);
    if (m.alt) {
        staged_rows<QB, QB::kUnroll, kRope, S>(a, m);
    } else {
        staged_rows<QA, QA::kUnroll, kRope, S>(a, m);
    }
}

// Blocks of this kernel that the current GPU holds at once.
int64_t resident_blocks(void (*kernel)(MatvecArgs), int threads, size_t shared_bytes) {
    int device = 0, sms = 0, per_sm = 0;
    SPOOL_CUDA_CHECK(cudaGetDevice(&device));
    SPOOL_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    SPOOL_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, shared_bytes));
    return static_cast<int64_t>(sms) * per_sm;
}

// Sets the grid of a (blocks of `warps` warps, as few as 2 where the launch has few rows) and returns the warps.
int size_staged_grid(MatvecArgs& a) {
    const int64_t rows_per_warp = is_glu(a.epilogue) ? 1 : kWarpRows;
    int warps = kMaxStagedWarps;
    finish_matvec_args(a, rows_per_warp * warps);
    while (warps > 2 && a.n_blocks < kTargetBlocks) {
        warps /= 2;
        finish_matvec_args(a, rows_per_warp * warps);
    }
    return warps;
}

// 16 B per group of x~ where the block stages it, none where it reads a.x_int8.
template <XSource S>
size_t staged_shared_bytes(const MatvecArgs& a) {
    return S == XSource::kStaged ? static_cast<size_t>(a.n_cols) * 2 : 0;
}

template <class Q, XSource S>
void launch_staged(MatvecArgs a, int warps, cudaStream_t stream) {
    const size_t shared_bytes = staged_shared_bytes<S>(a);
    if (a.rope_kv) {  // q/k/v launches: one wave or less in practice, so no many-waves variant
        ops::launch_pdl(matvec_staged_kernel<Q, Q::kUnroll, true, S>, dim3(static_cast<unsigned>(a.n_blocks)),
                        dim3(32 * warps), shared_bytes, stream, a);
        return;
    }
    auto kernel = matvec_staged_kernel<Q, Q::kUnroll, false, S>;
    if constexpr (Q::kUnrollManyWaves != Q::kUnroll) {
        if (a.n_blocks > resident_blocks(kernel, 32 * warps, shared_bytes)) {
            kernel = matvec_staged_kernel<Q, Q::kUnrollManyWaves, false, S>;
        }
    }
    ops::launch_pdl(kernel, dim3(static_cast<unsigned>(a.n_blocks)), dim3(32 * warps), shared_bytes, stream, a);
}

template <class Q>
void launch_staged(const MatvecArgs& args, cudaStream_t stream) {
    MatvecArgs a = args;
    const int warps = size_staged_grid(a);
    if (a.x_int8 != nullptr && Q::kReadsMadeX) {
        launch_staged<Q, XSource::kMade>(a, warps, stream);
    } else {
        launch_staged<Q, XSource::kStaged>(a, warps, stream);
    }
}

template <class QA, class QB, XSource S>
void launch_staged_mixed(const MatvecArgs& a, int warps, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(a.n_blocks)), block(32 * warps);
    if (a.rope_kv) {
        ops::launch_pdl(matvec_staged_mixed_kernel<QA, QB, true, S>, grid, block, staged_shared_bytes<S>(a), stream, a);
    } else {
        ops::launch_pdl(matvec_staged_mixed_kernel<QA, QB, false, S>, grid, block, staged_shared_bytes<S>(a), stream,
                        a);
    }
}

// Whether every matrix of a (of the first type; with alt, the alt segments of QB's) suits decoder Q's loads.
template <class Q, class QB = Q>
bool staged_applies(const MatvecArgs& a) {
    auto aligned = [](int64_t v, int align) { return v % align == 0; };
    if (!aligned(a.row_bytes, Q::kAlign) || !aligned(a.up_delta, Q::kAlign) ||
        !aligned(reinterpret_cast<intptr_t>(a.w), Q::kAlign)) {
        return false;
    }
    for (int i = 0; i < a.n_more; ++i) {
        const int align = a.more[i].alt ? QB::kAlign : Q::kAlign;
        if (!aligned(reinterpret_cast<intptr_t>(a.more[i].w), align) || !aligned(a.more[i].row_bytes, align)) {
            return false;
        }
    }
    return true;
}

// Calls f with the staged decoders of a mixed launch's (first, alt) types; false for a pair without a kernel.
template <class F>
bool with_mixed_decoders(GgmlType type, GgmlType alt, F&& f) {
    if (alt != GgmlType::Q6_K) return false;
    switch (type) {
        case GgmlType::Q4_K: f(StagedQ4K{}, StagedQ6K{}); return true;
        case GgmlType::Q5_K: f(StagedQ5K{}, StagedQ6K{}); return true;
        default: return false;
    }
}

int64_t total_rows(const MatvecArgs& a) {
    int64_t rows = a.n_rows;
    for (int i = 0; i < a.n_more; ++i) rows += a.more[i].n_rows;
    return rows;
}

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

}  // namespace

bool staged_covers(GgmlType type, int64_t n_tokens, int64_t total_rows, int64_t n_cols, bool x_made) {
    if (!matvec_staged_type(type)) return false;
    // Where it pays: with fewer rows, each block's rounding of all of x is a larger share of its work and the grid
    // has fewer warps per row (H100, Q4_K: 2048 x 2048 7% and 2048 x 5632 50% slower than matvec_kernel; 4096 rows
    // and more 18-35% faster).
    return n_tokens == 1 && total_rows >= matvec_staged_min_rows(type, x_made) && n_cols % kSuperBlock == 0 &&
           static_cast<size_t>(n_cols) * 2 <= 48 * 1024;
}

bool staged_mixed_applies(GgmlType type, const MatvecArgs& a, int64_t n_tokens) {
    const int64_t rows = total_rows(a);
    if (!a.has_alt || !a.int8 || is_glu(a.epilogue) || rows * a.n_cols > kMatvecMixedMaxWeights ||
        !staged_covers(type, n_tokens, rows, a.n_cols, a.x_int8 != nullptr) ||
        !staged_covers(a.alt_type, n_tokens, rows, a.n_cols, a.x_int8 != nullptr)) {
        return false;
    }
    bool applies = false;
    with_mixed_decoders(type, a.alt_type, [&](auto first, auto alt) {
        applies = staged_applies<decltype(first), decltype(alt)>(a);
    });
    return applies;
}

bool launch_matvec_staged(GgmlType type, const MatvecArgs& args, int64_t n_tokens, cudaStream_t stream) {
    if (args.has_alt) {
        if (!staged_mixed_applies(type, args, n_tokens)) return false;
        with_mixed_decoders(type, args.alt_type, [&](auto first, auto alt) {
            using QA = decltype(first);
            using QB = decltype(alt);
            MatvecArgs a = args;
            const int warps = size_staged_grid(a);
            if (a.x_int8 != nullptr) {
                launch_staged_mixed<QA, QB, XSource::kMade>(a, warps, stream);
            } else {
                launch_staged_mixed<QA, QB, XSource::kStaged>(a, warps, stream);
            }
        });
        return true;
    }
    if (args.y_int8 != nullptr && !staged_glu_writes_int8(type, args, n_tokens)) {
        throw UsageError("launch_matvec_glu: cannot write y's x~ for this launch (" + std::string(weight_type_name(type)) +
                         ", " + std::to_string(args.n_rows) + " rows); check matvec_glu_writes_int8 first");
    }
    if (!args.int8 || !staged_covers(type, n_tokens, total_rows(args), args.n_cols, args.x_int8 != nullptr)) {
        return false;
    }
    bool launched = false;
    with_staged_decoder(type, [&](auto decoder) {
        using Q = decltype(decoder);
        if (!staged_applies<Q>(args)) return;
        launch_staged<Q>(args, stream);
        launched = true;
    });
    return launched;
}

bool staged_glu_writes_int8(GgmlType type, const MatvecArgs& args, int64_t n_tokens) {
    if (!is_glu(args.epilogue) || args.n_more != 0 || !args.int8 || args.n_rows % 8 != 0 ||
        !staged_covers(type, n_tokens, args.n_rows, args.n_cols, args.x_int8 != nullptr)) {
        return false;
    }
    bool applies = false;
    with_staged_decoder(type, [&](auto decoder) { applies = staged_applies<decltype(decoder)>(args); });
    MatvecArgs a = args;
    return applies && size_staged_grid(a) == kMaxStagedWarps;
}

}  // namespace spool::cuda::wq

namespace spool::cuda {

bool matvec_staged_type(GgmlType type) noexcept {
    return wq::with_staged_decoder(type, [](auto) {});
}

bool matvec_staged_reads_made_x(GgmlType type) noexcept {
    bool reads = false;
    wq::with_staged_decoder(type, [&](auto decoder) { reads = decltype(decoder)::kReadsMadeX; });
    return reads;
}

int64_t matvec_staged_min_rows(GgmlType type, bool x_made) noexcept {
    // With x~ made by the producer (no rounding per block), TinyLlama's 2048-row Q8_0 launches (attn_output,
    // ffn_down) run faster staged: Q8_0 decode 1,047 -> 1,155-1,197 tok/s with v12 as a whole (docs/cuda-performance.md);
    // Q6_K from 2,048 rows lost 1% there.
    if (x_made && type == GgmlType::Q8_0) return 2048;
    // TinyLlama-shaped decode on an H100 (forward-only tg128, A/B in one run through a temporary override; numbers in
    // docs/cuda-performance.md, v8): staging the q/k/v batches (2304-2560 rows) took Q4_K_M from 1,155-1,166 to
    // 1,187-1,189 tok/s and Q6_K from 972-982 to 1,002-1,028; also staging the 2048-row attn_output and ffn_down
    // cost Q4_K_M 4-5% (Q4_K and Q6_K alike) and did not help Q6_K reliably; Q8_0 moved within noise.
    switch (type) {
        case GgmlType::Q4_K:
        case GgmlType::Q6_K: return 2049;
        default: return kMatvecStagedMinRows;
    }
}

}  // namespace spool::cuda
