// Shared by the attention kernels (attention_*.cu): the launch plan (which path, blocks per sequence, workspace), the
// per-path launchers, and device loads of 8 consecutive cache elements of one row in any cache type.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backend/backend.h"
#include "quant/type_ids.h"

namespace spool::cuda::attn {

// Batches of up to this many tokens (decode, speculative checks) take the split-sequence path; larger batches
// (prefill) the tiled path.
inline constexpr int64_t kSplitMaxTokens = 8;
inline constexpr int kSplitThreads = 128;
inline constexpr int kSplitWarps = kSplitThreads / 32;
// Blocks the split path aims for when the context is long: 132 SMs x 4 resident blocks of 128 threads.
// Measured (TinyLlama / Llama-2-7B heads, F16 cache, 4096 rows): 264 blocks 11.4 / 31.5 us per layer, 528 blocks
// 10.4 / 29.2 us, 792 blocks 13.5 / 33.6 us (a second wave).
inline constexpr int64_t kSplitTargetSms = 132;
inline constexpr int64_t kSplitTargetBlocks = kSplitTargetSms * 4;
// The split kernel holding the wide form (Plan::wide_rows) is bounded to this many blocks of kSplitThreads per SM, and
// its grid must fit one wave. Q8_0: 5, 96 registers without spills, one wave for the 544 blocks of 7B at depth (the
// float32 wide form took 117 unbounded, so 4 blocks per SM and a second wave: 41 us per layer at 4,096 rows). Q4_0: 4,
// with the parts rounded down to fit 4 blocks per SM (make_plan). H100, 7B heads at 4,096 rows, us per layer: the
// staged form (v45, attention_split_staged.cuh, 128 registers) 14.3 at 4 per SM, 14.6 bounded to 5; the register
// form before it (v44) 15.2 at 4 per SM, 16.1 bounded to 5, 23.2 at 4 without the rounding (a second wave). Q8_0 at
// head sizes 128 and 256, staged too (v46): 4, which measured best end to end (7B Q4_K_M at depth 4096, 2 stages:
// 395.8 tok/s at 4 per SM, 392.6 at 5; 3 stages 389.4 and 384.7; the register form 388.4-389.3).
__host__ __device__ constexpr int wide_blocks_per_sm(GgmlType type, int d_max) {
    return type == GgmlType::Q4_0 || d_max % 128 == 0 ? 4 : 5;
}
// A block of the split path takes at least min_rows_per_part(d_max) cache rows, so short contexts use few blocks,
// and at most kMaxParts blocks share one (token, head): the combine has one thread per part. Head sizes up to 64:
// 64 rows (16 KB of F16 K+V; 32 rows: 0.5 us slower at 1024 rows, and at tg128 on an H100 TinyLlama F16 +0.5% GPU
// time per step, Q4_K_M -1%). Larger heads: 16 rows, one step of the kernel at head_dim 128 (8 row groups x 2 rows),
// where 64 rows took 4 serial steps of loads: Llama-2-7B Q4_K_M decode 2,020 -> 2,003 us per step
// (docs/cuda-performance.md, v38). Long contexts are unaffected: there kSplitTargetBlocks sets the parts.
__host__ __device__ constexpr int min_rows_per_part(int d_max) { return d_max <= 64 ? 64 : 16; }
inline constexpr int64_t kMaxParts = 256;
// The tensor-core split path (Plan::mma_rows): query heads per block (the mma's rows 0-7), and the fewest rows per
// part: a 16-row tile for each of the block's 4 warps. H100, us per layer at 128 / 512 / 1,024 / 4,096 rows, blocks
// ordered (KV head, part): 64 rows TinyLlama 4.70 / 4.77 / 5.25 / 6.66, Llama-3-8B shape 4.99 / 5.53 / 6.39 / 11.92;
// 32 rows (two warps' tiles) 4.67 / 5.15 / 5.49 / 7.10 and 4.99 / 5.94 / 6.79 / 11.91.
inline constexpr int kMaxMmaQueries = 8;
inline constexpr int kMmaMinRowsPerPart = 64;
// At head_dim 128 the tensor-core kernel holds 134 registers: 3 blocks of 128 threads per SM, one wave of 396 blocks
// on an H100 (make_plan rounds the parts down, so that no second wave starts).
inline constexpr int kMmaBlocksPerSm128 = 3;
// At head_dim 64 its registers would let 5 (Q8_0 values, 90 registers) or 7 (Q4_0 values, 71) blocks share an SM; the
// launcher holds it to 3 through the shared-memory carveout hint, and make_plan rounds the parts down to one wave of
// them. Launched early (PDL) behind the rope and KV store, its blocks fill the SMs with room first: with 7 per SM a
// TinyLlama step at 4,096 rows took 7.6 us per layer for the split (the kernel bench, with nothing running beside it,
// 6.3), with 5 per SM 5.9, with 3 per SM 4.4 (docs/cuda-performance.md, v48).
inline constexpr int kMmaBlocksPerSm64 = 3;
inline constexpr int kMaxHeadsPerBlock = 2;
// The kernels handle head_dim <= this, in steps of 8 (one 16-byte F16 load).
inline constexpr int kMaxHeadDim = 256;

// Shape facts every attention kernel needs, by value.
struct Shape {
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;
    int group = 0;  // n_head / n_head_kv: query heads sharing one KV head
    int window = 0;
    float scale = 1.0f;
    size_t row_bytes = 0;    // a K cache row's
    size_t v_row_bytes = 0;  // a V cache row's
};

// How the split path divides a token's attended rows into parts (split_parts): at most `grid` (the grid's blocks
// along the sequence), none with fewer than min_rows rows.
struct PartRule {
    int grid = 0;
    int min_rows = 1;
};

// What the split path's kernels take by value (attention_split.cu, attention_split_mma.cu; the combine).
struct SplitArgs {
    Shape shape;
    int head_batches = 0;
    PartRule parts;
    int d_max = 0;
};

struct Plan {
    Shape shape;
    GgmlType type{};    // the keys'
    GgmlType v_type{};  // the values': type, or Q4_0 beside Q8_0 keys (kv_cache_pair_supported)
    int d_max = 0;  // 64, 128 or 256: the kernel instance's head_dim bound
    bool split = false;
    // Split path only.
    int heads_per_block = 0;  // query heads of one group handled by one block (1 or 2)
    int head_batches = 0;     // ceil(group / heads_per_block)
    PartRule parts;           // blocks along the sequence (partials per (token, head)), rows per part
    // A Q8_0 cache, or a Q4_0 cache or Q8_0 keys with Q4_0 values at head_dim 128 or 256, with one query head per KV
    // head (attention_split_rounds_q_to_int8): the split kernel's blocks of many rows take the integer wide form
    // (attention_split_wide.cuh, attention_split_staged.cuh), the others read 8 elements of a row per lane in float32.
    bool wide_rows = false;
    // Q8_0 keys with Q8_0 or Q4_0 values, head_dim 64 or 128 and 2 to 8 query heads per KV head: the split path's
    // blocks take all of a KV head's query heads on the tensor cores (attention_split_mma.cu) instead.
    bool mma_rows = false;
    size_t workspace_bytes = 0;
};

// Throws UnsupportedError for shapes the kernels do not handle (head_dim not a multiple of 8 or above
// kMaxHeadDim, n_head not a multiple of n_head_kv, a cache type other than F32/F16/Q8_0/Q4_0) and UsageError for
// inconsistent views. `split` is the path the kernels would take given enough workspace. Without tensor_cores the
// split path keeps to the float32 kernels (mma_rows false), for builds without sm_80 code.
Plan make_plan(int64_t n_tokens, const AttentionParams& params, const KvView& cache, bool tensor_cores = true);

// Bytes of the split path's partials: [n_tokens, n_head, grid_parts, head_dim] accumulators then
// [n_tokens, n_head, grid_parts] (max, sum) pairs (grid_parts: PartRule::grid).
inline size_t split_workspace_bytes(int64_t n_tokens, const Shape& s, int64_t grid_parts) {
    return static_cast<size_t>(n_tokens) * static_cast<size_t>(s.n_head) * static_cast<size_t>(grid_parts) *
           (static_cast<size_t>(s.head_dim) + 2) * sizeof(float);
}

void launch_split(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                  float* out, void* workspace, cudaStream_t stream, void* out_int8 = nullptr);
// The split path's partials for a plan with mma_rows (attention_split_mma.cu); launch_split runs the combine.
void launch_split_mma(const Plan& plan, const SplitArgs& args, const float* q, const KvView& cache,
                      const int32_t* positions, int64_t n_tokens, float* partial_acc, float2* partial_max_sum,
                      cudaStream_t stream);
// Whether this build holds the tensor-core split kernel for head_dim (64 or 128) on the current device: false for
// builds without sm_80 code, where the kernel has no body.
bool split_mma_built(int head_dim);
void launch_tiled(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                  float* out, cudaStream_t stream);
// The tiled path on the tensor cores (attention_tiled_tc.cu) where it applies, an F16 cache and head_dim 64 or 128;
// false (nothing launched) elsewhere.
bool launch_tiled_tc(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions,
                     int64_t n_tokens, float* out, cudaStream_t stream);

// ---- Device side

// exp(a - m) for a merge of softmax states; 0 when the state is empty (m = -inf, so a = -inf too).
__device__ __forceinline__ float rescale(float a, float m) { return m == -INFINITY ? 0.0f : expf(a - m); }

// The end of a split block: its warps' softmax states (per query head: max, sum and D accumulators, in shared memory
// and complete, after a barrier) merged into one partial per head at part0 + h * grid_parts of the workspace.
template <int WARPS, int HEADS, int D_CAP>
__device__ __forceinline__ void write_block_partials(const float (&acc_s)[WARPS][HEADS][D_CAP],
                                                     const float (&max_s)[WARPS][HEADS],
                                                     const float (&sum_s)[WARPS][HEADS], int n_heads, int D,
                                                     int64_t part0, int grid_parts, float* __restrict__ partial_acc,
                                                     float2* __restrict__ partial_max_sum) {
    for (int i = threadIdx.x; i < n_heads * D; i += blockDim.x) {
        const int h = i / D, d = i - h * D;
        float m_block = -INFINITY;
#pragma unroll
        for (int w = 0; w < WARPS; ++w) m_block = fmaxf(m_block, max_s[w][h]);
        float sum = 0.0f, l_block = 0.0f;
#pragma unroll
        for (int w = 0; w < WARPS; ++w) {
            const float weight = rescale(max_s[w][h], m_block);
            sum += weight * acc_s[w][h][d];
            l_block += weight * sum_s[w][h];
        }
        const int64_t part = part0 + static_cast<int64_t>(h) * grid_parts;
        partial_acc[part * D + d] = sum;
        if (d == 0) partial_max_sum[part] = make_float2(m_block, l_block);
    }
}

// The first and last cache rows a query at `position` attends to (AttentionParams::window).
__device__ __forceinline__ void attended_rows(int64_t position, int window, int64_t* first, int64_t* last) {
    *last = position;
    *first = window > 0 && position - window + 1 > 0 ? position - window + 1 : 0;
}

// The tiled kernels' rows: query row row0 + i (i < n_rows; row = token * group + head in the group) attends to cache
// rows first_s[i] .. last_s[i] (none past n_query_rows), and the block to range_s[0] .. range_s[1]. Every thread of
// the block calls it (at least 32); it ends with a barrier, so shared memory written before it is visible after it.
__device__ __forceinline__ void block_attended_rows(const int32_t* positions, const Shape& s, int64_t row0,
                                                    int64_t n_query_rows, int n_rows, int* first_s, int* last_s,
                                                    int* range_s) {
    for (int i = threadIdx.x; i < n_rows; i += blockDim.x) {
        const int64_t row = row0 + i;
        int64_t first = 0, last = -1;
        if (row < n_query_rows) attended_rows(positions[row / s.group], s.window, &first, &last);
        first_s[i] = static_cast<int>(first);
        last_s[i] = static_cast<int>(last);
    }
    __syncthreads();
    if (threadIdx.x < 32) {
        int lo = INT_MAX, hi = -1;
        for (int i = threadIdx.x; i < n_rows; i += 32) {
            if (last_s[i] >= 0) {
                lo = min(lo, first_s[i]);
                hi = max(hi, last_s[i]);
            }
        }
        for (int offset = 16; offset > 0; offset >>= 1) {
            lo = min(lo, __shfl_xor_sync(0xffffffffu, lo, offset));
            hi = max(hi, __shfl_xor_sync(0xffffffffu, hi, offset));
        }
        if (threadIdx.x == 0) range_s[0] = lo, range_s[1] = hi;
    }
    __syncthreads();
}

// Whether row r (a block's rows counted from its first) ends less than a line (128 bytes) before the token's own row
// `own` in the same numbering, or is that row: its lines may hold part of the own row, which the kernels ahead write,
// so a block that starts before them (one token: PDL's early start) reads it only after ops::wait_for_producers() or
// through L2 (ops_common.cuh, the early-read exception).
__host__ __device__ __forceinline__ bool near_own_row(int r, int own, int64_t row_bytes) {
    return static_cast<int64_t>(own - r - 1) * row_bytes < 128;
}

// The rows a pass of a block's cp.async tile copies takes (split_rows_mma, split_rows_staged): every row, or, where
// the block starts before the kernels ahead (one token), the rows other than near_own_row ones before
// ops::wait_for_producers() and those after it.
enum class CopyPass { all, before_wait, after_wait };
__host__ __device__ __forceinline__ bool copied_in(CopyPass pass, bool near_own) {
    return pass == CopyPass::all || (pass == CopyPass::before_wait) != near_own;
}

// How many of the rule's grid blocks share a token's n_rows attended rows (the rest exit at once; PartRule). Part p
// takes rows [p * n_rows / parts, (p + 1) * n_rows / parts): balanced, never empty. Used by the split kernels and the
// combine.
__host__ __device__ __forceinline__ int split_parts(int64_t n_rows, const PartRule& rule) {
    const int64_t wanted = (n_rows + rule.min_rows - 1) / rule.min_rows;
    return static_cast<int>(wanted < rule.grid ? wanted : rule.grid);
}

// Eight consecutive elements e0 .. e0+7 of a cache row (e0 a multiple of 8) as stored, so a load can be issued long
// before its values are needed; to_float() dequantizes them exactly as the type's dequantizer. Loads go through the
// read-only path (L1), or with from_l2 through L2 only: loads issued before a kernel waits for its producers must not
// bring lines into L1 that a producer may still write.
template <GgmlType TYPE>
struct Raw8;

template <>
struct Raw8<GgmlType::F32> {
    float4 a, b;
    __device__ __forceinline__ void load(const uint8_t* row, int64_t e0, bool from_l2 = false) {
        const float4* p = reinterpret_cast<const float4*>(row + e0 * 4);
        a = from_l2 ? __ldcg(p) : __ldg(p);
        b = from_l2 ? __ldcg(p + 1) : __ldg(p + 1);
    }
    __device__ __forceinline__ void to_float(float (&v)[8]) const {
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    }
};

template <>
struct Raw8<GgmlType::F16> {
    uint4 bits;
    __device__ __forceinline__ void load(const uint8_t* row, int64_t e0, bool from_l2 = false) {
        const uint4* p = reinterpret_cast<const uint4*>(row + e0 * 2);
        bits = from_l2 ? __ldcg(p) : __ldg(p);
    }
    __device__ __forceinline__ void to_float(float (&v)[8]) const {
        const uint32_t words[4] = {bits.x, bits.y, bits.z, bits.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            __half2 h;
            memcpy(&h, &words[i], sizeof h);
            const float2 f = __half22float2(h);
            v[2 * i] = f.x;
            v[2 * i + 1] = f.y;
        }
    }
};

// Byte i of `bytes` as the float 2^23 + byte, exactly (the byte as the low byte of 0x4B000000): quants become floats
// without I2F (a quarter-rate instruction on sm_90; the split kernels convert 16 per row and lane), by subtracting
// 2^23 plus the byte's zero.
__device__ __forceinline__ float byte_plus_2_pow_23(uint32_t bytes, int i) {
    return __uint_as_float(__byte_perm(bytes, 0x4B000000u, 0x7650u + i));
}

// Int8 quants: with `biased` = a word of quants ^ 0x80808080 (b + 128 per byte), byte i less 2^23 + 128 is b exactly.
__device__ __forceinline__ float q8_biased_byte_to_float(uint32_t biased, int i) {
    return byte_plus_2_pow_23(biased, i) - 8388736.0f;
}

// The four int8 quants packed in `word` (lowest byte first), each times `scale`.
__device__ __forceinline__ void q8_word_to_float(uint32_t word, float scale, float* v) {
    const uint32_t biased = word ^ 0x80808080u;
#pragma unroll
    for (int i = 0; i < 4; ++i) v[i] = q8_biased_byte_to_float(biased, i) * scale;
}

// A block's fp16 scale and the 8 quant bytes at `qs` (2-byte aligned), as 16-bit loads.
__device__ __forceinline__ void load_scale_and_8_bytes(const uint8_t* block, const uint8_t* qs, bool from_l2,
                                                       unsigned short& d, unsigned short (&w)[4]) {
    const unsigned short* p = reinterpret_cast<const unsigned short*>(block);
    d = from_l2 ? __ldcg(p) : __ldg(p);
    const unsigned short* q = reinterpret_cast<const unsigned short*>(qs);
#pragma unroll
    for (int i = 0; i < 4; ++i) w[i] = from_l2 ? __ldcg(q + i) : __ldg(q + i);
}

// Q8_0 blocks are 34 bytes (fp16 d, then 32 int8), so the 8 quants sit at a 2-byte boundary: four 16-bit loads.
template <>
struct Raw8<GgmlType::Q8_0> {
    unsigned short d, w[4];
    __device__ __forceinline__ void load(const uint8_t* row, int64_t e0, bool from_l2 = false) {
        const uint8_t* block = row + (e0 >> 5) * 34;
        load_scale_and_8_bytes(block, block + 2 + (e0 & 31), from_l2, d, w);
    }
    __device__ __forceinline__ void to_float(float (&v)[8]) const {
        const float scale = __half2float(__ushort_as_half(d));
        q8_word_to_float(w[0] | (static_cast<uint32_t>(w[1]) << 16), scale, v);
        q8_word_to_float(w[2] | (static_cast<uint32_t>(w[3]) << 16), scale, v + 4);
    }
};

// Q4_0 levels: byte i of `nibbles` holds a level 0..15; less 2^23 + 8 it is level - 8 exactly.
__device__ __forceinline__ float q4_nibble_byte_to_float(uint32_t nibbles, int i) {
    return byte_plus_2_pow_23(nibbles, i) - 8388616.0f;
}

// Q4_0 blocks are 18 bytes (fp16 d, then 16 bytes: element i < 16 in the low nibble of byte i, element 16 + i in its
// high nibble), so the 8 bytes holding elements e0 .. e0+7 sit at a 2-byte boundary: four 16-bit loads.
template <>
struct Raw8<GgmlType::Q4_0> {
    unsigned short d, w[4];
    int shift;  // 0: the low nibbles (elements 0..15 of the block), 4: the high ones
    __device__ __forceinline__ void load(const uint8_t* row, int64_t e0, bool from_l2 = false) {
        const uint8_t* block = row + (e0 >> 5) * 18;
        load_scale_and_8_bytes(block, block + 2 + (e0 & 8), from_l2, d, w);
        shift = (e0 & 16) != 0 ? 4 : 0;
    }
    __device__ __forceinline__ void to_float(float (&v)[8]) const {
        const float scale = __half2float(__ushort_as_half(d));
        const uint32_t words[2] = {w[0] | (static_cast<uint32_t>(w[1]) << 16),
                                   w[2] | (static_cast<uint32_t>(w[3]) << 16)};
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            const uint32_t levels = (words[j] >> shift) & 0x0F0F0F0Fu;
#pragma unroll
            for (int i = 0; i < 4; ++i) v[4 * j + i] = q4_nibble_byte_to_float(levels, i) * scale;
        }
    }
};

// Sixteen consecutive elements e0 .. e0+15 of a Q8_0 cache row (e0 a multiple of 16: half of one 34-byte block) for
// the split path's Q8_0 register wide form (attention_split_wide.cuh), which gives each lane more bytes of a row than a
// Raw8 in about the same registers: the fp16 scale as one 16-bit load, the 16 quants (2-byte aligned) as 4-byte words
// from the 4-byte boundary at or before them.
struct RawQ8x16 {
    uint32_t w[5];
    unsigned short d;
    bool offset;  // the quants start 2 bytes past w[0]'s start
    __device__ __forceinline__ void load(const uint8_t* row, int64_t e0, bool from_l2 = false) {
        const uint8_t* block = row + (e0 >> 5) * 34;
        const uint8_t* qs = block + 2 + (e0 & 16);
        const unsigned short* p = reinterpret_cast<const unsigned short*>(block);
        d = from_l2 ? __ldcg(p) : __ldg(p);
        offset = (reinterpret_cast<uintptr_t>(qs) & 3) != 0;
        const uint32_t* words = reinterpret_cast<const uint32_t*>(reinterpret_cast<uintptr_t>(qs) & ~uintptr_t{3});
#pragma unroll
        for (int i = 0; i < 4; ++i) w[i] = from_l2 ? __ldcg(words + i) : __ldg(words + i);
        // Offset quants end 2 bytes into a fifth word, which is read as 16 bits: the block may end the cache.
        const unsigned short* tail = reinterpret_cast<const unsigned short*>(qs + 14);
        w[4] = offset ? (from_l2 ? __ldcg(tail) : __ldg(tail)) : 0u;
    }
    // Quant bytes 4j .. 4j + 3 (lowest byte first).
    __device__ __forceinline__ uint32_t quants(int j) const {
        return __byte_perm(w[j], w[j + 1], offset ? 0x5432u : 0x3210u);  // offset: bytes 2, 3 of w[j], 0, 1 of w[j + 1]
    }
    __device__ __forceinline__ float scale() const { return __half2float(__ushort_as_half(d)); }
};

template <GgmlType TYPE>
__device__ __forceinline__ void load8(const uint8_t* row, int64_t e0, float (&v)[8]) {
    Raw8<TYPE> raw;
    raw.load(row, e0);
    raw.to_float(v);
}

}  // namespace spool::cuda::attn
