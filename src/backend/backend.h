// THE backend interface: the few ops LLM inference needs, batched over n_tokens, on backend memory.
// Every architecture writes its forward pass once against this class (../shared/ARCHITECTURE.md, "The backend
// interface"). Kept C++17-clean and free of host-side assumptions so backend_cuda.cu can include it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace spool {

enum class GgmlType : uint32_t;  // quant/types.h; declared opaque here so this header stays C++17

class Backend;

// Memory owned by one backend (RAII, move-only). data() is a backend pointer: host memory for cpu/ref,
// device memory for CUDA. The backend must outlive every Buffer it hands out.
class Buffer {
public:
    Buffer() noexcept = default;
    Buffer(Buffer&& other) noexcept { *this = static_cast<Buffer&&>(other); }
    Buffer& operator=(Buffer&& other) noexcept;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() { reset(); }

    void* data() const noexcept { return data_; }
    template <class T>
    T* as() const noexcept { return static_cast<T*>(data_); }
    size_t bytes() const noexcept { return bytes_; }
    explicit operator bool() const noexcept { return data_ != nullptr; }
    void reset() noexcept;

private:
    friend class Backend;
    Buffer(Backend* owner, void* data, size_t bytes, bool host_registration) noexcept
        : owner_(owner), data_(data), bytes_(bytes), host_registration_(host_registration) {}

    Backend* owner_ = nullptr;
    void* data_ = nullptr;
    size_t bytes_ = 0;
    bool host_registration_ = false;  // from register_host: released by unregistering, never freed
};

// How a backend holds the blocks of a weight row. `blocks`: as GGUF stores them. `grouped`: each run of 8 blocks of a
// row (256 elements) as the 8 blocks' quant bytes, then their scales, in the same bytes per row (the CUDA backend's
// Q4_0, so that its matvecs read whole aligned 16-byte runs: 18-byte blocks took five word loads each). Only the
// backend that uploaded a tensor reads it; host backends use the mapped file in place and see `blocks` only.
enum class WeightLayout : uint8_t { blocks, grouped };

// A weight matrix: n_rows rows of n_cols elements of `type`, stored as `layout` says.
struct WeightView {
    const void* data = nullptr;  // backend memory, [n_rows][row_bytes]
    GgmlType type{};
    int64_t n_cols = 0;  // ne0: input features, contiguous; a multiple of the type's block size
    int64_t n_rows = 0;  // ne1: output features
    size_t row_bytes = 0;
    WeightLayout layout = WeightLayout::blocks;
};

// One layer's KV cache. Row p holds the keys (values) of position p for all KV heads: [n_ctx, n_head_kv * head_dim]
// rows of `type` (F32, F16, Q8_0 or Q4_0) for keys and of `v_type` for values, one row per position. The two types
// differ only where the backend keeps that pair (Backend::supports_kv_cache), as llama.cpp's -ctk q8_0 -ctv q4_0.
struct KvView {
    void* k = nullptr;  // backend memory, [n_ctx][row_bytes]
    void* v = nullptr;  // backend memory, [n_ctx][v_row_bytes]
    GgmlType type{};    // the keys' type
    int64_t n_ctx = 0;
    int64_t row_width = 0;  // n_head_kv * head_dim
    size_t row_bytes = 0;   // of a key row: row_bytes(type, row_width)
    GgmlType v_type{};
    size_t v_row_bytes = 0;  // row_bytes(v_type, row_width)
};

enum class RopeMode {
    norm,  // rotate adjacent pairs (x[2i], x[2i+1]): llama
    neox,  // rotate halves (x[i], x[i + n_dims/2]): qwen2, qwen3
};

// theta(pos, i) = freq_scale * pos * freq_base^(-2i/n_dims) / freq_factors[i], for pair i < n_dims/2.
struct RopeParams {
    RopeMode mode = RopeMode::norm;
    int n_dims = 0;  // rotated dimensions per head (<= head_dim); the rest pass through
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;                // 1/factor for linear rope scaling
    const float* freq_factors = nullptr;    // backend memory, [n_dims/2], or null (llama3 rope_freqs)
};

struct AttentionParams {
    int n_head = 0;
    int n_head_kv = 0;  // query head h reads KV head h / (n_head / n_head_kv)
    int head_dim = 0;
    float scale = 1.0f;  // usually 1/sqrt(head_dim)
    int window = 0;      // 0: causal over all earlier positions; w > 0: only the last w positions
};

enum class Activation { silu, gelu };

// The largest k Backend::top_k takes: enough for any top-k a sampler asks for in practice, and a candidate set
// that usually covers a top-p of 0.95 (sampling/chain.h decides when it provably does).
inline constexpr int kMaxTopK = 256;

enum class Op { embed, rms_norm, matmul, rope, kv_append, attention, glu, add, argmax };

struct MemoryInfo {
    uint64_t free_bytes = 0;
    uint64_t total_bytes = 0;
};

// Preconditions for every op (checked once when a plan is built, never per call): pointers are this backend's
// memory, sizes are >= 1, token ids are < the table's n_rows, positions are < the KV view's n_ctx, and the
// (op, type) pair is supported(). Ops never throw and never allocate. Outputs may alias inputs where noted.
// Ops are queued in order; results are visible to the host after download() or synchronize().
class Backend {
public:
    virtual ~Backend() = default;
    Backend() = default;
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;

    // --- Identity and capacity
    virtual std::string name() const = 0;
    virtual MemoryInfo memory() const = 0;
    // Whether `op` runs with weights (matmul, embed) or a cache (kv_append, attention) of `type`.
    virtual bool supports(Op op, GgmlType type) const = 0;
    // Whether the backend keeps a KV cache of keys of `k` and values of `v` (kv_append and attention). By default
    // only one type for both halves; backends whose kernels read each half by its own type say so.
    virtual bool supports_kv_cache(GgmlType k, GgmlType v) const {
        return k == v && supports(Op::attention, k) && supports(Op::kv_append, k);
    }
    // True when the backend computes on host memory (cpu, ref): mapped weights are used in place and
    // upload/download are copies. False for device memory: weights must be uploaded first.
    virtual bool uses_host_memory() const = 0;

    // --- Memory
    // Throws ResourceError when `bytes` cannot be allocated.
    virtual Buffer allocate(size_t bytes) = 0;
    virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;    // dst: backend memory
    // Uploads a weight tensor of `type` whose rows hold n_cols elements (`bytes` in all, whole rows) and returns the
    // layout the backend stored it in, which every WeightView of it must carry. By default as GGUF stores it.
    virtual WeightLayout upload_weight(void* dst, const void* host_src, size_t bytes, GgmlType type, int64_t n_cols) {
        (void)type, (void)n_cols;
        upload(dst, host_src, bytes);
        return WeightLayout::blocks;
    }
    virtual void download(void* host_dst, const void* src, size_t bytes) = 0;  // waits for queued ops
    // Pins host memory (for example a mapped weight range) so uploads from it are fast; released with the Buffer.
    // The returned Buffer's data() is the host pointer itself. Throws SystemError when the OS refuses.
    virtual Buffer register_host(void* host_ptr, size_t bytes) = 0;
    virtual void synchronize() = 0;

    // --- Ops. Shapes are row-major, last dimension contiguous.
    // out[t] = dequantize(table row ids[t]).
    virtual void embed(const WeightView& table,  // [n_vocab, n_embd]
                       const int32_t* ids,       // [n_tokens]
                       int64_t n_tokens,
                       float* out) = 0;          // [n_tokens, n_embd]
    // out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight. out may alias x.
    virtual void rms_norm(const float* x,       // [n_rows, n]
                          const float* weight,  // [n]
                          int64_t n_rows, int64_t n, float eps,
                          float* out) = 0;      // [n_rows, n]
    // y[t] = W x[t] (+ bias). W is used in its stored type; backends may round x to the type's vec_dot type.
    virtual void matmul(const WeightView& w,  // [n_out = w.n_rows, n_in = w.n_cols]
                        const float* x,       // [n_tokens, n_in]
                        int64_t n_tokens,
                        const float* bias,    // [n_out] or null
                        float* y) = 0;        // [n_tokens, n_out]; must not alias x
    // Rotates each head of x in place at its token's position.
    virtual void rope(float* x,                // [n_tokens, n_heads, head_dim]
                      const int32_t* positions,  // [n_tokens]
                      int64_t n_tokens, int n_heads, int head_dim, const RopeParams& params) = 0;
    // Stores k[t] and v[t] (rounded to the cache type) in cache row positions[t].
    virtual void kv_append(const KvView& cache,
                           const float* k,            // [n_tokens, cache.row_width]
                           const float* v,            // [n_tokens, cache.row_width]
                           const int32_t* positions,  // [n_tokens]
                           int64_t n_tokens) = 0;
    // out[t, h] = softmax(scale * q[t, h] . K[j]) V[j] over cache rows j <= positions[t] (and j > positions[t] - window).
    // The rows read must already be written by kv_append (the current batch's included).
    virtual void attention(const float* q,            // [n_tokens, n_head, head_dim]
                           const KvView& cache,
                           const int32_t* positions,  // [n_tokens]
                           int64_t n_tokens, const AttentionParams& params,
                           float* out) = 0;           // [n_tokens, n_head, head_dim]; must not alias q
    // out = act(gate) * up, element-wise. out may alias gate or up.
    virtual void glu(const float* gate, const float* up, int64_t n, Activation act, float* out) = 0;
    // out = a + b, element-wise. out may alias a or b.
    virtual void add(const float* a, const float* b, int64_t n, float* out) = 0;
    // out[r] = index of the largest x[r, i]; ties go to the lowest index.
    virtual void argmax(const float* x,  // [n_rows, n]
                        int64_t n_rows, int64_t n,
                        int32_t* out) = 0;  // [n_rows]
    // The k largest entries of each row, largest first: values[r, j] = x[r, ids[r, j]]. Order: by value, ties to
    // the lower index, -0.0 == 0.0, and a NaN below every number (-inf included), so the result is the first k of
    // a full sort. When lse is not null, lse[r] = log(sum_i exp(x[r, i])) in float64 (the softmax denominator that
    // top-p needs): NaN when the row holds a NaN, +inf when it holds +inf, -inf when every entry is -inf.
    // 1 <= k <= min(n, kMaxTopK). HostBackend implements it for cpu and ref.
    virtual void top_k(const float* x,     // [n_rows, n]
                       int64_t n_rows, int64_t n, int k,
                       float* values,      // [n_rows, k]
                       int32_t* ids,       // [n_rows, k]
                       double* lse) = 0;   // [n_rows] or null

    // --- Fused ops: one pass (one launch on a GPU) where a backend can. The defaults compose the ops above, so a
    // backend overrides only what it speeds up; results equal the composition within float rounding.
    // Scratch pointers are backend memory the caller owns.
    // residual[t] += W x[t].
    virtual void matmul_add(const WeightView& w,
                            const float* x,      // [n_tokens, w.n_cols]
                            int64_t n_tokens,
                            float* scratch,      // [n_tokens, w.n_rows]
                            float* residual) {   // [n_tokens, w.n_rows]; must not alias x
        matmul(w, x, n_tokens, nullptr, scratch);
        add(residual, scratch, n_tokens * w.n_rows, residual);
    }
    // matmul_add, then normed = rms_norm(residual) * norm: a block's residual add and the norm that starts the block
    // after it. The CUDA backend leaves the norm to the one-token matvecs that read normed (no kernel of its own);
    // normed holds its values before any op that is not such a matvec reads it.
    virtual void matmul_add_rms_norm(const WeightView& w,
                                     const float* x,          // [n_tokens, w.n_cols]
                                     int64_t n_tokens,
                                     float* scratch,          // [n_tokens, w.n_rows]
                                     float* residual,         // [n_tokens, w.n_rows]; must not alias x
                                     const float* norm,       // [w.n_rows]
                                     float eps,
                                     float* normed) {         // [n_tokens, w.n_rows]
        matmul_add(w, x, n_tokens, scratch, residual);
        rms_norm(residual, norm, n_tokens, w.n_rows, eps, normed);
    }
    // ys[i][t] = W_i x[t] (+ biases[i]) for i < count: several matrices reading one input (q, k and v).
    virtual void matmul_shared_input(int count,
                                     const WeightView* ws,       // [count]
                                     const float* const* biases,  // [count] (entries may be null), or null
                                     const float* x,             // [n_tokens, n_in]
                                     int64_t n_tokens,
                                     float* const* ys) {          // [count] x [n_tokens, ws[i].n_rows]
        for (int i = 0; i < count; ++i) matmul(ws[i], x, n_tokens, biases != nullptr ? biases[i] : nullptr, ys[i]);
    }
    // out = act(W_gate x) * (W_up x): the gated feed-forward's first half.
    virtual void matmul_glu(const WeightView& gate, const WeightView& up,
                            const float* x,   // [n_tokens, n_in]
                            int64_t n_tokens, Activation act,
                            float* scratch,   // [n_tokens, gate.n_rows]
                            float* out) {     // [n_tokens, gate.n_rows]; must not alias x
        matmul(gate, x, n_tokens, nullptr, scratch);
        matmul(up, x, n_tokens, nullptr, out);
        glu(scratch, out, n_tokens * gate.n_rows, act, out);
    }
    // matmul_shared_input of the q, k and v projections, then rope_kv_append: a backend may finish the projections
    // with the rotation and the cache store instead of a step of their own.
    virtual void matmul_qkv_rope_kv_append(const WeightView* wqkv,       // [3]: q, k, v
                                           const float* const* biases,   // [3] (entries may be null), or null
                                           const float* x,               // [n_tokens, n_in]
                                           int64_t n_tokens,
                                           float* q, float* k, float* v,  // as rope_kv_append's
                                           const int32_t* positions, int n_head, int n_head_kv, int head_dim,
                                           const RopeParams& rope_params, const KvView& cache) {
        float* const ys[3] = {q, k, v};
        matmul_shared_input(3, wqkv, biases, x, n_tokens, ys);
        rope_kv_append(q, k, v, positions, n_tokens, n_head, n_head_kv, head_dim, rope_params, cache);
    }
    // rope(q), rope(k), then kv_append(cache, k, v): the step between the q/k/v projections and attention.
    virtual void rope_kv_append(float* q,         // [n_tokens, n_head, head_dim]
                                float* k,         // [n_tokens, n_head_kv, head_dim]
                                const float* v,   // [n_tokens, n_head_kv, head_dim]
                                const int32_t* positions, int64_t n_tokens, int n_head, int n_head_kv, int head_dim,
                                const RopeParams& rope_params, const KvView& cache) {
        rope(q, positions, n_tokens, n_head, head_dim, rope_params);
        rope(k, positions, n_tokens, n_head_kv, head_dim, rope_params);
        kv_append(cache, k, v, positions, n_tokens);
    }

    // --- Step brackets: a decode step's ops lie between them (CUDA may record and replay them as a graph).
    // repeat_key: empty, or words naming a step whose ops are always the same calls on the same buffers, only the
    // bytes uploaded differing (session.cpp: a decode step of one session stage). True: the backend repeats the last
    // step it ran under this key, and the caller makes only the step's uploads, in the same order, before
    // end_step(). False: the caller issues the whole step.
    virtual bool begin_step(const std::vector<uint64_t>& repeat_key) {
        (void)repeat_key;
        return false;
    }
    virtual void end_step() {}
    // Device time of decode steps (GPU backends), off until switched on: it adds two events to each step. A step's
    // time runs from its launch to its end on the device; the host work before the launch is not in it.
    struct StepTime {
        uint64_t steps = 0;
        double device_ms = 0;
    };
    virtual void set_step_timing(bool on) { (void)on; }
    // The timed steps that ended since the last call and their total (waits for the last); none on host backends.
    virtual StepTime take_step_time() { return {}; }

protected:
    // Wraps memory this backend allocated (or registered) in an owning Buffer.
    Buffer make_buffer(void* data, size_t bytes, bool host_registration = false) noexcept {
        return Buffer(this, data, bytes, host_registration);
    }
    // Frees what allocate() returned, or unregisters what register_host() pinned. Never throws.
    virtual void release(void* data, size_t bytes, bool host_registration) noexcept = 0;

    friend class Buffer;
};

inline Buffer& Buffer::operator=(Buffer&& other) noexcept {
    if (this != &other) {
        reset();
        owner_ = other.owner_;
        data_ = other.data_;
        bytes_ = other.bytes_;
        host_registration_ = other.host_registration_;
        other.owner_ = nullptr;
        other.data_ = nullptr;
        other.bytes_ = 0;
    }
    return *this;
}

inline void Buffer::reset() noexcept {
    if (owner_ != nullptr && data_ != nullptr) owner_->release(data_, bytes_, host_registration_);
    owner_ = nullptr;
    data_ = nullptr;
    bytes_ = 0;
}

}  // namespace spool
