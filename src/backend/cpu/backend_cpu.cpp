// The cpu backend's ops: each splits its rows (or tokens, or heads) over the pool and calls a kernel.
#include "backend/cpu/backend_cpu.h"

#include <algorithm>

#include "backend/cpu/ops.h"
#include "backend/supported_types.h"

namespace spool {

namespace {
// Below this many float32 elements an element-wise op runs inline: waking the pool costs more than the work.
constexpr int64_t kInlineElements = 1 << 15;
}  // namespace

CpuBackend::CpuBackend(const CpuBackendOptions& options)
    : pool_(options.n_threads), isa_(cpu::resolve_cpu_isa(options.isa)) {}

bool CpuBackend::supports(Op op, GgmlType type) const {
    if (op == Op::matmul) return cpu::cpu_matmul_kernels(type, isa_) != nullptr && host_supports(op, type);
    return host_supports(op, type);
}

template <class Body>
void CpuBackend::parallel(int64_t n, int64_t grain, const Body& body) {
    if (n <= grain || pool_.size() == 1) {
        body(int64_t{0}, n);
        return;
    }
    pool_.parallel_for(n, grain, body);
}

void CpuBackend::embed(const WeightView& table, const int32_t* ids, int64_t n_tokens, float* out) {
    const DequantizeRowFn dequantize = type_info(table.type).dequantize_row;
    const auto* base = static_cast<const uint8_t*>(table.data);
    parallel(n_tokens, 16, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
            dequantize(base + static_cast<size_t>(ids[t]) * table.row_bytes, out + t * table.n_cols, table.n_cols);
        }
    });
}

void CpuBackend::rms_norm(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps, float* out) {
    const int64_t grain = std::max<int64_t>(1, kInlineElements / std::max<int64_t>(n, 1));
    parallel(n_rows, grain, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) cpu::rms_norm_row(x + r * n, weight, n, eps, out + r * n);
    });
}

void CpuBackend::matmul(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y) {
    const cpu::MatmulKernels& kernel = *cpu::cpu_matmul_kernels(w.type, isa_);  // supports() checked at bind time
    const int64_t n_in = w.n_cols, n_out = w.n_rows;

    // 1. Activation rows in the kernel's input format (llama.cpp's vec_dot_type), once for all weight rows.
    const size_t act_row_bytes = row_bytes(kernel.act_type, n_in);
    const auto* act = reinterpret_cast<const uint8_t*>(x);
    if (kernel.act_type != GgmlType::F32) {
        const size_t needed = act_row_bytes * static_cast<size_t>(n_tokens);
        if (act_scratch_.size() < needed) act_scratch_.resize(needed);
        uint8_t* scratch = act_scratch_.data();
        parallel(n_tokens, 4, [&](int64_t begin, int64_t end) {
            for (int64_t t = begin; t < end; ++t) kernel.quantize_act(x + t * n_in, scratch + t * act_row_bytes, n_in);
        });
        act = scratch;
    }

    const auto* w_bytes = static_cast<const uint8_t*>(w.data);
    const int64_t n_threads = static_cast<int64_t>(pool_.size());

    // 2a. Many tokens: the tiled kernel packs each panel of weight rows once and dots it with every token, so a
    // chunk's weights stream from memory once and its activations from cache. Chunks are whole panels; a few
    // per thread, so a thread slowed by other work on the machine does not hold up the rest.
    const cpu::GemmKernels& gemm = *cpu::cpu_gemm_kernels(w.type, isa_);  // exists wherever kernel does
    if (gemm.tiled && n_tokens >= gemm.min_tokens) {
        constexpr int64_t kChunksPerThread = 4;
        const int64_t panel = gemm.rows_per_panel;
        const int64_t n_panels = (n_out + panel - 1) / panel;
        const int64_t wanted = std::min(n_panels, n_threads == 1 ? 1 : n_threads * kChunksPerThread);
        const int64_t panels_per_chunk = (n_panels + wanted - 1) / wanted;
        const int64_t n_chunks = (n_panels + panels_per_chunk - 1) / panels_per_chunk;
        const size_t slice = (gemm.scratch_bytes(n_in, n_tokens) + 63) / 64 * 64;
        if (gemm_scratch_.size() < slice * static_cast<size_t>(n_chunks)) {
            gemm_scratch_.resize(slice * static_cast<size_t>(n_chunks));
        }
        uint8_t* scratch = gemm_scratch_.data();
        parallel(n_chunks, 1, [&](int64_t begin, int64_t end) {
            for (int64_t chunk = begin; chunk < end; ++chunk) {
                const int64_t r0 = chunk * panels_per_chunk * panel;
                const int64_t r1 = std::min(n_out, r0 + panels_per_chunk * panel);
                gemm.gemm(n_in, w_bytes + static_cast<size_t>(r0) * w.row_bytes, w.row_bytes, r1 - r0, act,
                          act_row_bytes, n_tokens, y + r0, n_out, scratch + slice * static_cast<size_t>(chunk));
                if (bias == nullptr) continue;
                for (int64_t t = 0; t < n_tokens; ++t) {
                    for (int64_t r = r0; r < r1; ++r) y[t * n_out + r] += bias[r];
                }
            }
        });
        return;
    }

    // 2b. Blocks of output rows split over the threads. A block's weights stay in cache while every token is
    // dotted with them, so a prefill streams the weights from memory once. Types with a tiled kernel use its
    // one-token form, which rounds as it does: a row is the same bits whether decoded or prefilled.
    const cpu::VecDotRowsFn dot_rows = gemm.tiled ? gemm.gemv : kernel.vec_dot_rows;
    // Decode (one token) gives each thread one contiguous range: vec_dot_rows keeps four long memory streams
    // per range, which measured 2-3x faster from DRAM than 64-row chunks (src/backend/cpu/kernels notes).
    const int64_t per_thread = std::max<int64_t>(1, (n_out + n_threads - 1) / n_threads);
    const int64_t grain = n_out * n_in * n_tokens < kInlineElements ? n_out
                          : n_tokens == 1                            ? per_thread
                                                                     : std::min<int64_t>(64, per_thread);
    parallel(n_out, grain, [&](int64_t begin, int64_t end) {
        const uint8_t* w_block = w_bytes + static_cast<size_t>(begin) * w.row_bytes;
        for (int64_t t = 0; t < n_tokens; ++t) {
            float* y_block = y + t * n_out + begin;
            dot_rows(n_in, w_block, w.row_bytes, end - begin, act + static_cast<size_t>(t) * act_row_bytes, y_block);
            if (bias != nullptr) {
                for (int64_t r = begin; r < end; ++r) y_block[r - begin] += bias[r];
            }
        }
    });
}

void CpuBackend::rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
                      const RopeParams& params) {
    parallel(n_tokens, 4, [&](int64_t begin, int64_t end) {
        constexpr int kMaxPairs = 256;
        float cos_theta[kMaxPairs], sin_theta[kMaxPairs];
        for (int64_t t = begin; t < end; ++t) {
            cpu::rope_angles(positions[t], params, cos_theta, sin_theta);
            for (int h = 0; h < n_heads; ++h) {
                cpu::rope_head(x + (t * n_heads + h) * head_dim, params.mode, params.n_dims, cos_theta,
                                        sin_theta);
            }
        }
    });
}

void CpuBackend::kv_append(const KvView& cache, const float* k, const float* v, const int32_t* positions,
                           int64_t n_tokens) {
    const QuantizeRowFn quantize = type_info(cache.type).quantize_row;
    parallel(n_tokens, 16, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
            const size_t offset = static_cast<size_t>(positions[t]) * cache.row_bytes;
            quantize(k + t * cache.row_width, static_cast<uint8_t*>(cache.k) + offset, cache.row_width);
            quantize(v + t * cache.row_width, static_cast<uint8_t*>(cache.v) + offset, cache.row_width);
        }
    });
}

void CpuBackend::attention(const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                           const AttentionParams& params, float* out) {
    // One task per (token, KV head, slice of at most kAttentionMaxGroup query heads): each cache row is converted
    // once per task and shared by the query heads of its group (ops.h, attention_group.cpp).
    const cpu::AttentionSpanFn kernel = cpu::cpu_attention_kernel(cache.type, isa_);  // supports() checked at bind
    const cpu::AttentionPlan plan = cpu::plan_attention(params, positions, n_tokens);
    if (!plan.by_parts) {
        // Last task first: under the causal mask later tokens read more rows, so the longest tasks start first.
        parallel(plan.n_tasks, 1, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
                cpu::attention_task(plan, kernel, q, cache, positions, params, plan.n_tasks - 1 - i, out);
            }
        });
        return;
    }
    // Decode: units of one part of one task, in chunks of consecutive tasks of one part (neighbouring slices of the
    // same cache rows) small enough for every thread to get several; then each task merges its parts (the same
    // folds as attention_task, so the same bits).
    // Sized for the whole cache at once, so the scratch does not grow again as the context does.
    const int64_t ctx_parts = (cache.n_ctx + cpu::kAttentionPartRows - 1) / cpu::kAttentionPartRows;
    const size_t needed = static_cast<size_t>(plan.n_tasks * std::max(ctx_parts, plan.max_parts)) * plan.part_floats;
    if (attn_parts_.size() < needed) attn_parts_.resize(needed);
    float* parts = attn_parts_.data();
    const int64_t n_units = plan.n_tasks * plan.max_parts;
    const int64_t threads = static_cast<int64_t>(pool_.size());
    const int64_t grain = std::clamp<int64_t>(n_units / (4 * threads), 1, plan.n_tasks);
    parallel(n_units, grain, [&](int64_t begin, int64_t end) {
        for (int64_t u = begin; u < end; ++u) {
            cpu::attention_task_part(plan, kernel, q, cache, positions, params, u % plan.n_tasks, u / plan.n_tasks,
                                     parts, out);
        }
    });
    for (int64_t task = 0; task < plan.n_tasks; ++task) {
        cpu::attention_merge_task(plan, positions, params, task, parts, out);
    }
}

void CpuBackend::glu(const float* gate, const float* up, int64_t n, Activation act, float* out) {
    parallel(n, kInlineElements, [&](int64_t begin, int64_t end) {
        cpu::glu_span(gate + begin, up + begin, end - begin, act, out + begin);
    });
}

void CpuBackend::add(const float* a, const float* b, int64_t n, float* out) {
    parallel(n, kInlineElements, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) out[i] = a[i] + b[i];
    });
}

void CpuBackend::argmax(const float* x, int64_t n_rows, int64_t n, int32_t* out) {
    parallel(n_rows, 1, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const float* xr = x + r * n;
            int64_t best = 0;
            for (int64_t i = 1; i < n; ++i) {
                if (xr[i] > xr[best]) best = i;
            }
            out[r] = static_cast<int32_t>(best);
        }
    });
}

}  // namespace spool
