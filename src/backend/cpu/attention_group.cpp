// Attention of one token's query heads that share a KV head (grouped-query attention), against a KV cache of
// F32, F16 or Q8_0 rows, in float32 with an online softmax (Milakov & Gimelshein 2018): a running maximum,
// sum and accumulator per head are rescaled whenever the maximum grows, so no score buffer is needed.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/half_fast.h"
#include "backend/cpu/ops.h"
#include "quant/blocks_legacy.h"
#include "quant/types.h"

namespace spool::cpu {
namespace {

// head_dim elements of one cache row starting at element `offset`, as float32. For Q8_0, offset and head_dim
// are multiples of 32 (the KV cache checks this when it is created).
void load_head(const KvView& cache, const void* rows, int64_t row, int64_t offset, int head_dim, float* out) {
    const auto* base = static_cast<const unsigned char*>(rows) + static_cast<size_t>(row) * cache.row_bytes;
    switch (cache.type) {
        case GgmlType::F32:
            std::memcpy(out, base + offset * 4, static_cast<size_t>(head_dim) * 4);
            break;
        case GgmlType::F16: {
            uint16_t h[kMaxHeadDim];
            std::memcpy(h, base + offset * 2, static_cast<size_t>(head_dim) * 2);
            for (int d = 0; d < head_dim; ++d) out[d] = half_to_float_fast(h[d]);
            break;
        }
        default: {  // Q8_0
            const auto* blocks = reinterpret_cast<const quant::BlockQ8_0*>(base) + offset / 32;
            for (int b = 0; b < head_dim / 32; ++b) {
                const float scale = half_to_float_fast(blocks[b].d);
                for (int j = 0; j < 32; ++j) out[b * 32 + j] = scale * static_cast<float>(blocks[b].qs[j]);
            }
            break;
        }
    }
}

// Dot product in 8 float lanes, so the compiler vectorizes it without reassociation flags.
float dot(const float* a, const float* b, int n) {
    constexpr int kLanes = 8;
    float lanes[kLanes] = {};
    int d = 0;
    for (; d + kLanes <= n; d += kLanes) {
        for (int l = 0; l < kLanes; ++l) lanes[l] += a[d + l] * b[d + l];
    }
    float sum = 0.0f;
    for (; d < n; ++d) sum += a[d] * b[d];
    for (int l = 0; l < kLanes; ++l) sum += lanes[l];
    return sum;
}

}  // namespace

void attention_group(const float* q, int n_q, const KvView& cache, int64_t kv_offset, int64_t first, int64_t last,
                     int head_dim, float scale, float* out) {
    float key[kMaxHeadDim], value[kMaxHeadDim];
    float acc[kMaxGroup][kMaxHeadDim];
    float running_max[kMaxGroup], running_sum[kMaxGroup];
    for (int h = 0; h < n_q; ++h) {
        std::fill(acc[h], acc[h] + head_dim, 0.0f);
        running_max[h] = -INFINITY;
        running_sum[h] = 0.0f;
    }
    for (int64_t j = first; j <= last; ++j) {
        // Each cache row is converted once and used by every query head of the group.
        load_head(cache, cache.k, j, kv_offset, head_dim, key);
        load_head(cache, cache.v, j, kv_offset, head_dim, value);
        for (int h = 0; h < n_q; ++h) {
            const float score = dot(q + h * head_dim, key, head_dim) * scale;
            float* a = acc[h];
            if (score > running_max[h]) {
                // exp(-inf) is 0 on the first row, which clears the (zero) accumulator correctly.
                const float rescale = std::exp(running_max[h] - score);
                running_sum[h] *= rescale;
                for (int d = 0; d < head_dim; ++d) a[d] *= rescale;
                running_max[h] = score;
            }
            const float p = std::exp(score - running_max[h]);
            running_sum[h] += p;
            for (int d = 0; d < head_dim; ++d) a[d] += p * value[d];
        }
    }
    for (int h = 0; h < n_q; ++h) {
        const float inv = 1.0f / running_sum[h];
        for (int d = 0; d < head_dim; ++d) out[h * head_dim + d] = acc[h][d] * inv;
    }
}

}  // namespace spool::cpu
