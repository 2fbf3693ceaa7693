// Matvec kernels of the legacy 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): instantiations only.
#include "backend/cuda/kernels/matvec_kernel.cuh"

namespace spool::cuda::wq {

bool launch_matvec_legacy(spool::GgmlType type, const MatvecArgs& a, int64_t n_tokens, cudaStream_t stream) {
    using T = spool::GgmlType;
    if (a.grouped && type != T::Q4_0) return false;
    switch (type) {
        case T::Q4_0: launch_matvec_in_layout<DecQ4_0, DecQ4_0Grouped>(a, n_tokens, stream); return true;
        case T::Q4_1: launch_matvec_typed<DecQ4_1>(a, n_tokens, stream); return true;
        case T::Q5_0: launch_matvec_typed<DecQ5_0>(a, n_tokens, stream); return true;
        case T::Q5_1: launch_matvec_typed<DecQ5_1>(a, n_tokens, stream); return true;
        case T::Q8_0: launch_matvec_typed<DecQ8_0>(a, n_tokens, stream); return true;
        default: return false;
    }
}

}  // namespace spool::cuda::wq
