// Multi-token matmuls (prefills) on the tensor cores: quantized weights up to kTcMaxTokens tokens through
// launch_matmul_tc (mma fragments built in registers from the quantized bytes), beyond that dequantized to fp16 in
// row chunks into a bounded workspace and multiplied by the fp16-rounded activations with cuBLAS (fp32 accumulation).
// F16 weights are used in place; F32 weights go through an fp32 GEMM (no rounding at all).
#pragma once

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/backend.h"

namespace spool::cuda {

// Device memory that grows on demand and is only ever used on one stream.
class DeviceScratch {
public:
    DeviceScratch() = default;
    DeviceScratch(const DeviceScratch&) = delete;
    DeviceScratch& operator=(const DeviceScratch&) = delete;
    ~DeviceScratch();
    // Returns at least `bytes` bytes; a reallocation waits for `stream` first. Throws ResourceError.
    void* ensure(size_t bytes, cudaStream_t stream);
    size_t bytes() const noexcept { return bytes_; }

private:
    void* data_ = nullptr;
    size_t bytes_ = 0;
};

class PrefillGemm {
public:
    // The weight workspace holds at most this many fp16 elements (64 MiB); larger matrices go in row chunks.
    static constexpr int64_t kMaxChunkElements = int64_t{32} << 20;
    // F16/BF16 weights with at most this many tokens: one GEMM over x and its fp16 remainder stacked as 2 n columns,
    // instead of one GEMM each (both read all of W). H100, llama-bench mode, tok/s with two GEMMs -> stacked:
    // Llama-2-7B F16 pp9 764 -> 1,215, pp32 2,687 -> 4,093, pp128 9,330 -> 12,410, pp256 14,819 -> 16,741;
    // TinyLlama F16 pp32 7,459 -> 11,574, pp256 57,254 -> 61,608 (docs/cuda-performance.md, v22). Smaller dequantized
    // chunks (to stay in L2) were slower for the quantized types: 7B Q4_K_M pp16 876 with 64 MiB, 635 with 16 MiB.
    static constexpr int64_t kStackedMaxTokens = 256;
    // Quantized weights with at most this many tokens (one pass of launch_matmul_tc, which reads the quantized weights
    // once) instead of an fp16 copy written and read per chunk. H100, llama-bench mode, tok/s dequantize + cuBLAS ->
    // launch_matmul_tc (docs/cuda-performance.md, v23): Llama-2-7B Q4_K_M pp9 541 -> 1,204, pp16 961 -> 2,108, pp32
    // 1,911 -> 3,501, pp64 3,712 -> 5,057, but pp128 7,066 -> 6,837 (two passes); 7B Q8_0 pp16 1,135 -> 1,666, pp64
    // 4,319 -> 4,571, pp128 8,117 -> 5,226; TinyLlama Q4_K_M pp16 4,210 -> 5,600, pp64 15,945 -> 17,447.
    static constexpr int64_t kTcMaxTokens = 64;

    explicit PrefillGemm(cudaStream_t stream);
    ~PrefillGemm();
    PrefillGemm(const PrefillGemm&) = delete;
    PrefillGemm& operator=(const PrefillGemm&) = delete;

    // y[t] = W x[t] (+ bias), as Backend::matmul, for any n_tokens (meant for n_tokens > kMatvecMaxTokens);
    // accumulate: y[t] += W x[t] instead (the GEMM's beta = 1).
    void run(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y,
             bool accumulate = false);
    // ys[i] = ws[i] x (+ biases[i], entries may be null; biases may be null) for `count` matrices of the same input
    // width: x is converted to fp16 once for all of them (Backend::matmul_shared_input, matmul_glu).
    void run_shared(int count, const WeightView* ws, const float* const* biases, const float* x, int64_t n_tokens,
                    float* const* ys, bool accumulate = false);
    // Bytes of workspace held now (for the peak-memory report).
    size_t workspace_bytes() const noexcept {
        return weights_.bytes() + activations_.bytes() + stacked_.bytes() + packed_.bytes() + partials_.bytes();
    }

private:
    // y = w x with x given in float32 (F32 weights) and in fp16 (others); x_lo: the fp16 remainder of x, for a
    // second GEMM (F16 and BF16 weights), or null.
    void multiply(const WeightView& w, const float* x, const __half* x_half, const __half* x_lo, int64_t n_tokens,
                  float* y, bool accumulate);
    // Whether w at n_tokens goes through launch_matmul_tc.
    bool takes_tc(const WeightView& w, int64_t n_tokens) const;

    cudaStream_t stream_;
    cublasHandle_t handle_ = nullptr;
    DeviceScratch weights_;      // fp16 rows of the current chunk
    DeviceScratch activations_;  // fp16 copy of x
    DeviceScratch stacked_;      // float32 outputs of a stacked GEMM: W x and W x_lo
    DeviceScratch packed_;       // x packed for launch_matmul_tc
    DeviceScratch partials_;     // launch_matmul_tc's column-slice sums
    bool tc_ready_ = false;      // the launch_matmul_tc kernels have a body for this GPU
    int sm_count_ = 1;
};

// y[t][r] += bias[r] for t < n_tokens, r < n_out.
void launch_add_bias(float* y, const float* bias, int64_t n_tokens, int64_t n_out, cudaStream_t stream);

}  // namespace spool::cuda
