// launch_matvec, its fused forms and weight_type_supported (launch.h): checks the call and hands it to the kernel of
// the weight's family (matvec_float.cu, matvec_legacy.cu, matvec_kquants.cu).
#include <string>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/matvec_kernel.cuh"

namespace spool::cuda {
namespace {

void check_tokens(int64_t n_tokens, const char* op) {
    if (n_tokens < 1 || n_tokens > kMatvecMaxTokens) {
        throw UsageError(std::string(op) + ": n_tokens must be in 1.." + std::to_string(kMatvecMaxTokens) +
                         "; got " + std::to_string(n_tokens) + " (larger batches go through dequantize + cuBLAS)");
    }
}

wq::MatvecArgs plain_args(const WeightView& w, const float* x, const float* bias, float* y, int64_t n_tokens,
                          ActivationPrecision precision, const void* x_int8, const DeferredNorm* norm = nullptr) {
    wq::MatvecArgs a;
    a.int8 = precision == ActivationPrecision::int8 && n_tokens <= kMatvecInt8MaxTokens;
    a.x_int8 = a.int8 && n_tokens == 1 ? x_int8 : nullptr;
    if (norm != nullptr) {
        if (n_tokens != 1 || (norm->out != nullptr && x != norm->out)) {
            throw UsageError("matvec: a deferred norm is one token whose x is the norm's output; got " +
                             std::to_string(n_tokens) + " tokens or another x");
        }
        a.deferred_norm = true;
        a.norm = *norm;
    }
    a.w = static_cast<const uint8_t*>(w.data);
    a.row_bytes = static_cast<int64_t>(w.row_bytes);
    a.grouped = w.layout == WeightLayout::grouped;
    a.n_rows = w.n_rows;
    a.n_cols = w.n_cols;
    a.x = x;
    a.bias = bias;
    a.y = y;
    return a;
}

// Puts rope_kv into the kernel arguments for matrices ws[0..count) (rope_kv->role[i] each), after checking them.
void add_rope_kv(wq::MatvecArgs& a, const MatvecRopeKv* rope_kv, const WeightView* ws, int count, const float* x,
                 int64_t n_tokens, const char* op) {
    if (rope_kv == nullptr) return;
    for (int i = 0; i < count; ++i) {
        if (!matvec_rope_kv_fusable(*rope_kv, ws[i], x, n_tokens, rope_kv->role[i])) {
            throw UsageError(std::string(op) + ": matrix " + std::to_string(i) + " (" + wq::weight_type_name(ws[i].type) +
                             ", " + std::to_string(ws[i].n_rows) + " rows) cannot take the rope + KV store epilogue "
                             "(one token, norm rope, F32/F16 cache, whole heads); run launch_rope_kv_append instead");
        }
        a.rk.role[i] = static_cast<int>(rope_kv->role[i]);
    }
    a.rope_kv = true;
    a.rk.positions = rope_kv->positions;
    a.rk.freq_factors = rope_kv->rope.freq_factors;
    a.rk.freq_base = rope_kv->rope.freq_base;
    a.rk.freq_scale = rope_kv->rope.freq_scale;
    a.rk.n_dims = rope_kv->rope.n_dims;
    a.rk.head_dim = rope_kv->head_dim;
    a.rk.k_cache = static_cast<uint8_t*>(rope_kv->cache.k);
    a.rk.v_cache = static_cast<uint8_t*>(rope_kv->cache.v);
    a.rk.row_bytes = static_cast<int64_t>(rope_kv->cache.row_bytes);
    a.rk.f16 = rope_kv->cache.type == GgmlType::F16;
}

// A launch reading a DeferredNorm's output that does not run the staged kernel: the norm runs first, into x.
void finish_deferred_norm(wq::MatvecArgs& a, cudaStream_t stream) {
    if (!a.deferred_norm) return;
    if (a.norm.out != nullptr) {
        launch_rms_norm(a.norm.residual, a.norm.weight, 1, a.n_cols, a.norm.eps, a.norm.out, stream);
    }
    a.deferred_norm = false;
    a.x_int8 = nullptr;
}

// Runs the staged kernel where it applies, else the shared kernel template (whole 8-element groups, x 16-byte
// aligned).
void launch_groups(wq::MatvecArgs& a, GgmlType type, int64_t n_tokens, cudaStream_t stream) {
    if (wq::launch_matvec_staged(type, a, n_tokens, stream)) {  // sizes its own grid
        SPOOL_CUDA_CHECK(cudaGetLastError());
        return;
    }
    if (a.deferred_norm) {  // the norm first; then the staged kernel may still take x, rounding it per block
        finish_deferred_norm(a, stream);
        if (wq::launch_matvec_staged(type, a, n_tokens, stream)) {
            SPOOL_CUDA_CHECK(cudaGetLastError());
            return;
        }
    }
    wq::finish_matvec_args(a);
    if (a.n_blocks < 1) return;
    if (!wq::launch_matvec_float(type, a, n_tokens, stream) && !wq::launch_matvec_legacy(type, a, n_tokens, stream)) {
        wq::launch_matvec_kquants(type, a, n_tokens, stream);
    }
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

void require_fusable(const WeightView& w, const float* x, const char* op) {
    if (!matvec_fusable(w, x)) {
        throw UsageError(std::string(op) + ": needs rows of whole 8-element groups and a 16-byte aligned x (" +
                         wq::weight_type_name(w.type) + ", n_cols " + std::to_string(w.n_cols) +
                         "); use launch_matvec and a separate op");
    }
}

void require_same_form(const WeightView& a, const WeightView& b, const char* op) {
    if (!matvec_same_form(a, b)) {
        throw UsageError(std::string(op) + ": the matrices must share type, n_cols and row_bytes (" +
                         wq::weight_type_name(a.type) + " x " + std::to_string(a.n_cols) + " vs " +
                         wq::weight_type_name(b.type) + " x " + std::to_string(b.n_cols) + ")");
    }
}

}  // namespace

bool weight_type_supported(GgmlType type) noexcept {
    return wq::with_decoder(type, [](auto) {});
}

ActivationPrecision fastest_matvec_precision(GgmlType type, int64_t n_tokens, int64_t n_rows, int64_t n_cols,
                                             bool x_made) {
    if (n_tokens > kMatvecInt8MaxTokens) return ActivationPrecision::float32;
    if (wq::staged_covers(type, n_tokens, n_rows, n_cols, x_made)) return ActivationPrecision::int8;
    switch (type) {
        case GgmlType::F32:
        case GgmlType::F16:
        case GgmlType::BF16: return ActivationPrecision::float32;
        case GgmlType::Q4_0:
        case GgmlType::Q4_1:
        case GgmlType::Q5_0:
        case GgmlType::Q5_1: return ActivationPrecision::float32;  // measured: int8 in the shared kernel lost 6%
        default: return ActivationPrecision::int8;
    }
}

bool matvec_same_form(const WeightView& a, const WeightView& b) {
    return a.type == b.type && a.n_cols == b.n_cols && a.row_bytes == b.row_bytes && a.layout == b.layout;
}

bool matvec_fusable(const WeightView& w, const float* x) {
    return wq::weight_row_path(w, "matvec") == wq::RowPath::groups && reinterpret_cast<uintptr_t>(x) % 16 == 0;
}

bool matvec_rope_kv_fusable(const MatvecRopeKv& rope_kv, const WeightView& w, const float* x, int64_t n_tokens,
                            MatvecRole role) {
    const RopeParams& r = rope_kv.rope;
    const int hd = rope_kv.head_dim;
    if (role == MatvecRole::none) return n_tokens == 1 && matvec_fusable(w, x);
    const KvView& c = rope_kv.cache;
    const bool cache_ok = (c.type == GgmlType::F32 || c.type == GgmlType::F16) && c.v_type == c.type;
    const bool rows_ok = hd >= 2 && hd % 2 == 0 && w.n_rows % hd == 0 &&
                         (role == MatvecRole::q || w.n_rows == rope_kv.cache.row_width);
    return n_tokens == 1 && matvec_fusable(w, x) && rope_kv.positions != nullptr && r.mode == RopeMode::norm &&
           r.n_dims >= 0 && r.n_dims % 2 == 0 && r.n_dims <= hd && cache_ok && rows_ok;
}

void launch_matvec(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y,
                   cudaStream_t stream, ActivationPrecision precision, const MatvecRopeKv* rope_kv,
                   const void* x_int8, const DeferredNorm* norm) {
    check_tokens(n_tokens, "launch_matvec");
    if (rope_kv != nullptr) {
        wq::MatvecArgs a = plain_args(w, x, bias, y, n_tokens, precision, x_int8, norm);
        add_rope_kv(a, rope_kv, &w, 1, x, n_tokens, "launch_matvec");
        if (w.n_rows >= 1) launch_groups(a, w.type, n_tokens, stream);
        return;
    }
    wq::RowPath path = wq::weight_row_path(w, "launch_matvec");
    if (w.n_rows < 1) return;
    const bool x_aligned = reinterpret_cast<uintptr_t>(x) % 16 == 0;
    if (path == wq::RowPath::groups && !x_aligned) {
        if (w.type != GgmlType::F32 && w.type != GgmlType::F16 && w.type != GgmlType::BF16) {
            throw UsageError(std::string("launch_matvec: x must be 16-byte aligned for ") +
                             wq::weight_type_name(w.type) + " weights (it is read as float4)");
        }
        path = wq::RowPath::elements;
    }
    wq::MatvecArgs a = plain_args(w, x, bias, y, n_tokens, precision, x_int8, norm);
    if (path == wq::RowPath::elements) {
        finish_deferred_norm(a, stream);
        wq::launch_matvec_float_unaligned(w.type, a, n_tokens, stream);
        SPOOL_CUDA_CHECK(cudaGetLastError());
        return;
    }
    launch_groups(a, w.type, n_tokens, stream);
}

namespace {

wq::MatvecArgs add_args(const WeightView& w, const float* x, int64_t n_tokens, float* y, ActivationPrecision precision,
                        const void* x_int8) {
    wq::MatvecArgs a = plain_args(w, x, nullptr, y, n_tokens, precision, x_int8);
    a.epilogue = wq::Epilogue::add;
    return a;
}

}  // namespace

void launch_matvec_add(const WeightView& w, const float* x, int64_t n_tokens, float* y, cudaStream_t stream,
                       ActivationPrecision precision, const void* x_int8, const float* norm_weight, void* norm_x) {
    check_tokens(n_tokens, "launch_matvec_add");
    require_fusable(w, x, "launch_matvec_add");
    wq::MatvecArgs a = add_args(w, x, n_tokens, y, precision, x_int8);
    if ((norm_weight == nullptr) != (norm_x == nullptr)) {
        throw UsageError("launch_matvec_add: norm_weight and norm_x go together");
    }
    if (norm_x == nullptr) {
        launch_groups(a, w.type, n_tokens, stream);
        return;
    }
    a.norm_weight = norm_weight;
    a.norm_x = norm_x;
    // Only the staged kernel writes norm_x (it throws UsageError for a launch that cannot).
    if (!wq::launch_matvec_staged(w.type, a, n_tokens, stream)) {
        throw UsageError("launch_matvec_add: cannot write a deferred norm's x~ for this launch (" +
                         std::string(wq::weight_type_name(w.type)) + "); check matvec_add_writes_norm_x first");
    }
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

bool matvec_add_writes_norm_x(const WeightView& w, const float* x, int64_t n_tokens, ActivationPrecision precision,
                              bool x_made) {
    if (n_tokens != 1 || !matvec_fusable(w, x)) return false;
    const wq::MatvecArgs a = add_args(w, x, n_tokens, nullptr, precision, nullptr);
    return wq::staged_add_writes_norm_x(w.type, a, n_tokens, x_made);
}

namespace {

wq::MatvecArgs glu_args(const WeightView& gate, const WeightView& up, const float* x, int64_t n_tokens,
                        Activation act, float* out, ActivationPrecision precision, const void* x_int8,
                        const DeferredNorm* norm = nullptr) {
    wq::MatvecArgs a = plain_args(gate, x, nullptr, out, n_tokens, precision, x_int8, norm);
    a.epilogue = act == Activation::silu ? wq::Epilogue::glu_silu : wq::Epilogue::glu_gelu;
    // As integers: the two matrices are separate allocations of one flat device address space.
    a.up_delta = static_cast<int64_t>(reinterpret_cast<uintptr_t>(up.data) - reinterpret_cast<uintptr_t>(gate.data));
    return a;
}

}  // namespace

void launch_matvec_glu(const WeightView& gate, const WeightView& up, const float* x, int64_t n_tokens,
                       Activation act, float* out, cudaStream_t stream, ActivationPrecision precision,
                       const void* x_int8, void* out_int8, const DeferredNorm* norm) {
    check_tokens(n_tokens, "launch_matvec_glu");
    require_fusable(gate, x, "launch_matvec_glu");
    require_same_form(gate, up, "launch_matvec_glu");
    if (gate.n_rows != up.n_rows) {
        throw UsageError("launch_matvec_glu: gate has " + std::to_string(gate.n_rows) + " rows but up has " +
                         std::to_string(up.n_rows));
    }
    wq::MatvecArgs a = glu_args(gate, up, x, n_tokens, act, out, precision, x_int8, norm);
    a.y_int8 = out_int8;
    launch_groups(a, gate.type, n_tokens, stream);
}

bool matvec_glu_writes_int8(const WeightView& gate, const WeightView& up, const float* x, int64_t n_tokens,
                            ActivationPrecision precision, bool x_made) {
    if (n_tokens != 1 || !matvec_fusable(gate, x) || !matvec_same_form(gate, up) || gate.n_rows != up.n_rows) {
        return false;
    }
    const wq::MatvecArgs a = glu_args(gate, up, x, n_tokens, Activation::silu, nullptr, precision, nullptr);
    return wq::staged_glu_writes_int8(gate.type, a, n_tokens, x_made);
}

namespace {

// The kernel arguments of a batch; a matrix of another type than the first becomes an alt segment (checked by the
// callers: matvec_batch_mixable).
wq::MatvecArgs batch_args(const MatvecBatch& batch, const float* x, int64_t n_tokens, ActivationPrecision precision,
                          const void* x_int8 = nullptr, const DeferredNorm* norm = nullptr) {
    wq::MatvecArgs a = plain_args(batch.w[0], x, batch.bias[0], batch.y[0], n_tokens, precision, x_int8, norm);
    for (int i = 1; i < batch.count; ++i) {
        wq::MatvecSegment& seg = a.more[i - 1];
        seg.w = static_cast<const uint8_t*>(batch.w[i].data);
        seg.n_rows = batch.w[i].n_rows;
        seg.bias = batch.bias[i];
        seg.y = batch.y[i];
        seg.row_bytes = static_cast<int64_t>(batch.w[i].row_bytes);
        seg.alt = batch.w[i].type != batch.w[0].type;
        if (seg.alt) {
            a.has_alt = true, a.alt_type = batch.w[i].type;
            a.alt_grouped = batch.w[i].layout == WeightLayout::grouped;
        }
    }
    a.n_more = batch.count - 1;
    return a;
}

bool valid_batch_count(const MatvecBatch& batch) { return batch.count >= 1 && batch.count <= 1 + wq::kMaxMoreSegments; }

// The matrices of another type than the first all share one type, one layout and the first's n_cols; the first's
// type is in the GGUF layout (the mixed kernels' first decoders read blocks).
bool at_most_two_types(const MatvecBatch& batch) {
    if (batch.w[0].layout != WeightLayout::blocks) return false;
    const WeightView* first_alt = nullptr;
    for (int i = 1; i < batch.count; ++i) {
        if (batch.w[i].n_cols != batch.w[0].n_cols) return false;
        if (batch.w[i].type == batch.w[0].type) {
            if (batch.w[i].layout != WeightLayout::blocks) return false;
        } else {
            if (first_alt == nullptr) first_alt = &batch.w[i];
            if (batch.w[i].layout != first_alt->layout) return false;
        }
        for (int j = 1; j < i; ++j) {
            if (batch.w[i].type != batch.w[0].type && batch.w[j].type != batch.w[0].type &&
                batch.w[i].type != batch.w[j].type) {
                return false;
            }
        }
    }
    return true;
}

}  // namespace

bool matvec_batch_mixable(const MatvecBatch& batch, const float* x, int64_t n_tokens, ActivationPrecision precision) {
    if (!valid_batch_count(batch) || n_tokens < 1 || n_tokens > kMatvecMaxTokens || !matvec_fusable(batch.w[0], x) ||
        !at_most_two_types(batch)) {
        return false;
    }
    const wq::MatvecArgs a = batch_args(batch, x, n_tokens, precision);
    return a.has_alt && wq::staged_mixed_applies(batch.w[0].type, a, n_tokens);
}

void launch_matvec_batch(const MatvecBatch& batch, const float* x, int64_t n_tokens, cudaStream_t stream,
                         ActivationPrecision precision, const MatvecRopeKv* rope_kv, const void* x_int8,
                         const DeferredNorm* norm) {
    check_tokens(n_tokens, "launch_matvec_batch");
    if (!valid_batch_count(batch)) {
        throw UsageError("launch_matvec_batch: count must be in 1.." + std::to_string(1 + wq::kMaxMoreSegments) +
                         "; got " + std::to_string(batch.count));
    }
    require_fusable(batch.w[0], x, "launch_matvec_batch");
    const bool mixed = matvec_batch_mixable(batch, x, n_tokens, precision);
    if (!mixed) {
        for (int i = 1; i < batch.count; ++i) require_same_form(batch.w[0], batch.w[i], "launch_matvec_batch");
    }
    wq::MatvecArgs a = batch_args(batch, x, n_tokens, precision, x_int8, norm);
    add_rope_kv(a, rope_kv, batch.w, batch.count, x, n_tokens, "launch_matvec_batch");
    launch_groups(a, batch.w[0].type, n_tokens, stream);
}

}  // namespace spool::cuda
