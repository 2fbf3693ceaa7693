// Top-k per row with the logits left on the device (Backend::top_k), for sampling. The result is exactly the first
// k of a full sort: by value, ties to the lower index, -0.0 == 0.0, NaN last; plus the row's float64 log-sum-exp.
//
// Split form (with a workspace, where n_slices * k fits the merge block's kMaxCandidates): a row is cut into
// slices of 2048, 4096 or 8192 entries, one block each (top_k_slice_kernel). A slice block holds its keys in
// registers, finds its own top k by a radix select and writes them to the workspace in an order where equal keys
// keep their index order (entries above the k-th key, then the ones equal to it, each group by index), with its
// (max, sum exp(x - max)) in float64. One block per row (top_k_merge_kernel) then selects the top k of those
// candidates the same way, taking equal keys in workspace order, which is index order, sorts them and combines the
// partial sums. The row's top k is in the union of the slices' top k, so the result is exact.
//
// Single-block form (no workspace, or rows too long for the merge's shared memory): one block per row finds the
// k-th largest entry by a radix select on order-preserving 32-bit keys (four 8-bit digits, most significant
// first), gathers the entries above it and the lowest-indexed ones equal to it, sorts those k (bitonic, in
// shared memory) and writes them largest first. The first radix pass also folds the row's log-sum-exp.
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

// The radix select's per-pass choice, in shared memory.
struct BinChoice {
    unsigned bin, remaining, complete;
};

// Warp 0 of the block: the bin, counted from the top, where the running count reaches `remaining` (the bins hold
// at least `remaining` entries), how many of that bin's entries are still wanted, and whether that is all of them.
__device__ __forceinline__ void choose_bin(const unsigned* hist, unsigned remaining, BinChoice* choice) {
    const int lane = threadIdx.x & 31;
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
    if (above < remaining && inclusive >= remaining) {  // exactly one lane
        for (int j = 0; j < 8; ++j) {
            if (above + counts[j] >= remaining) {
                choice->bin = static_cast<unsigned>(kBins - 1 - 8 * lane - j);
                choice->remaining = remaining - above;
                choice->complete = counts[j] == remaining - above;
                break;
            }
            above += counts[j];
        }
    }
}

// The k winners of a radix select (prefix/mask: the k-th key's bits found so far; remaining: how many entries equal
// to it are still wanted) into selected[0, k) as composite(key, id), sorted descending: every entry above the
// prefix, then the `remaining` first entries equal to it in enumeration order (the tie rule: lowest index first),
// ranked chunk by chunk with ballots. entry(i, key, id) fills entry i < count and says whether it exists. Its
// shared memory is a GatherShared (selected holds the next power of two >= k). Every thread calls it.
struct GatherShared {
    uint64_t selected[kMaxTopK];
    unsigned warp_counts[32];
    unsigned n_above, n_equal_taken;
};

template <class Entry>
__device__ void gather_and_sort(int64_t count, Entry entry, uint32_t prefix, uint32_t mask, unsigned remaining, int k,
                                GatherShared& g) {
    uint64_t* selected = g.selected;
    unsigned* warp_counts = g.warp_counts;
    unsigned& n_above = g.n_above;
    unsigned& n_equal_taken = g.n_equal_taken;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = static_cast<int>(blockDim.x >> 5);
    if (threadIdx.x == 0) {
        n_above = 0;
        n_equal_taken = 0;
    }
    __syncthreads();
    const unsigned first_equal_slot = static_cast<unsigned>(k) - remaining;
    for (int64_t base = 0; base < count; base += blockDim.x) {
        const int64_t i = base + threadIdx.x;
        uint32_t key = 0;
        int64_t id = 0;
        const bool exists = i < count && entry(i, key, id);
        const bool above = exists && (key & mask) > prefix;
        const bool equal = exists && (key & mask) == prefix;
        if (above) selected[atomicAdd(&n_above, 1u)] = composite(key, id);
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
        if (equal && rank < remaining) selected[first_equal_slot + rank] = composite(key, id);
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

    // Folds in another share, as block_reduce_lse leaves it (a NaN max: a NaN was seen; +inf: +inf was).
    __device__ __forceinline__ void merge(double m, double s) {
        if (isnan(m)) {
            nan = true;
        } else if (isinf(m) && m > 0.0) {
            pos_inf = true;
        } else if (s == 0.0) {
            // every entry -inf: adds nothing
        } else if (m > max) {
            sum = sum * exp(max - m) + s;
            max = m;
        } else {
            sum += s * exp(m - max);
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

// Combines every thread's LseState into one, returned to every thread, with NaN and +inf folded into the max
// (the form LseState::merge takes). All threads must call it (it syncs).
__device__ LseState block_reduce_lse(const LseState& s, double* scratch) {
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
    LseState total;
    total.sum = warp_sum(lane < n_warps ? scratch[lane] : 0.0);
    total.max = nan ? NAN : (pos_inf ? INFINITY : m);
    total.nan = nan;
    total.pos_inf = pos_inf;
    __syncthreads();  // scratch may be reused
    return total;
}

// log(sum exp(x)) of the whole block's entries, to every thread. All threads must call it (it syncs).
__device__ double block_log_sum_exp(const LseState& s, double* scratch) {
    const LseState total = block_reduce_lse(s, scratch);
    if (total.nan) return NAN;
    if (total.pos_inf) return INFINITY;
    if (total.max == -INFINITY) return -INFINITY;  // every entry -inf
    return total.max + log(total.sum);
}

// Radix select over the keys the block's threads visit (for_each_key(f) calls f(key) on each of this thread's
// keys, kNoKey excluded): on return every key above `prefix` on the bits of `mask` is in the top `remaining`
// (as passed in), and `remaining` (as returned) of the keys matching it are. All threads must call it.
template <class ForEachKey>
__device__ void radix_select(ForEachKey for_each_key, unsigned* hist, BinChoice* choice, uint32_t& prefix,
                             uint32_t& mask, unsigned& remaining) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < kBins; b += blockDim.x) hist[b] = 0;
        __syncthreads();
        for_each_key([&](uint32_t key) {
            if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 0xffu], 1u);
        });
        __syncthreads();
        if (threadIdx.x < 32) choose_bin(hist, remaining, choice);
        __syncthreads();
        prefix |= choice->bin << shift;
        mask |= 0xffu << shift;
        remaining = choice->remaining;
        const bool complete = choice->complete != 0;
        __syncthreads();  // choice is rewritten by the next pass
        if (complete) break;  // every entry of the bin is taken: no need to tell them apart
    }
}

// One block per row; blockDim is a whole number of warps.
__global__ void top_k_kernel(const float* x,  // [n_rows, n]
                             int64_t n, int k,
                             float* values,    // [n_rows, k]
                             int32_t* ids,     // [n_rows, k]
                             double* lse) {    // [n_rows] or null
    __shared__ unsigned hist[kBins];
    __shared__ double scratch[32];
    __shared__ BinChoice choice;
    __shared__ GatherShared gather;
    ops::wait_for_producers();
    const float* xr = x + static_cast<int64_t>(blockIdx.x) * n;

    // Radix select: after the passes, the k-th largest key matches `prefix` on the bits of `mask`; `remaining` of
    // the entries matching it belong to the top k (the lowest-indexed ones), every entry above it does too. The first
    // pass also folds the row's log-sum-exp.
    uint32_t prefix = 0, mask = 0;
    unsigned remaining = static_cast<unsigned>(k);
    LseState lse_state;
    bool first_pass = true;
    radix_select(
        [&](auto&& f) {
            for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
                const float v = xr[i];
                if (first_pass && lse != nullptr) lse_state.add(v);
                f(order_key(v));
            }
            first_pass = false;
        },
        hist, &choice, prefix, mask, remaining);
    if (lse != nullptr) {
        const double row_lse = block_log_sum_exp(lse_state, scratch);
        if (threadIdx.x == 0) lse[blockIdx.x] = row_lse;
    }

    // The k - remaining entries above the prefix, then the `remaining` lowest-indexed entries equal to it.
    gather_and_sort(
        n,
        [&](int64_t i, uint32_t& key, int64_t& id) {
            key = order_key(xr[i]);
            id = i;
            return true;
        },
        prefix, mask, remaining, k, gather);
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        const uint32_t index = 0xffffffffu - static_cast<uint32_t>(gather.selected[j]);
        values[static_cast<int64_t>(blockIdx.x) * k + j] = xr[index];
        ids[static_cast<int64_t>(blockIdx.x) * k + j] = static_cast<int32_t>(index);
    }
}


// ---- Split form

constexpr int kSliceItems = 8;            // keys per thread of a slice block, held in registers
constexpr int kMaxSliceThreads = 1024;
constexpr int kMaxSlice = kSliceItems * kMaxSliceThreads;
// Candidates per row the merge block holds in shared memory (40 KiB of keys): n_slices * k must not exceed it.
constexpr int kMaxCandidates = 10240;
// Marks a workspace slot past a short slice's entries. order_key never yields it: a NaN maps to key 0.
constexpr uint32_t kNoKey = 0xffffffffu;
static_assert(kMaxSlice < (1 << 16), "the slice gather packs two counts in 16 bits each");

// Exclusive prefix sum over the block in thread order; warp_totals: 32 unsigned of shared memory. All threads
// must call it (it syncs).
__device__ __forceinline__ unsigned block_exclusive_scan(unsigned v, unsigned* warp_totals) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    unsigned inclusive = v;
    for (int offset = 1; offset < 32; offset <<= 1) {
        const unsigned t = __shfl_up_sync(0xffffffffu, inclusive, offset);
        if (lane >= offset) inclusive += t;
    }
    if (lane == 31) warp_totals[warp] = inclusive;
    __syncthreads();
    unsigned before = 0;
    for (int w = 0; w < warp; ++w) before += warp_totals[w];
    return before + inclusive - v;
}

// Block (slice, row): the slice's top min(k, slice entries) as (key, index) in slots [0, k) of its workspace
// range, the entries above the k-th key first then the ones equal to it, each group in index order (so equal keys
// are in index order), kNoKey in unused slots; and the slice's (max, sum exp(x - max)) as block_reduce_lse gives.
// blockDim.x * kSliceItems == slice.
__global__ void __launch_bounds__(kMaxSliceThreads)
    top_k_slice_kernel(const float* x,  // [n_rows, n]
                       int64_t n, int k, int64_t slice,
                       uint32_t* cand_keys,  // [n_rows, n_slices * k]
                       int32_t* cand_ids,    // [n_rows, n_slices * k]
                       double2* partials) {  // [n_rows, n_slices] or null
    __shared__ __align__(16) uint32_t staged[kMaxSlice];
    __shared__ unsigned hist[kBins];
    __shared__ double scratch[32];
    __shared__ unsigned warp_totals[32];
    __shared__ BinChoice choice;
    ops::wait_for_producers();
    const int64_t row = blockIdx.y, n_slices = gridDim.x;
    const int64_t begin = static_cast<int64_t>(blockIdx.x) * slice;
    const int count = static_cast<int>(n - begin < slice ? n - begin : slice);
    const float* xs = x + row * n + begin;

    // Coalesced loads, then each thread takes kSliceItems consecutive keys: thread order is index order.
    LseState lse_state;
    for (int i = threadIdx.x; i < static_cast<int>(slice); i += blockDim.x) {
        uint32_t key = kNoKey;
        if (i < count) {
            const float v = xs[i];
            if (partials != nullptr) lse_state.add(v);
            key = order_key(v);
        }
        staged[i] = key;
    }
    __syncthreads();
    uint32_t keys[kSliceItems];
    for (int q = 0; q < kSliceItems / 4; ++q) {
        const uint4 four = reinterpret_cast<const uint4*>(staged)[threadIdx.x * (kSliceItems / 4) + q];
        keys[4 * q] = four.x;
        keys[4 * q + 1] = four.y;
        keys[4 * q + 2] = four.z;
        keys[4 * q + 3] = four.w;
    }
    const int first_local = static_cast<int>(threadIdx.x) * kSliceItems;

    const unsigned wanted = static_cast<unsigned>(count < k ? count : k);
    uint32_t prefix = 0, mask = 0;  // a slice of at most k entries: all of them match, all are taken
    unsigned remaining = wanted;
    if (count > k) {
        radix_select(
            [&](auto&& f) {
#pragma unroll
                for (int j = 0; j < kSliceItems; ++j) {
                    if (keys[j] != kNoKey) f(keys[j]);
                }
            },
            hist, &choice, prefix, mask, remaining);
    }
    if (partials != nullptr) {
        const LseState total = block_reduce_lse(lse_state, scratch);
        if (threadIdx.x == 0) partials[row * n_slices + blockIdx.x] = make_double2(total.max, total.sum);
    }

    // Stable compaction: one scan of (above, equal) counts packed in 16 bits each.
    unsigned n_above = 0, n_equal = 0;
#pragma unroll
    for (int j = 0; j < kSliceItems; ++j) {
        const bool valid = keys[j] != kNoKey;
        n_above += valid && (keys[j] & mask) > prefix ? 1u : 0u;
        n_equal += valid && (keys[j] & mask) == prefix ? 1u : 0u;
    }
    const unsigned ranks = block_exclusive_scan((n_above << 16) | n_equal, warp_totals);
    unsigned above_rank = ranks >> 16, equal_rank = ranks & 0xffffu;
    const unsigned first_equal_slot = wanted - remaining;
    const int64_t base = (row * n_slices + blockIdx.x) * static_cast<int64_t>(k);
#pragma unroll
    for (int j = 0; j < kSliceItems; ++j) {
        const bool valid = keys[j] != kNoKey;
        const int32_t index = static_cast<int32_t>(begin + first_local + j);
        if (valid && (keys[j] & mask) > prefix) {
            cand_keys[base + above_rank] = keys[j];
            cand_ids[base + above_rank] = index;
            ++above_rank;
        } else if (valid && (keys[j] & mask) == prefix) {
            if (equal_rank < remaining) {
                cand_keys[base + first_equal_slot + equal_rank] = keys[j];
                cand_ids[base + first_equal_slot + equal_rank] = index;
            }
            ++equal_rank;
        }
    }
    for (int s = static_cast<int>(wanted) + threadIdx.x; s < k; s += blockDim.x) cand_keys[base + s] = kNoKey;
}

// One block per row: the top k of the row's n_slices * k candidates (equal keys taken in workspace order, which
// is index order), sorted, and the row's log-sum-exp from the slices' partial sums.
__global__ void __launch_bounds__(1024)
    top_k_merge_kernel(const float* x,  // [n_rows, n]
                       int64_t n, int k, int n_slices,
                       const uint32_t* cand_keys,  // [n_rows, n_slices * k]
                       const int32_t* cand_ids,    // [n_rows, n_slices * k]
                       const double2* partials,    // [n_rows, n_slices] or null
                       float* values,              // [n_rows, k]
                       int32_t* ids,               // [n_rows, k]
                       double* lse) {              // [n_rows] or null
    __shared__ uint32_t keys[kMaxCandidates];
    __shared__ unsigned hist[kBins];
    __shared__ double scratch[32];
    __shared__ BinChoice choice;
    __shared__ GatherShared gather;
    ops::wait_for_producers();
    const int64_t row = blockIdx.x;
    const int m = n_slices * k;
    const uint32_t* row_keys = cand_keys + row * m;
    const int32_t* row_ids = cand_ids + row * m;
#pragma unroll 4
    for (int i = threadIdx.x; i < m; i += blockDim.x) keys[i] = row_keys[i];
    if (lse != nullptr) {
        LseState lse_state;
        for (int s = threadIdx.x; s < n_slices; s += blockDim.x) {
            const double2 p = partials[row * n_slices + s];
            lse_state.merge(p.x, p.y);
        }
        const double row_lse = block_log_sum_exp(lse_state, scratch);  // syncs: keys are visible after it
        if (threadIdx.x == 0) lse[row] = row_lse;
    }
    __syncthreads();

    uint32_t prefix = 0, mask = 0;
    unsigned remaining = static_cast<unsigned>(k);  // at least k candidates: each slice gave min(k, its entries)
    radix_select(
        [&](auto&& f) {
            for (int i = threadIdx.x; i < m; i += blockDim.x) {
                const uint32_t key = keys[i];
                if (key != kNoKey) f(key);
            }
        },
        hist, &choice, prefix, mask, remaining);

    // As the single-block kernel, over the candidates in workspace order (index order among equal keys).
    gather_and_sort(
        m,
        [&](int64_t i, uint32_t& key, int64_t& id) {
            key = keys[i];
            id = row_ids[i];
            return key != kNoKey;
        },
        prefix, mask, remaining, k, gather);
    const float* xr = x + row * n;
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        const uint32_t index = 0xffffffffu - static_cast<uint32_t>(gather.selected[j]);
        values[row * k + j] = xr[index];
        ids[row * k + j] = static_cast<int32_t>(index);
    }
}

// How a launch splits its rows: slices of threads * kSliceItems entries, the fewest threads (most slices) whose
// candidates fit the merge block. threads == 0: the single-block kernel (no split fits).
struct SplitPlan {
    int threads = 0;
    int64_t slice = 0;
    int n_slices = 0;
    size_t partials_bytes = 0, keys_bytes = 0, workspace_bytes = 0;
};

SplitPlan split_plan(int64_t n_rows, int64_t n, int k) {
    SplitPlan plan;
    if (n_rows < 1 || n_rows > 65535 || n < 1 || k < 1 || k > kMaxTopK || k > n) return plan;  // gridDim.y limit
    for (int threads = 256; threads <= kMaxSliceThreads; threads *= 2) {
        const int64_t slice = static_cast<int64_t>(threads) * kSliceItems;
        const int64_t n_slices = (n + slice - 1) / slice;
        if (n_slices * k > kMaxCandidates) continue;
        plan.threads = threads;
        plan.slice = slice;
        plan.n_slices = static_cast<int>(n_slices);
        const size_t n_candidates = static_cast<size_t>(n_rows * n_slices * k);
        plan.partials_bytes = static_cast<size_t>(n_rows * n_slices) * sizeof(double2);
        plan.keys_bytes = n_candidates * sizeof(uint32_t);
        plan.workspace_bytes = plan.partials_bytes + plan.keys_bytes + n_candidates * sizeof(int32_t);
        return plan;
    }
    return plan;
}

}  // namespace

size_t top_k_workspace_bytes(int64_t n_rows, int64_t n, int k) { return split_plan(n_rows, n, k).workspace_bytes; }

void launch_top_k(const float* x, int64_t n_rows, int64_t n, int k, float* values, int32_t* ids, double* lse,
                  void* workspace, size_t workspace_bytes, cudaStream_t stream) {
    const SplitPlan plan = split_plan(n_rows, n, k);
    if (plan.threads == 0 || workspace == nullptr || workspace_bytes < plan.workspace_bytes) {
        ops::launch_pdl(top_k_kernel, dim3(static_cast<unsigned>(n_rows)), dim3(ops::row_threads(n)), 0, stream, x,
                        n, k, values, ids, lse);
        return;
    }
    // partials first: cudaMalloc'd memory is aligned for double2, and the key and id arrays after it stay 4-aligned.
    char* ws = static_cast<char*>(workspace);
    auto* partials = reinterpret_cast<double2*>(ws);
    auto* cand_keys = reinterpret_cast<uint32_t*>(ws + plan.partials_bytes);
    auto* cand_ids = reinterpret_cast<int32_t*>(ws + plan.partials_bytes + plan.keys_bytes);
    ops::launch_pdl(top_k_slice_kernel, dim3(static_cast<unsigned>(plan.n_slices), static_cast<unsigned>(n_rows)),
                    dim3(static_cast<unsigned>(plan.threads)), 0, stream, x, n, k, plan.slice, cand_keys, cand_ids,
                    lse != nullptr ? partials : nullptr);
    ops::launch_pdl(top_k_merge_kernel, dim3(static_cast<unsigned>(n_rows)),
                    dim3(ops::row_threads(static_cast<int64_t>(plan.n_slices) * k)), 0, stream, x, n, k,
                    plan.n_slices, cand_keys, cand_ids, lse != nullptr ? partials : nullptr, values, ids, lse);
}

}  // namespace spool::cuda
