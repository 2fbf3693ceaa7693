// launch_attention and its workspace: picks the split-sequence path (flash-decoding: partials per part of the
// cache rows, then a combine) for decode-sized batches and the tiled path for prefill, from shapes alone (graph-safe).
#include <algorithm>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/launch.h"

namespace spool::cuda {
namespace attn {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks of the plan's split kernel that fit one SM where its registers or its launcher bound them (the tensor-core
// kernel, the wide forms); 0 where nothing does.
int bounded_blocks_per_sm(const Plan& plan) {
    if (plan.mma_rows) return plan.shape.head_dim == 128 ? kMmaBlocksPerSm128 : kMmaBlocksPerSm64;
    if (plan.wide_rows) return wide_blocks_per_sm(plan.type, plan.d_max);
    return 0;
}

std::string shape_text(const AttentionParams& p) {
    return "n_head " + std::to_string(p.n_head) + ", n_head_kv " + std::to_string(p.n_head_kv) + ", head_dim " +
           std::to_string(p.head_dim);
}

}  // namespace

Plan make_plan(int64_t n_tokens, const AttentionParams& params, const KvView& cache, bool tensor_cores) {
    if (params.n_head < 1 || params.n_head_kv < 1 || params.head_dim < 1 || params.n_head % params.n_head_kv != 0)
        throw UsageError("cuda attention: n_head must be a positive multiple of n_head_kv (" + shape_text(params) +
                         ")");
    if (params.head_dim % 8 != 0 || params.head_dim > kMaxHeadDim)
        throw UnsupportedError("cuda attention: head_dim " + std::to_string(params.head_dim) +
                               " is not supported; the CUDA kernels take multiples of 8 up to " +
                               std::to_string(kMaxHeadDim) + " (use the cpu backend for this model)");
    check_kv_cache_types(cache, "cuda attention");
    if (cache.row_width != static_cast<int64_t>(params.n_head_kv) * params.head_dim || cache.n_ctx < 1)
        throw UsageError("cuda attention: KV view row_width " + std::to_string(cache.row_width) +
                         " does not match n_head_kv * head_dim for " + shape_text(params));
    Plan plan;
    plan.shape.n_head = params.n_head;
    plan.shape.n_head_kv = params.n_head_kv;
    plan.shape.head_dim = params.head_dim;
    plan.shape.group = params.n_head / params.n_head_kv;
    plan.shape.window = params.window;
    plan.shape.scale = params.scale;
    plan.shape.row_bytes = cache.row_bytes;
    plan.shape.v_row_bytes = cache.v_row_bytes;
    plan.type = cache.type;
    plan.v_type = cache.v_type;
    plan.d_max = params.head_dim <= 64 ? 64 : (params.head_dim <= 128 ? 128 : 256);
    plan.split = n_tokens <= kSplitMaxTokens;

    plan.mma_rows = tensor_cores && attention_split_uses_half_products(cache.type, cache.v_type, params);
    if (plan.mma_rows) {
        // All of a KV head's query heads in one block (the mma's rows); a warp takes 16-row tiles.
        plan.heads_per_block = plan.shape.group;
        plan.head_batches = 1;
        plan.parts.min_rows = kMmaMinRowsPerPart;
    } else {
        // Heads per block: at most 2. Measured on an H100 (TinyLlama heads, F16 cache, 4096 rows, split + combine):
        // 8 heads per block 15.6 us, 4 heads 15.5 us, 2 heads 12.9 us, 1 head 14.8 us per layer. More heads hold more
        // registers (fewer blocks per SM) and lengthen each thread's serial work; the extra K/V reads of smaller
        // batches hit L2.
        int heads = 1;
        while (heads < plan.shape.group && heads < kMaxHeadsPerBlock) heads *= 2;
        plan.heads_per_block = heads;
        plan.head_batches = static_cast<int>(ceil_div(plan.shape.group, heads));
        // Only for one query head per KV head: for two heads per block the float32 wide form (v41) held 149
        // registers (128 bounded, with spills) and measured slower or mixed (docs/cuda-performance.md, v41
        // follow-ups).
        plan.wide_rows = attention_split_rounds_q_to_int8(cache.type, cache.v_type, params);
        plan.parts.min_rows = min_rows_per_part(plan.d_max);
    }

    // Enough blocks to fill the GPU when the context is full, never fewer rows per block than min_rows.
    const int64_t other_blocks = static_cast<int64_t>(params.n_head_kv) * plan.head_batches * n_tokens;
    // Where the kernel's registers leave no room for the target's blocks plus a partial second wave, the parts are
    // rounded down to one wave of what fits (a second wave cost the Q4_0 wide form 23.2 against 15.2 us per layer).
    const int64_t per_sm = bounded_blocks_per_sm(plan);
    const bool one_wave = per_sm > 0 && per_sm * kSplitTargetSms <= kSplitTargetBlocks;
    int64_t parts = one_wave ? std::max<int64_t>(1, per_sm * kSplitTargetSms / other_blocks)
                             : ceil_div(kSplitTargetBlocks, other_blocks);
    parts = std::min({parts, ceil_div(cache.n_ctx, plan.parts.min_rows), kMaxParts});
    plan.parts.grid = static_cast<int>(parts);
    plan.workspace_bytes = split_workspace_bytes(n_tokens, plan.shape, plan.parts.grid);
    return plan;
}

}  // namespace attn

namespace {

// A cache type's name as -ctk spells it, or its id where no kernel keeps it.
std::string cache_type_text(GgmlType type) {
    switch (type) {
        case GgmlType::F32: return "f32";
        case GgmlType::F16: return "f16";
        case GgmlType::Q8_0: return "q8_0";
        case GgmlType::Q4_0: return "q4_0";
        default: return "type id " + std::to_string(static_cast<uint32_t>(type));
    }
}

}  // namespace

void check_kv_cache_types(const KvView& cache, const char* op) {
    if (!kv_cache_pair_supported(cache.type, cache.v_type))
        throw UnsupportedError(std::string(op) + ": a KV cache of keys " + cache_type_text(cache.type) +
                               " and values " + cache_type_text(cache.v_type) +
                               " is not supported; the CUDA kernels keep f32, f16, q8_0 or q4_0 for both halves, or "
                               "q8_0 keys with q4_0 values");
}

namespace {

// The plan for a cache of n_ctx rows of the given type (row bytes do not change the split or the workspace).
attn::Plan plan_for_shape(int64_t n_tokens, const AttentionParams& params, int64_t cache_n_ctx, GgmlType type) {
    KvView view;
    view.type = view.v_type = type;
    view.n_ctx = cache_n_ctx;
    view.row_width = static_cast<int64_t>(params.n_head_kv) * params.head_dim;
    return attn::make_plan(n_tokens, params, view);
}

// The largest split workspace over the cache types: a Q8_0 cache's tensor-core path takes all of a KV head's query
// heads per block, so it may split the rows into more parts than the float32 path.
size_t split_workspace_for_shape(int64_t n_tokens, const AttentionParams& params, int64_t cache_n_ctx) {
    size_t bytes = plan_for_shape(n_tokens, params, cache_n_ctx, GgmlType::F32).workspace_bytes;
    if (params.head_dim % 32 == 0)
        bytes = std::max(bytes, plan_for_shape(n_tokens, params, cache_n_ctx, GgmlType::Q8_0).workspace_bytes);
    return bytes;
}

}  // namespace

size_t attention_workspace_bytes(int64_t max_tokens, const AttentionParams& params, int64_t cache_n_ctx) {
    if (max_tokens < 1) return 0;
    // Blocks per token shrink as tokens grow, so the largest batch is not always the largest workspace.
    size_t bytes = 0;
    for (int64_t n = 1; n <= std::min(max_tokens, attn::kSplitMaxTokens); ++n)
        bytes = std::max(bytes, split_workspace_for_shape(n, params, cache_n_ctx));
    return bytes;
}

bool attention_writes_int8(int64_t n_tokens, const AttentionParams& params, int64_t cache_n_ctx,
                           size_t workspace_bytes) {
    if (n_tokens != 1) return false;
    const attn::Plan plan = plan_for_shape(n_tokens, params, cache_n_ctx, GgmlType::F32);
    return plan.split && workspace_bytes >= split_workspace_for_shape(n_tokens, params, cache_n_ctx);
}

bool attention_split_rounds_q_to_int8(GgmlType k_type, GgmlType v_type, const AttentionParams& params) {
    if (params.n_head != params.n_head_kv) return false;
    if (k_type != v_type)
        return k_type == GgmlType::Q8_0 && v_type == GgmlType::Q4_0 && params.head_dim % 128 == 0;
    return (k_type == GgmlType::Q8_0 && params.head_dim % 16 == 0) ||
           (k_type == GgmlType::Q4_0 && params.head_dim % 128 == 0);
}

int attention_split_parts(int64_t n_tokens, const AttentionParams& params, GgmlType cache_type, int64_t cache_n_ctx,
                          int64_t attended) {
    return attn::split_parts(attended, plan_for_shape(n_tokens, params, cache_n_ctx, cache_type).parts);
}

void launch_attention(const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                      const AttentionParams& params, float* out, void* workspace, size_t workspace_bytes,
                      cudaStream_t stream, void* out_int8) {
    attn::Plan plan = attn::make_plan(n_tokens, params, cache);
    // The workspace covers the float32 plan too (split_workspace_for_shape), so the fallback always fits. Asked only
    // where the split path runs: prefill takes the tiled kernels whatever the plan's split form.
    if (plan.split && plan.mma_rows && !attn::split_mma_built(params.head_dim))
        plan = attn::make_plan(n_tokens, params, cache, /*tensor_cores=*/false);
    const bool split = plan.split && workspace != nullptr && workspace_bytes >= plan.workspace_bytes;
    if (out_int8 != nullptr && (!split || n_tokens != 1)) {
        throw UsageError("launch_attention: out_int8 needs one token and a workspace for the split path (" +
                         std::to_string(n_tokens) + " tokens); check attention_writes_int8 first");
    }
    // A workspace sized for fewer tokens (or none) still gives the right answer through the tiled kernel.
    if (split) {
        attn::launch_split(plan, q, cache, positions, n_tokens, out, workspace, stream, out_int8);
    } else if (!attn::launch_tiled_tc(plan, q, cache, positions, n_tokens, out, stream)) {
        attn::launch_tiled(plan, q, cache, positions, n_tokens, out, stream);
    }
}

}  // namespace spool::cuda
