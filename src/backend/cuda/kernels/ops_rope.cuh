// Rotary position embedding on the device, shared by launch_rope (ops_rope.cu) and launch_rope_kv_append
// (ops_rope_kv.cu) so both give the same bits. Angles and rotation are float64 like kernels/ref/rope.cpp.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/backend.h"

namespace spool::cuda::rope {

// cos_sin[i] = (cos, sin) of pair i's angle at `position`, for i < n_dims/2, computed by the whole block; ends with
// a barrier, so every thread may read the table afterwards. A float32 angle at position 4000 would already be off
// by ~2e-4 rad, hence float64.
// (cos, sin) of pair i's angle at `position`: the one formula every rope kernel (and the matvec epilogue of
// launch.h MatvecRopeKv) evaluates, so they agree bit for bit. In two steps: the position-independent power, which a
// kernel may compute before it waits for its inputs, then the angle.
__device__ __forceinline__ double pair_base_power(int i, int n_dims, float freq_base) {
    return pow(static_cast<double>(freq_base), -2.0 * i / n_dims);
}
__device__ __forceinline__ double2 pair_cos_sin_at(double base_power, int i, int32_t position, float freq_scale,
                                                   const float* freq_factors) {  // [n_dims/2] or null
    double theta = static_cast<double>(position) * base_power;
    if (freq_factors != nullptr) theta /= freq_factors[i];
    theta *= freq_scale;
    double s, c;
    sincos(theta, &s, &c);
    return make_double2(c, s);
}

__device__ __forceinline__ void fill_cos_sin(double2* cos_sin,  // [n_dims/2], shared
                                             int32_t position, int n_dims, float freq_base, float freq_scale,
                                             const float* freq_factors) {  // [n_dims/2] or null
    const int half = n_dims / 2;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        cos_sin[i] = pair_cos_sin_at(pair_base_power(i, n_dims, freq_base), i, position, freq_scale, freq_factors);
    }
    __syncthreads();
}

// Rotates the pair (x0, x1) by the angle of cs; products and sum rounded separately (no FMA contraction).
__device__ __forceinline__ void rotate_pair(float& x0, float& x1, double2 cs) {
    const double a = x0, b = x1;
    x0 = static_cast<float>(__dsub_rn(__dmul_rn(a, cs.x), __dmul_rn(b, cs.y)));
    x1 = static_cast<float>(__dadd_rn(__dmul_rn(a, cs.y), __dmul_rn(b, cs.x)));
}

// Rotates the first n_dims dimensions of each of n_heads consecutive heads in place, every (head, pair) by one
// thread of the block; dimensions n_dims .. head_dim pass through. NORM pairs (2i, 2i+1), NEOX (i, i + n_dims/2).
// The products and the sum are rounded separately (no FMA contraction), so every caller gets the same bits.
__device__ __forceinline__ void rotate_heads(float* x,  // [n_heads, head_dim], global or shared
                                             int n_heads, int head_dim, RopeMode mode, int n_dims,
                                             const double2* cos_sin) {  // [n_dims/2]
    const int half = n_dims / 2;
    for (int idx = threadIdx.x; idx < n_heads * half; idx += blockDim.x) {
        const int h = idx / half, i = idx - h * half;
        const int a = mode == RopeMode::norm ? 2 * i : i;
        const int b = mode == RopeMode::norm ? 2 * i + 1 : i + half;
        float* head = x + static_cast<int64_t>(h) * head_dim;
        float x0 = head[a], x1 = head[b];
        rotate_pair(x0, x1, cos_sin[i]);
        head[a] = x0;
        head[b] = x1;
    }
}

// Dynamic shared memory of the cos/sin table (at least one entry, so a zero-size table is still a valid pointer).
inline size_t cos_sin_bytes(int n_dims) {
    return static_cast<size_t>(n_dims / 2 > 0 ? n_dims / 2 : 1) * sizeof(double2);
}

}  // namespace spool::cuda::rope
