// Matvec kernels of the float weight types (F32, F16, BF16): the shared template for rows of whole 4-element groups,
// and a plain one-element-at-a-time kernel for any other row length.
#include "backend/cuda/kernels/matvec_kernel.cuh"

namespace spool::cuda::wq {
namespace {

constexpr int kUnalignedWarps = 4;  // one row per warp

// y[t][row] = sum_i W[row][i] x[t][i]: lanes stride over the row's elements; x needs only 4-byte alignment.
template <class Dec, int NT>
__global__ void __launch_bounds__(32 * kUnalignedWarps) matvec_unaligned_kernel(MatvecArgs a) {
    const int lane = threadIdx.x & 31;
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kUnalignedWarps + (threadIdx.x >> 5);
    if (row >= a.n_rows) return;
    const uint8_t* w = a.w + row * a.row_bytes;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
    for (int64_t i = lane; i < a.n_cols; i += 32) {
        const float wi = Dec::element(w, i);
#pragma unroll
        for (int t = 0; t < NT; ++t) acc[t] = fmaf(wi, __ldg(a.x + t * a.n_cols + i), acc[t]);
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        float sum = acc[t];
        for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
        if (lane == 0) a.y[t * a.n_rows + row] = a.bias != nullptr ? sum + a.bias[row] : sum;
    }
}

template <class Dec>
void launch_unaligned(const MatvecArgs& a, int64_t n_tokens, cudaStream_t stream) {
    const unsigned blocks = static_cast<unsigned>((a.n_rows + kUnalignedWarps - 1) / kUnalignedWarps);
    const int threads = 32 * kUnalignedWarps;
    switch (n_tokens) {
        case 1: matvec_unaligned_kernel<Dec, 1><<<blocks, threads, 0, stream>>>(a); break;
        case 2: matvec_unaligned_kernel<Dec, 2><<<blocks, threads, 0, stream>>>(a); break;
        case 3: matvec_unaligned_kernel<Dec, 3><<<blocks, threads, 0, stream>>>(a); break;
        case 4: matvec_unaligned_kernel<Dec, 4><<<blocks, threads, 0, stream>>>(a); break;
        case 5: matvec_unaligned_kernel<Dec, 5><<<blocks, threads, 0, stream>>>(a); break;
        case 6: matvec_unaligned_kernel<Dec, 6><<<blocks, threads, 0, stream>>>(a); break;
        case 7: matvec_unaligned_kernel<Dec, 7><<<blocks, threads, 0, stream>>>(a); break;
        case 8: matvec_unaligned_kernel<Dec, 8><<<blocks, threads, 0, stream>>>(a); break;
        default: break;  // checked by launch_matvec
    }
}

}  // namespace

bool launch_matvec_float(spool::GgmlType type, const MatvecArgs& a, int64_t n_tokens, cudaStream_t stream) {
    using T = spool::GgmlType;
    switch (type) {
        case T::F32: launch_matvec_typed<DecF32>(a, n_tokens, stream); return true;
        case T::F16: launch_matvec_typed<DecF16>(a, n_tokens, stream); return true;
        case T::BF16: launch_matvec_typed<DecBF16>(a, n_tokens, stream); return true;
        default: return false;
    }
}

void launch_matvec_float_unaligned(spool::GgmlType type, const MatvecArgs& a, int64_t n_tokens, cudaStream_t stream) {
    using T = spool::GgmlType;
    switch (type) {
        case T::F32: launch_unaligned<DecF32>(a, n_tokens, stream); break;
        case T::F16: launch_unaligned<DecF16>(a, n_tokens, stream); break;
        case T::BF16: launch_unaligned<DecBF16>(a, n_tokens, stream); break;
        default: break;
    }
}

}  // namespace spool::cuda::wq
