// The ref backend: each op forwards to its kernels/ref loop.
#include "backend/ref/backend_ref.h"

#include "backend/supported_types.h"
#include "kernels/ref/ops.h"

namespace spool {

bool RefBackend::supports(Op op, GgmlType type) const { return host_supports(op, type); }

void RefBackend::embed(const WeightView& table, const int32_t* ids, int64_t n_tokens, float* out) {
    kernels::ref::embed(table, ids, n_tokens, out);
}
void RefBackend::rms_norm(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps, float* out) {
    kernels::ref::rms_norm(x, weight, n_rows, n, eps, out);
}
void RefBackend::matmul(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y) {
    kernels::ref::matmul(w, x, n_tokens, bias, y);
}
void RefBackend::rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
                      const RopeParams& params) {
    kernels::ref::rope(x, positions, n_tokens, n_heads, head_dim, params);
}
void RefBackend::kv_append(const KvView& cache, const float* k, const float* v, const int32_t* positions,
                           int64_t n_tokens) {
    kernels::ref::kv_append(cache, k, v, positions, n_tokens);
}
void RefBackend::attention(const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                           const AttentionParams& params, float* out) {
    kernels::ref::attention(q, cache, positions, n_tokens, params, out);
}
void RefBackend::glu(const float* gate, const float* up, int64_t n, Activation act, float* out) {
    kernels::ref::glu(gate, up, n, act, out);
}
void RefBackend::add(const float* a, const float* b, int64_t n, float* out) { kernels::ref::add(a, b, n, out); }
void RefBackend::argmax(const float* x, int64_t n_rows, int64_t n, int32_t* out) {
    kernels::ref::argmax(x, n_rows, n, out);
}

}  // namespace spool
