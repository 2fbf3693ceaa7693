// Reference causal attention with grouped-query heads: scores, softmax and the weighted sum in float64,
// with cache rows dequantized exactly.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ref/ops.h"

namespace spool::kernels::ref {

void attention(const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
               const AttentionParams& params, float* out) {
    const int group = params.n_head / params.n_head_kv;
    const int64_t q_width = static_cast<int64_t>(params.n_head) * params.head_dim;
    std::vector<float> k_row(static_cast<size_t>(cache.row_width)), v_row(static_cast<size_t>(cache.row_width));
    std::vector<double> scores, acc(static_cast<size_t>(params.head_dim));
    for (int64_t t = 0; t < n_tokens; ++t) {
        const int64_t last = positions[t];
        const int64_t first = params.window > 0 ? std::max<int64_t>(0, last - params.window + 1) : 0;
        for (int h = 0; h < params.n_head; ++h) {
            const float* qh = q + t * q_width + static_cast<int64_t>(h) * params.head_dim;
            const int64_t kv_offset = static_cast<int64_t>(h / group) * params.head_dim;
            scores.assign(static_cast<size_t>(last - first + 1), 0.0);
            double max_score = -INFINITY;
            for (int64_t j = first; j <= last; ++j) {
                dequantize_row(cache.type, static_cast<const uint8_t*>(cache.k) + j * cache.row_bytes, k_row.data(),
                               cache.row_width);
                double dot = 0;
                for (int d = 0; d < params.head_dim; ++d) dot += static_cast<double>(qh[d]) * k_row[kv_offset + d];
                scores[j - first] = dot * params.scale;
                max_score = std::max(max_score, scores[j - first]);
            }
            double sum = 0;
            for (double& s : scores) sum += (s = std::exp(s - max_score));
            std::fill(acc.begin(), acc.end(), 0.0);
            for (int64_t j = first; j <= last; ++j) {
                dequantize_row(cache.v_type, static_cast<const uint8_t*>(cache.v) + j * cache.v_row_bytes,
                               v_row.data(), cache.row_width);
                const double p = scores[j - first] / sum;
                for (int d = 0; d < params.head_dim; ++d) acc[d] += p * v_row[kv_offset + d];
            }
            float* oh = out + t * q_width + static_cast<int64_t>(h) * params.head_dim;
            for (int d = 0; d < params.head_dim; ++d) oh[d] = static_cast<float>(acc[d]);
        }
    }
}

}  // namespace spool::kernels::ref
