// Shared by the element-wise, row and decode attention kernels (ops_*.cu, attention_*.cu): warp/block sums,
// launch sizing, and programmatic dependent launch (CUDA programming guide 4.5; PTX griddepcontrol).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "backend/cuda/cuda_check.h"

namespace spool::cuda::ops {

inline constexpr int kElementwiseThreads = 256;
// Grid-stride kernels never need more blocks than this: 132 SMs x 8 resident blocks of 256 threads on an H100.
inline constexpr int64_t kMaxElementwiseBlocks = 1056;

inline int elementwise_blocks(int64_t n_items) {
    const int64_t blocks = (n_items + kElementwiseThreads - 1) / kElementwiseThreads;
    return static_cast<int>(blocks < 1 ? 1 : (blocks > kMaxElementwiseBlocks ? kMaxElementwiseBlocks : blocks));
}

// Threads for a one-block-per-row kernel over n_items: a whole number of warps, at most 1024.
inline int row_threads(int64_t n_items) {
    const int64_t warps = (n_items + 31) / 32;
    return static_cast<int>(32 * (warps < 1 ? 1 : (warps > 32 ? 32 : warps)));
}

// Whether every pointer allows 16-byte (float4) access.
template <class... P>
inline bool aligned16(const P*... ptrs) {
    return ((reinterpret_cast<uintptr_t>(ptrs) % 16 == 0) && ...);
}

// v clamped to the finite half range, NaN kept: the fp16 operands of the tensor-core products (weights, activations)
// saturate at +-65504 rather than round to infinity, which would poison a whole output row.
__device__ __forceinline__ float saturated(float v) { return isnan(v) ? v : fminf(fmaxf(v, -65504.0f), 65504.0f); }
__device__ __forceinline__ __half half_saturated(float v) { return __float2half_rn(saturated(v)); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// Sum over the whole block; every thread gets the result. All threads of the block must call it (it syncs).
// scratch: 32 floats of shared memory.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < n_warps ? scratch[lane] : 0.0f;
    v = warp_sum(v);  // every warp reduces the same partials, so no second barrier or broadcast is needed
    return v;
}

// ---- Programmatic dependent launch (PDL, sm_90+)
// A kernel launched by launch_pdl may be scheduled while the previous kernel in the stream (or CUDA graph) is still
// running, so its launch hides behind that kernel's tail (measured below). The contract, for every kernel
// launched this way:
//  1. every thread calls wait_for_producers() before its first read of memory an earlier kernel or copy wrote (and
//     before any write an earlier kernel might still read). It returns once every earlier grid has completed and
//     its writes are visible, whether or not that grid used PDL (a cuBLAS GEMM, a plain <<<>>> launch, a copy);
//  2. it is called unconditionally, before any early return: the next kernel waits only for this grid, so this
//     grid must not finish before the grids it depends on (that keeps the chain transitive).
// The early-read exception to 1: a one-token step's positions may be read before waiting by any of its kernels
// (they are uploaded by a copy that completes before the step's first kernel starts, and no kernel writes them), and
// the KV cache rows of earlier positions (written by earlier steps) by the kernels after the step's q/k/v projections
// (rope_kv_append, the split attention). A matvec triggers its dependents only after its own wait, so once anything
// after the projections runs, every kernel before them has completed and its writes are visible; the cache row of
// the step's own position is written by those kernels and is read only after the wait.
// Loads issued before the wait go through L2 where their line may hold part of a row still to be written, so that
// no stale line sits in L1 afterwards.
// A kernel that triggers its dependents early (allow_dependents() below) lets the next kernel's blocks be scheduled
// while it runs. That pays only where the next kernel has work needing nothing of this one, as the matvecs do (they
// load their weights before waiting): in a chain of 100 element-wise kernels the early trigger was slower, per
// kernel on an H100 in a CUDA graph (ops_pdl_test.cpp): rms_norm 1.36 us with it, 1.30 without, 1.59 with no PDL
// at all; add 1.21, 0.87 and 1.15. So only the kernels whose next kernel has such work trigger early: those that
// precede matvecs (the matvecs themselves, rms_norm and the attention combine; TinyLlama Q4_K_M decode,
// docs/cuda-performance.md: 944 -> 1008 tok/s), rope_kv_append, ahead of the split attention, which loads older
// cache rows before waiting (the exception above; v15), and the split attention itself, after its wait, so that the
// combine is resident and triggers the output projection's weight loads early (v16).
// wait_for_producers() is a no-op below sm_90 and when the kernel was launched without the attribute.
__device__ __forceinline__ void wait_for_producers() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    cudaGridDependencySynchronize();
#endif
}

// Lets the next kernel's blocks be scheduled now instead of as this grid's blocks exit (they still wait in
// wait_for_producers() for this grid to complete). Worth it where the next kernel has work that needs nothing of
// this one: the matvecs fetch their weights before they wait.
__device__ __forceinline__ void allow_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    cudaTriggerProgrammaticLaunchCompletion();
#endif
}

// Launches `kernel` with programmatic stream serialization (captured into a graph as a programmatic edge).
// Arguments convert to the kernel's parameter types as in a <<<>>> launch. Throws on a launch error (as
// SPOOL_CUDA_CHECK).
template <class... Params, class... Args>
void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                Args&&... args) {
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = shared_bytes;
    config.stream = stream;
    config.attrs = attribute;
    config.numAttrs = 1;
    SPOOL_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
    SPOOL_CUDA_CHECK(cudaGetLastError());  // launch.h's contract: nothing pending is left unreported
}

}  // namespace spool::cuda::ops
