// Greedy argmax per row (logits stay on the device): ties go to the lowest index, exactly as the ref's
// sequential scan `if (x[i] > x[best]) best = i` starting from best = 0, NaN included (see Candidate).
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/ops_common.cuh"

namespace spool::cuda {
namespace {

// The ref's scan never moves to a NaN and nothing compares greater than a NaN, so: if x[0] is NaN the answer is
// 0, otherwise it is the lowest index of the largest non-NaN value. A candidate ranks by (not NaN, value, -index).
struct Candidate {
    float value;
    int64_t index;  // INT64_MAX: none yet
};

__device__ __forceinline__ bool better(const Candidate& a, const Candidate& b) {
    const bool a_ok = a.index != INT64_MAX && !isnan(a.value);
    const bool b_ok = b.index != INT64_MAX && !isnan(b.value);
    if (a_ok != b_ok) return a_ok;
    if (a_ok && a.value != b.value) return a.value > b.value;
    return a.index < b.index;
}

__device__ __forceinline__ void consider(Candidate& best, float value, int64_t index) {
    const Candidate c{value, index};
    if (better(c, best)) best = c;
}

__device__ __forceinline__ Candidate warp_best(Candidate c) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        const Candidate other{__shfl_xor_sync(0xffffffffu, c.value, offset),
                              static_cast<int64_t>(__shfl_xor_sync(0xffffffffu, static_cast<long long>(c.index),
                                                                   offset))};
        if (better(other, c)) c = other;
    }
    return c;
}

// One block per row. VEC: 4 when rows are 16-byte aligned (n % 4 == 0 and x aligned), else 1.
template <int VEC>
__global__ void argmax_kernel(const float* x,  // [n_rows, n]
                              int64_t n,
                              int32_t* out) {  // [n_rows]
    __shared__ float best_values[32];
    __shared__ int64_t best_indices[32];
    ops::wait_for_producers();
    const float* xr = x + blockIdx.x * n;
    // Read now, not after the reduction, where its L2 round trip would trail everything else.
    const bool x0_nan = threadIdx.x == 0 && isnan(xr[0]);
    Candidate best{0.0f, INT64_MAX};
    if constexpr (VEC == 4) {
        // Kernel trace (H100): this one-block kernel moved each decode step's end by ~9 us, mostly arithmetic (a full
        // Candidate comparison per logit). So kBatch float4s per thread are loaded before any is compared (one L2
        // round trip instead of eight in a row), and a thread scans its logits in increasing index order with a plain
        // float comparison: a strict > keeps the lowest index among equal values, NaN never wins, and -inf counts once
        // nothing else has. Threads then merge with better(), as before.
        constexpr int kBatch = 8;
        const float4* xv = reinterpret_cast<const float4*>(xr);
        const int64_t n_vec = n / 4;
        float best_value = -INFINITY;
        int64_t best_index = INT64_MAX;
        auto scan = [&](float value, int64_t index) {
            if (value > best_value || (value == best_value && best_index == INT64_MAX)) {
                best_value = value;
                best_index = index;
            }
        };
        for (int64_t base = threadIdx.x; base < n_vec; base += kBatch * static_cast<int64_t>(blockDim.x)) {
            float4 v[kBatch];
#pragma unroll
            for (int k = 0; k < kBatch; ++k) {
                const int64_t i = base + static_cast<int64_t>(k) * blockDim.x;
                if (i < n_vec) v[k] = xv[i];
            }
#pragma unroll
            for (int k = 0; k < kBatch; ++k) {
                const int64_t i = base + static_cast<int64_t>(k) * blockDim.x;
                if (i < n_vec) {
                    scan(v[k].x, 4 * i);
                    scan(v[k].y, 4 * i + 1);
                    scan(v[k].z, 4 * i + 2);
                    scan(v[k].w, 4 * i + 3);
                }
            }
        }
        best = Candidate{best_value, best_index};
    } else {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) consider(best, xr[i], i);
    }
    best = warp_best(best);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = (blockDim.x + 31) >> 5;
    if (lane == 0) {
        best_values[warp] = best.value;
        best_indices[warp] = best.index;
    }
    __syncthreads();
    if (warp == 0) {
        Candidate c{0.0f, INT64_MAX};
        if (lane < n_warps) c = Candidate{best_values[lane], best_indices[lane]};
        c = warp_best(c);
        if (lane == 0) out[blockIdx.x] = x0_nan || c.index == INT64_MAX ? 0 : static_cast<int32_t>(c.index);
    }
}

}  // namespace

void launch_argmax(const float* x, int64_t n_rows, int64_t n, int32_t* out, cudaStream_t stream) {
    if (n % 4 == 0 && ops::aligned16(x)) {
        ops::launch_pdl(argmax_kernel<4>, dim3(static_cast<unsigned>(n_rows)), dim3(ops::row_threads(n / 4)), 0, stream,
                        x, n, out);
    } else {
        ops::launch_pdl(argmax_kernel<1>, dim3(static_cast<unsigned>(n_rows)), dim3(ops::row_threads(n)), 0, stream, x,
                        n, out);
    }
}

}  // namespace spool::cuda
