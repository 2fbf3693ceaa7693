// The argument block of a matvec launch (MatvecArgs: its matrices, epilogue, int8 x~ and DeferredNorm fields) and
// the accessors that build or read it. Apart from the kernel template because it is the contract between the
// launchers that fill it (matvec.cu, matvec_staged.cu) and every kernel that reads it, and holds no block geometry:
// each kernel sizes its own grid through finish_matvec_args.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/matvec_rope_kv.cuh"
#include "quant/type_ids.h"

namespace spool::cuda::wq {

// What the block writes once its rows are summed.
enum class Epilogue : int {
    store,     // y = W x (+ bias)
    add,       // y += W x: the residual add of attn_output / ffn_down
    glu_silu,  // y = silu(W x) * (W_up x): a block sums kRows / 2 rows of W and the same rows of W_up
    glu_gelu,  // y = gelu(W x) * (W_up x)
};

// A further matrix of a batched launch (same n_cols as the first, and its type unless `alt`): the grid's blocks from
// block_begin on work on it.
struct MatvecSegment {
    const uint8_t* w = nullptr;
    int64_t n_rows = 0;
    const float* bias = nullptr;
    float* y = nullptr;
    int64_t block_begin = 0;
    int64_t row_bytes = 0;  // its row stride (the first matrix's unless alt)
    bool alt = false;       // stored as MatvecArgs::alt_type (the staged kernel's mixed launches only)
};

inline constexpr int kMaxMoreSegments = 2;
static_assert(1 + kMaxMoreSegments == kRopeKvMatrices, "a rope + KV store role per matrix of a launch");

struct MatvecArgs {
    const uint8_t* w;    // [n_rows][row_bytes]
    int64_t row_bytes;
    int64_t n_rows;
    int64_t n_cols;
    const float* x;      // [n_tokens, n_cols], 16-byte aligned
    const float* bias;   // [n_rows] or null
    float* y;            // [n_tokens, n_rows]
    // Fused forms (matvec_kernel only; the unaligned float kernel takes the plain form).
    Epilogue epilogue = Epilogue::store;
    int64_t up_delta = 0;           // glu: bytes from w to W_up ([n_rows][row_bytes], multiplied with the activation)
    int n_more = 0;                 // batch: matrices after the first
    MatvecSegment more[kMaxMoreSegments];
    int64_t n_blocks = 0;           // the grid: set by finish_matvec_args
    bool int8 = false;              // ActivationPrecision::int8 asked for (used by quantized types at <= 2 tokens)
    bool has_alt = false;           // some segments are alt_type (matvec_staged.cu: mixed launches)
    spool::GgmlType alt_type{};
    bool grouped = false;           // the weights are in WeightLayout::grouped (every segment but alt ones:
                                    // matvec_same_form)
    bool alt_grouped = false;       // the alt segments are in WeightLayout::grouped
    bool rope_kv = false;           // one token, Epilogue::store: rk applies
    RopeKvArgs rk;
    const void* x_int8 = nullptr;   // x~ of x's one token (launch.h int8_x_bytes layout) or null: the staged kernel
                                    // reads it instead of rounding x
    void* y_int8 = nullptr;         // staged glu only (staged_glu_writes_int8): x~ of y, for the next matvec
    // Staged residual add only (staged_add_writes_norm_x): the x~ of y * norm_weight and each group's sum of y^2, for
    // the DeferredNorm of y (launch.h deferred_norm_x_bytes).
    const float* norm_weight = nullptr;
    void* norm_x = nullptr;
    // x is the output of this DeferredNorm and x_int8 its x~ (staged kernel only: launch_groups finishes the norm
    // before any other kernel).
    bool deferred_norm = false;
    DeferredNorm norm;
};

__host__ __device__ inline bool is_glu(Epilogue e) { return e == Epilogue::glu_silu || e == Epilogue::glu_gelu; }

// Sets the segments' first blocks and the grid size for blocks of `per` output rows.
inline void finish_matvec_args(MatvecArgs& a, int64_t per) {
    int64_t blocks = (a.n_rows + per - 1) / per;
    for (int i = 0; i < a.n_more; ++i) {
        a.more[i].block_begin = blocks;
        blocks += (a.more[i].n_rows + per - 1) / per;
    }
    a.n_blocks = blocks;
}

// The matrix of a batch that this block works on, and the block's index within it (a batch's segments are uniform
// per block, so no divergence).
struct BlockMatrix {
    const uint8_t* w;
    int64_t n_rows, block;
    const float* bias;
    float* y;
    int64_t row_bytes;
    bool alt;
    int index;  // 0: the first matrix, i: more[i - 1]
};

__device__ __forceinline__ BlockMatrix block_matrix(const MatvecArgs& a) {
    BlockMatrix m{a.w, a.n_rows, static_cast<int64_t>(blockIdx.x), a.bias, a.y, a.row_bytes, false, 0};
#pragma unroll
    for (int i = 0; i < kMaxMoreSegments; ++i) {
        if (i < a.n_more && static_cast<int64_t>(blockIdx.x) >= a.more[i].block_begin) {
            m = {a.more[i].w, a.more[i].n_rows, static_cast<int64_t>(blockIdx.x) - a.more[i].block_begin,
                 a.more[i].bias, a.more[i].y, a.more[i].row_bytes, a.more[i].alt, i + 1};
        }
    }
    return m;
}

}  // namespace spool::cuda::wq
