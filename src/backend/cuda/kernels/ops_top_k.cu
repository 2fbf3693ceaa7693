// Top-k per row with the logits left on the device (Backend::top_k), for sampling: one block per row finds the
// k-th largest entry by a radix select on order-preserving 32-bit keys (four 8-bit digits, most significant
// first), gathers the entries above it and the lowest-indexed ones equal to it, sorts those k (bitonic, in
// shared memory) and writes them largest first. The first radix pass also folds the row's log-sum-exp in float64.
// The result is exactly the first k of a full sort: by value, ties to the lower index, -0.0 == 0.0, NaN last.
#include <cfloat>
#include <cmath>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/ops_common.cuh"

namespace spool::cuda {
namespace {

constexpr int kBins = 256;  // one 8-bit digit per pass
static_assert((kMaxTopK & (kMaxTopK - 1)) == 0, "the bitonic sort needs a power-of-two buffer");

// Larger number -> larger key, as unsigned integers: flip every bit of a negative float, only the sign bit of a
// positive one. -0.0 becomes 0.0 first (they compare equal); a NaN gets key 0, below -inf's 0x007fffff.
__device__ __forceinline__ uint32_t order_key(float v) {
    if (isnan(v)) return 0u;
    const uint32_t bits = __float_as_uint(v == 0.0f ? 0.0f : v);
    return (bits & 0x80000000u) != 0u ? ~bits : (bits | 0x80000000u);
}

// Key in the high word, inverted index in the low word: sorting these descending gives value-descending,
// index-ascending order. 0 (key 0, index 0xffffffff) ranks below every real entry and pads the sort.
__device__ __forceinline__ uint64_t composite(uint32_t key, int64_t index) {
    return (static_cast<uint64_t>(key) << 32) | (0xffffffffu - static_cast<uint32_t>(index));
}

// The row's log-sum-exp as one thread sees its share: a running max and the sum of exp(x - max), rescaled when
// the max grows (one pass). -inf entries add nothing; NaN and +inf are flagged and decided at the end.
struct LseState {
    double max = -INFINITY;
    double sum = 0.0;
    bool nan = false;
    bool pos_inf = false;

    __device__ __forceinline__ void add(float v) {
        if (isnan(v)) {
            nan = true;
        } else if (isinf(v)) {
            pos_inf = pos_inf || v > 0.0f;
        } else if (v > max) {
            sum = sum * exp(max - static_cast<double>(v)) + 1.0;
            max = v;
        } else {
            sum += exp(static_cast<double>(v) - max);
        }
    }
};

__device__ __forceinline__ double warp_max(double v) {
    for (int offset = 16; offset > 0; offset >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

__device__ __forceinline__ double warp_sum(double v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// Combines every thread's LseState; thread 0 gets log(sum exp(x)). All threads must call it (it syncs).
__device__ double block_log_sum_exp(const LseState& s, double* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = (blockDim.x + 31) >> 5;
    const bool nan = __syncthreads_or(s.nan) != 0;
    const bool pos_inf = __syncthreads_or(s.pos_inf) != 0;
    double m = warp_max(s.max);
    if (lane == 0) scratch[warp] = m;
    __syncthreads();
    m = warp_max(lane < n_warps ? scratch[lane] : -INFINITY);  // every warp computes the block's max
    __syncthreads();
    double part = s.sum == 0.0 ? 0.0 : s.sum * exp(s.max - m);
    part = warp_sum(part);
    if (lane == 0) scratch[warp] = part;
    __syncthreads();
    const double total = warp_sum(lane < n_warps ? scratch[lane] : 0.0);
    if (nan) return NAN;
    if (pos_inf) return INFINITY;
    if (m == -INFINITY) return -INFINITY;  // every entry -inf
    return m + log(total);
}

// One block per row; blockDim is a whole number of warps.
__global__ void top_k_kernel(const float* x,  // [n_rows, n]
                             int64_t n, int k,
                             float* values,    // [n_rows, k]
                             int32_t* ids,     // [n_rows, k]
                             double* lse) {    // [n_rows] or null
    __shared__ unsigned hist[kBins];
    __shared__ uint64_t selected[kMaxTopK];
    __shared__ double scratch[32];
    __shared__ unsigned warp_counts[32];
    __shared__ unsigned chosen_bin, chosen_remaining, bin_complete, n_above, n_equal_taken;
    ops::wait_for_producers();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = static_cast<int>(blockDim.x >> 5);
    const float* xr = x + static_cast<int64_t>(blockIdx.x) * n;

    // Radix select: after the passes, the k-th largest key matches `prefix` on the bits of `mask`; `remaining` of
    // the entries matching it belong to the top k (the lowest-indexed ones), every entry above it does too.
    uint32_t prefix = 0, mask = 0;
    unsigned remaining = static_cast<unsigned>(k);
    LseState lse_state;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < kBins; b += blockDim.x) hist[b] = 0;
        __syncthreads();
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            const float v = xr[i];
            if (shift == 24 && lse != nullptr) lse_state.add(v);
            const uint32_t key = order_key(v);
            if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 0xffu], 1u);
        }
        __syncthreads();
        if (warp == 0) {
            // Lane l owns 8 bins, walked from the top: bins 255 - 8l down to 248 - 8l.
            unsigned counts[8];
            unsigned sum = 0;
            for (int j = 0; j < 8; ++j) {
                counts[j] = hist[kBins - 1 - 8 * lane - j];
                sum += counts[j];
            }
            unsigned inclusive = sum;
            for (int offset = 1; offset < 32; offset <<= 1) {
                const unsigned t = __shfl_up_sync(0xffffffffu, inclusive, offset);
                if (lane >= offset) inclusive += t;
            }
            unsigned above = inclusive - sum;
            // Exactly one lane holds the bin where the count from the top reaches `remaining` (the bins hold at
            // least `remaining` entries: every entry matching the prefix so far).
            if (above < remaining && inclusive >= remaining) {
                for (int j = 0; j < 8; ++j) {
                    if (above + counts[j] >= remaining) {
                        chosen_bin = static_cast<unsigned>(kBins - 1 - 8 * lane - j);
                        chosen_remaining = remaining - above;
                        bin_complete = counts[j] == remaining - above;
                        break;
                    }
                    above += counts[j];
                }
            }
        }
        __syncthreads();
        prefix |= chosen_bin << shift;
        mask |= 0xffu << shift;
        remaining = chosen_remaining;
        const bool complete = bin_complete != 0;
        __syncthreads();  // chosen_* are rewritten by the next pass
        if (complete) break;  // every entry of the bin is taken: no need to tell them apart
    }
    if (lse != nullptr) {
        const double row_lse = block_log_sum_exp(lse_state, scratch);
        if (threadIdx.x == 0) lse[blockIdx.x] = row_lse;
    }

    // Gather: the k - remaining entries above the prefix in any order, then the `remaining` lowest-indexed entries
    // equal to it, ranked in index order chunk by chunk.
    if (threadIdx.x == 0) {
        n_above = 0;
        n_equal_taken = 0;
    }
    __syncthreads();
    const unsigned first_equal_slot = static_cast<unsigned>(k) - remaining;
    for (int64_t base = 0; base < n; base += blockDim.x) {
        const int64_t i = base + threadIdx.x;
        const uint32_t key = i < n ? order_key(xr[i]) : 0u;
        const bool in_row = i < n;
        const bool above = in_row && (key & mask) > prefix;
        const bool equal = in_row && (key & mask) == prefix;
        if (above) selected[atomicAdd(&n_above, 1u)] = composite(key, i);
        if (__syncthreads_or(equal) == 0) continue;
        const unsigned taken = n_equal_taken;
        if (taken >= remaining) continue;  // uniform: every thread read the same value
        const unsigned ballot = __ballot_sync(0xffffffffu, equal);
        if (lane == 0) warp_counts[warp] = __popc(ballot);
        __syncthreads();
        unsigned offset = 0, total = 0;
        for (int w = 0; w < n_warps; ++w) {
            offset += w < warp ? warp_counts[w] : 0u;
            total += warp_counts[w];
        }
        const unsigned rank = taken + offset + __popc(ballot & ((1u << lane) - 1u));
        if (equal && rank < remaining) selected[first_equal_slot + rank] = composite(key, i);
        __syncthreads();  // every thread has read n_equal_taken and warp_counts
        if (threadIdx.x == 0) n_equal_taken = taken + total;
    }

    // Bitonic sort of the k selected entries (padded with 0 to a power of two), descending.
    unsigned size_p2 = 1;
    while (size_p2 < static_cast<unsigned>(k)) size_p2 <<= 1;
    for (unsigned j = static_cast<unsigned>(k) + threadIdx.x; j < size_p2; j += blockDim.x) selected[j] = 0;
    __syncthreads();
    for (unsigned size = 2; size <= size_p2; size <<= 1) {
        for (unsigned stride = size >> 1; stride > 0; stride >>= 1) {
            for (unsigned t = threadIdx.x; t < size_p2 / 2; t += blockDim.x) {
                const unsigned lo = 2 * t - (t & (stride - 1));
                const unsigned hi = lo + stride;
                const bool descending = (lo & size) == 0;
                const uint64_t a = selected[lo], b = selected[hi];
                if ((a < b) == descending) {
                    selected[lo] = b;
                    selected[hi] = a;
                }
            }
            __syncthreads();
        }
    }
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        const uint32_t index = 0xffffffffu - static_cast<uint32_t>(selected[j]);
        values[static_cast<int64_t>(blockIdx.x) * k + j] = xr[index];
        ids[static_cast<int64_t>(blockIdx.x) * k + j] = static_cast<int32_t>(index);
    }
}

}  // namespace

void launch_top_k(const float* x, int64_t n_rows, int64_t n, int k, float* values, int32_t* ids, double* lse,
                  cudaStream_t stream) {
    ops::launch_pdl(top_k_kernel, dim3(static_cast<unsigned>(n_rows)), dim3(ops::row_threads(n)), 0, stream, x, n, k,
                    values, ids, lse);
}

}  // namespace spool::cuda
