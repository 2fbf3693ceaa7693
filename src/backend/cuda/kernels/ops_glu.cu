// Gated activations (SwiGLU / GeGLU, Shazeer 2020): out = act(gate) * up, element-wise in float32.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/activation.cuh"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/ops_common.cuh"

namespace spool::cuda {
namespace {

// VEC: 4 when n % 4 == 0 and the pointers are 16-byte aligned, else 1. out may alias gate or up: each element
// is read before it is written, by the same thread.
template <Activation ACT, int VEC>
__global__ void glu_kernel(const float* gate, const float* up, int64_t n, float* out) {  // each [n]
    ops::wait_for_producers();
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    if constexpr (VEC == 4) {
        const float4* gv = reinterpret_cast<const float4*>(gate);
        const float4* uv = reinterpret_cast<const float4*>(up);
        float4* ov = reinterpret_cast<float4*>(out);
        for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n / 4; i += stride) {
            const float4 g = gv[i], u = uv[i];
            ov[i] = make_float4(activate<ACT>(g.x) * u.x, activate<ACT>(g.y) * u.y, activate<ACT>(g.z) * u.z,
                                activate<ACT>(g.w) * u.w);
        }
    } else {
        for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
            out[i] = activate<ACT>(gate[i]) * up[i];
    }
}

template <Activation ACT>
void launch_glu_for(const float* gate, const float* up, int64_t n, float* out, cudaStream_t stream) {
    if (n % 4 == 0 && ops::aligned16(gate, up, out)) {
        ops::launch_pdl(glu_kernel<ACT, 4>, dim3(ops::elementwise_blocks(n / 4)), dim3(ops::kElementwiseThreads), 0,
                        stream, gate, up, n, out);
    } else {
        ops::launch_pdl(glu_kernel<ACT, 1>, dim3(ops::elementwise_blocks(n)), dim3(ops::kElementwiseThreads), 0,
                        stream, gate, up, n, out);
    }
}

}  // namespace

void launch_glu(const float* gate, const float* up, int64_t n, Activation act, float* out, cudaStream_t stream) {
    if (act == Activation::silu) {
        launch_glu_for<Activation::silu>(gate, up, n, out, stream);
    } else {
        launch_glu_for<Activation::gelu>(gate, up, n, out, stream);
    }
}

}  // namespace spool::cuda
