// WeightLayout::grouped for the CUDA backend's Q4_0 and Q6_K weights (launch.h groups_weight_rows). A run of 8 blocks
// keeps its bytes (so rows keep their row_bytes and 16-byte alignment) with each field of the 8 blocks stored
// together:
//  - Q4_0 (d:2 qs:16, 144 bytes a run): the 8 blocks' qs (128 bytes), then their 8 d (16 bytes). A decoder given a run
//    (or a 16-block tile: two runs) reads it without knowing the row's length.
//  - Q6_K (ql:128 qh:64 scales:16 d:2, 1,680 bytes a run): the 8 blocks' ql (1,024 bytes), qh (512), scales (128),
//    then their d (16). A run starts 16-byte aligned and block k of it 210 k bytes in, 2 k mod 16, so a decoder given a
//    block's address finds its run and k from the address alone (q6_k_grouped_block in quant_decoders_k.cuh).
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/quant_blocks.cuh"
#include "spool/errors.h"

namespace spool::cuda {
namespace {

constexpr int kRunBlocks = 8;
constexpr int kQ4_0RunBytes = kRunBlocks * wq::BlockBytes::q4_0;  // 144: nine 16-byte words
// The runs regrouped below are the runs groups_weight_rows counts (launch.h grouped_run_elements).
static_assert(grouped_run_elements(GgmlType::Q4_0) == kRunBlocks * 32 &&
              grouped_run_elements(GgmlType::Q6_K) == kRunBlocks * 256);
constexpr int kThreads = 256;

// One thread per run, in place: the run is read whole into registers before any of it is written.
__global__ void group_q4_0_runs_kernel(uint4* runs, int64_t n_runs) {
    const int64_t run = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    if (run >= n_runs) return;
    uint4* words = runs + run * (kQ4_0RunBytes / 16);
    uint8_t in[kQ4_0RunBytes], out[kQ4_0RunBytes];
#pragma unroll
    for (int i = 0; i < kQ4_0RunBytes / 16; ++i) *reinterpret_cast<uint4*>(in + 16 * i) = words[i];
#pragma unroll
    for (int b = 0; b < kRunBlocks; ++b) {
        const uint8_t* block = in + wq::BlockBytes::q4_0 * b;
#pragma unroll
        for (int j = 0; j < 16; ++j) out[16 * b + j] = block[2 + j];
        out[128 + 2 * b] = block[0];
        out[128 + 2 * b + 1] = block[1];
    }
#pragma unroll
    for (int i = 0; i < kQ4_0RunBytes / 16; ++i) words[i] = *reinterpret_cast<const uint4*>(out + 16 * i);
}

constexpr int kQ6KRunBytes = kRunBlocks * wq::BlockBytes::q6_k;  // 1,680: 105 16-byte words
constexpr int kQ6KRunWords = kQ6KRunBytes / 16;
constexpr int kQ6KThreads = 128;
static_assert(wq::kQ6KGroupedD + kRunBlocks * 2 == kQ6KRunBytes, "the grouped fields fill the run");

// The GGUF byte of a Q6_K run that grouped byte o of it holds.
__device__ int q6_k_source_byte(int o) {
    using wq::kQ6KGroupedQh, wq::kQ6KGroupedScales, wq::kQ6KGroupedD;
    if (o < kQ6KGroupedQh) return wq::BlockBytes::q6_k * (o >> 7) + (o & 127);                                  // ql
    if (o < kQ6KGroupedScales) return wq::BlockBytes::q6_k * ((o - kQ6KGroupedQh) >> 6) + 128 + (o & 63);      // qh
    if (o < kQ6KGroupedD) return wq::BlockBytes::q6_k * ((o - kQ6KGroupedScales) >> 4) + 192 + (o & 15);       // scales
    return wq::BlockBytes::q6_k * ((o - kQ6KGroupedD) >> 1) + 208 + (o & 1);                                    // d
}

// One block per run, in place: the run is read whole into shared memory before any of it is written.
__global__ void group_q6_k_runs_kernel(uint4* runs) {
    __shared__ uint4 in_words[kQ6KRunWords];
    uint4* words = runs + static_cast<int64_t>(blockIdx.x) * kQ6KRunWords;
    for (int i = threadIdx.x; i < kQ6KRunWords; i += kQ6KThreads) in_words[i] = words[i];
    __syncthreads();
    const uint8_t* in = reinterpret_cast<const uint8_t*>(in_words);
    for (int i = threadIdx.x; i < kQ6KRunWords; i += kQ6KThreads) {
        uint8_t out[16];
#pragma unroll
        for (int j = 0; j < 16; ++j) out[j] = in[q6_k_source_byte(16 * i + j)];
        words[i] = *reinterpret_cast<const uint4*>(out);
    }
}

}  // namespace

bool groups_weight_rows(GgmlType type, int64_t n_cols) noexcept {
    const int64_t run = grouped_run_elements(type);
    return run > 0 && n_cols > 0 && n_cols % run == 0;
}

void launch_group_weight_rows(void* data, size_t bytes, GgmlType type, int64_t n_cols, cudaStream_t stream) {
    if (!groups_weight_rows(type, n_cols)) {
        throw UsageError("launch_group_weight_rows: only " + wq::grouped_rows_rule() + " are regrouped; got " +
                         std::string(wq::weight_type_name(type)) + " with n_cols " + std::to_string(n_cols));
    }
    const bool q6_k = type == GgmlType::Q6_K;
    const size_t run_bytes = q6_k ? kQ6KRunBytes : kQ4_0RunBytes;
    const size_t row_bytes = static_cast<size_t>(n_cols / grouped_run_elements(type)) * run_bytes;
    if (bytes % row_bytes != 0 || reinterpret_cast<uintptr_t>(data) % 16 != 0) {
        throw UsageError("launch_group_weight_rows: needs whole rows of " + std::to_string(row_bytes) +
                         " bytes at 16-byte aligned device memory; got " + std::to_string(bytes) + " bytes");
    }
    const int64_t n_runs = static_cast<int64_t>(bytes / run_bytes);
    if (n_runs == 0) return;
    if (q6_k) {
        // A 1-D grid holds 2^31 - 1 blocks: 3.6 TB of runs, far past any device.
        group_q6_k_runs_kernel<<<static_cast<unsigned>(n_runs), kQ6KThreads, 0, stream>>>(static_cast<uint4*>(data));
    } else {
        const int64_t blocks = (n_runs + kThreads - 1) / kThreads;
        group_q4_0_runs_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(static_cast<uint4*>(data),
                                                                                        n_runs);
    }
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace spool::cuda
