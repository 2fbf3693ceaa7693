// PrefillGemm: dequantize-to-fp16 chunks + cublasGemmEx; the fp32 path for F32 weights; the bias epilogue.
#include "backend/cuda/prefill_gemm.h"

#include <algorithm>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_info.h"
#include "backend/cuda/kernels/launch.h"
#include "core/mib_text.h"
#include "quant/type_ids.h"

namespace spool::cuda {
namespace {

void check_cublas(cublasStatus_t status, const char* call) {
    if (status != CUBLAS_STATUS_SUCCESS) {
        int device = -1;
        cudaGetDevice(&device);
        throw Error(std::string("cuBLAS call ") + call + " failed on device " + std::to_string(device) + ": " +
                    cublasGetStatusName(status) + " (" + cublasGetStatusString(status) + ")");
    }
}

__global__ void add_bias_kernel(float* y, const float* bias, int64_t n_tokens, int64_t n_out) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n_tokens * n_out) y[i] += bias[i % n_out];
}

// y[t][r] = (accumulate ? y[t][r] : 0) + z[t][r] + z[n_tokens + t][r] for r < rows: the two halves of a stacked
// GEMM (rows of y n_out apart, of z `rows` apart).
__global__ void add_halves_kernel(float* y, int64_t n_out, const float* z, int64_t rows, int64_t n_tokens,
                                  bool accumulate) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= rows * n_tokens) return;
    const int64_t t = i / rows, r = i - t * rows;
    const float sum = z[i] + z[i + rows * n_tokens];
    float* dst = y + t * n_out + r;
    *dst = accumulate ? *dst + sum : sum;
}

}  // namespace

void launch_add_bias(float* y, const float* bias, int64_t n_tokens, int64_t n_out, cudaStream_t stream) {
    const int64_t n = n_tokens * n_out;
    add_bias_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream>>>(y, bias, n_tokens, n_out);
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

DeviceScratch::~DeviceScratch() {
    if (data_ != nullptr) cudaFree(data_);
}

void* DeviceScratch::ensure(size_t bytes, cudaStream_t stream) {
    if (bytes <= bytes_) return data_;
    SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream));  // queued work may still read the old buffer
    if (data_ != nullptr) cudaFree(data_);
    data_ = nullptr;
    bytes_ = 0;
    if (cudaMalloc(&data_, bytes) != cudaSuccess) {
        cudaGetLastError();
        data_ = nullptr;
        size_t free_bytes = 0, total_bytes = 0;
        cudaMemGetInfo(&free_bytes, &total_bytes);
        throw ResourceError("the CUDA prefill workspace needs " + mib_text(bytes) + " of device memory, " +
                                mib_text(free_bytes) +
                                " are free; use a smaller prefill batch (-b) or fewer GPU layers (-ngl)",
                            bytes, free_bytes);
    }
    bytes_ = bytes;
    return data_;
}

PrefillGemm::PrefillGemm(cudaStream_t stream) : stream_(stream) {
    check_cublas(cublasCreate(&handle_), "cublasCreate");
    check_cublas(cublasSetStream(handle_, stream_), "cublasSetStream");
    sm_count_ = current_device_sm_count();
    tc_ready_ = prepare_matmul_tc();
}

bool PrefillGemm::takes_tc(const WeightView& w, int64_t n_tokens) const {
    return tc_ready_ && n_tokens <= kTcMaxTokens && matmul_tc_takes(w);
}

PrefillGemm::~PrefillGemm() {
    if (handle_ != nullptr) cublasDestroy(handle_);
}

void PrefillGemm::run(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y,
                      bool accumulate) {
    const float* const biases[1] = {bias};
    float* const ys[1] = {y};
    run_shared(1, &w, biases, x, n_tokens, ys, accumulate);
}

void PrefillGemm::run_shared(int count, const WeightView* ws, const float* const* biases, const float* x,
                             int64_t n_tokens, float* const* ys, bool accumulate) {
    const int64_t n_in = ws[0].n_cols;
    bool any_half = false, any_float_weights = false, any_tc = false;
    for (int i = 0; i < count; ++i) {
        if (ws[i].n_cols != n_in) {
            throw UsageError("PrefillGemm::run_shared: the matrices read one input but have " + std::to_string(n_in) +
                             " and " + std::to_string(ws[i].n_cols) + " columns");
        }
        const bool tc = takes_tc(ws[i], n_tokens);
        any_tc = any_tc || tc;
        any_half = any_half || (ws[i].type != GgmlType::F32 && !tc);
        any_float_weights = any_float_weights || ws[i].type == GgmlType::F16 || ws[i].type == GgmlType::BF16;
    }
    // x packed for launch_matmul_tc once per weight type in a row of matrices (q/k/v, gate/up share it).
    void* x_packed = any_tc ? packed_.ensure(matmul_tc_x_bytes(n_tokens, n_in), stream_) : nullptr;
    GgmlType packed_for = GgmlType::F32;
    // x in fp16 once for all the matrices (q/k/v, gate/up share it). Float weights (F16, BF16) also get the rounding
    // remainder for a second GEMM: their greedy tokens must match the reference exactly, and one fp16 rounding of x
    // flips near-ties.
    const __half* x_half = nullptr;
    const __half* x_lo = nullptr;
    if (any_half) {
        const size_t x_elems = static_cast<size_t>(n_tokens * n_in);
        auto* hi = static_cast<__half*>(
            activations_.ensure(x_elems * sizeof(__half) * (any_float_weights ? 2 : 1), stream_));
        __half* lo = any_float_weights ? hi + x_elems : nullptr;
        launch_f32_to_f16(x, n_tokens * n_in, hi, stream_, lo);
        x_half = hi;
        x_lo = lo;
    }
    for (int i = 0; i < count; ++i) {
        const WeightView& w = ws[i];
        if (takes_tc(w, n_tokens)) {
            if (packed_for != w.type) {
                launch_pack_x_tc(w.type, x, n_tokens, n_in, x_packed, stream_);
                packed_for = w.type;
            }
            const size_t bytes = matmul_tc_workspace_bytes(w, n_tokens, sm_count_);
            void* partials = bytes > 0 ? partials_.ensure(bytes, stream_) : nullptr;
            launch_matmul_tc(w, x_packed, n_tokens, ys[i], accumulate, partials, bytes, sm_count_, stream_);
        } else {
            const bool split = w.type == GgmlType::F16 || w.type == GgmlType::BF16;
            multiply(w, x, x_half, split ? x_lo : nullptr, n_tokens, ys[i], accumulate);
        }
        const float* bias = biases != nullptr ? biases[i] : nullptr;
        if (bias != nullptr) launch_add_bias(ys[i], bias, n_tokens, w.n_rows, stream_);
    }
}

void PrefillGemm::multiply(const WeightView& w, const float* x, const __half* x_half, const __half* x_lo,
                           int64_t n_tokens, float* y, bool accumulate) {
    const int64_t n_in = w.n_cols, n_out = w.n_rows;
    const float one = 1.0f, zero = 0.0f;
    const float* beta = accumulate ? &one : &zero;  // of the first (or only) GEMM writing y
    // Column-major view: y^T [n_out x n_tokens] = W [n_in x n_out]^T . x^T [n_in x n_tokens].
    if (w.type == GgmlType::F32) {
        check_cublas(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n_out), static_cast<int>(n_tokens),
                                  static_cast<int>(n_in), &one, w.data, CUDA_R_32F, static_cast<int>(n_in), x, CUDA_R_32F,
                                  static_cast<int>(n_in), beta, y, CUDA_R_32F, static_cast<int>(n_out),
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                     "cublasGemmEx (fp32)");
        return;
    }
    // c [rows x n_cols, ldc] = a (fp16 rows of W) . b (n_cols fp16 columns of n_in) + c_beta * c, float32 accumulation.
    const auto fp16_gemm = [&](int64_t rows, int64_t n_cols, const void* a, const __half* b, const float* c_beta,
                               float* c, int64_t ldc, const char* what) {
        check_cublas(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), static_cast<int>(n_cols),
                                  static_cast<int>(n_in), &one, a, CUDA_R_16F, static_cast<int>(n_in), b, CUDA_R_16F,
                                  static_cast<int>(n_in), c_beta, c, CUDA_R_32F, static_cast<int>(ldc),
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                     what);
    };
    // Up to kStackedMaxTokens the GEMMs of F16/BF16 weights are bound by reading the weights, so x and its remainder go
    // through one GEMM as 2 n columns (W read once) and the two halves are added after.
    const bool stacked = x_lo != nullptr && n_tokens <= kStackedMaxTokens && x_lo == x_half + n_tokens * n_in;
    const int64_t chunk_rows = w.type == GgmlType::F16 ? n_out : std::clamp<int64_t>(kMaxChunkElements / n_in, 1, n_out);
    __half* w_half = nullptr;
    if (w.type != GgmlType::F16) {
        w_half = static_cast<__half*>(weights_.ensure(static_cast<size_t>(chunk_rows * n_in) * sizeof(__half), stream_));
    }
    float* halves = nullptr;
    if (stacked) {
        halves = static_cast<float*>(
            stacked_.ensure(static_cast<size_t>(2 * n_tokens * chunk_rows) * sizeof(float), stream_));
    }
    for (int64_t r0 = 0; r0 < n_out; r0 += chunk_rows) {
        const int64_t rows = std::min(chunk_rows, n_out - r0);
        const void* a = nullptr;
        if (w.type == GgmlType::F16) {
            a = static_cast<const unsigned char*>(w.data) + static_cast<size_t>(r0) * w.row_bytes;
        } else {
            launch_dequantize_rows_f16(w, r0, r0 + rows, w_half, stream_);
            a = w_half;
        }
        if (stacked) {  // x_lo follows x_half: one GEMM over 2 n columns into `halves`, then y (+)= the two halves
            fp16_gemm(rows, 2 * n_tokens, a, x_half, &zero, halves, rows,
                      "cublasGemmEx (fp16 tensor cores, activation and remainder stacked)");
            const int64_t n = rows * n_tokens;
            add_halves_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream_>>>(y + r0, n_out, halves, rows,
                                                                                          n_tokens, accumulate);
            SPOOL_CUDA_CHECK(cudaGetLastError());
            continue;
        }
        fp16_gemm(rows, n_tokens, a, x_half, beta, y + r0, n_out, "cublasGemmEx (fp16 tensor cores)");
        if (x_lo != nullptr) {
            fp16_gemm(rows, n_tokens, a, x_lo, &one, y + r0, n_out,
                      "cublasGemmEx (fp16 tensor cores, activation remainder)");
        }
    }
}

}  // namespace spool::cuda
