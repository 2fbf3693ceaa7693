// The CPU attention kernels, chosen at run time by instruction set like the matmul ones (dispatch.h): the query
// heads of one token that share a KV head against a span of KV-cache rows (F32, F16, Q8_0 or Q4_0 keys and values,
// each of its own type), plus the vectorized expf.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>

#include "backend/cpu/kernels/dispatch.h"
#include "quant/types.h"

namespace spool::cpu {

// Limits of one kernel call: its stack buffers are sized by them (model binding checks head_dim <= 512).
inline constexpr int kAttentionMaxGroup = 8;
inline constexpr int kAttentionMaxHeadDim = 512;

// One kernel call's work: n_q query heads of one token (consecutive heads reading the same KV head) against n_rows
// consecutive cache rows.
struct AttentionSpan {
    const float* q = nullptr;  // [n_q][head_dim]
    const void* k = nullptr;   // this KV head's part of the span's first K row; rows lie k_stride bytes apart
    const void* v = nullptr;   // likewise for V, v_stride bytes apart
    size_t k_stride = 0;       // bytes from one K row to the next (KvView::row_bytes)
    size_t v_stride = 0;       // bytes from one V row to the next (KvView::v_row_bytes)
    int64_t n_rows = 0;        // >= 0
    int n_q = 0;               // 1..kAttentionMaxGroup
    int head_dim = 0;          // 1..kAttentionMaxHeadDim; a multiple of 32 for Q8_0, Q4_0 (whole blocks)
    float scale = 1.0f;        // score = scale * q . k
};

// Where a kernel writes. With max and sum null, out gets the finished attention, softmax(scores) . V per head (the
// span must not be empty), computed as attention_finish would from the partial result.
// With them set, out gets the unnormalized sum_j exp(s_j - m) V_j, max the m (the largest score) and sum the
// sum_j exp(s_j - m), so spans of the same heads can be merged later (attention_merge); an empty span gives
// out = 0, max = -inf, sum = 0.
struct AttentionOut {
    float* out = nullptr;  // [n_q][head_dim]
    float* max = nullptr;  // [n_q] or null
    float* sum = nullptr;  // [n_q] or null
};

// Preconditions (checked by the caller when the model is bound, never here): as in AttentionSpan; the rows exist;
// out does not alias q. Neither throws nor allocates; works in float32 with a two-pass softmax per block of rows.
using AttentionSpanFn = void (*)(const AttentionSpan& span, const AttentionOut& out);
// out[i] = expf(x[i]) within 2 ulps for x in [-87.33, 88.72] (ln of the smallest normal and largest float); below
// that 0, above +inf, NaN for NaN. out may alias x.
using ExpRowFn = void (*)(const float* x, float* out, int64_t n);

// The cache types the span kernels read, for keys and values alike; any two of them pair.
inline constexpr GgmlType kAttentionCacheTypes[] = {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0};
inline constexpr int kAttentionCacheTypeCount = static_cast<int>(std::size(kAttentionCacheTypes));

struct AttentionKernels {
    // span[i][j]: keys of kAttentionCacheTypes[i], values of kAttentionCacheTypes[j]
    AttentionSpanFn span[kAttentionCacheTypeCount][kAttentionCacheTypeCount];
    ExpRowFn exp_row;
};

// The kernels of set isa. Precondition: cpu_isa_available(isa).
const AttentionKernels& cpu_attention_kernels(CpuIsa isa) noexcept;
// The span kernel for keys of type k and values of type v on isa; nullptr where either is not one of
// kAttentionCacheTypes.
AttentionSpanFn cpu_attention_kernel(GgmlType k, GgmlType v, CpuIsa isa) noexcept;
inline AttentionSpanFn cpu_attention_kernel(GgmlType t, CpuIsa isa) noexcept { return cpu_attention_kernel(t, t, isa); }

// Folds the partial result `part` into `into` (both with max and sum set, for the same n_q heads and head_dim): `into`
// then holds the partial result of both spans. Folding the same parts in the same order gives the same bits, so a
// caller that always cuts rows at the same places gets results that do not depend on who computed which part.
void attention_merge(const AttentionOut& into, const AttentionOut& part, int n_q, int head_dim) noexcept;
// out[h] = partial.out[h] / partial.sum[h]: the finished attention of a (merged) partial result. out may equal
// partial.out; partial.sum must be non-zero (some row was seen).
void attention_finish(const AttentionOut& partial, int n_q, int head_dim, float* out) noexcept;

}  // namespace spool::cpu
