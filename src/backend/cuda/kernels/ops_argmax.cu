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
    Candidate best{0.0f, INT64_MAX};
    if constexpr (VEC == 4) {
        const float4* xv = reinterpret_cast<const float4*>(xr);
        for (int64_t i = threadIdx.x; i < n / 4; i += blockDim.x) {
            const float4 v = xv[i];
            consider(best, v.x, 4 * i);
            consider(best, v.y, 4 * i + 1);
            consider(best, v.z, 4 * i + 2);
            consider(best, v.w, 4 * i + 3);
        }
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
        if (lane == 0) out[blockIdx.x] = isnan(xr[0]) || c.index == INT64_MAX ? 0 : static_cast<int32_t>(c.index);
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
