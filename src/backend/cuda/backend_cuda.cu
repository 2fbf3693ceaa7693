// The CUDA backend: device memory, one stream, the kernels of kernels/launch.h, cuBLAS for prefills, and
// decode steps replayed as CUDA graphs (step_graph.h). Every CUDA call is checked (cuda_check.h).
#include "backend/cuda/backend_cuda.h"

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_info.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/made_x.h"
#include "backend/cuda/op_signature.h"
#include "backend/cuda/prefill_gemm.h"
#include "backend/cuda/step_graph.h"
#include "core/mib_text.h"
#include "quant/type_ids.h"
#include "spool/errors.h"

namespace spool::cuda {
namespace {

using namespace signature;  // the op ids and word() that name each issued op and its arguments

constexpr size_t kStagingBytes = size_t{64} << 10;  // a decode step uploads a token id and a position

// Launched by no one: whether it has an image for the device tells whether this build fits the device.
__global__ void probe_kernel() {}

bool env_is_zero(const char* name) {
    const char* env = std::getenv(name);
    return env != nullptr && std::strcmp(env, "0") == 0;
}

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(const CudaBackendOptions& options) : device_(options.device) {
        const std::vector<DeviceInfo> devices = list_devices();
        if (devices.empty()) {
            throw UnsupportedError("the cuda backend found no CUDA device (or no driver); use --backend cpu");
        }
        if (device_ < 0 || device_ >= static_cast<int>(devices.size())) {
            std::string names;
            for (const DeviceInfo& d : devices) names += (names.empty() ? "" : ", ") + std::to_string(d.index) + ": " + d.name;
            throw UnsupportedError("CUDA device " + std::to_string(device_) + " does not exist; this machine has " +
                                   names);
        }
        info_ = devices[static_cast<size_t>(device_)];
        SPOOL_CUDA_CHECK(cudaSetDevice(device_));
        if (!kernels_present()) {
            throw UnsupportedError("CUDA device " + std::to_string(device_) + " (" + info_.name + ", sm_" +
                                   std::to_string(info_.sm_major) + std::to_string(info_.sm_minor) +
                                   ") has no kernels in this build; rebuild with -DCMAKE_CUDA_ARCHITECTURES=" +
                                   std::to_string(info_.sm_major) + std::to_string(info_.sm_minor));
        }
        SPOOL_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        const bool graphs = options.use_graphs && !env_is_zero("SPOOL_CUDA_GRAPHS");
        // $SPOOL_CUDA_FUSED_MATVEC=0 runs the fused decode ops as their compositions (before/after measurements).
        fused_matvec_ = !env_is_zero("SPOOL_CUDA_FUSED_MATVEC");
        // $SPOOL_CUDA_INT8_ACTIVATIONS=0 keeps x in float32 in every decode matvec (launch.h ActivationPrecision).
        int8_activations_ = !env_is_zero("SPOOL_CUDA_INT8_ACTIVATIONS");
        // $SPOOL_CUDA_MADE_INT8_X=0: every int8 matvec rounds x itself (before/after measurements of the made x~).
        make_int8_x_ = int8_activations_ && !env_is_zero("SPOOL_CUDA_MADE_INT8_X");
        // $SPOOL_CUDA_REPEAT_STEPS=0 records every decode step (before/after measurements of repeated steps).
        repeat_steps_ = !env_is_zero("SPOOL_CUDA_REPEAT_STEPS");
        step_ = std::make_unique<StepGraph>(stream_, kStagingBytes, graphs);
        gemm_ = std::make_unique<PrefillGemm>(stream_);
    }

    ~CudaBackend() override {
        cudaStreamSynchronize(stream_);
        gemm_.reset();
        step_.reset();
        attention_workspace_ = Buffer();
        top_k_workspace_ = Buffer();
        for (Buffer& b : x_int8_) b = Buffer();
        retired_.clear();
        if (stream_ != nullptr) cudaStreamDestroy(stream_);
    }

    std::string name() const override { return "cuda"; }

    MemoryInfo memory() const override {
        size_t free_bytes = 0, total_bytes = 0;
        SPOOL_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
        return {free_bytes, total_bytes};
    }

    bool supports(Op op, GgmlType type) const override {
        switch (op) {
            case Op::matmul:
            case Op::embed: return weight_type_supported(type);
            case Op::kv_append:
            case Op::attention: return kv_cache_type_supported(type);
            default: return type == GgmlType::F32;
        }
    }

    bool supports_kv_cache(GgmlType k, GgmlType v) const override { return kv_cache_pair_supported(k, v); }

    bool uses_host_memory() const override { return false; }

    Buffer allocate(size_t bytes) override {
        void* data = nullptr;
        if (cudaMalloc(&data, bytes == 0 ? 1 : bytes) != cudaSuccess) {
            cudaGetLastError();  // clear the allocation failure
            const MemoryInfo m = memory();
            throw ResourceError("CUDA device " + std::to_string(device_) + " (" + info_.name + ") cannot allocate " +
                                mib_text(bytes) + ": " + mib_text(m.free_bytes) + " free of " + mib_text(m.total_bytes) +
                                "; use a smaller model or quantization, fewer GPU layers (-ngl), a smaller context (-c) "
                                "or a q8_0 or q4_0 KV cache",
                                bytes, m.free_bytes);
        }
        return make_buffer(data, bytes);
    }

    void upload(void* dst, const void* host_src, size_t bytes) override {
        made_x_.forget();
        if (step_->active()) {
            step_->upload(dst, host_src, bytes);
            return;
        }
        // The source may be pageable and reused by the caller as soon as this returns.
        SPOOL_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
        SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }

    // Q4_0 and Q6_K rows are regrouped in place on the device after the upload (launch.h groups_weight_rows).
    WeightLayout upload_weight(void* dst, const void* host_src, size_t bytes, GgmlType type, int64_t n_cols) override {
        if (step_->active()) throw Error("cuda backend: upload_weight() inside a decode step; upload weights first");
        upload(dst, host_src, bytes);
        if (!groups_weight_rows(type, n_cols)) return WeightLayout::blocks;
        launch_group_weight_rows(dst, bytes, type, n_cols, stream_);
        SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream_));
        return WeightLayout::grouped;
    }

    void download(void* host_dst, const void* src, size_t bytes) override {
        if (step_->active()) throw Error("cuda backend: download() inside a decode step; call end_step() first");
        finish_deferred_norm();
        SPOOL_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
        SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }

    Buffer register_host(void* host_ptr, size_t bytes) override {
        const cudaError_t err = cudaHostRegister(host_ptr, bytes, cudaHostRegisterReadOnly);
        if (err != cudaSuccess) {
            cudaGetLastError();
            throw SystemError("cannot pin " + mib_text(bytes) + " of host memory for CUDA uploads: " +
                              cudaGetErrorString(err) + "; raise the locked-memory limit (ulimit -l) or run without pinning");
        }
        return make_buffer(host_ptr, bytes, true);
    }

    void synchronize() override { SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

    void embed(const WeightView& table, const int32_t* ids, int64_t n_tokens, float* out) override {
        issue({kEmbed, word(table.data), word(table.type), word(table.n_cols), word(table.row_bytes), word(ids),
               word(n_tokens), word(out)},
              [=](cudaStream_t s) { launch_embed(table, ids, n_tokens, out, s); });
    }

    // At one token the norm also writes out's x~ for the int8 matvecs that read out next (launch.h int8_x_bytes).
    void rms_norm(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps, float* out) override {
        void* x_int8 =
            make_int8_x_ && rms_norm_writes_int8(x, weight, n_rows, n, out) ? claim_int8_x(int8_x_bytes(n)) : nullptr;
        issue({kRmsNorm, word(x), word(weight), word(n_rows), word(n), word(eps), word(out), word(x_int8)},
              [=](cudaStream_t s) { launch_rms_norm(x, weight, n_rows, n, eps, out, s, x_int8); });
        if (x_int8 != nullptr) made_x_.remember(out, n, x_int8);
    }

    void matmul(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y) override {
        if (n_tokens <= kMatvecMaxTokens) {
            matvec(w, x, n_tokens, bias, y, nullptr);
            return;
        }
        begin_prefill_gemm();
        gemm_->run(w, x, n_tokens, bias, y);
    }

    void rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
              const RopeParams& params) override {
        issue({kRope, word(x), word(positions), word(n_tokens), word(n_heads), word(head_dim), word(params.mode),
               word(params.n_dims), word(params.freq_base), word(params.freq_scale), word(params.freq_factors)},
              [=](cudaStream_t s) { launch_rope(x, positions, n_tokens, n_heads, head_dim, params, s); });
    }

    void kv_append(const KvView& cache, const float* k, const float* v, const int32_t* positions,
                   int64_t n_tokens) override {
        issue({kKvAppend, word(cache.k), word(cache.v), word(cache.type), word(cache.v_type), word(cache.n_ctx),
               word(cache.row_width), word(k), word(v), word(positions), word(n_tokens)},
              [=](cudaStream_t s) { launch_kv_append(cache, k, v, positions, n_tokens, s); });
    }

    void attention(const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                   const AttentionParams& params, float* out) override {
        grow(attention_workspace_, attention_workspace_bytes(n_tokens, params, cache.n_ctx));
        void* ws = attention_workspace_.data();
        const size_t ws_bytes = attention_workspace_.bytes();
        // One token: the combine also writes out's x~ for the output projection.
        const int64_t n_out = static_cast<int64_t>(params.n_head) * params.head_dim;
        const bool makes =
            make_int8_x_ && n_out % 8 == 0 && attention_writes_int8(n_tokens, params, cache.n_ctx, ws_bytes);
        void* out_int8 = makes ? claim_int8_x(int8_x_bytes(n_out)) : nullptr;
        issue({kAttention, word(q), word(cache.k), word(cache.v), word(cache.type), word(cache.v_type),
               word(cache.n_ctx), word(cache.row_width), word(positions), word(n_tokens), word(params.n_head),
               word(params.n_head_kv), word(params.head_dim), word(params.scale), word(params.window), word(out),
               word(ws), word(ws_bytes), word(out_int8)},
              [=](cudaStream_t s) {
                  launch_attention(q, cache, positions, n_tokens, params, out, ws, ws_bytes, s, out_int8);
              });
        if (out_int8 != nullptr) made_x_.remember(out, n_out, out_int8);
    }

    void glu(const float* gate, const float* up, int64_t n, Activation act, float* out) override {
        issue({kGlu, word(gate), word(up), word(n), word(act), word(out)},
              [=](cudaStream_t s) { launch_glu(gate, up, n, act, out, s); });
    }

    void add(const float* a, const float* b, int64_t n, float* out) override {
        issue({kAdd, word(a), word(b), word(n), word(out)}, [=](cudaStream_t s) { launch_add(a, b, n, out, s); });
    }

    void argmax(const float* x, int64_t n_rows, int64_t n, int32_t* out) override {
        issue({kArgmax, word(x), word(n_rows), word(n), word(out)},
              [=](cudaStream_t s) { launch_argmax(x, n_rows, n, out, s); });
    }

    void top_k(const float* x, int64_t n_rows, int64_t n, int k, float* values, int32_t* ids, double* lse) override {
        grow(top_k_workspace_, top_k_workspace_bytes(n_rows, n, k));
        void* ws = top_k_workspace_.data();
        const size_t ws_bytes = top_k_workspace_.bytes();
        issue({kTopK, word(x), word(n_rows), word(n), word(k), word(values), word(ids), word(lse), word(ws),
               word(ws_bytes)},
              [=](cudaStream_t s) { launch_top_k(x, n_rows, n, k, values, ids, lse, ws, ws_bytes, s); });
    }

    void matmul_add(const WeightView& w, const float* x, int64_t n_tokens, float* scratch, float* residual) override {
        if (n_tokens > kMatvecMaxTokens) {
            begin_prefill_gemm();
            gemm_->run(w, x, n_tokens, nullptr, residual, true);  // beta = 1: the residual add is free
            return;
        }
        if (!fused_matvec_ || !matvec_fusable(w, x)) {
            Backend::matmul_add(w, x, n_tokens, scratch, residual);
            return;
        }
        const void* x_int8 = made_x_.x_int8(x, w.n_cols, n_tokens);
        issue_reading_made_x({residual, n_tokens * w.n_rows},
                             {kMatvecAdd, word(w.data), word(w.type), word(w.n_cols), word(w.n_rows),
                              word(w.row_bytes), word(x), word(n_tokens), word(residual), word(x_int8)},
                             [=, p = precision_for(w.type, n_tokens, w.n_rows, w.n_cols, x_int8 != nullptr)](
                                 cudaStream_t s) { launch_matvec_add(w, x, n_tokens, residual, s, p, x_int8); });
    }

    // At one token the residual add also writes the x~ of a DeferredNorm (launch.h), and the matvecs that read normed
    // finish the norm: no rms_norm kernel between them. normed is written by the first of them, or by an rms_norm
    // launch before any other op (finish_deferred_norm).
    void matmul_add_rms_norm(const WeightView& w, const float* x, int64_t n_tokens, float* scratch, float* residual,
                             const float* norm, float eps, float* normed) override {
        const void* x_int8 = made_x_.x_int8(x, w.n_cols, n_tokens);
        const ActivationPrecision p = precision_for(w.type, n_tokens, w.n_rows, w.n_cols, x_int8 != nullptr);
        if (!make_int8_x_ || !fused_matvec_ || !matvec_add_writes_norm_x(w, x, n_tokens, p, x_int8 != nullptr)) {
            Backend::matmul_add_rms_norm(w, x, n_tokens, scratch, residual, norm, eps, normed);
            return;
        }
        void* norm_x = claim_int8_x(deferred_norm_x_bytes(w.n_rows));
        issue_reading_made_x({residual, w.n_rows},
                             {kMatvecAddNorm, word(w.data), word(w.type), word(w.n_cols), word(w.n_rows),
                              word(w.row_bytes), word(x), word(residual), word(x_int8), word(norm), word(norm_x)},
                             [=](cudaStream_t s) { launch_matvec_add(w, x, 1, residual, s, p, x_int8, norm, norm_x); });
        made_x_.remember_deferred(DeferredNorm{residual, norm, eps, normed}, w.n_rows, norm_x);
    }

    void matmul_shared_input(int count, const WeightView* ws, const float* const* biases, const float* x,
                             int64_t n_tokens, float* const* ys) override {
        if (n_tokens > kMatvecMaxTokens) {  // one fp16 conversion of x for all the GEMMs
            begin_prefill_gemm();
            gemm_->run_shared(count, ws, biases, x, n_tokens, ys);
            return;
        }
        if (!fused_matvec_) {
            Backend::matmul_shared_input(count, ws, biases, x, n_tokens, ys);
            return;
        }
        shared_input_launches(count, ws, biases, x, n_tokens, ys, nullptr);
    }

    void matmul_glu(const WeightView& gate, const WeightView& up, const float* x, int64_t n_tokens, Activation act,
                    float* scratch, float* out) override {
        if (n_tokens > kMatvecMaxTokens && up.n_rows == gate.n_rows) {  // one fp16 conversion of x for both GEMMs
            begin_prefill_gemm();
            const WeightView ws[2] = {gate, up};
            float* const ys[2] = {scratch, out};
            gemm_->run_shared(2, ws, nullptr, x, n_tokens, ys);
            glu(scratch, out, n_tokens * gate.n_rows, act, out);
            return;
        }
        const bool fusable = fused_matvec_ && n_tokens <= kMatvecMaxTokens && matvec_fusable(gate, x) &&
                             matvec_same_form(gate, up) && up.n_rows == gate.n_rows;
        if (!fusable) {
            Backend::matmul_glu(gate, up, x, n_tokens, act, scratch, out);
            return;
        }
        const MadeX::Read made = made_x_.read(x, gate.n_cols, n_tokens);
        const ActivationPrecision p =
            precision_for(gate.type, n_tokens, gate.n_rows, gate.n_cols, made.x_int8 != nullptr);
        // The epilogue also writes out's x~ for ffn_down where it can (into the buffer x_int8 is not in). Reading a
        // DeferredNorm, only where it still can if the launch finishes the norm first and rounds x itself.
        const bool x_made = made.x_int8 != nullptr && made.norm() == nullptr;
        void* out_int8 = make_int8_x_ && matvec_glu_writes_int8(gate, up, x, n_tokens, p, x_made)
                             ? claim_int8_x(int8_x_bytes(gate.n_rows))
                             : nullptr;
        std::vector<uint64_t> signature = {kMatvecGlu, word(gate.data), word(up.data), word(gate.type),
                                           word(gate.n_cols), word(gate.n_rows), word(gate.row_bytes), word(x),
                                           word(n_tokens), word(act), word(out), word(made.x_int8), word(out_int8)};
        append_deferred_norm(signature, made.norm());
        issue_reading_made_x({out, n_tokens * gate.n_rows}, signature, [=](cudaStream_t s) {
            launch_matvec_glu(gate, up, x, n_tokens, act, out, s, p, made.x_int8, out_int8, made.norm());
        });
        if (out_int8 != nullptr) made_x_.remember(out, gate.n_rows, out_int8);
    }

    void rope_kv_append(float* q, float* k, const float* v, const int32_t* positions, int64_t n_tokens, int n_head,
                        int n_head_kv, int head_dim, const RopeParams& params, const KvView& cache) override {
        issue({kRopeKvAppend, word(q), word(k), word(v), word(positions), word(n_tokens), word(n_head),
               word(n_head_kv), word(head_dim), word(params.mode), word(params.n_dims), word(params.freq_base),
               word(params.freq_scale), word(params.freq_factors), word(cache.k), word(cache.v), word(cache.type),
               word(cache.v_type), word(cache.n_ctx), word(cache.row_width)},
              [=](cudaStream_t s) {
                  launch_rope_kv_append(q, k, v, positions, n_tokens, n_head, n_head_kv, head_dim, params, cache, s);
              });
    }

    // Decode: the rotation and the cache store ride in the projections' epilogue (launch.h MatvecRopeKv).
    void matmul_qkv_rope_kv_append(const WeightView* wqkv, const float* const* biases, const float* x,
                                   int64_t n_tokens, float* q, float* k, float* v, const int32_t* positions,
                                   int n_head, int n_head_kv, int head_dim, const RopeParams& rope_params,
                                   const KvView& cache) override {
        MatvecRopeKv rk;
        rk.positions = positions;
        rk.rope = rope_params;
        rk.head_dim = head_dim;
        rk.cache = cache;
        const MatvecRole roles[3] = {MatvecRole::q, MatvecRole::k, MatvecRole::v};
        bool fusable = fused_matvec_ && n_tokens == 1 && wqkv[0].n_rows == static_cast<int64_t>(n_head) * head_dim &&
                       cache.row_width == static_cast<int64_t>(n_head_kv) * head_dim;
        for (int i = 0; i < 3 && fusable; ++i) fusable = matvec_rope_kv_fusable(rk, wqkv[i], x, n_tokens, roles[i]);
        if (!fusable) {
            Backend::matmul_qkv_rope_kv_append(wqkv, biases, x, n_tokens, q, k, v, positions, n_head, n_head_kv,
                                               head_dim, rope_params, cache);
            return;
        }
        float* const ys[3] = {q, k, v};
        for (int i = 0; i < 3; ++i) rk.role[i] = roles[i];
        shared_input_launches(3, wqkv, biases, x, n_tokens, ys, &rk);
    }

    bool begin_step(const std::vector<uint64_t>& repeat_key) override {
        finish_deferred_norm();
        if (!step_->begin(repeat_steps_ ? repeat_key : std::vector<uint64_t>{})) return false;
        // No launch is recorded, so none updates the made x~: the stored graph rewrites the x~ buffers.
        made_x_.forget();
        return true;
    }

    void set_step_timing(bool on) override { step_->set_timing(on); }
    StepTime take_step_time() override {
        const StepGraph::DeviceTime t = step_->take_device_time();
        return {t.steps, t.ms};
    }

    void end_step() override {
        finish_deferred_norm();
        step_->end();
        if (!retired_.empty()) {
            synchronize();
            retired_.clear();
        }
    }

protected:
    void release(void* data, size_t, bool host_registration) noexcept override {
        made_x_.forget();  // its buffer may come back from the allocator as another tensor
        cudaStreamSynchronize(stream_);  // queued kernels (and graph launches) may still use the memory
        if (step_ != nullptr && !step_->active()) step_->forget_graph();
        if (host_registration) {
            cudaHostUnregister(data);
        } else {
            cudaFree(data);
        }
    }

private:
    // Before a prefill-sized matmul (PrefillGemm launches directly, outside any step graph): such a matmul has no place
    // in a decode step, and it writes its output without x~, so a made x~ is forgotten.
    void begin_prefill_gemm() {
        if (step_->active()) throw Error("cuda backend: a decode step may not run a prefill-sized matmul");
        finish_deferred_norm();
        made_x_.forget();
    }

    // Runs a launch now, or records it while a decode step is open. Any launch may write the tensor whose x~ the last
    // producer made, so that x~ is forgotten (issue_reading_made_x keeps it; producers set it after issuing).
    template <class F>
    void issue(std::initializer_list<uint64_t> signature, F&& launch) {
        issue(signature.begin(), signature.size(), std::forward<F>(launch));
    }
    template <class F>
    void issue(const std::vector<uint64_t>& signature, F&& launch) {
        issue(signature.data(), signature.size(), std::forward<F>(launch));
    }
    template <class F>
    void issue(const uint64_t* signature, size_t n_words, F&& launch) {
        finish_deferred_norm();
        made_x_.forget();
        if (step_->active()) {
            step_->add(signature, n_words, std::forward<F>(launch));
        } else {
            launch(stream_);
        }
    }

    // Grows a workspace to `needed` bytes. Launches recorded earlier in this step may still name the old buffer: it
    // is kept until the step ends.
    void grow(Buffer& buffer, size_t needed) {
        if (needed <= buffer.bytes()) return;
        retired_.push_back(std::move(buffer));
        buffer = allocate(needed);
    }

    // A buffer of `bytes` for a producer's x~: the one of the two that the made x~ is not in (MadeX::free_buffer).
    void* claim_int8_x(size_t bytes) {
        Buffer& b = x_int8_[made_x_.free_buffer(x_int8_[0].data())];
        grow(b, bytes);
        return b.data();
    }

    // A DeferredNorm whose output no matvec has written yet, before an op that is not such a matvec: the norm runs
    // as an rms_norm launch, and its x~ stays for matvecs after that op.
    void finish_deferred_norm() {
        made_x_.finish_norm([this](const DeferredNorm& norm, int64_t n) {
            issue({kRmsNorm, word(norm.residual), word(norm.weight), word(int64_t{1}), word(n), word(norm.eps),
                   word(norm.out), word(static_cast<const void*>(nullptr))},
                  [=](cudaStream_t s) { launch_rms_norm(norm.residual, norm.weight, 1, n, norm.eps, norm.out, s); });
        });
    }

    // issue() for a matvec that writes `written` and no other tensor: the made x~ stays valid unless the output
    // overlaps its tensor (MadeX::keep_across).
    template <class F>
    void issue_reading_made_x(const MadeX::Written* written, int n_written, const std::vector<uint64_t>& signature,
                              F&& launch) {
        made_x_.keep_across(written, n_written, [&] { issue(signature, std::forward<F>(launch)); });
    }
    template <class F>
    void issue_reading_made_x(MadeX::Written written, const std::vector<uint64_t>& signature, F&& launch) {
        issue_reading_made_x(&written, 1, signature, std::forward<F>(launch));
    }

    // One matvec launch (n_tokens <= kMatvecMaxTokens), with the rope + KV store epilogue when rk is given.
    void matvec(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y,
                const MatvecRopeKv* rk) {
        const MadeX::Read made = made_x_.read(x, w.n_cols, n_tokens);
        std::vector<uint64_t> signature = {kMatvec, word(w.data), word(w.type), word(w.n_cols), word(w.n_rows),
                                           word(w.row_bytes), word(x), word(n_tokens), word(bias), word(y),
                                           word(made.x_int8)};
        append_rope_kv(signature, rk);
        append_deferred_norm(signature, made.norm());
        const bool has_rk = rk != nullptr;
        const MatvecRopeKv rkv = has_rk ? *rk : MatvecRopeKv{};
        issue_reading_made_x({y, n_tokens * w.n_rows}, signature,
                             [=, p = precision_for(w.type, n_tokens, w.n_rows, w.n_cols, made.x_int8 != nullptr)](
                                 cudaStream_t s) {
                                 launch_matvec(w, x, n_tokens, bias, y, s, p, has_rk ? &rkv : nullptr, made.x_int8,
                                               made.norm());
                             });
    }

    // One launch for 2-3 matrices that read x: of one form, or of two types that matvec_batch_mixable takes.
    void matvec_batch(int count, const WeightView* ws, const float* const* biases, const float* x, int64_t n_tokens,
                      float* const* ys, const MatvecRopeKv* rk = nullptr) {
        const MatvecBatch batch = make_batch(count, ws, biases, ys);
        const MadeX::Read made = made_x_.read(x, ws[0].n_cols, n_tokens);
        std::vector<uint64_t> signature = {kMatvecBatch, word(count), word(ws[0].n_cols), word(x), word(n_tokens),
                                           word(made.x_int8)};
        for (int i = 0; i < count; ++i) {
            signature.insert(signature.end(), {word(ws[i].data), word(ws[i].type), word(ws[i].row_bytes),
                                               word(ws[i].n_rows), word(batch.bias[i]), word(ys[i])});
        }
        append_rope_kv(signature, rk);
        append_deferred_norm(signature, made.norm());
        const bool has_rk = rk != nullptr;
        const MatvecRopeKv rkv = has_rk ? *rk : MatvecRopeKv{};
        // The rope + KV store epilogue also writes the KV cache, which no producer of x~ writes.
        MadeX::Written written[3];
        for (int i = 0; i < count; ++i) written[i] = {ys[i], n_tokens * ws[i].n_rows};
        issue_reading_made_x(written, count, signature,
                             [=, p = batch_precision(batch, n_tokens, made.x_int8 != nullptr)](cudaStream_t s) {
                                 launch_matvec_batch(batch, x, n_tokens, s, p, has_rk ? &rkv : nullptr, made.x_int8,
                                                     made.norm());
                             });
    }

    // The launches of a fused matmul_shared_input (n_tokens <= kMatvecMaxTokens): one for all matrices where two
    // types mix (Q4_K_M files often store v as Q6_K next to Q4_K q and k), otherwise one per run of up to three
    // matrices of one form, single launches for the rest. With rk (count <= 3), matrix i takes role rk->role[i].
    void shared_input_launches(int count, const WeightView* ws, const float* const* biases, const float* x,
                               int64_t n_tokens, float* const* ys, const MatvecRopeKv* rk) {
        if (count >= 2 && count <= 3) {
            const MatvecBatch all = make_batch(count, ws, biases, ys);
            const bool x_made = made_x_.x_int8(x, ws[0].n_cols, n_tokens, true) != nullptr;
            if (matvec_batch_mixable(all, x, n_tokens, batch_precision(all, n_tokens, x_made))) {
                matvec_batch(count, ws, biases, x, n_tokens, ys, rk);
                return;
            }
        }
        // rk with the roles of matrices first .. first + n moved to the front, for a launch of those.
        MatvecRopeKv part;
        auto roles_from = [&](int first, int n) -> const MatvecRopeKv* {
            if (rk == nullptr) return nullptr;
            part = *rk;
            for (int i = 0; i < n; ++i) part.role[i] = rk->role[first + i];
            return &part;
        };
        for (int begin = 0; begin < count;) {
            int end = begin + 1;
            while (end < count && end - begin < 3 && matvec_same_form(ws[begin], ws[end])) ++end;
            if (end - begin == 1 || !matvec_fusable(ws[begin], x)) {
                for (int i = begin; i < end; ++i) {
                    matvec(ws[i], x, n_tokens, biases != nullptr ? biases[i] : nullptr, ys[i], roles_from(i, 1));
                }
            } else {
                matvec_batch(end - begin, ws + begin, biases != nullptr ? biases + begin : nullptr, x, n_tokens,
                             ys + begin, roles_from(begin, end - begin));
            }
            begin = end;
        }
    }

    static MatvecBatch make_batch(int count, const WeightView* ws, const float* const* biases, float* const* ys) {
        MatvecBatch batch;
        batch.count = count;
        for (int i = 0; i < count; ++i) {
            batch.w[i] = ws[i];
            batch.bias[i] = biases != nullptr ? biases[i] : nullptr;
            batch.y[i] = ys[i];
        }
        return batch;
    }

    // The precision of a batch launch: the first matrix's type decides, over all rows of the launch.
    ActivationPrecision batch_precision(const MatvecBatch& batch, int64_t n_tokens, bool x_made) const {
        int64_t total_rows = 0;
        for (int i = 0; i < batch.count; ++i) total_rows += batch.w[i].n_rows;
        return precision_for(batch.w[0].type, n_tokens, total_rows, batch.w[0].n_cols, x_made);
    }

    // How the decode matvecs take x: the faster precision for the launch (launch.h), unless int8 is switched off.
    ActivationPrecision precision_for(GgmlType type, int64_t n_tokens, int64_t n_rows, int64_t n_cols,
                                      bool x_made) const {
        if (!int8_activations_) return ActivationPrecision::float32;
        return fastest_matvec_precision(type, n_tokens, n_rows, n_cols, x_made);
    }

    // Whether this build carries kernels for the current device's architecture.
    static bool kernels_present() {
        cudaFuncAttributes attributes{};
        const cudaError_t err = cudaFuncGetAttributes(&attributes, reinterpret_cast<const void*>(&probe_kernel));
        if (err != cudaSuccess) cudaGetLastError();
        return err == cudaSuccess;
    }

    int device_;
    DeviceInfo info_{};
    cudaStream_t stream_ = nullptr;
    std::unique_ptr<StepGraph> step_;
    bool repeat_steps_ = true;
    std::unique_ptr<PrefillGemm> gemm_;
    Buffer attention_workspace_;
    Buffer top_k_workspace_;  // top_k's slice candidates (launch_top_k)
    std::vector<Buffer> retired_;
    bool fused_matvec_ = true;
    bool int8_activations_ = true;
    bool make_int8_x_ = true;  // producers write x~ for the int8 matvecs (implies int8_activations_)
    MadeX made_x_;             // the last producer's output and its x~, in one of x_int8_
    Buffer x_int8_[2];
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options) {
    return std::make_unique<CudaBackend>(options);
}

}  // namespace spool::cuda
