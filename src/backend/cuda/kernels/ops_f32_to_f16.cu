// float32 -> fp16 conversion of activations for the tensor-core GEMM of a prefill: round to nearest even,
// saturating at +-65504 (an infinity would poison a whole output row), NaN kept NaN; optionally also the rounding
// remainder in fp16, for a second GEMM that restores the activations' precision.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/ops_common.cuh"

namespace spool::cuda {
namespace {

using ops::saturated;

// half(v - h) for h = ops::half_saturated(v): the part of v that h lacks (of the saturated value).
__device__ __forceinline__ __half remainder_half(float v, __half h) {
    return __float2half_rn(saturated(v) - __half2float(h));
}

// VEC: 4 when n % 4 == 0, src is 16-byte and dst (and lo) 8-byte aligned, else 1. lo may be null.
template <int VEC>
__global__ void f32_to_f16_kernel(const float* src, int64_t n, __half* dst, __half* lo) {  // each [n]
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    if constexpr (VEC == 4) {
        const float4* sv = reinterpret_cast<const float4*>(src);
        __half2* dv = reinterpret_cast<__half2*>(dst);
        __half2* lv = reinterpret_cast<__half2*>(lo);
        for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n / 4; i += stride) {
            const float4 v = sv[i];
            const __half h[4] = {ops::half_saturated(v.x), ops::half_saturated(v.y), ops::half_saturated(v.z),
                                 ops::half_saturated(v.w)};
            dv[2 * i] = __halves2half2(h[0], h[1]);
            dv[2 * i + 1] = __halves2half2(h[2], h[3]);
            if (lo != nullptr) {
                lv[2 * i] = __halves2half2(remainder_half(v.x, h[0]), remainder_half(v.y, h[1]));
                lv[2 * i + 1] = __halves2half2(remainder_half(v.z, h[2]), remainder_half(v.w, h[3]));
            }
        }
    } else {
        for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride) {
            const __half h = ops::half_saturated(src[i]);
            dst[i] = h;
            if (lo != nullptr) lo[i] = remainder_half(src[i], h);
        }
    }
}

}  // namespace

void launch_f32_to_f16(const float* src, int64_t n, __half* dst, cudaStream_t stream, __half* lo) {
    if (n % 4 == 0 && ops::aligned16(src) && reinterpret_cast<uintptr_t>(dst) % 8 == 0 &&
        reinterpret_cast<uintptr_t>(lo) % 8 == 0) {
        f32_to_f16_kernel<4><<<ops::elementwise_blocks(n / 4), ops::kElementwiseThreads, 0, stream>>>(src, n, dst, lo);
    } else {
        f32_to_f16_kernel<1><<<ops::elementwise_blocks(n), ops::kElementwiseThreads, 0, stream>>>(src, n, dst, lo);
    }
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace spool::cuda
