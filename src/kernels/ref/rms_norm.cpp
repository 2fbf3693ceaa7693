// Reference RMS norm (Zhang & Sennrich 2019), accumulated in float64.
#include <cmath>

#include "kernels/ref/ops.h"

namespace spool::kernels::ref {

void rms_norm(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps, float* out) {
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* xr = x + r * n;
        double sum_sq = 0;
        for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(xr[i]) * xr[i];
        const double scale = 1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps);
        float* yr = out + r * n;
        for (int64_t i = 0; i < n; ++i) yr[i] = static_cast<float>(xr[i] * scale * weight[i]);
    }
}

}  // namespace spool::kernels::ref
