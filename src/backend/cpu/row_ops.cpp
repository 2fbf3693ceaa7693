// Row-wise float32 ops of the CPU backend: RMS norm (sum of squares in float64, as llama.cpp's ggml_float)
// and gated activations.
#include <cmath>

#include "backend/cpu/ops.h"

namespace spool::cpu {

void rms_norm_row(const float* x, const float* weight, int64_t n, float eps, float* out) {
    double sum_sq = 0.0;
    for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i] * x[i]);
    const float scale = 1.0f / std::sqrt(static_cast<float>(sum_sq / static_cast<double>(n)) + eps);
    for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * scale) * weight[i];
}

void glu_span(const float* gate, const float* up, int64_t n, Activation act, float* out) {
    if (act == Activation::silu) {
        for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    } else {
        constexpr float kSqrt2OverPi = 0.7978845608f;
        for (int64_t i = 0; i < n; ++i) {
            const float g = gate[i];
            out[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * g * (1.0f + 0.044715f * g * g))) * up[i];
        }
    }
}

}  // namespace spool::cpu
