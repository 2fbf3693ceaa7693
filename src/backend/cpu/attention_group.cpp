// CpuBackend::attention's division of work (ops.h): tasks of one token's query heads sharing a KV head, their rows
// cut into fixed parts that are folded in order, and (for decode) those parts spread over the threads.
#include <algorithm>

#include "backend/cpu/ops.h"
#include "quant/types.h"

namespace spool::cpu {
namespace {

// Batches of at most this many tokens (decode, a speculative check) run by parts (AttentionPlan::by_parts).
constexpr int64_t kMaxTokensByParts = 16;

struct Task {
    int64_t token;
    int first_head, n_q, kv_head;
    int64_t first_row, n_rows;
    int64_t n_parts() const { return (n_rows + kAttentionPartRows - 1) / kAttentionPartRows; }
};

int64_t rows_of(const AttentionParams& params, int32_t position) {
    return params.window > 0 ? std::min<int64_t>(position + 1, params.window) : position + 1;
}

Task task_of(const AttentionPlan& plan, const AttentionParams& params, const int32_t* positions, int64_t task) {
    Task t{};
    t.token = task / plan.tasks_per_token;
    const int in_token = static_cast<int>(task % plan.tasks_per_token);
    t.kv_head = in_token / plan.slices;
    const int slice = in_token % plan.slices;
    t.first_head = t.kv_head * plan.group + slice * kAttentionMaxGroup;
    t.n_q = std::min(kAttentionMaxGroup, plan.group - slice * kAttentionMaxGroup);
    t.n_rows = rows_of(params, positions[t.token]);
    t.first_row = positions[t.token] + 1 - t.n_rows;
    return t;
}

int64_t q_offset(const Task& t, const AttentionParams& params) {
    return (t.token * params.n_head + t.first_head) * static_cast<int64_t>(params.head_dim);
}

// The kernel call for part `part` of task t.
AttentionSpan part_span(const Task& t, int64_t part, const float* q, const KvView& cache,
                        const AttentionParams& params) {
    const int64_t begin = t.first_row + part * kAttentionPartRows;
    const int64_t end = std::min(t.first_row + t.n_rows, begin + kAttentionPartRows);
    const int64_t head_column = static_cast<int64_t>(t.kv_head) * params.head_dim;
    AttentionSpan span;
    span.q = q + q_offset(t, params);
    span.k = static_cast<const unsigned char*>(cache.k) + static_cast<size_t>(begin) * cache.row_bytes +
             row_bytes(cache.type, head_column);
    span.v = static_cast<const unsigned char*>(cache.v) + static_cast<size_t>(begin) * cache.v_row_bytes +
             row_bytes(cache.v_type, head_column);
    span.k_stride = cache.row_bytes;
    span.v_stride = cache.v_row_bytes;
    span.n_rows = end - begin;
    span.n_q = t.n_q;
    span.head_dim = params.head_dim;
    span.scale = params.scale;
    return span;
}

// Scratch slot of a partial result: [n_q][head_dim] values, then n_q maxima and n_q sums.
AttentionOut slot(float* base, int n_q, int head_dim) {
    const size_t values = static_cast<size_t>(n_q) * static_cast<size_t>(head_dim);
    return AttentionOut{base, base + values, base + values + n_q};
}

}  // namespace

AttentionPlan plan_attention(const AttentionParams& params, const int32_t* positions, int64_t n_tokens) {
    AttentionPlan plan;
    plan.group = params.n_head / params.n_head_kv;
    plan.slices = (plan.group + kAttentionMaxGroup - 1) / kAttentionMaxGroup;
    plan.tasks_per_token = static_cast<int64_t>(params.n_head_kv) * plan.slices;
    plan.n_tasks = n_tokens * plan.tasks_per_token;
    const int max_q = std::min(plan.group, kAttentionMaxGroup);
    plan.part_floats = static_cast<size_t>(max_q) * static_cast<size_t>(params.head_dim + 2);
    int64_t max_rows = 0;
    for (int64_t t = 0; t < n_tokens; ++t) max_rows = std::max(max_rows, rows_of(params, positions[t]));
    plan.max_parts = (max_rows + kAttentionPartRows - 1) / kAttentionPartRows;
    plan.by_parts = plan.max_parts > 1 && n_tokens <= kMaxTokensByParts;
    return plan;
}

void attention_task(const AttentionPlan& plan, AttentionSpanFn kernel, const float* q, const KvView& cache,
                    const int32_t* positions, const AttentionParams& params, int64_t task, float* out) {
    const Task t = task_of(plan, params, positions, task);
    float* result = out + q_offset(t, params);
    const int64_t n_parts = t.n_parts();
    if (n_parts == 1) {
        kernel(part_span(t, 0, q, cache, params), AttentionOut{result, nullptr, nullptr});
        return;
    }
    // The running merge keeps its values in out itself; the part being added lives on the stack.
    float max[kAttentionMaxGroup], sum[kAttentionMaxGroup], part_max[kAttentionMaxGroup], part_sum[kAttentionMaxGroup];
    alignas(64) float part_values[kAttentionMaxGroup * kAttentionMaxHeadDim];
    const AttentionOut merged{result, max, sum}, part{part_values, part_max, part_sum};
    kernel(part_span(t, 0, q, cache, params), merged);
    for (int64_t p = 1; p < n_parts; ++p) {
        kernel(part_span(t, p, q, cache, params), part);
        attention_merge(merged, part, t.n_q, params.head_dim);
    }
    attention_finish(merged, t.n_q, params.head_dim, result);
}

void attention_task_part(const AttentionPlan& plan, AttentionSpanFn kernel, const float* q, const KvView& cache,
                         const int32_t* positions, const AttentionParams& params, int64_t task, int64_t part,
                         float* parts, float* out) {
    const Task t = task_of(plan, params, positions, task);
    const int64_t n_parts = t.n_parts();
    if (part >= n_parts) return;
    if (n_parts == 1) {
        kernel(part_span(t, 0, q, cache, params), AttentionOut{out + q_offset(t, params), nullptr, nullptr});
        return;
    }
    float* base = parts + static_cast<size_t>(task * plan.max_parts + part) * plan.part_floats;
    kernel(part_span(t, part, q, cache, params), slot(base, t.n_q, params.head_dim));
}

void attention_merge_task(const AttentionPlan& plan, const int32_t* positions, const AttentionParams& params,
                          int64_t task, float* parts, float* out) {
    const Task t = task_of(plan, params, positions, task);
    const int64_t n_parts = t.n_parts();
    if (n_parts == 1) return;  // written to out by attention_task_part
    // The same folds in the same order as attention_task, so both give the same bits.
    float* base = parts + static_cast<size_t>(task * plan.max_parts) * plan.part_floats;
    const AttentionOut merged = slot(base, t.n_q, params.head_dim);
    for (int64_t p = 1; p < n_parts; ++p) {
        attention_merge(merged, slot(base + static_cast<size_t>(p) * plan.part_floats, t.n_q, params.head_dim), t.n_q,
                        params.head_dim);
    }
    attention_finish(merged, t.n_q, params.head_dim, out + q_offset(t, params));
}

}  // namespace spool::cpu
