// Decode attention, split over the sequence (flash-decoding, Dao et al. 2023): one block per (part of the
// attended rows, KV head and batch of up to 2 of its query heads, token) runs an online softmax over its rows for
// its heads (a K/V row is read once per batch; the group's other batches mostly find it in L2) and writes a
// (max, sum, accumulator) partial per head; a combine kernel merges the partials. The grid depends on shapes only;
// which rows a block takes comes from positions[] on the device, so a captured CUDA graph replays correctly at every
// position. Q8_0 keys (with Q8_0 or Q4_0 values) and 2 to 8 query heads per KV head take the tensor-core form of the
// partials instead (attention_split_mma.cu, Plan::mma_rows), and a Q8_0 or Q4_0 cache (or Q8_0 keys with Q4_0
// values) with one query head per KV head the integer wide form for blocks of many rows (attention_split_wide.cuh;
// staged in shared memory at head_dim 128 and 256, attention_split_staged.cuh; Plan::wide_rows); the combine is the
// same.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/attention_split_blocks.cuh"
#include "backend/cuda/kernels/attention_split_staged.cuh"
#include "backend/cuda/kernels/attention_split_wide.cuh"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/ops_common.cuh"
#include "backend/cuda/kernels/quantize_x.cuh"

namespace spool::cuda::attn {
namespace {

constexpr int kCombineThreads = 256;

// Blocks of at least this many rows take the wide form where the plan allows it (Plan::wide_rows). H100, 7B heads,
// Q8_0 cache, us per layer at 128 / 512 / 1,024 / 4,096 rows, for its float32 form (v41): 8 elements per lane 4.66 /
// 6.72 / 9.62 / 26.23; 16 for every block 5.13 / 6.95 / 9.08 / 22.22; 16 from 32, 48 or 64 rows 4.65 / 6.72 / 9.10 /
// 22.19 (from 64 rows: 9.62 at 1,024, whose 17 blocks take 60 rows each). Fewer rows leave the wide form's longer
// chains per lane exposed. Its integer form (v43) for every block: 5.38 / 7.44 / 9.40 / 24.02 at 64 registers, against
// 4.55 / 6.62 / 8.64 / 20.42 from 48 rows.
constexpr int kWideMinRows = 48;

// One block's rows. Lanes: a row is read by kLanes = D_MAX / EPL lanes, EPL = 8 elements each (one 16-byte F16 load;
// the wide forms, attention_split_wide.cuh, take 16 of a Q8_0 row, where 8 took as long per row as F16's twice the
// bytes, or 32 of a Q4_0 row); a warp covers 32 / kLanes rows at once and the block kRowGroups rows, UNROLL of each row
// group per step. Each row group keeps its own running max, sum and accumulators in registers (no shared memory or
// barrier in the row loop). The K and V rows of the next step are loaded while the current step computes, so a block
// always has a step of loads in flight.
template <GgmlType K, GgmlType V, int D_MAX, int HEADS, int UNROLL>
__device__ __forceinline__ void split_rows(const float* __restrict__ q, const uint8_t* __restrict__ k_cache,
                                           const uint8_t* __restrict__ v_cache, const SplitArgs& args,
                                           float* __restrict__ partial_acc, float2* __restrict__ partial_max_sum,
                                           int t, int64_t last, int64_t row_lo, int n_rows, bool early) {
    constexpr int EPL = 8;
    constexpr int kLanes = D_MAX / EPL;
    constexpr int kRowsPerWarp = 32 / kLanes;
    constexpr int kRowGroups = kSplitWarps * kRowsPerWarp;
    constexpr int kUnroll = UNROLL;  // rows per row group per step
    const Shape& s = args.shape;
    const int kv_head = blockIdx.y / args.head_batches;
    const int batch = blockIdx.y - kv_head * args.head_batches;
    const int head0 = kv_head * s.group + batch * HEADS;
    const int n_heads = min(HEADS, s.group - batch * HEADS);
    const int D = s.head_dim;

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int sub = lane / kLanes, li = lane - sub * kLanes;
    const int group_id = warp * kRowsPerWarp + sub;  // rows group_id, group_id + kRowGroups, ...
    const int e0 = li * EPL;  // head_dim is a multiple of EPL (make_plan)
    const bool lane_has_dims = e0 < D;
    const int64_t col = static_cast<int64_t>(kv_head) * D + e0;  // this lane's dims within a cache row
    // One type: one stride for both halves (the same registers and code as before the halves had their own).
    const int64_t k_row_bytes = static_cast<int64_t>(s.row_bytes);
    const int64_t v_row_bytes = K == V ? k_row_bytes : static_cast<int64_t>(s.v_row_bytes);
    const uint8_t* k_rows = k_cache + row_lo * k_row_bytes;
    const uint8_t* v_rows = v_cache + row_lo * v_row_bytes;

    // Raw K/V of one step; rows past the part or dims past head_dim are never loaded (their values are unused).
    Raw8<K> k_raw[kUnroll];
    Raw8<V> v_raw[kUnroll];
    auto issue = [&](int step) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int r = group_id + (step + u) * kRowGroups;
            if (r < n_rows && lane_has_dims) {
                k_raw[u].load(k_rows + r * k_row_bytes, col);
                v_raw[u].load(v_rows + r * v_row_bytes, col);
            }
        }
    };
    if (early) {
        load_first_step<kRowGroups>(k_raw, v_raw, k_rows, v_rows, k_row_bytes, v_row_bytes, col, group_id, n_rows,
                                    lane_has_dims, static_cast<int>(last - row_lo));
    } else {
        issue(0);
    }
    // Past the wait: the combine's blocks may now be scheduled, so its own early trigger lets the output projection
    // load its weights while this kernel runs (H100, v16: tg128 +1-2.5%, 7B at depth 4096 +2%). Triggering before
    // the wait let those blocks in while the q/k/v projections still ran, and cost TinyLlama 2% at depth 0.
    ops::allow_dependents();

    float qr[HEADS][EPL];
#pragma unroll
    for (int h = 0; h < HEADS; ++h) {
        const float* qh = q + (static_cast<int64_t>(t) * s.n_head + head0 + h) * D + e0;
#pragma unroll
        for (int e = 0; e < EPL; ++e) qr[h][e] = h < n_heads && lane_has_dims ? qh[e] * s.scale : 0.0f;
    }
    float m[HEADS], l[HEADS], acc[HEADS][EPL];
#pragma unroll
    for (int h = 0; h < HEADS; ++h) {
        m[h] = -INFINITY;
        l[h] = 0.0f;
#pragma unroll
        for (int e = 0; e < EPL; ++e) acc[h][e] = 0.0f;
    }

    // The loop bound is the same for the whole block, so the shuffles run in converged warps.
    for (int step = 0; step * kRowGroups < n_rows; step += kUnroll) {
        float k[kUnroll][EPL], v[kUnroll][EPL];
        bool valid[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            valid[u] = group_id + (step + u) * kRowGroups < n_rows;
            if (valid[u] && lane_has_dims) {
                k_raw[u].to_float(k[u]);
                v_raw[u].to_float(v[u]);
            } else {
#pragma unroll
                for (int e = 0; e < EPL; ++e) k[u][e] = v[u][e] = 0.0f;
            }
        }
        if ((step + kUnroll) * kRowGroups < n_rows) issue(step + kUnroll);
#pragma unroll
        for (int h = 0; h < HEADS; ++h) {
            if (h >= n_heads) break;  // block-uniform
            float score[kUnroll];
            float step_max = -INFINITY;
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                float dot = 0.0f;
#pragma unroll
                for (int e = 0; e < EPL; ++e) dot = fmaf(qr[h][e], k[u][e], dot);
#pragma unroll
                for (int offset = kLanes / 2; offset > 0; offset >>= 1)
                    dot += __shfl_xor_sync(0xffffffffu, dot, offset);
                score[u] = valid[u] ? dot : -INFINITY;
                step_max = fmaxf(step_max, score[u]);
            }
            const float m_new = fmaxf(m[h], step_max);
            const float alpha = rescale(m[h], m_new);
            l[h] *= alpha;
#pragma unroll
            for (int e = 0; e < EPL; ++e) acc[h][e] *= alpha;
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const float p = rescale(score[u], m_new);
                l[h] += p;
#pragma unroll
                for (int e = 0; e < EPL; ++e) acc[h][e] = fmaf(p, v[u][e], acc[h][e]);
            }
            m[h] = m_new;
        }
    }

    finish_block<HEADS, EPL, kLanes, D_MAX>(m, l, acc, args, t, head0, n_heads, e0, partial_acc, partial_max_sum);
}

// WIDE (Plan::wide_rows): blocks of kWideMinRows rows or more take the wide form (split_rows_wide); the others
// the narrow form. Both forms in one kernel are bounded to wide_blocks_per_sm(K) blocks per SM. The narrow kernels
// stay unbounded (0: no minimum): a minimum of 1 already moves ptxas's allocation, the F16 7B kernel from 93 registers
// to 112 and so to 4 blocks per SM.
template <GgmlType K, GgmlType V, int D_MAX, int HEADS, bool WIDE>
__global__ void __launch_bounds__(kSplitThreads, WIDE ? wide_blocks_per_sm(K, D_MAX) : 0)
    attention_split_kernel(const float* __restrict__ q,             // [n_tokens, n_head, head_dim]
                           const uint8_t* __restrict__ k_cache,     // [n_ctx][row_bytes]
                           const uint8_t* __restrict__ v_cache,     // [n_ctx][v_row_bytes]
                           const int32_t* __restrict__ positions,   // [n_tokens]
                           SplitArgs args,
                           float* __restrict__ partial_acc,         // [n_tokens, n_head, grid_parts, head_dim]
                           float2* __restrict__ partial_max_sum) {  // [n_tokens, n_head, grid_parts]
    // Launched with PDL: q and the token's own cache row come from the kernels just ahead (the projections, rope), so
    // they are read after wait_for_producers. With one token, the block reads its position and issues its first step
    // of older rows before waiting, so that their latency overlaps the kernels ahead (ops_common.cuh, the early-read
    // exception): earlier steps wrote those rows, and the step's upload the position. With more tokens (rows of
    // several new positions), everything waits.
    const bool early = gridDim.z == 1;
    if (!early) ops::wait_for_producers();
    const Shape& s = args.shape;
    const int t = blockIdx.z;
    int64_t first, last;
    attended_rows(positions[t], s.window, &first, &last);
    const int64_t n_attended = last - first + 1;
    const int n_parts = split_parts(n_attended, args.parts);
    if (static_cast<int>(blockIdx.x) >= n_parts) {  // whole block: not needed at this position
        if (early) ops::wait_for_producers();
        return;
    }
    const int64_t row_lo = first + blockIdx.x * n_attended / n_parts;
    const int n_rows = static_cast<int>(first + (blockIdx.x + 1) * n_attended / n_parts - row_lo);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800  // cp.async; below, the narrow form takes every block
    // Rows staged in shared memory where a head is D_MAX wide: a Q4_0 cache, or Q8_0 keys with Q4_0 values, always
    // (attention_split_rounds_q_to_int8), a Q8_0 cache at head_dim 128 or 256; other Q8_0 head sizes (80, 96, ...)
    // keep the register form below.
    if constexpr (WIDE && D_MAX % 128 == 0) {
        if (n_rows >= kWideMinRows && s.head_dim == D_MAX) {
            split_rows_staged<K, V, D_MAX>(q, k_cache, v_cache, args, partial_acc, partial_max_sum, t, last, row_lo,
                                           n_rows, early);
            return;
        }
    }
#endif
    if constexpr (WIDE && K == GgmlType::Q8_0 && V == GgmlType::Q8_0) {
        if (n_rows >= kWideMinRows) {
            split_rows_wide<D_MAX>(q, k_cache, v_cache, args, partial_acc, partial_max_sum, t, last, row_lo, n_rows,
                                   early);
            return;
        }
    }
    // Two rows per row group and step (four cost 40 registers: 3 blocks per SM instead of 4).
    split_rows<K, V, D_MAX, HEADS, 2>(q, k_cache, v_cache, args, partial_acc, partial_max_sum, t, last, row_lo, n_rows,
                                      early);
}

// One block per (head, token): out = sum_p w_p acc_p / sum_p w_p l_p with w_p = exp(m_p - M) over the token's
// parts. Every partial is loaded by its own thread (n_parts <= kMaxParts = kCombineThreads), so the loads are in
// flight together; then threads split as (part group, dim) for the weighted sum, unrolled for the same reason.
__global__ void __launch_bounds__(kCombineThreads)
    attention_combine_kernel(const float* __restrict__ partial_acc,       // [n_tokens, n_head, grid_parts, head_dim]
                             const float2* __restrict__ partial_max_sum,  // [n_tokens, n_head, grid_parts]
                             const int32_t* __restrict__ positions,       // [n_tokens]
                             SplitArgs args,
                             float* __restrict__ out,                     // [n_tokens, n_head, head_dim]
                             void* __restrict__ out_int8) {               // one token: out's x~, or null
    static_assert(kCombineThreads >= kMaxParts, "one thread per part");
    __shared__ float weight_s[kCombineThreads];
    __shared__ float sum_s[kCombineThreads];
    __shared__ float reduce_s[2][kCombineThreads / 32];
    ops::allow_dependents();  // the output projection follows: its weight loads overlap this kernel
    // With one token the position is read before the wait (ops_common.cuh, the early-read exception; as the split
    // kernel does), so that its load is not on the path after it. The partials are complete after the wait.
    const bool early = gridDim.y == 1;
    if (!early) ops::wait_for_producers();
    const Shape& s = args.shape;
    const int h = blockIdx.x, t = blockIdx.y;
    int64_t first, last;
    attended_rows(positions[t], s.window, &first, &last);
    const int n_parts = split_parts(last - first + 1, args.parts);
    if (early) ops::wait_for_producers();
    const int64_t part0 = (static_cast<int64_t>(t) * s.n_head + h) * args.parts.grid;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int D = s.head_dim;
    const int n_groups = kCombineThreads / args.d_max;  // d_max divides kCombineThreads
    const int d = tid % args.d_max, group = tid / args.d_max;
    constexpr int kInFlight = 8;

    // The first kInFlight partials of each thread go out with the (max, sum) loads: they need only n_parts, so their
    // latency overlaps the reductions below instead of following them.
    float first_batch[kInFlight];
#pragma unroll
    for (int i = 0; i < kInFlight; ++i) {
        const int pi = group + i * n_groups;
        first_batch[i] = d < D && pi < n_parts ? partial_acc[(part0 + pi) * D + d] : 0.0f;
    }
    const float2 ms = tid < n_parts ? partial_max_sum[part0 + tid] : make_float2(-INFINITY, 0.0f);
    float m = ms.x;
    for (int offset = 16; offset > 0; offset >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, offset));
    if (lane == 0) reduce_s[0][warp] = m;
    __syncthreads();
    m = reduce_s[0][0];
#pragma unroll
    for (int w = 1; w < kCombineThreads / 32; ++w) m = fmaxf(m, reduce_s[0][w]);
    const float weight = tid < n_parts ? expf(ms.x - m) : 0.0f;
    weight_s[tid] = weight;
    float l = weight * ms.y;
    for (int offset = 16; offset > 0; offset >>= 1) l += __shfl_xor_sync(0xffffffffu, l, offset);
    if (lane == 0) reduce_s[1][warp] = l;
    __syncthreads();
    l = 0.0f;
#pragma unroll
    for (int w = 0; w < kCombineThreads / 32; ++w) l += reduce_s[1][w];

    float sum[kInFlight] = {};
    if (d < D) {
        for (int p = group; p < n_parts; p += kInFlight * n_groups) {
            float value[kInFlight];
#pragma unroll
            for (int i = 0; i < kInFlight; ++i) {
                const int pi = p + i * n_groups;
                value[i] = p == group ? first_batch[i] : (pi < n_parts ? partial_acc[(part0 + pi) * D + d] : 0.0f);
            }
#pragma unroll
            for (int i = 0; i < kInFlight; ++i) {
                const int pi = p + i * n_groups;
                if (pi < n_parts) sum[i] = fmaf(weight_s[pi], value[i], sum[i]);
            }
        }
    }
    float total = 0.0f;
#pragma unroll
    for (int i = 0; i < kInFlight; ++i) total += sum[i];
    sum_s[tid] = total;
    __syncthreads();
    if (group != 0) return;  // group 0 is whole warps: d_max is a multiple of 32
    float value = 0.0f;
    if (d < D) {
        float total = 0.0f;
        for (int g = 0; g < n_groups; ++g) total += sum_s[g * args.d_max + d];
        value = total / l;
        out[(static_cast<int64_t>(t) * s.n_head + h) * D + d] = value;
    }
    if (out_int8 != nullptr) {  // the output projection's x~: lanes 8j .. 8j + 7 hold one group (D % 8 == 0)
        float v[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) v[i] = __shfl_sync(0xffffffffu, value, (lane & ~7) + i);
        if ((d & 7) == 0 && d < D) {
            const int64_t n_groups_out = static_cast<int64_t>(s.n_head) * D / 8;
            wq::store_quantized_group(out_int8, n_groups_out, (static_cast<int64_t>(h) * D + d) / 8,
                                      wq::quantize_group(make_float4(v[0], v[1], v[2], v[3]),
                                                         make_float4(v[4], v[5], v[6], v[7])));
        }
    }
}

template <GgmlType K, GgmlType V, int D_MAX, int HEADS, bool WIDE>
void launch_split_kernel(const Plan& plan, const SplitArgs& args, const float* q, const KvView& cache,
                         const int32_t* positions, int64_t n_tokens, float* partial_acc, float2* partial_max_sum,
                         cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(plan.parts.grid),
                    static_cast<unsigned>(plan.shape.n_head_kv * plan.head_batches), static_cast<unsigned>(n_tokens));
    ops::launch_pdl(attention_split_kernel<K, V, D_MAX, HEADS, WIDE>, grid, dim3(kSplitThreads), 0, stream, q,
                    static_cast<const uint8_t*>(cache.k), static_cast<const uint8_t*>(cache.v), positions, args,
                    partial_acc, partial_max_sum);
}

template <GgmlType K, GgmlType V, int D_MAX>
void launch_split_for_heads(const Plan& plan, const SplitArgs& args, const float* q, const KvView& cache,
                            const int32_t* positions, int64_t n_tokens, float* partial_acc, float2* partial_max_sum,
                            cudaStream_t stream) {
    static_assert(kMaxHeadsPerBlock == 2, "instantiate the kernel for every heads_per_block make_plan picks");
    if (plan.heads_per_block == 2) {
        launch_split_kernel<K, V, D_MAX, 2, false>(plan, args, q, cache, positions, n_tokens, partial_acc,
                                                   partial_max_sum, stream);
        return;
    }
    // make_plan sets wide_rows for these only (Q4_0 values: head_dim 128 or 256)
    constexpr bool kQ8 = K == GgmlType::Q8_0 && V == GgmlType::Q8_0;
    constexpr bool kQ4Values = (K == GgmlType::Q4_0 || K == GgmlType::Q8_0) && V == GgmlType::Q4_0;
    if constexpr (kQ8 || (kQ4Values && D_MAX % 128 == 0)) {
        if (plan.wide_rows) {
            launch_split_kernel<K, V, D_MAX, 1, true>(plan, args, q, cache, positions, n_tokens, partial_acc,
                                                      partial_max_sum, stream);
            return;
        }
    }
    launch_split_kernel<K, V, D_MAX, 1, false>(plan, args, q, cache, positions, n_tokens, partial_acc,
                                               partial_max_sum, stream);
}

template <GgmlType K, GgmlType V>
void launch_split_for_types(const Plan& plan, const SplitArgs& args, const float* q, const KvView& cache,
                            const int32_t* positions, int64_t n_tokens, float* partial_acc, float2* partial_max_sum,
                            cudaStream_t stream) {
    switch (plan.d_max) {
        case 64: return launch_split_for_heads<K, V, 64>(plan, args, q, cache, positions, n_tokens, partial_acc,
                                                         partial_max_sum, stream);
        case 128: return launch_split_for_heads<K, V, 128>(plan, args, q, cache, positions, n_tokens, partial_acc,
                                                           partial_max_sum, stream);
        default: return launch_split_for_heads<K, V, 256>(plan, args, q, cache, positions, n_tokens, partial_acc,
                                                          partial_max_sum, stream);
    }
}

}  // namespace

void launch_split(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                  float* out, void* workspace, cudaStream_t stream, void* out_int8) {
    SplitArgs args;
    args.shape = plan.shape;
    args.head_batches = plan.head_batches;
    args.parts = plan.parts;
    args.d_max = plan.d_max;
    float* partial_acc = static_cast<float*>(workspace);
    float2* partial_max_sum = reinterpret_cast<float2*>(
        partial_acc + static_cast<size_t>(n_tokens) * plan.shape.n_head * plan.parts.grid * plan.shape.head_dim);
    if (plan.mma_rows) {
        launch_split_mma(plan, args, q, cache, positions, n_tokens, partial_acc, partial_max_sum, stream);
    } else {
        with_kv_cache_types(plan.type, plan.v_type, [&](auto k, auto v) {
            launch_split_for_types<decltype(k)::value, decltype(v)::value>(plan, args, q, cache, positions, n_tokens,
                                                                           partial_acc, partial_max_sum, stream);
        });
    }
    // The combine's blocks may be scheduled while the split kernel's last blocks drain; wait_for_producers() holds
    // them until the partials are complete.
    const dim3 combine_grid(static_cast<unsigned>(plan.shape.n_head), static_cast<unsigned>(n_tokens));
    ops::launch_pdl(attention_combine_kernel, combine_grid, dim3(kCombineThreads), 0, stream,
                    static_cast<const float*>(partial_acc), static_cast<const float2*>(partial_max_sum), positions,
                    args, out, n_tokens == 1 ? out_int8 : nullptr);
}

}  // namespace spool::cuda::attn
