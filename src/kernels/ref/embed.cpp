// Reference embed: each token's table row, dequantized through the quant type table (src/quant/types.h).
#include "kernels/ref/ops.h"

#include "quant/types.h"

namespace spool::kernels::ref {

void dequantize_row(GgmlType type, const void* row, float* out, int64_t n) {
    type_info(type).dequantize_row(row, out, n);
}

void embed(const WeightView& table, const int32_t* ids, int64_t n_tokens, float* out) {
    for (int64_t t = 0; t < n_tokens; ++t) {
        const auto* row = static_cast<const uint8_t*>(table.data) + static_cast<size_t>(ids[t]) * table.row_bytes;
        dequantize_row(table.type, row, out + t * table.n_cols, table.n_cols);
    }
}

}  // namespace spool::kernels::ref
