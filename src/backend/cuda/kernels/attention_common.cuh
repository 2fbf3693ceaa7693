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
// Blocks the split path aims for when the context is long: 132 SMs x 4 resident blocks of 128 threads.
// Measured (TinyLlama / Llama-2-7B heads, F16 cache, 4096 rows): 264 blocks 11.4 / 31.5 us per layer, 528 blocks
// 10.4 / 29.2 us, 792 blocks 13.5 / 33.6 us (a second wave).
inline constexpr int64_t kSplitTargetBlocks = 528;
// A block of the split path takes at least min_rows_per_part(d_max) cache rows, so short contexts use few blocks,
// and at most kMaxParts blocks share one (token, head): the combine has one thread per part. Head sizes up to 64:
// 64 rows (16 KB of F16 K+V; 32 rows: 0.5 us slower at 1024 rows, and at tg128 on an H100 TinyLlama F16 +0.5% GPU
// time per step, Q4_K_M -1%). Larger heads: 16 rows, one step of the kernel at head_dim 128 (8 row groups x 2 rows),
// where 64 rows took 4 serial steps of loads: Llama-2-7B Q4_K_M decode 2,020 -> 2,003 us per step
// (docs/cuda-performance.md, v38). Long contexts are unaffected: there kSplitTargetBlocks sets the parts.
__host__ __device__ constexpr int min_rows_per_part(int d_max) { return d_max <= 64 ? 64 : 16; }
inline constexpr int64_t kMaxParts = 256;
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
    size_t row_bytes = 0;
};

struct Plan {
    Shape shape;
    GgmlType type{};
    int d_max = 0;  // 64, 128 or 256: the kernel instance's head_dim bound
    bool split = false;
    // Split path only.
    int heads_per_block = 0;  // query heads of one group handled by one block (1 or 2)
    int head_batches = 0;     // ceil(group / heads_per_block)
    int grid_parts = 0;       // blocks along the sequence: partials per (token, head)
    // A Q8_0 cache, one query head per block and head_dim a multiple of 16: the split kernel's blocks of many rows
    // read 16 elements of a row per lane (RawQ8x16), the others 8.
    bool wide_rows = false;
    size_t workspace_bytes = 0;
};

// Throws UnsupportedError for shapes the kernels do not handle (head_dim not a multiple of 8 or above
// kMaxHeadDim, n_head not a multiple of n_head_kv, a cache type other than F32/F16/Q8_0) and UsageError for
// inconsistent views. `split` is the path the kernels would take given enough workspace.
Plan make_plan(int64_t n_tokens, const AttentionParams& params, const KvView& cache);

// Bytes of the split path's partials: [n_tokens, n_head, grid_parts, head_dim] accumulators then
// [n_tokens, n_head, grid_parts] (max, sum) pairs.
inline size_t split_workspace_bytes(int64_t n_tokens, const Shape& s, int64_t grid_parts) {
    return static_cast<size_t>(n_tokens) * static_cast<size_t>(s.n_head) * static_cast<size_t>(grid_parts) *
           (static_cast<size_t>(s.head_dim) + 2) * sizeof(float);
}

void launch_split(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                  float* out, void* workspace, cudaStream_t stream, void* out_int8 = nullptr);
void launch_tiled(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                  float* out, cudaStream_t stream);
// The tiled path on the tensor cores (attention_tiled_tc.cu) where it applies, an F16 cache and head_dim 64 or 128;
// false (nothing launched) elsewhere.
bool launch_tiled_tc(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions,
                     int64_t n_tokens, float* out, cudaStream_t stream);

// ---- Device side

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

// How many of the grid_parts blocks share a token's n_rows attended rows (the rest exit at once). Part p takes
// rows [p * n_rows / parts, (p + 1) * n_rows / parts): balanced, never empty. Used by both split kernels.
__host__ __device__ __forceinline__ int split_parts(int64_t n_rows, int grid_parts, int d_max) {
    const int64_t min_rows = min_rows_per_part(d_max);
    const int64_t wanted = (n_rows + min_rows - 1) / min_rows;
    return static_cast<int>(wanted < grid_parts ? wanted : grid_parts);
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

// The four int8 quants packed in `word` (lowest byte first), each times `scale`, without I2F (a quarter-rate
// instruction on sm_90; the split kernel converts 16 per row and lane): b + 128 as the low byte of 0x4B000000 is the
// float 2^23 + b + 128 exactly, and subtracting 2^23 + 128 leaves b exactly. So the values, b * scale, are those of a
// conversion.
__device__ __forceinline__ void q8_word_to_float(uint32_t word, float scale, float* v) {
    const uint32_t biased = word ^ 0x80808080u;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float b = __uint_as_float(__byte_perm(biased, 0x4B000000u, 0x7650u + i)) - 8388736.0f;
        v[i] = b * scale;
    }
}

// Q8_0 blocks are 34 bytes (fp16 d, then 32 int8), so the 8 quants sit at a 2-byte boundary: four 16-bit loads.
template <>
struct Raw8<GgmlType::Q8_0> {
    unsigned short d, w[4];
    __device__ __forceinline__ void load(const uint8_t* row, int64_t e0, bool from_l2 = false) {
        const uint8_t* block = row + (e0 >> 5) * 34;
        const unsigned short* p = reinterpret_cast<const unsigned short*>(block);
        d = from_l2 ? __ldcg(p) : __ldg(p);
        const unsigned short* qs = reinterpret_cast<const unsigned short*>(block + 2 + (e0 & 31));
#pragma unroll
        for (int i = 0; i < 4; ++i) w[i] = from_l2 ? __ldcg(qs + i) : __ldg(qs + i);
    }
    __device__ __forceinline__ void to_float(float (&v)[8]) const {
        const float scale = __half2float(__ushort_as_half(d));
        q8_word_to_float(w[0] | (static_cast<uint32_t>(w[1]) << 16), scale, v);
        q8_word_to_float(w[2] | (static_cast<uint32_t>(w[3]) << 16), scale, v + 4);
    }
};

// Sixteen consecutive elements e0 .. e0+15 of a Q8_0 cache row (e0 a multiple of 16: half of one block) for the split
// kernel, which gives each lane twice the bytes of a Raw8 in about the same registers: the quants are read as 4-byte
// words from the 4-byte boundary at or before them (blocks are 34 bytes, so they start 0 or 2 bytes past one), and the
// scale as one 16-bit load. to_float() gives the values of Raw8's.
struct RawQ8x16 {
    uint32_t w[5];
    unsigned short d;
    bool offset;  // the quants start 2 bytes past w[0]'s start
    __device__ __forceinline__ void load(const uint8_t* row, int64_t e0, bool from_l2 = false) {
        const uint8_t* block = row + (e0 >> 5) * 34;
        const unsigned short* p = reinterpret_cast<const unsigned short*>(block);
        d = from_l2 ? __ldcg(p) : __ldg(p);
        const uint8_t* qs = block + 2 + (e0 & 16);
        offset = (reinterpret_cast<uintptr_t>(qs) & 3) != 0;
        const uint32_t* words = reinterpret_cast<const uint32_t*>(reinterpret_cast<uintptr_t>(qs) & ~uintptr_t{3});
#pragma unroll
        for (int i = 0; i < 4; ++i) w[i] = from_l2 ? __ldcg(words + i) : __ldg(words + i);
        // Offset quants end 2 bytes into a fifth word, which is read as 16 bits: the half block may end the cache.
        const unsigned short* tail = reinterpret_cast<const unsigned short*>(qs + 14);
        w[4] = offset ? (from_l2 ? __ldcg(tail) : __ldg(tail)) : 0u;
    }
    __device__ __forceinline__ void to_float(float (&v)[16]) const {
        const float scale = __half2float(__ushort_as_half(d));
        const uint32_t selector = offset ? 0x5432u : 0x3210u;  // offset: bytes 2, 3 of w[j] and 0, 1 of w[j + 1]
#pragma unroll
        for (int j = 0; j < 4; ++j) q8_word_to_float(__byte_perm(w[j], w[j + 1], selector), scale, v + 4 * j);
    }
};

template <GgmlType TYPE>
__device__ __forceinline__ void load8(const uint8_t* row, int64_t e0, float (&v)[8]) {
    Raw8<TYPE> raw;
    raw.load(row, e0);
    raw.to_float(v);
}

}  // namespace spool::cuda::attn
