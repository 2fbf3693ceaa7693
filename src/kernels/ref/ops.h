// The reference ops: plain float64/float32 loops on host memory, one file per op. They are the oracle that
// every backend is tested against (tests/parity), so each favours obvious correctness over speed.
#pragma once

#include <cstdint>

#include "backend/backend.h"

namespace spool::kernels::ref {

// Shapes and preconditions are those of the Backend op of the same name (backend/backend.h).
void embed(const WeightView& table, const int32_t* ids, int64_t n_tokens, float* out);
void rms_norm(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps, float* out);
// Dequantizes each weight row exactly and accumulates in float64; activations are not rounded.
void matmul(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y);
void rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim, const RopeParams& params);
void kv_append(const KvView& cache, const float* k, const float* v, const int32_t* positions, int64_t n_tokens);
void attention(const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
               const AttentionParams& params, float* out);
void glu(const float* gate, const float* up, int64_t n, Activation act, float* out);
void add(const float* a, const float* b, int64_t n, float* out);
void argmax(const float* x, int64_t n_rows, int64_t n, int32_t* out);
void top_k(const float* x, int64_t n_rows, int64_t n, int k, float* values, int32_t* ids, double* lse);

// Helpers shared by the ops (and by tests): one stored row of any table type as float32.
void dequantize_row(GgmlType type, const void* row, float* out, int64_t n);
double silu(double x);
double gelu(double x);  // tanh approximation, as llama.cpp's ggml_gelu

}  // namespace spool::kernels::ref
