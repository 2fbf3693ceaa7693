// The split path's wide form for a Q8_0 cache with one query head per KV head (Plan::wide_rows): integer scores by
// dp4a against q rounded to int8, and V weighted in float32. Included by attention_split.cu, whose kernel picks it for
// blocks of kWideMinRows rows or more.
#pragma once

#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/attention_split_blocks.cuh"
#include "backend/cuda/kernels/ops_common.cuh"
#include "backend/cuda/kernels/quantize_x.cuh"

namespace spool::cuda::attn {

// A row group lets its running max lag behind its scores by up to this much (natural log): the probabilities are then
// at most e^8 and the accumulators at most e^8 times larger than with the exact max, far inside float32, and a row
// rescales only when some row group of the warp passes it (after the first rows, rarely). The result is the same
// softmax: every partial carries the max its sums were taken against.
inline constexpr float kLazyMaxMargin = 8.0f;

// The wide form for a Q8_0 cache with one query head per KV head (Plan::wide_rows, MHA shapes such as Llama-2-7B),
// for blocks of kWideMinRows rows or more: a row is read by D_MAX / 16 lanes, 16 quants (half a Q8_0 block) each, one
// row per row group and step. Scores are integer: q (times the scale) is rounded to int8 once per block, per 8-element
// group by the matvecs' formula (quantize_x.cuh), and meets the K quants in dp4a, so K is never converted; llama.cpp
// likewise rounds q to int8 (q8_1) for a quantized K cache. V is converted exactly (q8_biased_byte_to_float) and
// weighted by p times the row's scale. ncu, 7B at 4,096 rows (H100): the float32 form (v41) issued 12.0 M warp
// instructions with the schedulers busy 64% of cycles, this one 8.1 M at 51%, now mostly waiting on its loads.
template <int D_MAX>
__device__ __forceinline__ void split_rows_q8_wide(const float* __restrict__ q, const uint8_t* __restrict__ k_cache,
                                                   const uint8_t* __restrict__ v_cache, const SplitArgs& args,
                                                   float* __restrict__ partial_acc,
                                                   float2* __restrict__ partial_max_sum, int t, int64_t last,
                                                   int64_t row_lo, int n_rows, bool early) {
    constexpr int kLanes = D_MAX / 16;
    constexpr int kRowsPerWarp = 32 / kLanes;
    constexpr int kRowGroups = kSplitWarps * kRowsPerWarp;
    const Shape& s = args.shape;
    const int kv_head = blockIdx.y, head = kv_head;  // one query head per KV head (Plan::wide_rows), one per block
    const int D = s.head_dim;

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int sub = lane / kLanes, li = lane - sub * kLanes;
    const int group_id = warp * kRowsPerWarp + sub;  // rows group_id, group_id + kRowGroups, ...
    const int e0 = li * 16;                          // head_dim is a multiple of 16 (Plan::wide_rows)
    const bool lane_has_dims = e0 < D;
    const int64_t col = static_cast<int64_t>(kv_head) * D + e0;
    const size_t row_bytes = s.row_bytes;
    const uint8_t* k_rows = k_cache + row_lo * static_cast<int64_t>(row_bytes);
    const uint8_t* v_rows = v_cache + row_lo * static_cast<int64_t>(row_bytes);

    // The row group's next row. One row ahead per row group: two (80 registers) measured slower, 22.0 against 20.4 us
    // per layer at 4,096 rows, as did 64 registers for 8 blocks per SM (24.0; 20.2 with twice the parts).
    RawQ8x16 k_raw[1], v_raw[1];
    if (early) {
        load_first_step<kRowGroups>(k_raw, v_raw, k_rows, v_rows, row_bytes, col, group_id, n_rows, lane_has_dims,
                                    static_cast<int>(last - row_lo));
    } else if (group_id < n_rows && lane_has_dims) {
        k_raw[0].load(k_rows + group_id * static_cast<int64_t>(row_bytes), col);
        v_raw[0].load(v_rows + group_id * static_cast<int64_t>(row_bytes), col);
    }
    ops::allow_dependents();  // as split_rows

    wq::QuantizedGroup q_lo{}, q_hi{};
    if (lane_has_dims) {
        const float* qh = q + (static_cast<int64_t>(t) * s.n_head + head) * D + e0;
        float x[16];
#pragma unroll
        for (int e = 0; e < 16; ++e) x[e] = qh[e] * s.scale;
        q_lo = wq::quantize_group(make_float4(x[0], x[1], x[2], x[3]), make_float4(x[4], x[5], x[6], x[7]));
        q_hi = wq::quantize_group(make_float4(x[8], x[9], x[10], x[11]), make_float4(x[12], x[13], x[14], x[15]));
    }

    float m[1] = {-INFINITY}, l[1] = {0.0f}, acc[1][16] = {};
    for (int step = 0; step * kRowGroups < n_rows; ++step) {  // block-uniform bound: shuffles run converged
        const int r = group_id + step * kRowGroups;
        const bool valid = r < n_rows && lane_has_dims;
        const RawQ8x16 k_row = k_raw[0], v_row = v_raw[0];
        if (r + kRowGroups < n_rows && lane_has_dims) {
            k_raw[0].load(k_rows + (r + kRowGroups) * static_cast<int64_t>(row_bytes), col);
            v_raw[0].load(v_rows + (r + kRowGroups) * static_cast<int64_t>(row_bytes), col);
        }
        float dot = 0.0f;
        if (valid) {
            // dp4a from the rounding magic's bits: the float reading is magic + the integer sum, exactly.
            const int lo = __dp4a(static_cast<int>(k_row.quants(1)), static_cast<int>(q_lo.q.y),
                                  __dp4a(static_cast<int>(k_row.quants(0)), static_cast<int>(q_lo.q.x),
                                         wq::kRoundMagicBits));
            const int hi = __dp4a(static_cast<int>(k_row.quants(3)), static_cast<int>(q_hi.q.y),
                                  __dp4a(static_cast<int>(k_row.quants(2)), static_cast<int>(q_hi.q.x),
                                         wq::kRoundMagicBits));
            dot = k_row.scale() * fmaf(__int_as_float(lo) - wq::kRoundMagic, q_lo.d,
                                       (__int_as_float(hi) - wq::kRoundMagic) * q_hi.d);
        }
#pragma unroll
        for (int offset = kLanes / 2; offset > 0; offset >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
        const float score = r < n_rows ? dot : -INFINITY;
        if (__any_sync(0xffffffffu, score > m[0] + kLazyMaxMargin)) {
            const float m_new = fmaxf(m[0], score);
            const float alpha = rescale(m[0], m_new);
            l[0] *= alpha;
#pragma unroll
            for (int e = 0; e < 16; ++e) acc[0][e] *= alpha;
            m[0] = m_new;
        }
        const float p = rescale(score, m[0]);
        l[0] += p;
        if (valid) {
            const float weight = p * v_row.scale();
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const uint32_t biased = v_row.quants(j) ^ 0x80808080u;
#pragma unroll
                for (int i = 0; i < 4; ++i)
                    acc[0][4 * j + i] = fmaf(weight, q8_biased_byte_to_float(biased, i), acc[0][4 * j + i]);
            }
        }
    }
    finish_block<1, 16, kLanes, D_MAX>(m, l, acc, args, t, head, 1, e0, partial_acc, partial_max_sum);
}

}  // namespace spool::cuda::attn
