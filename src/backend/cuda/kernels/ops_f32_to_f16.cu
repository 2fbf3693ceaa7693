// float32 -> fp16 conversion of activations for the tensor-core GEMM of a prefill: round to nearest even,
// saturating at +-65504 (an infinity would poison a whole output row), NaN kept NaN.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/ops_common.cuh"

namespace spool::cuda {
namespace {

__device__ __forceinline__ __half to_half_saturating(float v) {
    if (!isnan(v)) v = fminf(fmaxf(v, -65504.0f), 65504.0f);
    return __float2half_rn(v);
}

// VEC: 4 when n % 4 == 0, src is 16-byte and dst 8-byte aligned, else 1.
template <int VEC>
__global__ void f32_to_f16_kernel(const float* src, int64_t n, __half* dst) {  // each [n]
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    if constexpr (VEC == 4) {
        const float4* sv = reinterpret_cast<const float4*>(src);
        __half2* dv = reinterpret_cast<__half2*>(dst);
        for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n / 4; i += stride) {
            const float4 v = sv[i];
            dv[2 * i] = __halves2half2(to_half_saturating(v.x), to_half_saturating(v.y));
            dv[2 * i + 1] = __halves2half2(to_half_saturating(v.z), to_half_saturating(v.w));
        }
    } else {
        for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
            dst[i] = to_half_saturating(src[i]);
    }
}

}  // namespace

void launch_f32_to_f16(const float* src, int64_t n, __half* dst, cudaStream_t stream) {
    if (n % 4 == 0 && ops::aligned16(src) && reinterpret_cast<uintptr_t>(dst) % 8 == 0) {
        f32_to_f16_kernel<4><<<ops::elementwise_blocks(n / 4), ops::kElementwiseThreads, 0, stream>>>(src, n, dst);
    } else {
        f32_to_f16_kernel<1><<<ops::elementwise_blocks(n), ops::kElementwiseThreads, 0, stream>>>(src, n, dst);
    }
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace spool::cuda
