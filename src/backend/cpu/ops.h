// The cpu backend's non-matmul kernels: float32 loops without ISA flags, written so the compiler can vectorize
// them with the baseline instruction set. (Matmul kernels, per type and ISA, live in kernels/ behind dispatch.h.)
#pragma once

#include <cstdint>

#include "backend/backend.h"

namespace spool::cpu {

// Limits of attention_group's stack buffers (checked when a model is bound).
inline constexpr int kMaxHeadDim = 512;
inline constexpr int kMaxGroup = 8;

// Attention of n_q consecutive query heads of one token that share one KV head, with an online softmax
// (Milakov & Gimelshein 2018), so no score buffer is needed. Reads cache rows [first, last] at element offset
// kv_offset. q and out: [n_q, head_dim]. Preconditions: n_q <= kMaxGroup, head_dim <= kMaxHeadDim; for a Q8_0
// cache, kv_offset and head_dim are multiples of 32.
void attention_group(const float* q, int n_q, const KvView& cache, int64_t kv_offset, int64_t first, int64_t last,
                     int head_dim, float scale, float* out);

// The rope angles of one position for pairs i < n_dims/2, computed as llama.cpp's rope cache does
// (theta *= theta_scale in float), so both agree to the last bit of the angle.
void rope_angles(int32_t position, const RopeParams& params, float* cos_out, float* sin_out);
void rope_head(float* head, RopeMode mode, int n_dims, const float* cos_theta, const float* sin_theta);

void rms_norm_row(const float* x, const float* weight, int64_t n, float eps, float* out);
void glu_span(const float* gate, const float* up, int64_t n, Activation act, float* out);

}  // namespace spool::cpu
