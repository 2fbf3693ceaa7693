// The ref backend: the Backend interface implemented with kernels/ref (float64 loops, one thread).
// Slow and obviously correct: the oracle for tests/parity and for finding the first layer that diverges.
#pragma once

#include "backend/host_backend.h"

namespace spool {

class RefBackend final : public HostBackend {
public:
    std::string name() const override { return "ref"; }
    bool supports(Op op, GgmlType type) const override;

    void embed(const WeightView& table, const int32_t* ids, int64_t n_tokens, float* out) override;
    void rms_norm(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps, float* out) override;
    void matmul(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y) override;
    void rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
              const RopeParams& params) override;
    void kv_append(const KvView& cache, const float* k, const float* v, const int32_t* positions,
                   int64_t n_tokens) override;
    void attention(const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                   const AttentionParams& params, float* out) override;
    void glu(const float* gate, const float* up, int64_t n, Activation act, float* out) override;
    void add(const float* a, const float* b, int64_t n, float* out) override;
    void argmax(const float* x, int64_t n_rows, int64_t n, int32_t* out) override;
};

}  // namespace spool
