// launch_matvec and weight_type_supported (launch.h): checks the call and hands it to the kernel of the weight's
// family (matvec_float.cu, matvec_legacy.cu, matvec_kquants.cu).
#include <string>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/matvec_kernel.cuh"

namespace spool::cuda {

bool weight_type_supported(GgmlType type) noexcept {
    return wq::with_decoder(type, [](auto) {});
}

void launch_matvec(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y,
                   cudaStream_t stream) {
    if (n_tokens < 1 || n_tokens > kMatvecMaxTokens) {
        throw UsageError("launch_matvec: n_tokens must be in 1.." + std::to_string(kMatvecMaxTokens) + "; got " +
                         std::to_string(n_tokens) + " (larger batches go through dequantize + cuBLAS)");
    }
    wq::RowPath path = wq::weight_row_path(w, "launch_matvec");
    if (w.n_rows < 1) return;
    const bool x_aligned = reinterpret_cast<uintptr_t>(x) % 16 == 0;
    if (path == wq::RowPath::groups && !x_aligned) {
        if (w.type != GgmlType::F32 && w.type != GgmlType::F16 && w.type != GgmlType::BF16) {
            throw UsageError(std::string("launch_matvec: x must be 16-byte aligned for ") +
                             wq::weight_type_name(w.type) + " weights (it is read as float4)");
        }
        path = wq::RowPath::elements;
    }
    wq::MatvecArgs a;
    a.w = static_cast<const uint8_t*>(w.data);
    a.row_bytes = static_cast<int64_t>(w.row_bytes);
    a.n_rows = w.n_rows;
    a.n_cols = w.n_cols;
    a.x = x;
    a.bias = bias;
    a.y = y;
    if (path == wq::RowPath::elements) {
        wq::launch_matvec_float_unaligned(w.type, a, n_tokens, stream);
    } else if (!wq::launch_matvec_float(w.type, a, n_tokens, stream) &&
               !wq::launch_matvec_legacy(w.type, a, n_tokens, stream)) {
        wq::launch_matvec_kquants(w.type, a, n_tokens, stream);
    }
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace spool::cuda
