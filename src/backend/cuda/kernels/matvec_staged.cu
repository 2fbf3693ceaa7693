// The one-token Q4_K and Q6_K matvecs with int8 activations, laid out for DRAM bandwidth rather than for the shared
// decoder contract of matvec_kernel.cuh.
//
// Why a kernel of its own: on an H100 (ncu, 11008 x 4096, docs/cuda-performance.md) the shared kernel issued 0.36
// warp instructions per weight byte, so it needed the schedulers at full issue rate just to keep up with DRAM, and
// ran at 40% of the bandwidth. Most of those instructions were per lane and 8-weight group: rounding x (every block
// rounded the same x again for its 4 rows), unpacking scales, 64-bit addresses of 8-byte loads. Here each block
// first rounds the whole x once into shared memory (the same formula, launch.h, so x~ is bit-identical), and each
// lane then owns 16-byte chunks of a row's nibbles (32 weights, one load) and the matching 32 bytes of x~: about 0.12
// instructions per byte.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/matvec_kernel.cuh"

namespace spool::cuda::wq {
namespace {

constexpr int kWarpRows = 2;          // rows per warp (glu: the gate row and the same row of W_up)
constexpr int kMaxStagedWarps = 8;
constexpr int kChunksPerBlock = 8;    // 16-byte chunks of a super-block's 128 nibble bytes
constexpr int kUnroll = 4;            // chunks per lane and row loaded before any is used
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


// Shared memory: x~ of every 8-element group (uint2 of signed levels), then its (d, d * sum q) pairs.
template <class Q>
__global__ void __launch_bounds__(32 * kMaxStagedWarps) matvec_staged_kernel(MatvecArgs a) {
    extern __shared__ uint4 staged[];
    const int64_t n_groups = a.n_cols / 8;
    uint2* xq = reinterpret_cast<uint2*>(staged);
    float2* xs = reinterpret_cast<float2*>(xq + n_groups);

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    const BlockMatrix m = block_matrix(a);
    const int64_t n_rows = m.n_rows;
    const bool glu = is_glu(a.epilogue);
    // Output rows of this warp: glu one row (its gate and up rows), otherwise two consecutive rows. Rows past the
    // end read the last row (in bounds) and are never written.
    const int64_t warp_index = m.block * n_warps + warp;
    const int64_t out0 = glu ? warp_index : kWarpRows * warp_index;
    const int64_t last = n_rows - 1;
    const uint8_t* row[kWarpRows];
    row[0] = m.w + (out0 < last ? out0 : last) * a.row_bytes;
    row[1] = glu ? row[0] + a.up_delta : m.w + (out0 + 1 < last ? out0 + 1 : last) * a.row_bytes;

    const int n_chunks = static_cast<int>(a.n_cols / kSuperBlock) * kChunksPerBlock;
    typename Q::Raw raw[kUnroll][kWarpRows];
    auto load = [&](int k0) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
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
    ops::wait_for_producers();
    ops::allow_dependents();
    for (int64_t g = threadIdx.x; g < n_groups; g += blockDim.x) {
        float4 lo, hi;
        load_x8(a.x + 8 * g, true, lo, hi);
        const QuantizedGroup q = quantize_group(lo, hi);
        xq[g] = q.q;
        xs[g] = make_float2(q.d, q.dsum);
    }
    __syncthreads();

    float acc[kWarpRows] = {0.0f, 0.0f};
    for (int k0 = 0;;) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int k = k0 + 32 * u + lane;
            if (k >= n_chunks) continue;
            const int c = k % kChunksPerBlock;
            const int64_t g0 = static_cast<int64_t>(k / kChunksPerBlock) * 32 + Q::low_group(c);
            const uint4 x_low = *reinterpret_cast<const uint4*>(xq + g0);
            const uint4 x_high = *reinterpret_cast<const uint4*>(xq + g0 + Q::kHighGroups);
            const float4 s_low = *reinterpret_cast<const float4*>(xs + g0);
            const float4 s_high = *reinterpret_cast<const float4*>(xs + g0 + Q::kHighGroups);
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
        k0 += 32 * kUnroll;
        if (k0 >= n_chunks) break;
        load(k0);
    }

    const float totals[kWarpRows] = {ops::warp_sum(acc[0]), ops::warp_sum(acc[1])};
    if (lane != 0) return;
    if (glu) {
        if (out0 < n_rows) m.y[out0] = glu_output(a.epilogue, totals[0], totals[1]);
        return;
    }
#pragma unroll
    for (int r = 0; r < kWarpRows; ++r) {
        if (out0 + r < n_rows) store_output(a.epilogue, m.y + out0 + r, totals[r], m.bias, out0 + r);
    }
}

template <class Q>
void launch_staged(const MatvecArgs& args, cudaStream_t stream) {
    MatvecArgs a = args;
    const int64_t rows_per_warp = is_glu(a.epilogue) ? 1 : kWarpRows;
    int warps = kMaxStagedWarps;
    finish_matvec_args(a, rows_per_warp * warps);
    while (warps > 2 && a.n_blocks < kTargetBlocks) {
        warps /= 2;
        finish_matvec_args(a, rows_per_warp * warps);
    }
    const size_t shared_bytes = static_cast<size_t>(a.n_cols) * 2;  // 8 + 8 bytes per 8-element group
    ops::launch_pdl(matvec_staged_kernel<Q>, dim3(static_cast<unsigned>(a.n_blocks)), dim3(32 * warps), shared_bytes,
                    stream, a);
}

template <class Q>
bool staged_applies(const MatvecArgs& a) {
    auto aligned = [](int64_t v) { return v % Q::kAlign == 0; };
    if (!aligned(a.row_bytes) || !aligned(a.up_delta) || !aligned(reinterpret_cast<intptr_t>(a.w))) return false;
    for (int i = 0; i < a.n_more; ++i) {
        if (!aligned(reinterpret_cast<intptr_t>(a.more[i].w))) return false;
    }
    return true;
}

}  // namespace

bool launch_matvec_staged(GgmlType type, const MatvecArgs& args, int64_t n_tokens, cudaStream_t stream) {
    if ((type != GgmlType::Q4_K && type != GgmlType::Q6_K) || n_tokens != 1 || !args.int8) return false;
    // Where it pays: with fewer rows, each block's rounding of all of x is a larger share of its work and the grid
    // has fewer warps per row (H100: 2048 x 2048 7% and 2048 x 5632 50% slower than matvec_kernel; 4096 rows and
    // more 18-35% faster).
    int64_t total_rows = args.n_rows;
    for (int i = 0; i < args.n_more; ++i) total_rows += args.more[i].n_rows;
    if (total_rows < kMatvecStagedMinRows) return false;
    if (static_cast<size_t>(args.n_cols) * 2 > 48 * 1024 || args.n_cols % kSuperBlock != 0) return false;
    if (type == GgmlType::Q4_K) {
        if (!staged_applies<StagedQ4K>(args)) return false;
        launch_staged<StagedQ4K>(args, stream);
    } else {
        if (!staged_applies<StagedQ6K>(args)) return false;
        launch_staged<StagedQ6K>(args, stream);
    }
    return true;
}

}  // namespace spool::cuda::wq
