// The cpu backend's ops: each splits its rows (or tokens, or heads) over the pool and calls a kernel.
#include "backend/cpu/backend_cpu.h"

#include <algorithm>

#include "backend/cpu/ops.h"
#include "backend/supported_types.h"

namespace spool {

namespace {
// Below this many float32 elements an element-wise op runs inline: waking the pool costs more than the work.
constexpr int64_t kInlineElements = 1 << 15;
// Rope angle pairs per token on the stack: n_dims / 2 <= head_dim / 2 <= 256 (hparams.cpp caps head_dim at 512).
constexpr int kMaxRopePairs = 256;

// Stores token t of k and v, rounded to the cache type, in cache row `position`.
void append_kv_row(const KvView& cache, QuantizeRowFn quantize_k, QuantizeRowFn quantize_v, const float* k,
                   const float* v, int64_t t, int32_t position) {
    const auto p = static_cast<size_t>(position);
    quantize_k(k + t * cache.row_width, static_cast<uint8_t*>(cache.k) + p * cache.row_bytes, cache.row_width);
    quantize_v(v + t * cache.row_width, static_cast<uint8_t*>(cache.v) + p * cache.v_row_bytes, cache.row_width);
}
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

CpuBackend::PackedActs CpuBackend::pack_activations(int count, const cpu::GemmKernels* const* gemm,
                                                    const uint8_t* const* act_rows, const size_t* act_row_bytes,
                                                    int64_t n_in, int64_t n_tokens) {
    PackedActs packed;
    size_t offset[kMaxTiledMatrices] = {}, total = 0;
    int owner[kMaxTiledMatrices];  // the matrix whose layout matrix i reads: the first with its PackedGemm
    int layouts[kMaxTiledMatrices];  // the owners, each layout once
    int n_layouts = 0;
    for (int i = 0; i < count; ++i) {
        const cpu::PackedGemm* pg = gemm[i]->packed;
        const size_t bytes = pg != nullptr ? pg->packed_bytes(n_in, n_tokens) : 0;
        if (bytes == 0) continue;
        packed.gemm[i] = pg;
        owner[i] = i;
        for (int j = 0; j < i; ++j) {
            if (packed.gemm[j] == pg) {
                owner[i] = j;
                break;
            }
        }
        if (owner[i] != i) continue;
        layouts[n_layouts++] = i;
        offset[i] = total;
        total += (bytes + 63) / 64 * 64;
    }
    if (packed_acts_.size() < total + 64) packed_acts_.resize(total + 64);
    uint8_t* const base = packed_acts_.data() + (64 - reinterpret_cast<uintptr_t>(packed_acts_.data()) % 64) % 64;
    for (int i = 0; i < count; ++i) {
        if (packed.gemm[i] != nullptr) packed.data[i] = base + offset[owner[i]];
    }
    // Units: (layout, token tile).
    const int64_t tiles = (n_tokens + cpu::kPackedTileTokens - 1) / cpu::kPackedTileTokens;
    parallel(n_layouts * tiles, 1, [&](int64_t begin, int64_t end) {
        for (int64_t u = begin; u < end; ++u) {
            const int i = layouts[u / tiles];
            const int64_t tile = u % tiles;
            packed.gemm[i]->pack_acts(n_in, act_rows[i], act_row_bytes[i], n_tokens, tile, tile + 1,
                                      packed.data[i]);
        }
    });
    return packed;
}

template <class After>
bool CpuBackend::tiled_matmuls(int count, const WeightView* ws, const float* const* biases, const float* x,
                               int64_t n_tokens, float* const* ys, bool same_rows, const After& after) {
    constexpr int kMaxMatrices = kMaxTiledMatrices;
    if (count < 1 || count > kMaxMatrices) return false;
    const cpu::GemmKernels* gemm[kMaxMatrices];
    const cpu::MatmulKernels* kernel[kMaxMatrices];
    int64_t granule = 1;
    for (int i = 0; i < count; ++i) {
        kernel[i] = cpu::cpu_matmul_kernels(ws[i].type, isa_);  // supports() checked at bind time
        gemm[i] = cpu::cpu_gemm_kernels(ws[i].type, isa_);      // exists wherever kernel does
        if (!gemm[i]->tiled || n_tokens < gemm[i]->min_tokens) return false;
        granule = std::max(granule, gemm[i]->rows_per_panel);  // 8 or 16: a multiple of every panel
    }
    const int64_t n_in = ws[0].n_cols;

    // 1. Activation rows in each distinct act type (llama.cpp's vec_dot_type), once for all matrices: q, k and v
    // (or gate and up) share one rounding.
    GgmlType act_types[kMaxMatrices];
    QuantizeRowFn quantizers[kMaxMatrices];
    size_t act_offset[kMaxMatrices];
    int act_of[kMaxMatrices];
    int n_act = 0;
    size_t act_bytes = 0;
    for (int i = 0; i < count; ++i) {
        int a = 0;
        while (a < n_act && act_types[a] != kernel[i]->act_type) ++a;
        if (a == n_act) {
            act_types[n_act] = kernel[i]->act_type;
            quantizers[n_act] = kernel[i]->quantize_act;
            act_offset[n_act] = act_bytes;
            act_bytes += (row_bytes(kernel[i]->act_type, n_in) * static_cast<size_t>(n_tokens) + 63) / 64 * 64;
            ++n_act;
        }
        act_of[i] = a;
    }
    if (act_scratch_.size() < act_bytes) act_scratch_.resize(act_bytes);
    uint8_t* const acts = act_scratch_.data();
    parallel(n_tokens, 4, [&](int64_t begin, int64_t end) {
        for (int a = 0; a < n_act; ++a) {
            if (act_types[a] == GgmlType::F32) continue;
            const QuantizeRowFn quantize = quantizers[a];
            const size_t row = row_bytes(act_types[a], n_in);
            for (int64_t t = begin; t < end; ++t) {
                quantize(x + t * n_in, acts + act_offset[a] + static_cast<size_t>(t) * row, n_in);
            }
        }
    });

    const uint8_t* act_rows[kMaxMatrices];
    size_t act_row_bytes[kMaxMatrices];
    for (int i = 0; i < count; ++i) {
        const GgmlType type = act_types[act_of[i]];
        act_rows[i] = type == GgmlType::F32 ? reinterpret_cast<const uint8_t*>(x) : acts + act_offset[act_of[i]];
        act_row_bytes[i] = row_bytes(type, n_in);
    }
    const PackedActs packed = pack_activations(count, gemm, act_rows, act_row_bytes, n_in, n_tokens);

    // 2. The tiled kernel packs each panel of weight rows once and dots it with every token, so a chunk's weights
    // stream from memory once and its activations from cache. Chunks are whole panels, a few per thread and
    // matrix, so a thread slowed by other work on the machine does not hold up the rest.
    constexpr int64_t kChunksPerThread = 4;
    const int64_t n_threads = static_cast<int64_t>(pool_.size());
    const int n_plans = same_rows ? 1 : count;
    int64_t rows_per_chunk[kMaxMatrices], first_unit[kMaxMatrices + 1];
    first_unit[0] = 0;
    for (int p = 0; p < n_plans; ++p) {
        const int64_t panel = same_rows ? granule : gemm[p]->rows_per_panel;
        const int64_t n_panels = (ws[p].n_rows + panel - 1) / panel;
        const int64_t wanted = std::min(n_panels, n_threads == 1 ? 1 : n_threads * kChunksPerThread);
        rows_per_chunk[p] = (n_panels + wanted - 1) / wanted * panel;
        first_unit[p + 1] = first_unit[p] + (ws[p].n_rows + rows_per_chunk[p] - 1) / rows_per_chunk[p];
    }
    const int64_t n_units = first_unit[n_plans];
    size_t slice = 0;
    for (int i = 0; i < count; ++i) {
        const size_t bytes = packed.gemm[i] != nullptr ? packed.gemm[i]->scratch_bytes(n_in)
                                                       : gemm[i]->scratch_bytes(n_in, n_tokens);
        slice = std::max(slice, (bytes + 63) / 64 * 64);
    }
    if (gemm_scratch_.size() < slice * static_cast<size_t>(n_units)) {
        gemm_scratch_.resize(slice * static_cast<size_t>(n_units));
    }
    uint8_t* const gemm_scratch = gemm_scratch_.data();
    const auto run = [&](int i, int64_t r0, int64_t r1, uint8_t* scratch) {
        const WeightView& w = ws[i];
        const auto* w_bytes = static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r0) * w.row_bytes;
        float* y = ys[i];
        if (packed.gemm[i] != nullptr) {
            packed.gemm[i]->gemm(n_in, w_bytes, w.row_bytes, r1 - r0, packed.data[i], n_tokens, y + r0, w.n_rows,
                                 scratch);
        } else {
            gemm[i]->gemm(n_in, w_bytes, w.row_bytes, r1 - r0, act_rows[i], act_row_bytes[i], n_tokens, y + r0,
                          w.n_rows, scratch);
        }
        const float* bias = biases != nullptr ? biases[i] : nullptr;
        if (bias == nullptr) return;
        for (int64_t t = 0; t < n_tokens; ++t) {
            for (int64_t r = r0; r < r1; ++r) y[t * w.n_rows + r] += bias[r];
        }
    };
    parallel(n_units, 1, [&](int64_t begin, int64_t end) {
        for (int64_t u = begin; u < end; ++u) {
            int p = 0;
            while (u >= first_unit[p + 1]) ++p;
            const int64_t r0 = (u - first_unit[p]) * rows_per_chunk[p];
            const int64_t r1 = std::min(ws[p].n_rows, r0 + rows_per_chunk[p]);
            uint8_t* scratch = gemm_scratch + slice * static_cast<size_t>(u);
            if (same_rows) {
                for (int i = 0; i < count; ++i) run(i, r0, r1, scratch);
                after(-1, r0, r1);
            } else {
                run(p, r0, r1, scratch);
                after(p, r0, r1);
            }
        }
    });
    return true;
}

void CpuBackend::matmul(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y) {
    // Many tokens: the tiled kernels (tiled_matmuls).
    if (tiled_matmuls(1, &w, &bias, x, n_tokens, &y, false, [](int, int64_t, int64_t) {})) return;

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

    const cpu::GemmKernels& gemm = *cpu::cpu_gemm_kernels(w.type, isa_);  // exists wherever kernel does
    // 2. Blocks of output rows split over the threads. A block's weights stay in cache while every token is
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
        float cos_theta[kMaxRopePairs], sin_theta[kMaxRopePairs];
        for (int64_t t = begin; t < end; ++t) {
            cpu::rope_angles(positions[t], params, cos_theta, sin_theta);
            cpu::rope_heads(x + t * n_heads * head_dim, n_heads, head_dim, params.mode, params.n_dims, cos_theta,
                            sin_theta);
        }
    });
}

void CpuBackend::kv_append(const KvView& cache, const float* k, const float* v, const int32_t* positions,
                           int64_t n_tokens) {
    const QuantizeRowFn quantize_k = cache_quantizer(cache.type), quantize_v = cache_quantizer(cache.v_type);
    parallel(n_tokens, 16, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) append_kv_row(cache, quantize_k, quantize_v, k, v, t, positions[t]);
    });
}

void CpuBackend::attention(const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                           const AttentionParams& params, float* out) {
    // One task per (token, KV head, slice of at most kAttentionMaxGroup query heads): each cache row is converted
    // once per task and shared by the query heads of its group (ops.h, attention_group.cpp).
    // supports_kv_cache() checked when the cache was made
    const cpu::AttentionSpanFn kernel = cpu::cpu_attention_kernel(cache.type, cache.v_type, isa_);
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
    const cpu::ExpRowFn exp_row = cpu::cpu_attention_kernels(isa_).exp_row;
    parallel(n, kInlineElements, [&](int64_t begin, int64_t end) {
        cpu::glu_span(gate + begin, up + begin, end - begin, act, exp_row, out + begin);
    });
}

void CpuBackend::matmul_add(const WeightView& w, const float* x, int64_t n_tokens, float* scratch, float* residual) {
    float* const ys[1] = {scratch};
    const int64_t n_out = w.n_rows;
    const bool done = tiled_matmuls(1, &w, nullptr, x, n_tokens, ys, false, [&](int, int64_t r0, int64_t r1) {
        for (int64_t t = 0; t < n_tokens; ++t) {
            float* res = residual + t * n_out;
            const float* y = scratch + t * n_out;
            for (int64_t r = r0; r < r1; ++r) res[r] = res[r] + y[r];  // add()'s a + b
        }
    });
    if (!done) Backend::matmul_add(w, x, n_tokens, scratch, residual);
}

void CpuBackend::matmul_shared_input(int count, const WeightView* ws, const float* const* biases, const float* x,
                                     int64_t n_tokens, float* const* ys) {
    if (!tiled_matmuls(count, ws, biases, x, n_tokens, ys, false, [](int, int64_t, int64_t) {})) {
        Backend::matmul_shared_input(count, ws, biases, x, n_tokens, ys);
    }
}

void CpuBackend::matmul_glu(const WeightView& gate, const WeightView& up, const float* x, int64_t n_tokens,
                            Activation act, float* scratch, float* out) {
    const WeightView pair[2] = {gate, up};
    float* const ys[2] = {scratch, out};
    const int64_t n_ff = gate.n_rows;
    const cpu::ExpRowFn exp_row = cpu::cpu_attention_kernels(isa_).exp_row;
    const bool done = tiled_matmuls(2, pair, nullptr, x, n_tokens, ys, true, [&](int, int64_t r0, int64_t r1) {
        for (int64_t t = 0; t < n_tokens; ++t) {
            const int64_t at = t * n_ff + r0;
            cpu::glu_span(scratch + at, out + at, r1 - r0, act, exp_row, out + at);
        }
    });
    if (!done) Backend::matmul_glu(gate, up, x, n_tokens, act, scratch, out);
}

void CpuBackend::rope_kv_append(float* q, float* k, const float* v, const int32_t* positions, int64_t n_tokens,
                                int n_head, int n_head_kv, int head_dim, const RopeParams& rope_params,
                                const KvView& cache) {
    const QuantizeRowFn quantize_k = cache_quantizer(cache.type), quantize_v = cache_quantizer(cache.v_type);
    parallel(n_tokens, 4, [&](int64_t begin, int64_t end) {
        float cos_theta[kMaxRopePairs], sin_theta[kMaxRopePairs];
        for (int64_t t = begin; t < end; ++t) {
            cpu::rope_angles(positions[t], rope_params, cos_theta, sin_theta);
            cpu::rope_heads(q + t * n_head * head_dim, n_head, head_dim, rope_params.mode, rope_params.n_dims,
                            cos_theta, sin_theta);
            cpu::rope_heads(k + t * n_head_kv * head_dim, n_head_kv, head_dim, rope_params.mode, rope_params.n_dims,
                            cos_theta, sin_theta);
            append_kv_row(cache, quantize_k, quantize_v, k, v, t, positions[t]);
        }
    });
}

QuantizeRowFn CpuBackend::cache_quantizer(GgmlType type) const {
    const QuantizeRowFn fast = cpu::cpu_quantize_row(type, isa_);
    return fast != nullptr ? fast : type_info(type).quantize_row;
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
