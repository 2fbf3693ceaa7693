// Reference rotary position embedding (Su et al. 2021) with angles in float64. NORM rotates adjacent pairs,
// NEOX rotates element i with element i + n_dims/2, as llama.cpp's ggml_rope modes 0 and 2.
#include <cmath>

#include "kernels/ref/ops.h"

namespace spool::kernels::ref {

void rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim, const RopeParams& params) {
    const int half = params.n_dims / 2;
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int h = 0; h < n_heads; ++h) {
            float* head = x + (t * n_heads + h) * head_dim;
            for (int i = 0; i < half; ++i) {
                double theta = static_cast<double>(positions[t]) *
                               std::pow(static_cast<double>(params.freq_base), -2.0 * i / params.n_dims);
                if (params.freq_factors != nullptr) theta /= params.freq_factors[i];
                theta *= params.freq_scale;
                const double c = std::cos(theta), s = std::sin(theta);
                const int a = params.mode == RopeMode::norm ? 2 * i : i;
                const int b = params.mode == RopeMode::norm ? 2 * i + 1 : i + half;
                const double x0 = head[a], x1 = head[b];
                head[a] = static_cast<float>(x0 * c - x1 * s);
                head[b] = static_cast<float>(x0 * s + x1 * c);
            }
        }
    }
}

}  // namespace spool::kernels::ref
