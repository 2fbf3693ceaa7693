// The one-token matvecs with int8 activations for the common quantized types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K,
// Q5_K, Q6_K), laid out for DRAM bandwidth rather than for the shared decoder contract of matvec_kernel.cuh.
//
// Why a kernel of its own: on an H100 (ncu, 11008 x 4096, docs/cuda-performance.md) the shared kernel issued 0.36
// warp instructions per weight byte, so it needed the schedulers at full issue rate just to keep up with DRAM, and
// ran at 40% of the bandwidth. Most of those instructions were per lane and 8-weight group: rounding x (every block
// rounded the same x again for its 4 rows), unpacking scales, 64-bit addresses of 8-byte loads. Here each block
// first rounds the whole x once into shared memory (the same formula, quantize_x.cuh, so x~ is bit-identical), or
// reads the x~ that the kernel writing x made (launch.h int8_x_bytes: rms_norm, the glu epilogue below, the attention
// combine), and each lane then owns chunks of 32 weights of a row (one 16-byte load of nibbles, or a few aligned
// words; the decoders of matvec_staged_decoders.cuh) and the matching 32 bytes of x~: about 0.12 instructions per
// byte.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "backend/cuda/device_info.h"
#include "backend/cuda/kernels/deferred_norm.cuh"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/matvec_kernel.cuh"
#include "backend/cuda/kernels/matvec_staged_decoders.cuh"
#include "spool/errors.h"

namespace spool::cuda::wq {
namespace {

constexpr int kWarpRows = 2;          // rows per warp (glu: the gate row and the same row of W_up)
constexpr int kMaxStagedWarps = 8;
// Chunks per lane and row loaded before any is used, the kernel's U: Q::kUnroll (4; 2 where the raw chunk is large,
// so registers leave room for 2 blocks per SM), or Q::kUnrollManyWaves (1-2) for grids of more blocks than the GPU
// holds at once, compiled for Q::kManyWavesBlocksPerSm blocks per SM (kMixedManyWavesBlocksPerSm for the mixed
// kernel) instead of 1-2: where blocks come in waves, a block's arithmetic overlaps the loads of the others on its SM,
// and more of them hide more. Measured on an H100 (docs/cuda-performance.md): first for Q8_0 at 11008 x 4096 (21.4 ->
// 18.9 us, one-wave 4096-row launches keep 4 chunks), then v31 for every legacy type, Q4_K and Q6_K, the rope and
// mixed q/k/v launches included: decode GPU time per token TinyLlama Q4_K_M -2.8%, Q6_K -4%, Llama-2-7B Q8_0 -1.7%,
// Q4_0 -1.5%, Q4_K_M -1%; v37 took Q4_K and Q6_K from U = 2 at 3 blocks per SM to U = 1 at 4
// (matvec_staged_decoders.cuh).
// The mixed q/k/v kernel's many-waves form (Q4_K or Q5_K with Q6_K, both at their kUnrollManyWaves): 3 blocks per SM
// where both decoders take one chunk per lane (Q4_K with Q6_K: 74-80 registers, no spills), else 2 (Q5_K at U = 2
// spilled 24-92 bytes at 3). H100, GPU time per step of 7B Q4_K_M (docs/cuda-performance.md, v37): 2 blocks per SM
// (U = 2 for both, 110 registers) 2,067 us, 3 blocks at U = 1 2,027-2,030, 4 blocks (spills) 2,040.
template <class QA, class QB>
constexpr int kMixedManyWavesBlocksPerSm = QA::kUnrollManyWaves == 1 && QB::kUnrollManyWaves == 1 ? 3 : 2;
// Blocks wanted in the grid: two per SM of an H100 (132), so every SM streams from the first microsecond.
constexpr int64_t kTargetBlocks = 264;
// Single matrices of fewer rows than this split each row pair's columns over two warps (staged_split below): at
// 2,048 rows one warp per pair leaves the H100 half empty (1,024 warps for 132 SMs x 16). Measured on an H100 (tg128,
// four alternating samples each, docs/cuda-performance.md v17): TinyLlama Q8_0 1,194 -> 1,238 tok/s, Q6_K 1,169 ->
// 1,223, Q4_K_M 1,338 -> 1,385 (their 2,048-row attn_output and ffn_down); split at every size, 7B Q4_K_M lost
// (415 -> 400), and so did TinyLlama's 2,560-row q/k/v batches.
constexpr int64_t kSplitBelowRows = 4096;
// Decoders with Q::kSplitOneWave also split single matrices of up to twice that (Llama-2-7B's 4,096-row attn_output
// and ffn_down, one wave at one warp per pair: ~15.5 warps per SM) in their U = Q::kUnrollSplit kernel compiled for 4
// blocks per SM (64 registers), where the split grid stays one wave: the wave holds twice the warps. Measured on an
// H100 (docs/cuda-performance.md): v32, Q4_0 at U = 2, 7B Q4_0 decode GPU time 2,138-2,143 -> 2,095 us (4,096 x
// 11,008: 15.47 -> 13.73 us), while Q8_0 (+5%) and Q4_K (+0.7%) lost, their U = 2 kernels spilling at 64 registers;
// v34, Q4_K at U = 1 (62 registers, no spills): 7B Q4_K_M 2,256-2,267 -> 2,157-2,159 us. Q6_K at U = 1 measured no
// gain (2,262-2,267 us), Q8_0 at U = 1 -0.3% (kept as it was).
constexpr int64_t kSplitOneWaveBelowRows = 2 * kSplitBelowRows;

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

// One block's rows of matrix m in decoder Q's format, x~ from S, each row pair over kSplit warps (staged_split).
// kMayAdd: the launch may be a residual add (single matrices without the rope epilogue; batches never are), so the
// code prefetching y is compiled in (it costs the rope and mixed kernels up to 4 registers, past 128 in some).
template <class Q, int U, bool kRope, XSource S, int kSplit, bool kMayAdd = !kRope,
          bool kReadsDeferredNorm = Q::kReadsDeferredNorm>
__device__ __forceinline__ void staged_rows(const MatvecArgs& a, const BlockMatrix& m) {
    extern __shared__ uint4 staged[];
    const int64_t n_groups = a.n_cols / 8;
    const uint2* xq = S == XSource::kMade ? static_cast<const uint2*>(a.x_int8) : reinterpret_cast<uint2*>(staged);
    const float2* xs = reinterpret_cast<const float2*>(xq + n_groups);

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    const int64_t n_rows = m.n_rows;
    const bool glu = is_glu(a.epilogue);
    // Warps w .. w + kSplit - 1 (w a multiple of kSplit) share a row pair, each over 1 / kSplit of the chunks.
    const int slice = warp % kSplit;
    // Output rows of this warp: glu one row (its gate and up rows), otherwise two consecutive rows. Rows past the
    // end read the last row (in bounds) and are never written.
    const int64_t warp_index = m.block * (n_warps / kSplit) + warp / kSplit;
    const int64_t out0 = glu ? warp_index : kWarpRows * warp_index;
    const int64_t last = n_rows - 1;
    const uint8_t* row[kWarpRows];
    row[0] = m.w + (out0 < last ? out0 : last) * m.row_bytes;
    row[1] = glu ? row[0] + a.up_delta : m.w + (out0 + 1 < last ? out0 + 1 : last) * m.row_bytes;

    const int all_chunks = static_cast<int>(a.n_cols / kSuperBlock) * kChunksPerBlock;
    const int per_slice = (all_chunks + kSplit - 1) / kSplit;
    const int first_chunk = slice * per_slice;
    const int n_chunks = min(all_chunks, first_chunk + per_slice);  // this warp's chunks: first_chunk .. n_chunks - 1
    typename Q::Raw raw[U][kWarpRows];
    auto load = [&](int k0) {
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int k = first_chunk + k0 + 32 * u + lane;
            const int64_t block_offset = static_cast<int64_t>(k / kChunksPerBlock) * Q::kBlockBytes;
#pragma unroll
            for (int r = 0; r < kWarpRows; ++r) {
                if constexpr (Q::kAssignPastEnd) {
                    raw[u][r] = k < n_chunks ? Q::load(row[r] + block_offset, k % kChunksPerBlock) : typename Q::Raw{};
                } else if (k < n_chunks) {
                    raw[u][r] = Q::load(row[r] + block_offset, k % kChunksPerBlock);
                }
            }
        }
    };
    // The weights never change: the first loads go out before waiting for the kernel that writes x.
    load(0);
    // A residual add writing norm_x: the norm's weight of the block's rows, copied while the weights arrive.
    __shared__ float norm_weight[kMaxStagedWarps * kWarpRows];
    if constexpr (kMayAdd) {
        const int rows_in_block = kWarpRows * (n_warps / kSplit);
        const int64_t row = m.block * rows_in_block + threadIdx.x;
        if (a.norm_x != nullptr && threadIdx.x < rows_in_block && row < n_rows) {
            prefetch_residual(&norm_weight[threadIdx.x], a.norm_weight + row);
        }
    }
    // Rope + KV store: lane 0 writes the warp's two rows; its pair's angle is computed while the weights arrive and
    // kept in shared memory until then, not in registers across the loop.
    const bool rope_lane = kRope && lane == 0 && !glu;
    const int role = kRope ? a.rk.role[m.index] : kRoleNone;
    __shared__ RopeKvState rope_state[kRope ? kMaxStagedWarps : 1];
    if (rope_lane) rope_state[warp] = rope_kv_state(a.rk, role, out0);
    ops::wait_for_producers();
    ops::allow_dependents();
    // x is a DeferredNorm's output (launch.h): this warp's share of its sums, used after the dot products. Only the
    // forms of fewer chunks per lane carry it (kDeferredReader), of decoders with Q::kReadsDeferredNorm: the registers
    // it holds would cost the full-U forms, near their register caps, blocks per SM in every launch.
    constexpr bool kDeferredReader = S == XSource::kMade && U < Q::kUnroll && kReadsDeferredNorm;
    DeferredSums norm_sums{};
    if constexpr (kDeferredReader) {
        if (a.deferred_norm) norm_sums = load_deferred_sums(a);
    }
    // The residual add's y, fetched while the warp computes (the lane that stores, matvec_kernel.cuh).
    __shared__ float residual[kMaxStagedWarps][kWarpRows];
    const bool add_lane = kMayAdd && a.epilogue == Epilogue::add && lane == 0 && slice == 0;
    if (add_lane) {
#pragma unroll
        for (int r = 0; r < kWarpRows; ++r) {
            if (out0 + r < n_rows) prefetch_residual(&residual[warp][r], m.y + out0 + r);
        }
    }
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
            const int k = first_chunk + k0 + 32 * u + lane;
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
        if (first_chunk + k0 >= n_chunks) break;
        load(k0);
    }

    float totals[kWarpRows] = {ops::warp_sum(acc[0]), ops::warp_sum(acc[1])};  // in every lane
    if constexpr (kDeferredReader) {
        if (a.deferred_norm) {
            const float scale = deferred_norm_scale(a, norm_sums);
            totals[0] *= scale, totals[1] *= scale;
        }
    }
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
    // The residual add writes the x~ of a DeferredNorm of y (uniform per launch; all warps take part).
    const bool norm_out = kMayAdd && a.norm_x != nullptr;
    if constexpr (kSplit > 1) {  // the first warp of each pair adds the others' sums, in a fixed order
        __shared__ float2 slice_sums[kMaxStagedWarps];
        if (lane == 0) slice_sums[warp] = make_float2(totals[0], totals[1]);
        __syncthreads();
        if (slice != 0 && !norm_out) return;
        for (int s = 1; s < kSplit && slice == 0; ++s) {
            const float2 other = slice_sums[warp + s];
            totals[0] += other.x;
            totals[1] += other.y;
        }
    }
    if constexpr (kMayAdd) {
        if (norm_out) {  // the block's rows are whole 8-row groups (staged_add_writes_norm_x)
            __shared__ float block_rows[kMaxStagedWarps * kWarpRows];
            const int rows_in_block = kWarpRows * (n_warps / kSplit);
            residual_ready();  // this thread's copies: y (add_lane) and the norm's weight
            if (lane == 0 && slice == 0) {
#pragma unroll
                for (int r = 0; r < kWarpRows; ++r) {
                    if (out0 + r >= n_rows) continue;
                    block_rows[kWarpRows * (warp / kSplit) + r] =
                        store_output(a.epilogue, m.y + out0 + r, totals[r], m.bias, out0 + r,
                                     add_lane ? &residual[warp][r] : nullptr);
                }
            }
            __syncthreads();
            const int64_t first_row = m.block * rows_in_block;
            for (int g = threadIdx.x; g < rows_in_block / 8 && first_row + 8 * g < n_rows; g += blockDim.x) {
                write_norm_group(a, first_row / 8 + g, block_rows + 8 * g, norm_weight + 8 * g);
            }
            return;
        }
    }
    if (lane != 0) return;
    if (kRope && role != kRoleNone) {
        // n_rows is whole heads: the warp's two rows are both in the matrix or both past its end.
        if (out0 < n_rows) {
            rope_kv_store(a.rk, role, m.y, out0, with_bias(totals[0], m.bias, out0),
                          with_bias(totals[1], m.bias, out0 + 1), rope_state[warp]);
        }
        return;
    }
    if (add_lane) residual_ready();
#pragma unroll
    for (int r = 0; r < kWarpRows; ++r) {
        if (out0 + r < n_rows) {
            store_output(a.epilogue, m.y + out0 + r, totals[r], m.bias, out0 + r,
                         add_lane ? &residual[warp][r] : nullptr);
        }
    }
}

template <class Q, int U, bool kRope, XSource S, int kSplit>
__global__ void __launch_bounds__(32 * kMaxStagedWarps,
                                  U < Q::kUnroll ? (kSplit == 2 ? 4 : Q::kManyWavesBlocksPerSm) : Q::kMinBlocksPerSm)
    matvec_staged_kernel(MatvecArgs a) {
    staged_rows<Q, U, kRope, S, kSplit>(a, block_matrix(a));
}

// A batch whose segments hold two types (a block's matrix has one, so the branch is uniform per block): Q4_K_M and
// Q5_K_M files store attn_v as Q6_K beside Q4_K / Q5_K q and k, and one launch instead of two saves its fixed cost.
// kManyWaves: both decoders at their many-waves U, for kMixedManyWavesBlocksPerSm blocks per SM (else 1: the kernel
// holds both decoders' registers, 151-155 at U = 4).
template <class QA, class QB, bool kRope, XSource S, bool kManyWaves = false>
__global__ void __launch_bounds__(32 * kMaxStagedWarps, kManyWaves ? kMixedManyWavesBlocksPerSm<QA, QB> : 1)
    matvec_staged_mixed_kernel(MatvecArgs a) {
    const BlockMatrix m = block_matrix(a);
    if (m.alt) {
        staged_rows<QB, kManyWaves ? QB::kUnrollManyWaves : QB::kUnroll, kRope, S, 1, false, true>(a, m);
    } else {
        staged_rows<QA, kManyWaves ? QA::kUnrollManyWaves : QA::kUnroll, kRope, S, 1, false, true>(a, m);
    }
}

// Blocks of this kernel that the current GPU holds at once.
int64_t resident_blocks(void (*kernel)(MatvecArgs), int threads, size_t shared_bytes) {
    int per_sm = 0;
    SPOOL_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, shared_bytes));
    return static_cast<int64_t>(current_device_sm_count()) * per_sm;
}

// Warps per row pair: 2 for a single matrix of fewer than kSplitBelowRows rows (kSplitOneWaveBelowRows with
// split_one_wave) in every form (plain, residual add, rope epilogue), so those forms sum in the same order; 1 for
// batches (q/k/v batches of 2,560 rows lost 3-8% split) and the glu.
int staged_split(const MatvecArgs& a, bool split_one_wave) {
    const int64_t below = split_one_wave ? kSplitOneWaveBelowRows : kSplitBelowRows;
    return !is_glu(a.epilogue) && a.n_more == 0 && a.n_rows < below ? 2 : 1;
}

// Sets the grid of a (blocks of `warps` warps, as few as 2 where the launch has few rows) and returns the warps.
int size_staged_grid(MatvecArgs& a, bool split_one_wave = false) {
    const int64_t rows_per_warp = is_glu(a.epilogue) ? 1 : kWarpRows;
    const int split = staged_split(a, split_one_wave);
    int warps = kMaxStagedWarps;
    finish_matvec_args(a, rows_per_warp * warps / split);
    while (warps > 2 && a.n_blocks < kTargetBlocks) {
        warps /= 2;
        finish_matvec_args(a, rows_per_warp * warps / split);
    }
    return warps;
}

// 16 B per group of x~ where the block stages it, none where it reads a.x_int8.
template <XSource S>
size_t staged_shared_bytes(const MatvecArgs& a) {
    return S == XSource::kStaged ? static_cast<size_t>(a.n_cols) * 2 : 0;
}

// Whether the blocks of a launch reading a DeferredNorm's x~ hold its sums and the grid has a thread for every element
// of x it must write.
bool covers_deferred_norm(const MatvecArgs& a, int warps) {
    return !a.deferred_norm ||
           (deferred_sums_fit(a.n_cols, warps) && (a.norm.out == nullptr || a.n_blocks * 32 * warps >= a.n_cols));
}

template <class Q, int U, XSource S, int kSplit>
auto staged_kernel(bool rope) -> void (*)(MatvecArgs) {
    return rope ? matvec_staged_kernel<Q, U, true, S, kSplit> : matvec_staged_kernel<Q, U, false, S, kSplit>;
}

// False (nothing launched) for a DeferredNorm's reader whose form does not carry the norm (staged_rows
// kDeferredReader: U = Q::kUnroll, or a decoder without Q::kReadsDeferredNorm).
template <class Q, XSource S>
bool launch_staged(const MatvecArgs& a, int warps, bool wide, cudaStream_t stream) {
    const size_t shared_bytes = staged_shared_bytes<S>(a);
    void (*kernel)(MatvecArgs) = nullptr;
    bool full_unroll = true;
    if (staged_split(a, wide) == 2) {  // one wave or less
        kernel = staged_kernel<Q, Q::kUnroll, S, 2>(a.rope_kv);
        if constexpr (Q::kSplitOneWave) {
            if (wide) kernel = staged_kernel<Q, Q::kUnrollSplit, S, 2>(a.rope_kv), full_unroll = false;
        }
    } else {
        kernel = staged_kernel<Q, Q::kUnroll, S, 1>(a.rope_kv);
        if constexpr (Q::kUnrollManyWaves != Q::kUnroll) {
            if (a.n_blocks > resident_blocks(kernel, 32 * warps, shared_bytes)) {
                kernel = staged_kernel<Q, Q::kUnrollManyWaves, S, 1>(a.rope_kv), full_unroll = false;
            }
        }
    }
    if (a.deferred_norm && (full_unroll || !Q::kReadsDeferredNorm)) return false;
    ops::launch_pdl(kernel, dim3(static_cast<unsigned>(a.n_blocks)), dim3(32 * warps), shared_bytes, stream, a);
    return true;
}

// Whether a launch of decoder Q splits its row pairs as kSplitOneWave says: a single matrix that staged_split splits
// only with split_one_wave (kSplitBelowRows to kSplitOneWaveBelowRows - 1 rows), and few enough rows that the split
// grid (8 rows per block) is still one wave of the kernel that runs it.
template <class Q, XSource S>
bool split_one_wave(const MatvecArgs& a) {
    if constexpr (Q::kSplitOneWave) {
        if (staged_split(a, false) == 2 || staged_split(a, true) != 2) return false;
        const int64_t blocks = (a.n_rows + kMaxStagedWarps - 1) / kMaxStagedWarps;
        return blocks <= resident_blocks(staged_kernel<Q, Q::kUnrollSplit, S, 2>(a.rope_kv), 32 * kMaxStagedWarps,
                                         staged_shared_bytes<S>(a));
    }
    return false;
}

// The grid of a launch of decoder Q reading x from S: its warps per block, and whether it splits as kSplitOneWave.
template <class Q, XSource S>
int size_staged(MatvecArgs& a, bool& wide) {
    wide = split_one_wave<Q, S>(a);
    return size_staged_grid(a, wide);
}

// False (nothing launched) where the grid cannot write a DeferredNorm's x.
template <class Q, XSource S>
bool launch_staged_sized(MatvecArgs a, cudaStream_t stream) {
    bool wide = false;
    const int warps = size_staged<Q, S>(a, wide);
    return covers_deferred_norm(a, warps) && launch_staged<Q, S>(a, warps, wide, stream);
}

template <class Q>
bool launch_staged(const MatvecArgs& args, cudaStream_t stream) {
    if (args.x_int8 != nullptr) return launch_staged_sized<Q, XSource::kMade>(args, stream);
    return !args.deferred_norm && launch_staged_sized<Q, XSource::kStaged>(args, stream);
}

// A batch (never split); false (nothing launched) for a DeferredNorm's reader of one wave, whose form (both decoders
// at their full U) does not carry the norm.
template <class QA, class QB, XSource S>
bool launch_staged_mixed(const MatvecArgs& a, int warps, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(a.n_blocks)), block(32 * warps);
    const size_t shared_bytes = staged_shared_bytes<S>(a);
    void (*kernel)(MatvecArgs) = a.rope_kv ? matvec_staged_mixed_kernel<QA, QB, true, S>
                                           : matvec_staged_mixed_kernel<QA, QB, false, S>;
    const bool many_waves = a.n_blocks > resident_blocks(kernel, 32 * warps, shared_bytes);
    if (many_waves) {
        kernel = a.rope_kv ? matvec_staged_mixed_kernel<QA, QB, true, S, true>
                           : matvec_staged_mixed_kernel<QA, QB, false, S, true>;
    }
    if (a.deferred_norm && !many_waves) return false;
    ops::launch_pdl(kernel, grid, block, shared_bytes, stream, a);
    return true;
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

int64_t total_rows(const MatvecArgs& a) {
    int64_t rows = a.n_rows;
    for (int i = 0; i < a.n_more; ++i) rows += a.more[i].n_rows;
    return rows;
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
    if (!a.has_alt || !a.int8 || is_glu(a.epilogue) ||
        !staged_covers(type, n_tokens, rows, a.n_cols, a.x_int8 != nullptr) ||
        !staged_covers(a.alt_type, n_tokens, rows, a.n_cols, a.x_int8 != nullptr)) {
        return false;
    }
    bool applies = false;
    with_mixed_decoders(type, a.alt_type, a.alt_grouped, [&](auto first, auto alt) {
        applies = staged_applies<decltype(first), decltype(alt)>(a);
    });
    return applies;
}

bool launch_matvec_staged(GgmlType type, const MatvecArgs& args, int64_t n_tokens, cudaStream_t stream) {
    if (args.has_alt) {
        if (!staged_mixed_applies(type, args, n_tokens)) return false;
        MatvecArgs a = args;
        const int warps = size_staged_grid(a);
        if (!covers_deferred_norm(a, warps) || (a.deferred_norm && a.x_int8 == nullptr)) return false;
        bool launched = false;
        with_mixed_decoders(type, args.alt_type, args.alt_grouped, [&](auto first, auto alt) {
            using QA = decltype(first);
            using QB = decltype(alt);
            launched = a.x_int8 != nullptr ? launch_staged_mixed<QA, QB, XSource::kMade>(a, warps, stream)
                                           : launch_staged_mixed<QA, QB, XSource::kStaged>(a, warps, stream);
        });
        return launched;
    }
    if (args.norm_x != nullptr && !staged_add_writes_norm_x(type, args, n_tokens, args.x_int8 != nullptr)) {
        throw UsageError("launch_matvec_add: cannot write a deferred norm's x~ for this launch (" +
                         std::string(weight_type_name(type)) + ", " + std::to_string(args.n_rows) +
                         " rows); check matvec_add_writes_norm_x first");
    }
    if (args.y_int8 != nullptr && !staged_glu_writes_int8(type, args, n_tokens, args.x_int8 != nullptr)) {
        throw UsageError("launch_matvec_glu: cannot write y's x~ for this launch (" + std::string(weight_type_name(type)) +
                         ", " + std::to_string(args.n_rows) + " rows); check matvec_glu_writes_int8 first");
    }
    if (!args.int8 || !staged_covers(type, n_tokens, total_rows(args), args.n_cols, args.x_int8 != nullptr)) {
        return false;
    }
    bool launched = false;
    with_staged_decoder(type, args.grouped, [&](auto decoder) {
        using Q = decltype(decoder);
        if (staged_applies<Q>(args)) launched = launch_staged<Q>(args, stream);
    });
    return launched;
}

bool staged_add_writes_norm_x(GgmlType type, const MatvecArgs& args, int64_t n_tokens, bool x_made) {
    if (args.epilogue != Epilogue::add || args.n_more != 0 || args.rope_kv || !args.int8 || args.n_rows % 8 != 0 ||
        !staged_covers(type, n_tokens, args.n_rows, args.n_cols, x_made)) {
        return false;
    }
    bool applies = false;
    with_staged_decoder(type, args.grouped, [&](auto decoder) {
        using Q = decltype(decoder);
        if (!staged_applies<Q>(args)) return;
        MatvecArgs a = args;
        bool wide = false;
        const int warps = x_made ? size_staged<Q, XSource::kMade>(a, wide) : size_staged<Q, XSource::kStaged>(a, wide);
        // Blocks of whole 8-row groups as the grid comes (7B's 4,096-row adds: 8 rows). Not by giving the launch
        // fewer, larger blocks: TinyLlama's 2,048-row adds (4-row blocks) then lost more than the norm launch cost.
        applies = kWarpRows * warps / staged_split(a, wide) % 8 == 0;
    });
    return applies;
}

bool staged_glu_writes_int8(GgmlType type, const MatvecArgs& args, int64_t n_tokens, bool x_made) {
    if (!is_glu(args.epilogue) || args.n_more != 0 || !args.int8 || args.n_rows % 8 != 0 ||
        !staged_covers(type, n_tokens, args.n_rows, args.n_cols, x_made)) {
        return false;
    }
    bool applies = false;
    with_staged_decoder(type, args.grouped, [&](auto decoder) { applies = staged_applies<decltype(decoder)>(args); });
    MatvecArgs a = args;
    return applies && size_staged_grid(a) == kMaxStagedWarps;
}

}  // namespace spool::cuda::wq

namespace spool::cuda {

bool matvec_staged_type(GgmlType type) noexcept {
    return wq::with_staged_decoder(type, [](auto) {});
}

int64_t matvec_staged_min_rows(GgmlType type, bool x_made) noexcept {
    // With x~ made by the producer (no rounding per block), TinyLlama's 2048-row Q8_0, Q6_K and Q4_K launches
    // (attn_output, ffn_down) run faster staged (docs/cuda-performance.md, H100): Q8_0 decode 1,047 -> 1,155-1,197
    // tok/s with v12 as a whole; Q6_K 1,026-1,050 -> 1,111 with v13 (its kernel reading x~ at 2 blocks per SM); Q4_K
    // once those launches split each row pair over two warps (v17, kSplitBelowRows): Q4_K_M 1,369 -> 1,429 (v18).
    if (x_made && (type == GgmlType::Q8_0 || type == GgmlType::Q6_K || type == GgmlType::Q4_K)) return 2048;
    // TinyLlama-shaped decode on an H100 (forward-only tg128, A/B in one run through a temporary override; numbers in
    // docs/cuda-performance.md, v8): staging the q/k/v batches (2304-2560 rows) took Q4_K_M from 1,155-1,166 to
    // 1,187-1,189 tok/s and Q6_K from 972-982 to 1,002-1,028; also staging the 2048-row attn_output and ffn_down
    // cost Q4_K_M 4-5% (Q4_K and Q6_K alike) and did not help Q6_K reliably (x rounded per block, before v11); Q8_0
    // moved within noise.
    switch (type) {
        case GgmlType::Q4_K:
        case GgmlType::Q6_K: return 2049;
        default: return kMatvecStagedMinRows;
    }
}

}  // namespace spool::cuda
