// Row-wise float32 ops of the CPU backend: RMS norm (sum of squares in float64, as llama.cpp's ggml_float)
// and gated activations.
#include <algorithm>
#include <cmath>

#include "backend/cpu/ops.h"

namespace spool::cpu {

void rms_norm_row(const float* x, const float* weight, int64_t n, float eps, float* out) {
    // Four float64 partial sums: one chain of dependent adds made this 1% of a TinyLlama pp128 (its latency, not
    // the work). In float64 the order moves the sum by far less than a float32 ulp.
    double part[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        for (int j = 0; j < 4; ++j) part[j] += static_cast<double>(x[k + j] * x[k + j]);
    }
    for (; k < n; ++k) part[0] += static_cast<double>(x[k] * x[k]);
    const double sum_sq = (part[0] + part[1]) + (part[2] + part[3]);
    const float scale = 1.0f / std::sqrt(static_cast<float>(sum_sq / static_cast<double>(n)) + eps);
    for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * scale) * weight[i];
}

void glu_span(const float* gate, const float* up, int64_t n, Activation act, ExpRowFn exp_row, float* out) {
    if (act == Activation::silu) {
        // exp(-gate) a stack block at a time, so the vectorized exp does the expensive part.
        constexpr int64_t kBlock = 512;
        float e[kBlock];
        for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
            const int64_t m = std::min(kBlock, n - i0);
            for (int64_t i = 0; i < m; ++i) e[i] = -gate[i0 + i];
            exp_row(e, e, m);
            for (int64_t i = 0; i < m; ++i) out[i0 + i] = gate[i0 + i] / (1.0f + e[i]) * up[i0 + i];
        }
    } else {
        constexpr float kSqrt2OverPi = 0.7978845608f;
        for (int64_t i = 0; i < n; ++i) {
            const float g = gate[i];
            out[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * g * (1.0f + 0.044715f * g * g))) * up[i];
        }
    }
}

}  // namespace spool::cpu
