// Reference KV append: each k/v row stored at its position, rounded to the cache type by the type table's quantizer.
#include "kernels/ref/ops.h"

#include "quant/types.h"

namespace spool::kernels::ref {

void kv_append(const KvView& cache, const float* k, const float* v, const int32_t* positions, int64_t n_tokens) {
    const QuantizeRowFn quantize = type_info(cache.type).quantize_row;
    for (int64_t t = 0; t < n_tokens; ++t) {
        const size_t offset = static_cast<size_t>(positions[t]) * cache.row_bytes;
        quantize(k + t * cache.row_width, static_cast<uint8_t*>(cache.k) + offset, cache.row_width);
        quantize(v + t * cache.row_width, static_cast<uint8_t*>(cache.v) + offset, cache.row_width);
    }
}

}  // namespace spool::kernels::ref
