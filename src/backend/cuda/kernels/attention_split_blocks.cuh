// The start and the end of a split-path block's rows, shared by the float32 forms (attention_split.cu) and the integer
// wide forms (attention_split_wide.cuh): the first step's loads around the PDL wait, and the merge of the block's
// row groups into one partial per head.
#pragma once

#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/ops_common.cuh"

namespace spool::cuda::attn {

// The first step's rows of a block whose kernel runs ahead of its producers (one token: PDL's early start): the older
// rows now, then ops::wait_for_producers(), then the token's own row (`own`, >= n_rows when it is in a later part).
// Rows ending less than a line (128 bytes) before the token's row come through L2 only, so that no line holding part
// of it enters L1 before the wait (the loop reads it through L1 when it falls in a later step).
// K rows are k_row_bytes apart, V rows v_row_bytes.
template <int ROW_GROUPS, class KRaw, class VRaw, int UNROLL>
__device__ __forceinline__ void load_first_step(KRaw (&k_raw)[UNROLL], VRaw (&v_raw)[UNROLL], const uint8_t* k_rows,
                                                const uint8_t* v_rows, int64_t k_row_bytes, int64_t v_row_bytes,
                                                int64_t col, int group_id, int n_rows, bool lane_has_dims, int own) {
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
        const int r = group_id + u * ROW_GROUPS;
        if (r < n_rows && r != own && lane_has_dims) {
            k_raw[u].load(k_rows + r * k_row_bytes, col, near_own_row(r, own, k_row_bytes));
            v_raw[u].load(v_rows + r * v_row_bytes, col, near_own_row(r, own, v_row_bytes));
        }
    }
    ops::wait_for_producers();
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
        if (group_id + u * ROW_GROUPS == own && lane_has_dims) {
            k_raw[u].load(k_rows + own * k_row_bytes, col);
            v_raw[u].load(v_rows + own * v_row_bytes, col);
        }
    }
}

// The end of a block's rows: each lane holds (max, sum, EPL accumulators) per head for its row group; the row groups
// of a warp (lanes LANES apart hold the same dims) merge by shuffles, then the warps through shared memory, and the
// block writes one partial per head.
template <int HEADS, int EPL, int LANES, int D_MAX>
__device__ __forceinline__ void finish_block(float (&m)[HEADS], float (&l)[HEADS], float (&acc)[HEADS][EPL],
                                             const SplitArgs& args, int t, int head0, int n_heads, int e0,
                                             float* __restrict__ partial_acc, float2* __restrict__ partial_max_sum) {
    __shared__ float acc_s[kSplitWarps][HEADS][D_MAX];
    __shared__ float max_s[kSplitWarps][HEADS], sum_s[kSplitWarps][HEADS];
    const Shape& s = args.shape;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int offset = LANES; offset < 32; offset <<= 1) {
#pragma unroll
        for (int h = 0; h < HEADS; ++h) {
            const float m_other = __shfl_xor_sync(0xffffffffu, m[h], offset);
            const float l_other = __shfl_xor_sync(0xffffffffu, l[h], offset);
            const float m_new = fmaxf(m[h], m_other);
            const float a = rescale(m[h], m_new), b = rescale(m_other, m_new);
            l[h] = l[h] * a + l_other * b;
#pragma unroll
            for (int e = 0; e < EPL; ++e)
                acc[h][e] = acc[h][e] * a + __shfl_xor_sync(0xffffffffu, acc[h][e], offset) * b;
            m[h] = m_new;
        }
    }
    if (lane < LANES) {
#pragma unroll
        for (int h = 0; h < HEADS; ++h) {
            if (e0 < s.head_dim) {
#pragma unroll
                for (int e = 0; e < EPL; ++e) acc_s[warp][h][e0 + e] = acc[h][e];
            }
            if (lane == 0) {
                max_s[warp][h] = m[h];
                sum_s[warp][h] = l[h];
            }
        }
    }
    __syncthreads();
    const int64_t part0 = (static_cast<int64_t>(t) * s.n_head + head0) * args.parts.grid + blockIdx.x;
    write_block_partials(acc_s, max_s, sum_s, n_heads, s.head_dim, part0, args.parts.grid, partial_acc,
                         partial_max_sum);
}

}  // namespace spool::cuda::attn
