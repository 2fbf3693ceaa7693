// Rotary position embedding (Su et al. 2021), in place. NORM rotates adjacent pairs, NEOX rotates element i with
// element i + n_dims/2 (llama.cpp's ggml_rope modes 0 and 2). The math is in ops_rope.cuh (float64, as the ref).
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/ops_common.cuh"
#include "backend/cuda/kernels/ops_rope.cuh"

namespace spool::cuda {
namespace {

constexpr int kRopeThreads = 128;

// One block per token: the block first computes cos/sin of each pair's angle once (shared by all heads), then
// rotates every (head, pair).
__global__ void rope_kernel(float* x,                  // [n_tokens, n_heads, head_dim]
                            const int32_t* positions,  // [n_tokens]
                            int n_heads, int head_dim, RopeMode mode, int n_dims, float freq_base,
                            float freq_scale,
                            const float* freq_factors) {  // [n_dims/2] or null
    extern __shared__ double2 cos_sin[];                  // [n_dims/2]
    ops::wait_for_producers();
    rope::fill_cos_sin(cos_sin, positions[blockIdx.x], n_dims, freq_base, freq_scale, freq_factors);
    rope::rotate_heads(x + static_cast<int64_t>(blockIdx.x) * n_heads * head_dim, n_heads, head_dim, mode, n_dims,
                       cos_sin);
}

}  // namespace

void launch_rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
                 const RopeParams& params, cudaStream_t stream) {
    ops::launch_pdl(rope_kernel, dim3(static_cast<unsigned>(n_tokens)), dim3(kRopeThreads),
                    rope::cos_sin_bytes(params.n_dims), stream, x, positions, n_heads, head_dim, params.mode,
                    params.n_dims, params.freq_base, params.freq_scale, params.freq_factors);
}

}  // namespace spool::cuda
