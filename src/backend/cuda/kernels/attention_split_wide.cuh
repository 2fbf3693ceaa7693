// The split path's wide forms for a Q8_0 or Q4_0 cache with one query head per KV head (Plan::wide_rows, MHA shapes
// such as Llama-2-7B): integer scores by dp4a against q rounded to int8, and V weighted in float32. The rows of a
// Q8_0 cache at head sizes other than 128 and 256 are loaded into registers here (split_rows_wide, WideQ8); at those
// sizes, and for a Q4_0 cache, they are staged in shared memory (attention_split_staged.cuh, WideQ8Block and WideQ4).
// Included by attention_split.cu, whose kernel picks them for blocks of kWideMinRows rows or more.
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

// Eight elements of q (times the scale) rounded to int8 by the matvecs' formula (quantize_x.cuh).
__device__ __forceinline__ wq::QuantizedGroup round_query_group(const float* x) {
    return wq::quantize_group(make_float4(x[0], x[1], x[2], x[3]), make_float4(x[4], x[5], x[6], x[7]));
}

// A Q8_0 cache, ELEMENTS quants of a row per lane: 16 (half a block; WideQ8, rows loaded into registers by
// split_rows_wide) or 32 (a whole block; WideQ8Block, rows staged in shared memory, attention_split_staged.cuh, where a
// row's reduction, running max and scale are shared by twice the elements). The K quants meet q's in dp4a, so K is
// never converted; V is converted exactly (q8_biased_byte_to_float) and weighted by p times the row's scale. ncu, 7B
// at 4,096 rows (H100): the float32 form (v41) issued 12.0 M warp instructions with the schedulers busy 64% of cycles,
// WideQ8 in registers (v43) 8.1 M at 51%, mostly waiting on its loads.
template <int ELEMENTS>
struct WideQ8Form {
    static constexpr int kElements = ELEMENTS;
    static constexpr int kGroups = ELEMENTS / 8;
    struct Query {
        wq::QuantizedGroup g[kGroups];
    };
    struct Acc {
        float v[1][kElements];  // finish_block's layout: one head
        __device__ __forceinline__ void rescale(float alpha) {
#pragma unroll
            for (int e = 0; e < kElements; ++e) v[0][e] *= alpha;
        }
        __device__ __forceinline__ void to_plain() {}
    };
    __device__ __forceinline__ static Query round_query(const float (&x)[kElements]) {
        Query query;
#pragma unroll
        for (int g = 0; g < kGroups; ++g) query.g[g] = round_query_group(x + 8 * g);
        return query;
    }
    template <class R>
    __device__ __forceinline__ static float score(const R& k, const Query& q) {
        // dp4a from the rounding magic's bits: the float reading is magic + the integer sum, exactly. The groups are
        // summed from the last, each in one FMA.
        float dot = 0.0f;
#pragma unroll
        for (int g = kGroups - 1; g >= 0; --g) {
            const int sum = __dp4a(static_cast<int>(k.quants(2 * g + 1)), static_cast<int>(q.g[g].q.y),
                                   __dp4a(static_cast<int>(k.quants(2 * g)), static_cast<int>(q.g[g].q.x),
                                          wq::kRoundMagicBits));
            const float x = __int_as_float(sum) - wq::kRoundMagic;
            dot = g == kGroups - 1 ? x * q.g[g].d : fmaf(x, q.g[g].d, dot);
        }
        return k.scale() * dot;
    }
    template <class R>
    __device__ __forceinline__ static void accumulate(const R& v, float p, Acc& acc) {
        const float weight = p * v.scale();
#pragma unroll
        for (int j = 0; j < kElements / 4; ++j) {
            const uint32_t biased = v.quants(j) ^ 0x80808080u;
#pragma unroll
            for (int i = 0; i < 4; ++i)
                acc.v[0][4 * j + i] = fmaf(weight, q8_biased_byte_to_float(biased, i), acc.v[0][4 * j + i]);
        }
    }
};
using WideQ8 = WideQ8Form<16>;
using WideQ8Block = WideQ8Form<32>;

// A Q4_0 cache: a lane takes a whole block (32 elements, 18 bytes) of a row, so a row of 7B's heads takes 4 lanes;
// Raw is the block as words (quants(j): quant bytes 4j .. 4j + 3; scale()).
// Scores: the levels 0..15 meet q's int8 in dp4a started from magic - 8 * sum(q), which subtracts the zero level 8
// exactly. V: level n becomes the float 0.5 + n / 32 by one byte permute (the masked nibble as mantissa bits 19..22
// under exponent 2^-1), so each element costs a permute and an FMA; the block accumulates
// A = sum w (0.5 + n / 32) and W = sum w (w = p times the row's scale), and sum w (n - 8) = 32 A - 24 W at the end.
// That cancellation loses at most ~5 bits against converting each level (a float32 sum's rounding, not the cache's).
struct WideQ4 {
    static constexpr int kElements = 32;
    struct Query {
        uint2 q[4];   // groups of 8 elements: 0-7, 8-15 (the low nibbles of bytes 0-7, 8-15), 16-23, 24-31 (high)
        float d[4];
        int base[4];  // kRoundMagicBits - 8 * sum of the group's int8
    };
    struct Acc {
        float v[1][kElements];
        float w_sum = 0.0f;
        __device__ __forceinline__ void rescale(float alpha) {
#pragma unroll
            for (int e = 0; e < kElements; ++e) v[0][e] *= alpha;
            w_sum *= alpha;
        }
        __device__ __forceinline__ void to_plain() {
            const float offset = -24.0f * w_sum;
#pragma unroll
            for (int e = 0; e < kElements; ++e) v[0][e] = fmaf(32.0f, v[0][e], offset);
        }
    };
    __device__ __forceinline__ static Query round_query(const float (&x)[kElements]) {
        Query query;
#pragma unroll
        for (int g = 0; g < 4; ++g) {
            const wq::QuantizedGroup group = round_query_group(x + 8 * g);
            query.q[g] = group.q;
            query.d[g] = group.d;
            const int sum =
                __dp4a(static_cast<int>(group.q.y), 0x01010101, __dp4a(static_cast<int>(group.q.x), 0x01010101, 0));
            query.base[g] = wq::kRoundMagicBits - 8 * sum;
        }
        return query;
    }
    template <class Raw>
    __device__ __forceinline__ static float score(const Raw& k, const Query& q) {
        float dot = 0.0f;
#pragma unroll
        for (int half = 0; half < 2; ++half) {  // bytes 8 * half .. + 7: groups half (low nibbles), half + 2 (high)
            const uint32_t a = k.quants(2 * half), b = k.quants(2 * half + 1);
            const int lo = __dp4a(static_cast<int>(b & 0x0F0F0F0Fu), static_cast<int>(q.q[half].y),
                                  __dp4a(static_cast<int>(a & 0x0F0F0F0Fu), static_cast<int>(q.q[half].x),
                                         q.base[half]));
            const int hi = __dp4a(static_cast<int>((b >> 4) & 0x0F0F0F0Fu), static_cast<int>(q.q[half + 2].y),
                                  __dp4a(static_cast<int>((a >> 4) & 0x0F0F0F0Fu), static_cast<int>(q.q[half + 2].x),
                                         q.base[half + 2]));
            dot = fmaf(__int_as_float(lo) - wq::kRoundMagic, q.d[half], dot);
            dot = fmaf(__int_as_float(hi) - wq::kRoundMagic, q.d[half + 2], dot);
        }
        return k.scale() * dot;
    }
    // Byte i of `levels` (a level at bits 3..6, the other bits 0) as the float 0.5 + level / 32.
    __device__ __forceinline__ static float level_as_float(uint32_t levels, int i) {
        return __uint_as_float(__byte_perm(levels, 0x3Fu, 0x4055u | (i << 8)));
    }
    template <class Raw>
    __device__ __forceinline__ static void accumulate(const Raw& v, float p, Acc& acc) {
        const float weight = p * v.scale();
        acc.w_sum += weight;
#pragma unroll
        for (int j = 0; j < 4; ++j) {  // bytes 4j .. 4j + 3: elements 4j + i (low nibbles), 16 + 4j + i (high)
            const uint32_t bytes = v.quants(j);
            const uint32_t low = (bytes << 3) & 0x78787878u, high = (bytes >> 1) & 0x78787878u;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                acc.v[0][4 * j + i] = fmaf(weight, level_as_float(low, i), acc.v[0][4 * j + i]);
                acc.v[0][16 + 4 * j + i] = fmaf(weight, level_as_float(high, i), acc.v[0][16 + 4 * j + i]);
            }
        }
    }
};

// Scores by KEYS's form and values by VALUES's, for a cache whose halves have two types (Q8_0 keys beside Q4_0 values:
// WideQ8Block's score, WideQ4's accumulate); both take the same elements per lane. KEYS and VALUES one form: that form.
template <class KEYS, class VALUES>
struct PairForm {
    static_assert(KEYS::kElements == VALUES::kElements, "a lane takes the same elements of a K row and a V row");
    static constexpr int kElements = KEYS::kElements;
    using Query = typename KEYS::Query;
    using Acc = typename VALUES::Acc;
    __device__ __forceinline__ static Query round_query(const float (&x)[kElements]) { return KEYS::round_query(x); }
    template <class Raw>
    __device__ __forceinline__ static float score(const Raw& k, const Query& q) {
        return KEYS::score(k, q);
    }
    template <class Raw>
    __device__ __forceinline__ static void accumulate(const Raw& v, float p, Acc& acc) {
        VALUES::accumulate(v, p, acc);
    }
};

// One row of a wide form's row group: the row's LANES lanes sum their parts of the score, the running max follows it
// lazily (kLazyMaxMargin; shuffles and the vote run converged), and the lane weights its part of V. in_rows: the row
// is one of the block's; has_part: also this lane's part of it holds dims.
template <class FORM, int LANES, class KRaw, class VRaw>
__device__ __forceinline__ void wide_row_step(const KRaw& k_row, const VRaw& v_row, const typename FORM::Query& query,
                                              bool in_rows, bool has_part, float& m, float& l,
                                              typename FORM::Acc& acc) {
    float dot = has_part ? FORM::score(k_row, query) : 0.0f;
#pragma unroll
    for (int offset = LANES / 2; offset > 0; offset >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
    const float score = in_rows ? dot : -INFINITY;
    if (__any_sync(0xffffffffu, score > m + kLazyMaxMargin)) {
        const float m_new = fmaxf(m, score);
        const float alpha = rescale(m, m_new);
        l *= alpha;
        acc.rescale(alpha);
        m = m_new;
    }
    const float p = rescale(score, m);
    l += p;
    if (has_part) FORM::accumulate(v_row, p, acc);
}

// The wide form with rows in registers, for a Q8_0 cache whose heads are not D_MAX wide (head_dim 64, 80, ...), in
// blocks of kWideMinRows rows or more: a row is read by D_MAX / 16 lanes (WideQ8, RawQ8x16), one row per row group and
// step. q (times the scale) is rounded to int8 once per block, per 8-element group; llama.cpp likewise rounds q to
// int8 (q8_1) for a quantized K cache.
template <int D_MAX>
__device__ __forceinline__ void split_rows_wide(const float* __restrict__ q, const uint8_t* __restrict__ k_cache,
                                                const uint8_t* __restrict__ v_cache, const SplitArgs& args,
                                                float* __restrict__ partial_acc, float2* __restrict__ partial_max_sum,
                                                int t, int64_t last, int64_t row_lo, int n_rows, bool early) {
    using FORM = WideQ8;
    using Raw = RawQ8x16;
    constexpr int EPL = FORM::kElements;
    constexpr int kLanes = D_MAX / EPL;
    constexpr int kRowsPerWarp = 32 / kLanes;
    constexpr int kRowGroups = kSplitWarps * kRowsPerWarp;
    const Shape& s = args.shape;
    const int kv_head = blockIdx.y, head = kv_head;  // one query head per KV head (Plan::wide_rows), one per block
    const int D = s.head_dim;

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int sub = lane / kLanes, li = lane - sub * kLanes;
    const int group_id = warp * kRowsPerWarp + sub;  // rows group_id, group_id + kRowGroups, ...
    const int e0 = li * EPL;                         // head_dim is a multiple of EPL (Plan::wide_rows)
    const bool lane_has_dims = e0 < D;
    const int64_t col = static_cast<int64_t>(kv_head) * D + e0;
    const int64_t k_row_bytes = static_cast<int64_t>(s.row_bytes), v_row_bytes = k_row_bytes;  // a Q8_0 cache
    const uint8_t* k_rows = k_cache + row_lo * k_row_bytes;
    const uint8_t* v_rows = v_cache + row_lo * v_row_bytes;

    // The row group's next row. One row ahead per row group: two measured slower at 4,096 rows, for Q8_0 22.0 against
    // 20.4 us per layer (80 registers), for v44's Q4_0 register form 16.0 against 15.2 (127 registers), as did 64
    // registers for 8 blocks per SM with Q8_0 (24.0; 20.2 with twice the parts).
    Raw k_raw[1], v_raw[1];
    if (early) {
        load_first_step<kRowGroups>(k_raw, v_raw, k_rows, v_rows, k_row_bytes, v_row_bytes, col, group_id, n_rows,
                                    lane_has_dims, static_cast<int>(last - row_lo));
    } else if (group_id < n_rows && lane_has_dims) {
        k_raw[0].load(k_rows + group_id * k_row_bytes, col);
        v_raw[0].load(v_rows + group_id * v_row_bytes, col);
    }
    ops::allow_dependents();  // as split_rows

    typename FORM::Query query{};
    if (lane_has_dims) {
        const float* qh = q + (static_cast<int64_t>(t) * s.n_head + head) * D + e0;
        float x[EPL];
#pragma unroll
        for (int e = 0; e < EPL; ++e) x[e] = qh[e] * s.scale;
        query = FORM::round_query(x);
    }

    float m[1] = {-INFINITY}, l[1] = {0.0f};
    typename FORM::Acc acc{};
    for (int step = 0; step * kRowGroups < n_rows; ++step) {  // block-uniform bound: shuffles run converged
        const int r = group_id + step * kRowGroups;
        const bool valid = r < n_rows && lane_has_dims;
        const Raw k_row = k_raw[0], v_row = v_raw[0];
        if (r + kRowGroups < n_rows && lane_has_dims) {
            k_raw[0].load(k_rows + (r + kRowGroups) * k_row_bytes, col);
            v_raw[0].load(v_rows + (r + kRowGroups) * v_row_bytes, col);
        }
        wide_row_step<FORM, kLanes>(k_row, v_row, query, r < n_rows, valid, m[0], l[0], acc);
    }
    acc.to_plain();
    finish_block<1, EPL, kLanes, D_MAX>(m, l, acc.v, args, t, head, 1, e0, partial_acc, partial_max_sum);
}

}  // namespace spool::cuda::attn
