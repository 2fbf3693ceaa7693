// Reference element-wise ops: gated activations (SwiGLU / GeGLU, Shazeer 2020) and addition, in float64.
#include <cmath>

#include "kernels/ref/ops.h"

namespace spool::kernels::ref {

double silu(double x) { return x / (1.0 + std::exp(-x)); }

double gelu(double x) {
    constexpr double kSqrt2OverPi = 0.79788456080286535588;
    return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * x * (1.0 + 0.044715 * x * x)));
}

void glu(const float* gate, const float* up, int64_t n, Activation act, float* out) {
    for (int64_t i = 0; i < n; ++i) {
        const double g = act == Activation::silu ? silu(gate[i]) : gelu(gate[i]);
        out[i] = static_cast<float>(g * up[i]);
    }
}

void add(const float* a, const float* b, int64_t n, float* out) {
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace spool::kernels::ref
