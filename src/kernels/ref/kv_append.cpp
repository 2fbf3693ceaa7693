// Reference KV append: each k/v row stored at its position, rounded to its half's type by the type table's quantizer.
#include "kernels/ref/ops.h"

#include "quant/types.h"

namespace spool::kernels::ref {

void kv_append(const KvView& cache, const float* k, const float* v, const int32_t* positions, int64_t n_tokens) {
    const QuantizeRowFn quantize_k = type_info(cache.type).quantize_row;
    const QuantizeRowFn quantize_v = type_info(cache.v_type).quantize_row;
    for (int64_t t = 0; t < n_tokens; ++t) {
        const auto position = static_cast<size_t>(positions[t]);
        quantize_k(k + t * cache.row_width, static_cast<uint8_t*>(cache.k) + position * cache.row_bytes,
                   cache.row_width);
        quantize_v(v + t * cache.row_width, static_cast<uint8_t*>(cache.v) + position * cache.v_row_bytes,
                   cache.row_width);
    }
}

}  // namespace spool::kernels::ref
