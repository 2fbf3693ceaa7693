// The two halves of launch.h's DeferredNorm inside the staged matvec kernel (matvec_staged.cu). The residual add's
// blocks hold whole 8-row groups of y: each group's x~ of y * weight and its sum of y^2 go to norm_x. The warps of a
// block of a launch that reads that x~ load a share of the sums each right after their wait, while their first
// weights are in flight, and add them up into the scale 1 / rms once their rows' totals are known.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/matvec_kernel.cuh"
#include "backend/cuda/kernels/ops_common.cuh"
#include "backend/cuda/kernels/quantize_x.cuh"

namespace spool::cuda::wq {

// The sums of squares after the groups of a DeferredNorm's x~ of n elements (launch.h deferred_norm_x_bytes).
__device__ __forceinline__ float* deferred_norm_sums(void* norm_x, int64_t n) {
    return reinterpret_cast<float*>(static_cast<uint8_t*>(norm_x) + int8_x_bytes(n));
}

// Residual add: group g of y (rows 8g .. 8g + 7, values y[0..8), the norm's weight of those rows weight[0..8)) into
// a.norm_x.
__device__ __forceinline__ void write_norm_group(const MatvecArgs& a, int64_t g, const float* y, const float* weight) {
    float v[8], sum_sq = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        v[i] = y[i] * weight[i];
        sum_sq = fmaf(y[i], y[i], sum_sq);
    }
    const QuantizedGroup q = quantize_group(make_float4(v[0], v[1], v[2], v[3]), make_float4(v[4], v[5], v[6], v[7]));
    store_quantized_group(a.norm_x, a.n_rows / 8, g, q);
    deferred_norm_sums(a.norm_x, a.n_rows)[g] = sum_sq;
}

// A reading launch's warps share the sums of a DeferredNorm of n elements: warp w of a block of n_warps takes
// kDeferredSumsPerLane per lane of them (the launcher checks that they cover n / 8).
inline constexpr int kDeferredSumsPerLane = 2;
__host__ __device__ inline bool deferred_sums_fit(int64_t n, int n_warps) {
    return n / 8 <= int64_t{32} * kDeferredSumsPerLane * n_warps;
}

// Reading launch, every thread right after the kernel's wait: this lane's sums, loaded now and added only after the
// dot products, so their round trip hides behind the weights' (two registers across the loop).
struct DeferredSums {
    float v[kDeferredSumsPerLane];
    float y, weight;  // this thread's element of x (blockIdx.x * blockDim.x + threadIdx.x), where it writes one
};
__device__ __forceinline__ DeferredSums load_deferred_sums(const MatvecArgs& a) {
    const int64_t n_groups = a.n_cols / 8;
    const float* sums = deferred_norm_sums(const_cast<void*>(a.x_int8), a.n_cols);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    DeferredSums d;
    const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const bool writes = a.norm.out != nullptr && e < a.n_cols;
    d.y = writes ? __ldg(a.norm.residual + e) : 0.0f;
    d.weight = writes ? __ldg(a.norm.weight + e) : 0.0f;
#pragma unroll
    for (int k = 0; k < kDeferredSumsPerLane; ++k) {
        const int64_t i = (static_cast<int64_t>(warp) * kDeferredSumsPerLane + k) * 32 + lane;
        d.v[k] = i < n_groups ? __ldg(sums + i) : 0.0f;
    }
    return d;
}

// Every thread of the block (it syncs) after its dot products: the scale 1 / rms, the same in every thread of the
// launch (all blocks have the same warps and sum in the same order), with rms_norm's formulas (ops_rms_norm.cu) over
// another summation order; and this thread's element blockIdx.x * blockDim.x + threadIdx.x of x written (the
// launcher checks that the grid covers n).
__device__ __forceinline__ float deferred_norm_scale(const MatvecArgs& a, const DeferredSums& d) {
    const int64_t n = a.n_cols;
    const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const bool writes = a.norm.out != nullptr && e < n;
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < kDeferredSumsPerLane; ++k) sum += d.v[k];
    __shared__ float warp_sums[32];
    sum = ops::warp_sum(sum);
    if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = sum;
    __syncthreads();
    float total = 0.0f;
    for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) total += warp_sums[i];
    const float scale = 1.0f / sqrtf(total / static_cast<float>(n) + a.norm.eps);
    if (writes) a.norm.out[e] = d.y * scale * d.weight;
    return scale;
}

}  // namespace spool::cuda::wq
