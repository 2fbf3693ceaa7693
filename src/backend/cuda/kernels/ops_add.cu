// Element-wise addition (the residual connections): out = a + b in float32, bit-exact with the ref.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/ops_common.cuh"

namespace spool::cuda {
namespace {

// VEC: 4 when n % 4 == 0 and the pointers are 16-byte aligned, else 1. out may alias a or b.
template <int VEC>
__global__ void add_kernel(const float* a, const float* b, int64_t n, float* out) {  // each [n]
    ops::wait_for_producers();
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    if constexpr (VEC == 4) {
        const float4* av = reinterpret_cast<const float4*>(a);
        const float4* bv = reinterpret_cast<const float4*>(b);
        float4* ov = reinterpret_cast<float4*>(out);
        for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n / 4; i += stride) {
            const float4 x = av[i], y = bv[i];
            ov[i] = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
        }
    } else {
        for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
            out[i] = a[i] + b[i];
    }
}

}  // namespace

void launch_add(const float* a, const float* b, int64_t n, float* out, cudaStream_t stream) {
    if (n % 4 == 0 && ops::aligned16(a, b, out)) {
        ops::launch_pdl(add_kernel<4>, dim3(ops::elementwise_blocks(n / 4)), dim3(ops::kElementwiseThreads), 0, stream,
                        a, b, n, out);
    } else {
        ops::launch_pdl(add_kernel<1>, dim3(ops::elementwise_blocks(n)), dim3(ops::kElementwiseThreads), 0, stream, a,
                        b, n, out);
    }
}

}  // namespace spool::cuda
