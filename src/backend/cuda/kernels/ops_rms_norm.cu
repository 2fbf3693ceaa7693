// RMS norm (Zhang & Sennrich 2019), one block per row, sum of squares accumulated in float32 per thread and
// reduced as a tree (the ref accumulates in float64; the difference is about 1e-7 relative).
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/ops_common.cuh"
#include "backend/cuda/kernels/quantize_x.cuh"
#include "spool/errors.h"

namespace spool::cuda {
namespace {

// The weight's float4s a thread multiplies first, held in registers from before the kernel's trigger and wait.
inline constexpr int kHeldWeights = 2;
static_assert(kHeldWeights == 2, "the x_int8 path holds one 8-element group: two float4s");

// VEC: 4 when n % 4 == 0 (rows then start 16-byte aligned and are read as float4), else 1.
template <int VEC>
__global__ void rms_norm_kernel(const float* x,       // [n_rows, n]
                                const float* weight,  // [n]
                                int64_t n, float eps,
                                float* out,           // [n_rows, n]; may alias x
                                void* x_int8) {       // one row's x~ of out, or null (VEC == 4, n % 8 == 0)
    __shared__ float scratch[32];
    // The weight never changes, so its loads go out before the trigger: once this kernel triggers, the next matvec's
    // blocks become resident and issue megabytes of weight loads, and a weight load issued after the wait queued
    // behind them. Kernel trace (scripts/kernel_trace.py, H100, TinyLlama F16 decode): the norm ahead of gate/up moved
    // the step's end by 6.0 us before, 5.2 us with the held weights; the step took 1,000 -> 971 us (v39).
    // Thread t's float4s: t + k * blockDim.x, or with x_int8 those of its first 8-element group, 2t and 2t + 1.
    const float4* wv = reinterpret_cast<const float4*>(weight);
    const int64_t n_vec = n / 4;
    const bool by_group = VEC == 4 && x_int8 != nullptr;
    auto held_index = [&](int k) -> int64_t {
        return by_group ? 2 * static_cast<int64_t>(threadIdx.x) + k : threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    };
    float4 held[kHeldWeights] = {};
    if constexpr (VEC == 4) {
#pragma unroll
        for (int k = 0; k < kHeldWeights; ++k) {
            if (held_index(k) < n_vec) held[k] = __ldg(wv + held_index(k));
        }
    }
    ops::allow_dependents();  // a matvec follows: its weight loads overlap this kernel
    ops::wait_for_producers();
    const float* xr = x + blockIdx.x * n;
    float* yr = out + blockIdx.x * n;
    float sum_sq = 0.0f;
    if constexpr (VEC == 4) {
        const float4* xv = reinterpret_cast<const float4*>(xr);
        for (int64_t i = threadIdx.x; i < n_vec; i += blockDim.x) {
            const float4 v = xv[i];
            sum_sq += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
    } else {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum_sq += xr[i] * xr[i];
    }
    const float total = ops::block_sum(sum_sq, scratch);
    const float scale = 1.0f / sqrtf(total / static_cast<float>(n) + eps);
    // Each thread rewrites exactly the elements it read, so out may alias x.
    if constexpr (VEC == 4) {
        const float4* xv = reinterpret_cast<const float4*>(xr);
        float4* yv = reinterpret_cast<float4*>(yr);
        auto normed = [&](int64_t i, const float4& w) {
            const float4 v = xv[i];
            return make_float4(v.x * scale * w.x, v.y * scale * w.y, v.z * scale * w.z, v.w * scale * w.w);
        };
        if (by_group) {  // a thread per 8-element group: it rounds the outputs it writes
            const int64_t n_groups = n / 8;
            for (int64_t g = threadIdx.x; g < n_groups; g += blockDim.x) {
                const bool first = g == threadIdx.x;
                const float4 lo = normed(2 * g, first ? held[0] : __ldg(wv + 2 * g));
                const float4 hi = normed(2 * g + 1, first ? held[1] : __ldg(wv + 2 * g + 1));
                yv[2 * g] = lo;
                yv[2 * g + 1] = hi;
                wq::store_quantized_group(x_int8, n_groups, g, wq::quantize_group(lo, hi));
            }
            return;
        }
#pragma unroll
        for (int k = 0; k < kHeldWeights; ++k) {
            if (held_index(k) < n_vec) yv[held_index(k)] = normed(held_index(k), held[k]);
        }
        for (int64_t i = threadIdx.x + static_cast<int64_t>(kHeldWeights) * blockDim.x; i < n_vec; i += blockDim.x) {
            yv[i] = normed(i, __ldg(wv + i));
        }
    } else {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = xr[i] * scale * weight[i];
    }
}

}  // namespace

bool rms_norm_writes_int8(const float* x, const float* weight, int64_t n_rows, int64_t n, const float* out) {
    return n_rows == 1 && n >= 8 && n % 8 == 0 && ops::aligned16(x, weight, out);
}

void launch_rms_norm(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps, float* out,
                     cudaStream_t stream, void* x_int8) {
    if (x_int8 != nullptr && !rms_norm_writes_int8(x, weight, n_rows, n, out)) {
        throw UsageError("launch_rms_norm: x_int8 needs one row of a multiple of 8 elements and 16-byte aligned x, "
                         "weight and out (got " + std::to_string(n_rows) + " rows of " + std::to_string(n) +
                         "); pass no x_int8");
    }
    if (n % 4 == 0 && ops::aligned16(x, weight, out)) {
        ops::launch_pdl(rms_norm_kernel<4>, dim3(static_cast<unsigned>(n_rows)), dim3(ops::row_threads(n / 4)), 0,
                        stream, x, weight, n, eps, out, x_int8);
    } else {
        ops::launch_pdl(rms_norm_kernel<1>, dim3(static_cast<unsigned>(n_rows)), dim3(ops::row_threads(n)), 0, stream,
                        x, weight, n, eps, out, x_int8);
    }
}

}  // namespace spool::cuda
