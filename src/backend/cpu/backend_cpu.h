// The cpu backend: the Backend interface on host memory, multithreaded with a ThreadPool. Matmul rounds each
// activation row to the weight type's vec_dot type first (as llama.cpp does) and parallelizes over output rows.
#pragma once

#include <string>
#include <cstdint>
#include <vector>

#include "backend/cpu/kernels/dispatch.h"
#include "backend/host_backend.h"
#include "core/thread_pool.h"

namespace spool {

struct CpuBackendOptions {
    size_t n_threads = 0;  // 0: one per hardware thread
    std::string isa;       // kernel set: "" or "auto" = the best this CPU runs, else "scalar", "avx2", "avx512", "amx"
};

class CpuBackend final : public HostBackend {
public:
    // Throws SystemError if the worker threads cannot start, UsageError / UnsupportedError for an unknown
    // kernel set or one this CPU cannot run (resolve_cpu_isa).
    explicit CpuBackend(const CpuBackendOptions& options = {});

    std::string name() const override { return "cpu"; }
    bool supports(Op op, GgmlType type) const override;
    size_t n_threads() const noexcept { return pool_.size(); }
    cpu::CpuIsa isa() const noexcept { return isa_; }

    void embed(const WeightView& table, const int32_t* ids, int64_t n_tokens, float* out) override;
    void rms_norm(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps, float* out) override;
    void matmul(const WeightView& w, const float* x, int64_t n_tokens, const float* bias, float* y) override;
    void rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
              const RopeParams& params) override;
    void kv_append(const KvView& cache, const float* k, const float* v, const int32_t* positions,
                   int64_t n_tokens) override;
    void attention(const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                   const AttentionParams& params, float* out) override;
    void glu(const float* gate, const float* up, int64_t n, Activation act, float* out) override;
    void add(const float* a, const float* b, int64_t n, float* out) override;
    void argmax(const float* x, int64_t n_rows, int64_t n, int32_t* out) override;

    // Fused prefill forms: the activations are rounded once for every matrix, all of their row chunks go out in one
    // parallel loop, and the add / glu runs on each chunk as soon as it is computed (while it is in cache). Below
    // the tiled kernels' token counts (decode) they are the default composition of the plain ops.
    void matmul_add(const WeightView& w, const float* x, int64_t n_tokens, float* scratch, float* residual) override;
    void matmul_shared_input(int count, const WeightView* ws, const float* const* biases, const float* x,
                             int64_t n_tokens, float* const* ys) override;
    void matmul_glu(const WeightView& gate, const WeightView& up, const float* x, int64_t n_tokens, Activation act,
                    float* scratch, float* out) override;
    // One parallel loop over the tokens instead of three.
    void rope_kv_append(float* q, float* k, const float* v, const int32_t* positions, int64_t n_tokens, int n_head,
                        int n_head_kv, int head_dim, const RopeParams& rope_params, const KvView& cache) override;

private:
    // Runs body over [0, n) in chunks of `grain`, inline when the whole job is one chunk.
    template <class Body>
    void parallel(int64_t n, int64_t grain, const Body& body);
    // ys[i] = ws[i] x (+ biases[i]) for i < count with the tiled multi-token kernels; after(i, r0, r1) runs on the
    // thread that computed rows [r0, r1) of ys[i] for every token, right after them. same_rows: the matrices have
    // the same row count and each chunk covers the same rows of all of them (after gets i = -1). Returns false,
    // having done nothing, when some matrix has no tiled kernel or n_tokens is below its min_tokens.
    // biases: [count] (entries may be null), or null.
    template <class After>
    bool tiled_matmuls(int count, const WeightView* ws, const float* const* biases, const float* x, int64_t n_tokens,
                       float* const* ys, bool same_rows, const After& after);
    static constexpr int kMaxTiledMatrices = 4;  // matrices of one tiled_matmuls call
    // The activations of each tiled_matmuls matrix whose kernel has a layout of its own (cpu::PackedGemm, the AMX
    // tiles), laid out once for all its chunks of rows: gemm[i] and data[i] are null for the other matrices.
    struct PackedActs {
        const cpu::PackedGemm* gemm[kMaxTiledMatrices] = {};
        uint8_t* data[kMaxTiledMatrices] = {};
    };
    // Lays out the activation rows act_rows[i] (act_row_bytes[i] apart) for the matrices that want it, each layout
    // once (q, k and v of one type share it), split over the threads by token tile, into packed_acts_.
    PackedActs pack_activations(int count, const cpu::GemmKernels* const* gemm, const uint8_t* const* act_rows,
                                const size_t* act_row_bytes, int64_t n_in, int64_t n_tokens);
    // The cache type's row quantizer: the ISA kernel where there is one (the same bytes), else the reference.
    QuantizeRowFn cache_quantizer(GgmlType type) const;

    ThreadPool pool_;
    cpu::CpuIsa isa_;
    // Activation rows rounded to a vec_dot type: [n_tokens][row bytes]. Grows to the largest batch seen,
    // so steady decoding does not allocate.
    std::vector<uint8_t> act_scratch_;
    // Activation rows in the layouts of the multi-token kernels that have one (cpu::PackedGemm), shared by all chunks.
    std::vector<uint8_t> packed_acts_;
    // Packed weight panels of the multi-token kernels, one slice per row chunk: [chunks][gemm scratch bytes].
    std::vector<uint8_t> gemm_scratch_;
    // Partial attention results when decode splits the cache rows over threads: [units][part floats] (ops.h).
    std::vector<float> attn_parts_;
};

}  // namespace spool
