// Rotary embedding on the CPU. Angles follow llama.cpp's ggml_rope_cache_init for ext_factor 0:
// theta starts at the position and is multiplied by freq_base^(-2/n_dims) per pair, in float32.
#include <cmath>

#include "backend/cpu/ops.h"

namespace spool::cpu {

void rope_angles(int32_t position, const RopeParams& params, float* cos_out, float* sin_out) {
    const float theta_scale = std::pow(params.freq_base, -2.0f / static_cast<float>(params.n_dims));
    float theta = static_cast<float>(position);
    for (int i = 0; i < params.n_dims / 2; ++i) {
        const float factor = params.freq_factors != nullptr ? params.freq_factors[i] : 1.0f;
        const float angle = params.freq_scale * (theta / factor);
        cos_out[i] = std::cos(angle);
        sin_out[i] = std::sin(angle);
        theta *= theta_scale;
    }
}

void rope_head(float* head, RopeMode mode, int n_dims, const float* cos_theta, const float* sin_theta) {
    const int half = n_dims / 2;
    for (int i = 0; i < half; ++i) {
        const int a = mode == RopeMode::norm ? 2 * i : i;
        const int b = mode == RopeMode::norm ? 2 * i + 1 : i + half;
        const float x0 = head[a], x1 = head[b];
        head[a] = x0 * cos_theta[i] - x1 * sin_theta[i];
        head[b] = x0 * sin_theta[i] + x1 * cos_theta[i];
    }
}

void rope_heads(float* heads, int n_heads, int head_dim, RopeMode mode, int n_dims, const float* cos_theta,
                const float* sin_theta) {
    for (int h = 0; h < n_heads; ++h) rope_head(heads + h * head_dim, mode, n_dims, cos_theta, sin_theta);
}

}  // namespace spool::cpu
