// The cpu backend's non-matmul kernels: float32 loops without ISA flags, written so the compiler can vectorize
// them with the baseline instruction set, and the attention driver. (Matmul and attention kernels, per ISA, live in
// kernels/ behind dispatch.h and attention_dispatch.h.)
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "backend/cpu/kernels/attention_dispatch.h"

namespace spool::cpu {

// How CpuBackend::attention divides its work. A task is one token's query heads that share a KV head (at most
// kAttentionMaxGroup of them: wider groups take several tasks) against that token's cache rows. The rows are cut
// into parts at fixed multiples of kAttentionPartRows from the first, each part is one kernel call, and the parts are
// folded in order (attention_merge). So the result depends only on the token's query and rows, never on the batch
// or the thread count: a decode step reproduces the prefill row of the same token bit for bit.
inline constexpr int64_t kAttentionPartRows = 256;

struct AttentionPlan {
    int group = 0;                // query heads per KV head
    int slices = 0;               // tasks per KV head per token
    int64_t tasks_per_token = 0;
    int64_t n_tasks = 0;
    int64_t max_parts = 0;        // parts of the longest task
    // Few tokens (decode): the work goes out by parts, unit u being part u / n_tasks of task u % n_tasks, so the
    // threads share a long context even with few KV heads, and consecutive units (one part, every KV head) read
    // whole cache rows: measured 1.27x less CPU time than one head's slice of every row (TinyLlama shape, 2048 rows,
    // the cache coming from DRAM). Partial results go to scratch and are merged afterwards. Otherwise (prefill)
    // each task runs whole, its parts in turn.
    bool by_parts = false;
    size_t part_floats = 0;       // floats of one partial result in scratch: [n_q][head_dim], [n_q] max, [n_q] sum
};

// positions: [n_tokens]. Never throws.
AttentionPlan plan_attention(const AttentionParams& params, const int32_t* positions, int64_t n_tokens);
// Runs task `task` whole (its parts in order) into its heads of out ([n_tokens, n_head, head_dim]).
// kernel: cpu_attention_kernel(cache.type, isa).
void attention_task(const AttentionPlan& plan, AttentionSpanFn kernel, const float* q, const KvView& cache,
                    const int32_t* positions, const AttentionParams& params, int64_t task, float* out);
// For plan.by_parts: runs part `part` of task `task` into scratch slot task * max_parts + part of parts
// ([n_tasks * max_parts][part_floats]), or, for a task of one part, straight into out; nothing past the task's parts.
void attention_task_part(const AttentionPlan& plan, AttentionSpanFn kernel, const float* q, const KvView& cache,
                         const int32_t* positions, const AttentionParams& params, int64_t task, int64_t part,
                         float* parts, float* out);
// For plan.by_parts, after every part ran: merges task `task`'s parts into its heads of out.
void attention_merge_task(const AttentionPlan& plan, const int32_t* positions, const AttentionParams& params,
                          int64_t task, float* parts, float* out);

// The rope angles of one position for pairs i < n_dims/2, computed as llama.cpp's rope cache does
// (theta *= theta_scale in float), so both agree to the last bit of the angle.
void rope_angles(int32_t position, const RopeParams& params, float* cos_out, float* sin_out);
void rope_head(float* head, RopeMode mode, int n_dims, const float* cos_theta, const float* sin_theta);
// rope_head on each of one token's n_heads consecutive heads.
void rope_heads(float* heads, int n_heads, int head_dim, RopeMode mode, int n_dims, const float* cos_theta,
                const float* sin_theta);

void rms_norm_row(const float* x, const float* weight, int64_t n, float eps, float* out);
// out = act(gate) * up; exp_row: cpu_attention_kernels(isa).exp_row (SiLU's expf, vectorized: the scalar loop
// with std::exp took 4% of a TinyLlama pp128). out may alias gate or up.
void glu_span(const float* gate, const float* up, int64_t n, Activation act, ExpRowFn exp_row, float* out);

}  // namespace spool::cpu
