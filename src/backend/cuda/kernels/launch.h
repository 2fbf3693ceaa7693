// The CUDA backend's kernels as host-callable launchers: each queues its kernel(s) on `stream` and returns.
// Pointers are device memory. Launchers never allocate, never synchronize and never throw from device work;
// they check launch errors with SPOOL_CUDA_CHECK(cudaGetLastError()). C++17 (nvcc) and C++20 (g++) clean, so
// backend_cuda.cu and GPU tests include it alike. Shapes are row-major, last dimension contiguous.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "backend/backend.h"
#include "quant/type_ids.h"

namespace spool::cuda {

// ---- Weights (src/backend/cuda/kernels/matvec_*.cu, dequantize_*.cu)

// Whether launch_matvec and launch_dequantize_rows handle weights of `type` (F32, F16, BF16, Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K).
bool weight_type_supported(GgmlType type) noexcept;

// Whether the CUDA backend stores weights of `type` with rows of n_cols elements in WeightLayout::grouped (backend.h):
// rows of whole runs of grouped_run_elements(type) elements, Q4_0 and Q6_K (weight_layout.cu). Its staged matvec
// then loads a run's quant bytes as aligned 16-byte words (five word loads and shifts per 18-byte block before).
// Measured on an H100 (docs/cuda-performance.md, v33): Llama-2-7B Q4_0 decode GPU time per token 2,101-2,134 ->
// 1,888-1,909 us, tg128 478 -> 534 tok/s, prefill +5%; Q8_0's 34-byte blocks regrouped the same way gained nothing
// (2,991-2,997 -> 2,986-2,992 us), so they stay. Q6_K (v36): TinyLlama Q6_K decode 697 -> 681 us per token, 7B
// Q4_K_M -0.7% (its attn_v and output head), but TinyLlama Q6_K pp512 -4% (the fp16 dequantize of grouped rows is
// slower). Q6_K rows of other lengths (ffn_down: 5,632 or 11,008 columns) would need a padded row stride to keep runs
// aligned, and stay as GGUF stores them.
bool groups_weight_rows(GgmlType type, int64_t n_cols) noexcept;
// Elements in a run of 8 blocks, the unit WeightLayout::grouped stores together and a grouped row holds whole: 256 for
// Q4_0, 2,048 for Q6_K (8 super-blocks); 0 for the types that are never grouped.
inline constexpr int64_t grouped_run_elements(GgmlType type) noexcept {
    switch (type) {
        case GgmlType::Q4_0: return 256;
        case GgmlType::Q6_K: return 2048;
        default: return 0;
    }
}
// Regroups the `bytes` of whole rows of `type` (groups_weight_rows true) at `data`, device memory from cudaMalloc,
// in place from the GGUF layout into WeightLayout::grouped. Throws UsageError for another type or partial rows.
void launch_group_weight_rows(void* data, size_t bytes, GgmlType type, int64_t n_cols, cudaStream_t stream);

// The most tokens launch_matvec takes in one call; larger batches go through dequantize + cuBLAS.
inline constexpr int64_t kMatvecMaxTokens = 8;

// How a matvec multiplies quantized weights with x (every launcher below takes one; float weight types and calls of
// more than kMatvecInt8MaxTokens tokens always use float32):
//   float32: x as given; the only roundings are float32 sums.
//   int8: the kernel rounds x per 8-element group (columns 8j .. 8j + 7 of a token, as llama.cpp's and the CPU
//     backend's quantized dot products round x per block) and sums integer products with dp4a. Exactly:
//       amax = max |x_i| (NaN when any x_i is NaN), inv = amax < 1e-30f ? 0 : 127.0f / amax (IEEE float division),
//       q_i = fmaf(x_i, inv, 12582912.0f) - 12582912.0f (x_i * inv rounded to the nearest integer, ties to even),
//       d = amax * (1.0f / 127.0f); the result is W x~ with x~_i = d * q_i, up to float32 summation.
//   Decode at batch 1 is bound by the instructions that turn weight levels into floats; int8 spends far fewer.
enum class ActivationPrecision { float32, int8 };
inline constexpr int64_t kMatvecInt8MaxTokens = 2;  // more tokens amortize the float path's dequantization
// At one token with int8 x, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K run a kernel of their own
// (matvec_staged.cu: x rounded once per block into shared memory, or read as made below; 32-weight chunks per lane)
// once the launch has matvec_staged_min_rows(type) rows in all (kMatvecStagedMinRows or, for types where it won on
// smaller launches, fewer) and n_cols is a multiple of 256; the same x~, another summation order.
inline constexpr int64_t kMatvecStagedMinRows = 4096;
// Whether weights of `type` have that kernel (the list above).
bool matvec_staged_type(GgmlType type) noexcept;
// x~ of one token made once, beside x, by the kernel that writes x (launch_rms_norm's x_int8, launch_matvec_glu's and
// launch_attention's out_int8), so the staged kernel's blocks read it instead of each rounding all of x again: for a
// row of n elements (n % 8 == 0), n / 8 uint2 of levels (group j: elements 8j .. 8j + 7, element i in byte i % 4 of
// word i / 4), then n / 8 float2 (d, d * sum of the group's levels), by the int8 formula above. The matvec launchers
// take it as x_int8: it must be x~ of their x (the results are then bit-identical with and without it); it is used
// where the staged kernel runs, else ignored. Measured on an H100 (docs/cuda-performance.md, v11): Llama-2-7B Q4_K_M
// decode 374.7 -> 385.2 tok/s, Q8_0 +2%, with rms_norm making x~ for q/k/v, gate/up and the output head; blocks read it
// through L1 (copying it into shared memory first measured 1% slower).
inline constexpr size_t int8_x_bytes(int64_t n) { return static_cast<size_t>(n) * 2; }
// The rms_norm that follows a residual add at one token, split between the add's matvec and the staged matvecs that
// read the norm's output, so that no kernel of its own sits between them (a decode step has two per layer): with
// norm_x, launch_matvec_add also writes, per 8-row group of y, the x~ of y * weight (levels are the same for any
// positive scale of a group; d and d * sum scale with it) and the group's sum of y^2, in deferred_norm_x_bytes(n).
// A launch given that x~ as x_int8 and this DeferredNorm multiplies each row total by 1 / sqrt(mean(y^2) + eps)
// before its epilogue, and writes the norm's output x = y * (1 / sqrt(...)) * weight to `out` (null: an earlier
// launch wrote it). Where such a launch does not run the staged kernel, it first runs launch_rms_norm into out and
// reads x. Results match rms_norm + matvec within the int8 rounding: a group's level can move by one where the
// scaled value sits on a rounding boundary, and the scale is applied after the dot products. Measured on an H100
// (docs/cuda-performance.md, v35): GPU time per 7B decode step Q4_0 1,881 -> 1,816 us (-3.4%), Q8_0 -1.3%,
// Q4_K_M -0.5%; only where the add's blocks hold whole 8-row groups (TinyLlama's 2,048-row adds lost 6% when their
// blocks were raised to 8 rows, so they keep the rms_norm launch).
struct DeferredNorm {
    const float* residual = nullptr;  // [n]: y of the residual add
    const float* weight = nullptr;    // [n]: the norm's weight
    float eps = 0.0f;
    float* out = nullptr;             // [n]: the norm's output x, or null
};
inline constexpr size_t deferred_norm_x_bytes(int64_t n) {
    return int8_x_bytes(n) + static_cast<size_t>(n / 8) * sizeof(float);
}
// The fewest rows (all matrices of a launch together) at which `type` takes the staged kernel: at most
// kMatvecStagedMinRows; with x_made (the launch is given x~, x_int8 below), fewer for the types where that won (Q8_0,
// Q6_K, Q4_K).
int64_t matvec_staged_min_rows(GgmlType type, bool x_made = false) noexcept;

// The precision that decodes fastest for a launch of `type` weights at n_tokens, with n_rows rows in all (a batch:
// every matrix; glu: the gate's) of n_cols columns, as measured on an H100 (docs/cuda-performance.md): int8 for the
// K-quants and Q8_0 at up to kMatvecInt8MaxTokens tokens and wherever the staged kernel runs; float32 otherwise (the
// legacy 4- and 5-bit types in the shared kernel, float weights).
ActivationPrecision fastest_matvec_precision(GgmlType type, int64_t n_tokens, int64_t n_rows, int64_t n_cols,
                                             bool x_made = false);

// The step after the q/k/v projections (Backend::rope_kv_append) done in their epilogue, for one token: the q and k
// rows rotated (RopeMode::norm, whose pairs are adjacent rows, computed by one warp or block), k and v stored in the
// KV cache row of the token's position. The same formulas as launch_rope_kv_append (ops_rope.cuh,
// attention_kv_store.cuh): the outputs and the cache equal the separate launches' bit for bit. One launch step fewer
// per layer in a decode step. Measured on an H100 (docs/cuda-performance.md, v10): TinyLlama decode Q4_K_M +6%,
// Q8_0 +4%, F16 +4% with the angle's power computed before the kernel waits for x (+1-3% with all of the angle
// after it); dropping the separate launch with nothing in its place, the bound, gave +8-10% and +7%.
enum class MatvecRole : int {
    none,  // y only
    q,     // y rotated
    k,     // y rotated, and stored in cache.k
    v,     // y, and stored in cache.v
};
struct MatvecRopeKv {
    const int32_t* positions = nullptr;  // [1], device: the token's position (< cache.n_ctx)
    RopeParams rope;                     // mode norm; n_dims even, <= head_dim
    int head_dim = 0;                    // even
    KvView cache;                        // F32 or F16
    MatvecRole role[3] = {MatvecRole::none, MatvecRole::none, MatvecRole::none};  // per matrix of the launch
};
// Whether a launch may give w (x, n_tokens as for the launch) `role` in its epilogue: one token, matvec_fusable,
// the parameters above, whole heads of rows, and for k and v a row per cache column. Otherwise run
// launch_rope_kv_append after the projections.
bool matvec_rope_kv_fusable(const MatvecRopeKv& rope_kv, const WeightView& w, const float* x, int64_t n_tokens,
                            MatvecRole role);

// y[t][r] = sum_i dequantize(W)[r][i] * x[t][i] (+ bias[r]) for t < n_tokens <= kMatvecMaxTokens, reading W in its
// stored (quantized) form exactly once; x as `precision` says. With rope_kv, its role[0] as above. With norm (this and
// the fused forms below), x is the output of that DeferredNorm and x_int8 its x~.
void launch_matvec(const WeightView& w,  // [n_rows][row_bytes], device
                   const float* x,       // [n_tokens, w.n_cols]
                   int64_t n_tokens,
                   const float* bias,    // [w.n_rows] or null
                   float* y,             // [n_tokens, w.n_rows]; must not alias x
                   cudaStream_t stream, ActivationPrecision precision = ActivationPrecision::float32,
                   const MatvecRopeKv* rope_kv = nullptr, const void* x_int8 = nullptr,
                   const DeferredNorm* norm = nullptr);

// ---- Fused decode matvecs (same preconditions as launch_matvec; one launch each, weights read once).

// Whether the fused forms below take w and x: rows of whole 8-element groups (every quantized type; float types with
// n_cols % 8 == 0) and x 16-byte aligned. Otherwise run launch_matvec and the separate op.
bool matvec_fusable(const WeightView& w, const float* x);
// Whether two matrices share type, n_cols and row_bytes: the form a batch or glu launch needs of its matrices.
bool matvec_same_form(const WeightView& a, const WeightView& b);

// y[t][r] += (W x[t])[r]: the residual add fused into the epilogue (attn_output, ffn_down). With norm_weight and
// norm_x (where matvec_add_writes_norm_x holds for the same arguments, else UsageError), also the x~ and sums of
// squares of a DeferredNorm of y with that weight (deferred_norm_x_bytes(w.n_rows) at norm_x; not x_int8's buffer).
void launch_matvec_add(const WeightView& w, const float* x, int64_t n_tokens,
                       float* y,  // [n_tokens, w.n_rows]; must not alias x
                       cudaStream_t stream, ActivationPrecision precision = ActivationPrecision::float32,
                       const void* x_int8 = nullptr, const float* norm_weight = nullptr, void* norm_x = nullptr);
// Whether that launch (x_made: x_int8 given) can write a DeferredNorm's x~: one token in the staged kernel with int8 x,
// rows in whole groups of 8 and blocks of whole groups.
bool matvec_add_writes_norm_x(const WeightView& w, const float* x, int64_t n_tokens, ActivationPrecision precision,
                              bool x_made);

// out[t][r] = act((W_gate x[t])[r]) * (W_up x[t])[r]; gate and up have one shape and type. With out_int8 (where
// matvec_glu_writes_int8 holds for the same arguments, else UsageError) the epilogue also writes out's x~ there
// (int8_x_bytes(gate.n_rows)) for the ffn_down matvec; it must not be x_int8's buffer.
void launch_matvec_glu(const WeightView& gate, const WeightView& up, const float* x, int64_t n_tokens,
                       Activation act,
                       float* out,  // [n_tokens, gate.n_rows]; must not alias x
                       cudaStream_t stream, ActivationPrecision precision = ActivationPrecision::float32,
                       const void* x_int8 = nullptr, void* out_int8 = nullptr, const DeferredNorm* norm = nullptr);
// Whether that launch (x_made: x_int8 given) can write out's x~: one token in the staged kernel with int8 x and rows
// in whole groups of 8, enough of them for blocks of 8 rows.
bool matvec_glu_writes_int8(const WeightView& gate, const WeightView& up, const float* x, int64_t n_tokens,
                            ActivationPrecision precision, bool x_made);

// Up to three matrices that read the same x (q, k, v), in one launch: y[i] = W_i x (+ bias[i]). They share the
// first one's type and row layout, or matvec_batch_mixable holds.
struct MatvecBatch {
    int count = 0;  // 1..3
    WeightView w[3];
    const float* bias[3] = {nullptr, nullptr, nullptr};  // each [w[i].n_rows] or null
    float* y[3] = {nullptr, nullptr, nullptr};           // each [n_tokens, w[i].n_rows]
};
// With rope_kv, matrix i takes role[i] (launch.h MatvecRopeKv).
void launch_matvec_batch(const MatvecBatch& batch, const float* x, int64_t n_tokens, cudaStream_t stream,
                         ActivationPrecision precision = ActivationPrecision::float32,
                         const MatvecRopeKv* rope_kv = nullptr, const void* x_int8 = nullptr,
                         const DeferredNorm* norm = nullptr);
// Whether one launch_matvec_batch may hold matrices of two types: the staged kernel's pairs (the first matrix Q4_K
// or Q5_K, the others of its type or Q6_K, as Q4_K_M and Q5_K_M files store attn_v beside q and k), one token with
// int8 x, one n_cols, enough rows in all for the staged kernel of both types, and aligned weights in the GGUF layout.
// Otherwise each type takes a launch of its own. Measured on an H100 (docs/cuda-performance.md): one launch instead
// of two took TinyLlama Q4_K_M decode (q/k/v 2560 x 2048, one wave) from 1,141-1,151 to 1,195-1,214 tok/s (v9), where
// the second launch's fixed cost dominates. Llama-2-7B Q4_K_M (12288 x 4096, ~6 waves) lost 2.5% with the kernel
// holding both decoders' registers at one block per SM; since v31 grids of several waves take its 2-blocks-per-SM
// form, and 7B gained 0.6% (2,271 -> 2,257 us).
bool matvec_batch_mixable(const MatvecBatch& batch, const float* x, int64_t n_tokens, ActivationPrecision precision);

// out[r - row_begin][i] = half(dequantize(W)[r][i]) for r in [row_begin, row_end): feeds the tensor-core GEMM of a
// prefill. Values beyond the half range saturate to +-65504.
void launch_dequantize_rows_f16(const WeightView& w, int64_t row_begin, int64_t row_end,
                                __half* out,  // [row_end - row_begin, w.n_cols]
                                cudaStream_t stream);

// ---- Prefill-sized matmuls of quantized weights on the tensor cores (src/backend/cuda/kernels/matmul_tc.cu)
// y[t] = W x[t] for the quantized types (Q4_0 .. Q8_0, Q2_K .. Q6_K) without a dequantized copy of W: each warp builds
// the mma.sync fragments of 32 rows straight from the quantized bytes (the values of launch_dequantize_rows_f16) and
// multiplies them with x rounded to fp16 (as launch_f32_to_f16), float32 accumulation: the dequantize + cuBLAS path's
// products in another summation order, reading the quantized weights once per 64 tokens instead of writing and
// reading an fp16 copy of them.
// False where the kernels were built for a GPU older than sm_80 (no body): then the dequantize + GEMM path must run.
bool prepare_matmul_tc();
// Whether launch_matmul_tc takes these weights: a quantized type, 16-byte aligned data, row_bytes a multiple of the
// type's row alignment.
bool matmul_tc_takes(const WeightView& w) noexcept;
// Bytes of x packed by launch_pack_x_tc for n_tokens rows of n_cols, for any weight type.
size_t matmul_tc_x_bytes(int64_t n_tokens, int64_t n_cols);
// x rounded to fp16 in B-fragment order, in the column order of weights of `type` (a matrix of another type needs
// its own packing).
void launch_pack_x_tc(GgmlType type, const float* x,  // [n_tokens, n_cols]
                      int64_t n_tokens, int64_t n_cols, void* x_packed, cudaStream_t stream);
// Scratch for the column slices' partial sums of launch_matmul_tc on a GPU of sm_count SMs (0: one slice).
size_t matmul_tc_workspace_bytes(const WeightView& w, int64_t n_tokens, int sm_count);
// y = (accumulate ? y : 0) + W x, x packed by launch_pack_x_tc (for w.type, this n_tokens and w.n_cols). With a
// workspace smaller than matmul_tc_workspace_bytes the columns are not sliced (correct, fewer warps).
void launch_matmul_tc(const WeightView& w, const void* x_packed, int64_t n_tokens,
                      float* y,  // [n_tokens, w.n_rows]
                      bool accumulate, void* workspace, size_t workspace_bytes, int sm_count, cudaStream_t stream);

// out[t] = dequantize(table row ids[t]) as float32.
void launch_embed(const WeightView& table,  // [n_rows][row_bytes]
                  const int32_t* ids,       // [n_tokens], each < table.n_rows
                  int64_t n_tokens,
                  float* out,               // [n_tokens, table.n_cols]
                  cudaStream_t stream);

// ---- Element-wise and row ops (src/backend/cuda/kernels/ops_*.cu)

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight. out may alias x. With x_int8 (one row, n % 8 == 0, x, weight
// and out 16-byte aligned: rms_norm_writes_int8), out's x~ goes there too (int8_x_bytes(n) and its layout).
void launch_rms_norm(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps, float* out,
                     cudaStream_t stream, void* x_int8 = nullptr);
bool rms_norm_writes_int8(const float* x, const float* weight, int64_t n_rows, int64_t n, const float* out);
// Rotates each head of x in place at its token's position (RopeParams as in backend.h; freq_factors device).
void launch_rope(float* x, const int32_t* positions, int64_t n_tokens, int n_heads, int head_dim,
                 const RopeParams& params, cudaStream_t stream);
// out = act(gate) * up. out may alias gate or up.
void launch_glu(const float* gate, const float* up, int64_t n, Activation act, float* out, cudaStream_t stream);
// out = a + b. out may alias a or b.
void launch_add(const float* a, const float* b, int64_t n, float* out, cudaStream_t stream);
// out[r] = index of the largest x[r, i], ties to the lowest index.
void launch_argmax(const float* x, int64_t n_rows, int64_t n, int32_t* out, cudaStream_t stream);
// dst[i] = half(src[i]) (saturating), for the activations of a tensor-core GEMM; with lo also
// lo[i] = half(src[i] - dst[i]) (of the saturated value), so dst + lo carries src to about 22 significant bits.
void launch_f32_to_f16(const float* src, int64_t n, __half* dst, cudaStream_t stream, __half* lo = nullptr);

// rope(q), rope(k), then kv_append(cache, k, v) as Backend::rope_kv_append, in one launch.
void launch_rope_kv_append(float* q, float* k, const float* v, const int32_t* positions, int64_t n_tokens,
                           int n_head, int n_head_kv, int head_dim, const RopeParams& params, const KvView& cache,
                           cudaStream_t stream);

// ---- KV cache and attention (src/backend/cuda/kernels/attention_*.cu)

// The KV cache types the CUDA kernels store and attend over (launch_kv_append, launch_rope_kv_append,
// launch_attention); the block types need head_dim % 32 == 0.
inline constexpr bool kv_cache_type_supported(GgmlType type) {
    return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::Q8_0 || type == GgmlType::Q4_0;
}
// The (keys, values) type pairs the kernels are built for: each kept type for both halves, and Q8_0 keys beside Q4_0
// values (llama.cpp's -ctk q8_0 -ctv q4_0: the 4-bit cache's quality cost is its keys', docs/cuda-performance.md).
// Every pair would multiply the attention kernels' instances by four.
inline constexpr bool kv_cache_pair_supported(GgmlType k, GgmlType v) {
    return kv_cache_type_supported(k) && (v == k || (k == GgmlType::Q8_0 && v == GgmlType::Q4_0));
}
// Throws UnsupportedError naming `op` unless (cache.type, cache.v_type) is kv_cache_pair_supported.
void check_kv_cache_types(const KvView& cache, const char* op);
// f(std::integral_constant<GgmlType, T>{}) for the cache type T == type, to instantiate a kernel per cache type.
// Precondition: kv_cache_type_supported(type) (checked by the callers' plans and argument checks).
template <class F>
decltype(auto) with_kv_cache_type(GgmlType type, F&& f) {
    switch (type) {
        case GgmlType::F32: return f(std::integral_constant<GgmlType, GgmlType::F32>{});
        case GgmlType::F16: return f(std::integral_constant<GgmlType, GgmlType::F16>{});
        case GgmlType::Q8_0: return f(std::integral_constant<GgmlType, GgmlType::Q8_0>{});
        default: return f(std::integral_constant<GgmlType, GgmlType::Q4_0>{});
    }
}
// f(K{}, V{}) for the pair of integral constants matching (k, v), to instantiate a kernel per cache type pair.
// Precondition: kv_cache_pair_supported(k, v) (check_kv_cache_types).
template <class F>
decltype(auto) with_kv_cache_types(GgmlType k, GgmlType v, F&& f) {
    using Q8 = std::integral_constant<GgmlType, GgmlType::Q8_0>;
    using Q4 = std::integral_constant<GgmlType, GgmlType::Q4_0>;
    if (k == GgmlType::Q8_0 && v == GgmlType::Q4_0) return f(Q8{}, Q4{});
    return with_kv_cache_type(k, [&](auto type) { return f(type, type); });
}

// Stores k[t] rounded to cache.type and v[t] to cache.v_type (F32, F16, or Q8_0 / Q4_0 with blocks of 32 along the row,
// as the CPU cache) in cache row positions[t].
void launch_kv_append(const KvView& cache, const float* k, const float* v, const int32_t* positions,
                      int64_t n_tokens, cudaStream_t stream);

// Scratch for launch_attention, in bytes: enough for any call with n_tokens <= max_tokens on a cache of
// cache_n_ctx rows. The backend allocates it once.
size_t attention_workspace_bytes(int64_t max_tokens, const AttentionParams& params, int64_t cache_n_ctx);

// out[t, h] = softmax(scale * q[t, h] . K[j]) V[j] over cache rows j <= positions[t] (and > positions[t] - window),
// as Backend::attention. The amount of work is read from `positions` on the device (never from the host), and the
// grid depends only on (n_tokens, params, cache.n_ctx): a captured CUDA graph replays correctly at every position.
// Long contexts are split over the sequence and combined (flash-decoding), so decode stays fast at 4096+ rows.
// With out_int8 (one token, and a workspace for the split path: attention_writes_int8) the combine also writes
// out's x~ there (int8_x_bytes(n_head * head_dim)) for the output projection.
void launch_attention(const float* q,            // [n_tokens, n_head, head_dim]
                      const KvView& cache,
                      const int32_t* positions,  // [n_tokens], device
                      int64_t n_tokens, const AttentionParams& params,
                      float* out,                // [n_tokens, n_head, head_dim]; must not alias q
                      void* workspace, size_t workspace_bytes, cudaStream_t stream, void* out_int8 = nullptr);
bool attention_writes_int8(int64_t n_tokens, const AttentionParams& params, int64_t cache_n_ctx,
                           size_t workspace_bytes);
// Whether launch_attention's tiled path (prefill, or any batch without a large enough workspace) runs on the tensor
// cores for this cache (keys of k_type, values of v_type) and head_dim (F16, Q8_0 or Q4_0 halves, head_dim 64 or 128),
// rounding q, the probabilities and a quantized cache's values to fp16 for its products as llama.cpp does
// (attention_tiled_tc.cu); elsewhere it computes in float32.
bool attention_tiled_uses_half_products(GgmlType k_type, GgmlType v_type, int head_dim);
// The same for the split path (decode-sized batches with a workspace): Q8_0 keys with Q8_0 or Q4_0 values, head_dim 64
// or 128 and 2 to 8 query heads per KV head run on the tensor cores (attention_split_mma.cu), in builds with sm_80
// code (in others its float32 kernels run, and this still says true).
bool attention_split_uses_half_products(GgmlType k_type, GgmlType v_type, const AttentionParams& params);
// Whether the split path rounds q to int8 per 8-element group for its scores (the matvecs' formula, quantize_x.cuh)
// and meets the cache's K quants in integer dot products, with one query head per KV head: a Q8_0 cache (head_dim a
// multiple of 16), or a Q4_0 cache or Q8_0 keys with Q4_0 values at head_dim 128 or 256 (rows of a multiple of 8
// bytes, staged by cp.async; attention_split_wide.cuh, attention_split_staged.cuh; blocks of 48 rows or more,
// shorter blocks compute in float32).
bool attention_split_rounds_q_to_int8(GgmlType k_type, GgmlType v_type, const AttentionParams& params);
// How many parts the split path divides a token's `attended` rows into (one block per part, KV head and head batch),
// for a batch of n_tokens over a cache of this type and cache_n_ctx rows: the grid's parts are an upper bound.
int attention_split_parts(int64_t n_tokens, const AttentionParams& params, GgmlType cache_type, int64_t cache_n_ctx,
                          int64_t attended);

// ---- Sampling (src/backend/cuda/kernels/ops_top_k.cu)

// Scratch for launch_top_k, in bytes, for rows of this shape (0 where the shape runs without one). The backend
// allocates it once and grows it for larger shapes.
size_t top_k_workspace_bytes(int64_t n_rows, int64_t n, int k);

// Backend::top_k: the k largest entries of each row, largest first (ties to the lower index, -0.0 == 0.0, NaN
// below every number), and each row's float64 log-sum-exp when lse is not null. 1 <= k <= min(n, kMaxTopK).
// With a workspace of top_k_workspace_bytes(n_rows, n, k) each row is split over many blocks and merged (two
// launches, grid from the shapes only); without one (null or too small) one block per row does it all, exactly
// as well but several times slower.
void launch_top_k(const float* x,    // [n_rows, n]
                  int64_t n_rows, int64_t n, int k,
                  float* values,     // [n_rows, k]
                  int32_t* ids,      // [n_rows, k]
                  double* lse,       // [n_rows] or null
                  void* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace spool::cuda
