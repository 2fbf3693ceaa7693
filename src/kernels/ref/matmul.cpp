// Reference matmul: every weight row dequantized exactly, dotted with unrounded activations in float64.
#include <vector>

#include "kernels/ref/ops.h"

namespace spool::kernels::ref {

void matmul(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y) {
    std::vector<float> row(static_cast<size_t>(w.n_cols));
    for (int64_t r = 0; r < w.n_rows; ++r) {
        dequantize_row(w.type, static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r) * w.row_bytes,
                       row.data(), w.n_cols);
        for (int64_t t = 0; t < n_tokens; ++t) {
            const float* xt = x + t * w.n_cols;
            double sum = bias != nullptr ? bias[r] : 0.0;
            for (int64_t i = 0; i < w.n_cols; ++i) sum += static_cast<double>(row[i]) * xt[i];
            y[t * w.n_rows + r] = static_cast<float>(sum);
        }
    }
}

}  // namespace spool::kernels::ref
