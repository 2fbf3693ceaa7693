// The gated feed-forward's activations in float32, shared by the glu kernel and the fused gate/up matvec so both
// round alike. GELU is the tanh approximation, as the ref (kernels/ref/elementwise.cpp) and llama.cpp's ggml_gelu.
#pragma once

#include "backend/backend.h"

namespace spool::cuda {

template <Activation ACT>
__device__ __forceinline__ float activate(float g) {
    if constexpr (ACT == Activation::silu) {
        return g / (1.0f + expf(-g));
    } else {
        constexpr float kSqrt2OverPi = 0.79788456080286535588f;
        return 0.5f * g * (1.0f + tanhf(kSqrt2OverPi * g * (1.0f + 0.044715f * g * g)));
    }
}

}  // namespace spool::cuda
