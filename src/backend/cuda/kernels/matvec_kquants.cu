// Matvec kernels of the K-quant types (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K): instantiations only.
#include "backend/cuda/kernels/matvec_kernel.cuh"

namespace spool::cuda::wq {

bool launch_matvec_kquants(spool::GgmlType type, const MatvecArgs& a, int64_t n_tokens, cudaStream_t stream) {
    using T = spool::GgmlType;
    if (a.grouped && type != T::Q6_K) return false;
    switch (type) {
        case T::Q2_K: launch_matvec_typed<DecQ2_K>(a, n_tokens, stream); return true;
        case T::Q3_K: launch_matvec_typed<DecQ3_K>(a, n_tokens, stream); return true;
        case T::Q4_K: launch_matvec_typed<DecQ4_K>(a, n_tokens, stream); return true;
        case T::Q5_K: launch_matvec_typed<DecQ5_K>(a, n_tokens, stream); return true;
        case T::Q6_K: launch_matvec_in_layout<DecQ6_K, DecQ6_KGrouped>(a, n_tokens, stream); return true;
        default: return false;
    }
}

}  // namespace spool::cuda::wq
