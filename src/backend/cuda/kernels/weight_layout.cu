// WeightLayout::grouped for the CUDA backend's Q4_0 weights (launch.h groups_weight_rows): each run of 8 blocks
// (d:2 qs:16 each, 144 bytes) becomes the 8 blocks' qs (128 bytes), then their 8 d (16 bytes). The run keeps its
// 144 bytes, so rows keep their row_bytes and 16-byte alignment, and a decoder given a run (or a 16-block tile: two
// runs) reads it without knowing the row's length.
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/quant_blocks.cuh"
#include "spool/errors.h"

namespace spool::cuda {
namespace {

constexpr int kRunBlocks = 8;
constexpr int kRunBytes = kRunBlocks * wq::BlockBytes::q4_0;  // 144: nine 16-byte words
constexpr int kThreads = 256;

// One thread per run, in place: the run is read whole into registers before any of it is written.
__global__ void group_q4_0_runs_kernel(uint4* runs, int64_t n_runs) {
    const int64_t run = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    if (run >= n_runs) return;
    uint4* words = runs + run * (kRunBytes / 16);
    uint8_t in[kRunBytes], out[kRunBytes];
#pragma unroll
    for (int i = 0; i < kRunBytes / 16; ++i) *reinterpret_cast<uint4*>(in + 16 * i) = words[i];
#pragma unroll
    for (int b = 0; b < kRunBlocks; ++b) {
        const uint8_t* block = in + wq::BlockBytes::q4_0 * b;
#pragma unroll
        for (int j = 0; j < 16; ++j) out[16 * b + j] = block[2 + j];
        out[128 + 2 * b] = block[0];
        out[128 + 2 * b + 1] = block[1];
    }
#pragma unroll
    for (int i = 0; i < kRunBytes / 16; ++i) words[i] = *reinterpret_cast<const uint4*>(out + 16 * i);
}

}  // namespace

bool groups_weight_rows(GgmlType type, int64_t n_cols) noexcept {
    return type == GgmlType::Q4_0 && n_cols > 0 && n_cols % (32 * kRunBlocks) == 0;
}

void launch_group_weight_rows(void* data, size_t bytes, GgmlType type, int64_t n_cols, cudaStream_t stream) {
    if (!groups_weight_rows(type, n_cols)) {
        throw UsageError("launch_group_weight_rows: only Q4_0 rows of a multiple of 256 elements are regrouped; got " +
                         std::string(wq::weight_type_name(type)) + " with n_cols " + std::to_string(n_cols));
    }
    const size_t row_bytes = static_cast<size_t>(n_cols / 32) * wq::BlockBytes::q4_0;
    if (bytes % row_bytes != 0 || reinterpret_cast<uintptr_t>(data) % 16 != 0) {
        throw UsageError("launch_group_weight_rows: needs whole rows of " + std::to_string(row_bytes) +
                         " bytes at 16-byte aligned device memory; got " + std::to_string(bytes) + " bytes");
    }
    const int64_t n_runs = static_cast<int64_t>(bytes / kRunBytes);
    if (n_runs == 0) return;
    const int64_t blocks = (n_runs + kThreads - 1) / kThreads;
    group_q4_0_runs_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(static_cast<uint4*>(data), n_runs);
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace spool::cuda
