// Decode attention over Q8_0 keys with Q8_0 or Q4_0 values on the tensor cores (Plan::mma_rows): the split path's
// blocks and partials (attention_split.cu merges them), with the scores and the weighted V sums of each 16-row tile as
// mma.sync m16n8k16 products. One block per (part of the attended rows, KV head, token) takes all of the head's query
// heads (2 to 8, the mma's rows 0-7), so a K/V row is read once for its whole group. (One query head per KV head,
// Llama-2-7B, was slower than the float32 kernel's wide form at every length: 7.06 / 8.94 / 10.93 / 24.53 against
// 4.65 / 6.72 / 9.10 / 22.19 us per layer at 128 / 512 / 1,024 / 4,096 rows.) Each warp takes every 4th tile of the
// block's rows and keeps an online softmax per query head over its tiles.
//
// Why: the float32 split kernel spends ~11 instructions per cached element on a Q8_0 cache (conversion, FMA, the
// per-row softmax and rescale on every lane of the row) and is issue-bound at depth (docs/cuda-performance.md, v41
// profile). Here the products are mma instructions and a quant costs about one instruction of conversion. H100, us
// per layer (split + combine) at 128 / 512 / 1,024 / 4,096 rows, float32 kernels -> this one: TinyLlama 5.41 / 5.93
// / 6.59 / 10.24 -> 4.70 / 4.77 / 5.25 / 6.66; Llama-3-8B shape 4.93 / 7.60 / 7.96 / 16.55 -> 4.99 / 5.53 / 6.39 /
// 11.92 (docs/cuda-performance.md, v42). Below ~48 rows it is slower (16 rows: 4.63 against 4.18, 4.91 against
// 4.48): a block's chain (q rounded by every warp, the tile, the merge across warps) is longer than the float32
// kernel's one step of 16 rows.
//
// Values: q is rounded to fp16 once; K quants enter the product exactly (fp16 1152 + b; the 1152 sum of q over each
// 32-element block is subtracted in the accumulator), then each block's product is scaled by its row's scale in
// float32; the probabilities times each V block's scale are rounded to fp16 and the V quants (Q8_0's bytes or Q4_0's
// levels, MmaValues) enter exactly. These are the roundings of llama.cpp's F16-cache products (tolerance
// kParityNmseAttentionHalfProducts). With Q4_0 values (session 40) the V half of a row is 36 or 72 bytes instead of
// 68 or 136: the kernel bench at 4,096 rows, Llama-3-8B shape 10.45 against 11.17 us per layer, TinyLlama's 6.70
// against 6.82 (docs/cuda-performance.md, v48).
#include <cuda_fp16.h>

#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/mma_sm80.cuh"
#include "backend/cuda/kernels/ops_common.cuh"

namespace spool::cuda::attn {
namespace {

constexpr int kTileRows = 16;

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800

constexpr uint32_t kHalfExponents = 0x64646464u;  // 0x64 above a byte x makes the fp16 1024 + x
constexpr uint32_t kSignBits = 0x80808080u;       // x = b ^ 0x80 = b + 128, so the fp16 is 1152 + b
constexpr uint32_t kHalf1152Pair = 0x64806480u;

// A KV head's part of a row is pairs of Q8_0 blocks (68 bytes: fp16 d0, 32 quants, fp16 d1, 32 quants) starting
// 4-aligned (make_plan: head_dim 64 or 128). Each block is read as 8 "slots" of 4 quants in one 32-bit word:
//   odd block: slot s = quants 4s .. 4s + 3 (the 4-byte words at pair + 36 + 4s);
//   even block: slot 0 = quants 0, 1, 30, 31 (from the words at pair + 0 and pair + 32, which also hold d0 and d1);
//   slot s >= 1 = quants 4s - 2 .. 4s + 1 (the 4-byte word at pair + 4s).
// The dot products do not care in which order a block's dims are summed, so q is laid out in the same order.
__device__ __forceinline__ int slot_dim(int odd_block, int slot, int byte) {
    if (odd_block) return 4 * slot + byte;
    if (slot == 0) return byte < 2 ? byte : 28 + byte;
    return 4 * slot - 2 + byte;
}

// fp16 pairs 1152 + b of bytes selected into the low bytes of each half (selector 0x4140: bytes 0 and 1 of x).
__device__ __forceinline__ uint32_t biased_pair(uint32_t x, uint32_t selector) {
    return __byte_perm(x, kHalfExponents, selector);
}

// b exactly (integers up to 128 are exact in fp16).
__device__ __forceinline__ uint32_t exact_pair(uint32_t biased) {
    uint32_t r;
    asm("sub.rn.f16x2 %0, %1, %2;" : "=r"(r) : "r"(biased), "r"(kHalf1152Pair));
    return r;
}

// The A fragment of V^T from bytes interleaved across rows (2c, 2c + 1) and (2c + 8, 2c + 9), as exact fp16 pairs.
__device__ __forceinline__ void exact_fragment(uint32_t rows01, uint32_t rows89, uint32_t (&a)[4]) {
    a[0] = exact_pair(biased_pair(rows01, 0x4140u));
    a[1] = exact_pair(biased_pair(rows01, 0x4342u));
    a[2] = exact_pair(biased_pair(rows89, 0x4140u));
    a[3] = exact_pair(biased_pair(rows89, 0x4342u));
}

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) { return tc::half2_bits(__floats2half2_rn(lo, hi)); }

__device__ __forceinline__ float scale_of(uint32_t scales, int odd_block) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(odd_block ? scales >> 16 : scales & 0xffffu)));
}

// One row's words of a pair for one slot of each block, and both blocks' scales (d0 | d1 << 16).
struct PairSlot {
    uint32_t even, odd, scales;
};

__device__ __forceinline__ PairSlot pair_slot(const uint32_t* w, int slot) {
    const uint32_t w0 = w[0], w8 = w[8];
    PairSlot r;
    r.even = slot == 0 ? __byte_perm(w0, w8, 0x5432u) : w[slot];
    r.odd = w[9 + slot];
    r.scales = __byte_perm(w0, w8, 0x7610u);
    return r;
}

// A tile's V rows as the A fragments of out^T += V^T P^T, by the values' type. Each 32-element block gives two
// m-tiles (16 dims each) of which a lane holds the dims at fragment rows g and g + 8 for cache rows 2c, 2c + 1,
// 2c + 8 and 2c + 9; which dims those are is the form's (dim), and the accumulators are written back by it.
template <int D, GgmlType VALUES>
struct MmaValues;

// Q8_0: the pair layout above; slot g of each block, its 4 quants as the two m-tiles' rows (bytes 0, 1 and 2, 3).
template <int D>
struct MmaValues<D, GgmlType::Q8_0> {
    static constexpr int kPairWords = 17;  // 68 bytes: two blocks
    static constexpr int kChunk = D == 128 ? 8 : 4;
    static constexpr int kChunks = D / 64 * 68 / kChunk;

    __device__ static PairSlot read(const uint32_t* pair, int g) { return pair_slot(pair, g); }

    __device__ static void fragments(const PairSlot (&rows)[4], int odd, int /*g*/, uint32_t (&a0)[4],
                                     uint32_t (&a1)[4]) {
        // Bytes of rows (2c, 2c + 1) and (2c + 8, 2c + 9) interleaved: [r.b0, r'.b0, r.b1, r'.b1], [.. b2, b3]
        const uint32_t xa = (odd ? rows[0].odd : rows[0].even) ^ kSignBits;
        const uint32_t xb = (odd ? rows[1].odd : rows[1].even) ^ kSignBits;
        const uint32_t xc = (odd ? rows[2].odd : rows[2].even) ^ kSignBits;
        const uint32_t xd = (odd ? rows[3].odd : rows[3].even) ^ kSignBits;
        exact_fragment(__byte_perm(xa, xb, 0x5140u), __byte_perm(xc, xd, 0x5140u), a0);
        exact_fragment(__byte_perm(xa, xb, 0x7362u), __byte_perm(xc, xd, 0x7362u), a1);
    }

    // Dim of block j's m-tile h at fragment row g (e 0) or g + 8 (e 1).
    __device__ static int dim(int j, int h, int g, int e) { return 32 * j + slot_dim(j & 1, g, 2 * h + e); }
};

// Q4_0 (18-byte blocks: fp16 d, 16 bytes of which byte i holds level i in its low nibble and level i + 16 in its
// high one), read as pairs of blocks (36 bytes, 4-aligned: make_plan takes head_dim 64 or 128): word 0 = d0 and
// bytes 0, 1; words 1-3 = bytes 2-13; word 4 = bytes 14, 15 and d1; words 5-8 = the odd block's bytes. Lane g takes
// bytes 2g and 2g + 1 of each block (a half-word: the even block's at word (g + 1) / 2, high half for even g; the odd
// block's at word 5 + g / 2, high half for odd g): dims 2g, 2g + 1 (low nibbles, m-tile 0) and 2g + 16, 2g + 17
// (high nibbles, m-tile 1). A level n enters the product exactly as n - 8: the masked nibble as the low mantissa
// byte of fp16 1024 + n (low nibble) or 64 + n (the high nibble, 16n, under the exponent whose mantissa step is 1/16),
// minus 1032 or 72.
template <int D>
struct MmaValues<D, GgmlType::Q4_0> {
    static constexpr int kPairWords = 9;  // 36 bytes: two blocks
    static constexpr int kChunk = D == 128 ? 8 : 4;
    static constexpr int kChunks = D / 64 * 36 / kChunk;

    __device__ static PairSlot read(const uint32_t* pair, int g) {
        PairSlot r;
        r.even = pair[(g + 1) >> 1];
        r.odd = pair[5 + (g >> 1)];
        r.scales = __byte_perm(pair[0], pair[4], 0x7610u);
        return r;
    }

    __device__ static uint32_t levels(uint32_t masked, uint32_t exponents, uint32_t selector, uint32_t bias) {
        uint32_t r;
        asm("sub.rn.f16x2 %0, %1, %2;" : "=r"(r) : "r"(__byte_perm(masked, exponents, selector)), "r"(bias));
        return r;
    }

    __device__ static void fragments(const PairSlot (&rows)[4], int odd, int g, uint32_t (&a0)[4],
                                     uint32_t (&a1)[4]) {
        // The lane's half-words of rows (2c, 2c + 1) and (2c + 8, 2c + 9) interleaved: [r.b0, r'.b0, r.b1, r'.b1].
        const uint32_t selector = ((odd ? g : g + 1) & 1) ? 0x7362u : 0x5140u;
        const uint32_t x01 = __byte_perm(odd ? rows[0].odd : rows[0].even, odd ? rows[1].odd : rows[1].even, selector);
        const uint32_t x89 = __byte_perm(odd ? rows[2].odd : rows[2].even, odd ? rows[3].odd : rows[3].even, selector);
        constexpr uint32_t kLow = 0x0f0f0f0fu, kHigh = 0xf0f0f0f0u;
        constexpr uint32_t kLowExponents = 0x64646464u, kHighExponents = 0x54545454u;
        constexpr uint32_t kLowBias = 0x64086408u, kHighBias = 0x54805480u;  // fp16 pairs 1032 and 72
        a0[0] = levels(x01 & kLow, kLowExponents, 0x4140u, kLowBias);
        a0[1] = levels(x01 & kLow, kLowExponents, 0x4342u, kLowBias);
        a0[2] = levels(x89 & kLow, kLowExponents, 0x4140u, kLowBias);
        a0[3] = levels(x89 & kLow, kLowExponents, 0x4342u, kLowBias);
        a1[0] = levels(x01 & kHigh, kHighExponents, 0x4140u, kHighBias);
        a1[1] = levels(x01 & kHigh, kHighExponents, 0x4342u, kHighBias);
        a1[2] = levels(x89 & kHigh, kHighExponents, 0x4140u, kHighBias);
        a1[3] = levels(x89 & kHigh, kHighExponents, 0x4342u, kHighBias);
    }

    __device__ static int dim(int j, int h, int g, int e) { return 32 * j + 16 * h + 2 * g + e; }
};

// cp.async of a row segment's CHUNKS chunks of CHUNK bytes: this lane's are first, first + 2, ...
template <int CHUNK, int CHUNKS>
__device__ __forceinline__ void copy_segment(uint32_t dst, const uint8_t* src, bool valid, int first) {
#pragma unroll
    for (int i = 0; i < (CHUNKS + 1) / 2; ++i) {
        const int chunk = first + 2 * i;
        if (chunk < CHUNKS) tc::copy_async<CHUNK>(dst + chunk * CHUNK, src + chunk * CHUNK, valid);
    }
}

using tc::commit_copies;
using tc::wait_all_copies;
using tc::wait_copies_but_one;

template <int D, GgmlType VALUES>
__device__ __forceinline__ void split_rows_mma(const float* __restrict__ q, const uint8_t* __restrict__ k_cache,
                                               const uint8_t* __restrict__ v_cache, const SplitArgs& args,
                                               float* __restrict__ partial_acc, float2* __restrict__ partial_max_sum,
                                               int t, int kv_head, int part, int64_t last, int64_t row_lo,
                                               int n_rows, bool early) {
    using Values = MmaValues<D, VALUES>;
    constexpr int kPairs = D / 64;
    constexpr int kBlocks = D / 32;
    constexpr int kMTiles = D / 16;
    constexpr int kKeyWords = kPairs * 17;  // a KV head's part of a K row: 68 or 136 bytes
    constexpr int kKeyChunk = D == 128 ? 8 : 4;  // bytes per cp.async (the segment's alignment)
    constexpr int kValueWords = kPairs * Values::kPairWords;
    // Per warp, two stages of a tile's K and V segments; after the row loop the same memory holds the warps' states.
    // Rows in a stage: padded so that each shared-memory read of the loop below hits 32 different banks (K: rows g
    // and g + 8 at words c and c + 4, a stride of 20 or 44 = 20 or 12 mod 32; V: rows 2c .. 2c + 9 at the words of
    // slot g, 20 or 44 for Q8_0, 12 or 20 for Q4_0). Unpadded (17 / 34 words) the Llama-3-8B shape took 11.57
    // against 11.29 us per layer at 4,096 rows with a Q8_0 cache, TinyLlama's no different.
    constexpr int kKeyStride = D == 128 ? 44 : 20;
    constexpr int kValueStride = VALUES == GgmlType::Q8_0 ? kKeyStride : (D == 128 ? 20 : 12);
    static_assert(kKeyStride >= kKeyWords && kValueStride >= kValueWords, "a stage row holds its segment");
    constexpr int kValueTileWords = kTileRows * kKeyStride;  // where a stage's V rows start
    constexpr int kStageWords = kValueTileWords + kTileRows * kValueStride;
    constexpr int kStagingWords = kSplitWarps * 2 * kStageWords;
    constexpr int kStateWords = kSplitWarps * kMaxMmaQueries * D;
    __shared__ __align__(16) uint32_t smem[kStagingWords > kStateWords ? kStagingWords : kStateWords];
    __shared__ float max_s[kSplitWarps][kMaxMmaQueries], sum_s[kSplitWarps][kMaxMmaQueries];
    auto& acc_s = *reinterpret_cast<float(*)[kSplitWarps][kMaxMmaQueries][D]>(smem);
    const Shape& s = args.shape;
    const int head0 = kv_head * s.group;
    const int n_q = s.group;  // <= kMaxMmaQueries (make_plan)
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, c = lane & 3;  // the mma fragments' row group and column pair
    const auto k_row_bytes = static_cast<int64_t>(s.row_bytes);
    // One type for both halves: one stride (as the float32 split kernel, attention_split.cu).
    const auto v_row_bytes = static_cast<int64_t>(VALUES == GgmlType::Q8_0 ? s.row_bytes : s.v_row_bytes);
    const uint8_t* k_rows = k_cache + row_lo * k_row_bytes + static_cast<int64_t>(kv_head) * kKeyWords * 4;
    const uint8_t* v_rows = v_cache + row_lo * v_row_bytes + static_cast<int64_t>(kv_head) * kValueWords * 4;

    float m_run = -INFINITY, l_run = 0.0f;  // query head g; l_run is this lane's part of the sum
    float acc[kMTiles][4];
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) acc[mt][0] = acc[mt][1] = acc[mt][2] = acc[mt][3] = 0.0f;

    // Each tile's K and V segments are copied into this warp's shared memory by cp.async one tile ahead: register
    // loads issued at the tile's start (or half a tile ahead, holding 186 registers) left the warps waiting on them
    // (8 of 13 cycles per instruction at 156 registers: 46 us per 7B layer at 4,096 rows). Lane l copies the chunks
    // l & 1, (l & 1) + 2, .. of row l >> 1 of K and of V; rows past the part are zero-filled.
    uint32_t* stages = smem + warp * 2 * kStageWords;
    const int copy_row = lane >> 1, copy_first = lane & 1;
    const int own = static_cast<int>(last - row_lo);  // >= n_rows when the row is in a later part
    auto copy_tile = [&](int r0, uint32_t* stage, CopyPass pass = CopyPass::all) {
        const int r = r0 + copy_row;
        const bool valid = r < n_rows;
        const int64_t row = valid ? r : 0;
        // Whether `pass` takes this row's half of row_bytes (the halves' rows may differ in size).
        auto wanted = [&](int64_t row_bytes) {
            return copied_in(pass, valid && near_own_row(r, own, row_bytes));
        };
        if (wanted(k_row_bytes)) {
            copy_segment<kKeyChunk, kKeyWords * 4 / kKeyChunk>(
                tc::shared_address(stage + copy_row * kKeyStride), k_rows + row * k_row_bytes, valid, copy_first);
        }
        if (wanted(v_row_bytes)) {
            copy_segment<Values::kChunk, Values::kChunks>(
                tc::shared_address(stage + kValueTileWords + copy_row * kValueStride), v_rows + row * v_row_bytes,
                valid, copy_first);
        }
    };

    const int n_tiles = (n_rows + kTileRows - 1) / kTileRows;
    if (early) {
        // The first tile's older rows before the wait (ops_common.cuh, the early-read exception, as the float32
        // split kernel does), the rest after it; one group, committed below.
        if (warp < n_tiles) copy_tile(warp * kTileRows, stages, CopyPass::before_wait);
        ops::wait_for_producers();
        if (warp < n_tiles) copy_tile(warp * kTileRows, stages, CopyPass::after_wait);
    } else if (warp < n_tiles) {
        copy_tile(warp * kTileRows, stages);
    }
    commit_copies();
    // Past the wait: the combine's blocks may be scheduled now (as the float32 split kernel).
    ops::allow_dependents();

    // q of query head g as the A fragment of each block's two k-steps (slots c and c + 4), rounded to fp16, and
    // -1152 times the sum of those fp16 values over each block (the bias of the K quants' fp16 form). (Rounded once
    // per block into shared memory instead, the Llama-3-8B shape took 5.68 instead of 6.00 us per layer at 128 rows
    // but 13.34 instead of 12.09 at 4,096: 144 registers and another schedule of the row loop.)
    uint32_t qa[kBlocks][2][2];
    float bias[kBlocks];
    {
        const bool has_q = g < n_q;
        const float* qg = q + (static_cast<int64_t>(t) * s.n_head + head0 + (has_q ? g : 0)) * D;
#pragma unroll
        for (int j = 0; j < kBlocks; ++j) {
            float sum = 0.0f;
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                float v[4];
#pragma unroll
                for (int b = 0; b < 4; ++b) {
                    const float x = has_q ? qg[32 * j + slot_dim(j & 1, c + 4 * h, b)] * s.scale : 0.0f;
                    v[b] = __half2float(__float2half_rn(x));
                    sum += v[b];
                }
                qa[j][h][0] = pack_half2(v[0], v[1]);
                qa[j][h][1] = pack_half2(v[2], v[3]);
            }
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            sum += __shfl_xor_sync(0xffffffffu, sum, 2);
            bias[j] = -1152.0f * sum;
        }
    }

    int stage_index = 0;
    for (int tile = warp; tile < n_tiles; tile += kSplitWarps) {  // warp-uniform bound: shuffles run converged
        const int r0 = tile * kTileRows;
        if (tile + kSplitWarps < n_tiles)
            copy_tile(r0 + kSplitWarps * kTileRows, stages + (stage_index ^ 1) * kStageWords);
        commit_copies();  // empty past the last tile, so that the wait below always leaves exactly one pending
        wait_copies_but_one();
        __syncwarp();
        const uint32_t* k_stage = stages + stage_index * kStageWords;
        const uint32_t* v_stage = k_stage + kValueTileWords;
        // K: rows g and g + 8 of the tile (the B fragments of its two 8-row halves), slots c and c + 4. V: rows 2c,
        // 2c + 1, 2c + 8, 2c + 9 (the A fragments' k columns), slot g.
        PairSlot k_lo[2][kPairs], k_hi[2][kPairs], vs[4][kPairs];
#pragma unroll
        for (int half = 0; half < 2; ++half) {
#pragma unroll
            for (int p = 0; p < kPairs; ++p) {
                const uint32_t* pair = k_stage + (g + 8 * half) * kKeyStride + 17 * p;
                k_lo[half][p] = pair_slot(pair, c);
                k_hi[half][p] = pair_slot(pair, c + 4);
            }
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int row = 2 * c + (i & 1) + 8 * (i >> 1);
#pragma unroll
            for (int p = 0; p < kPairs; ++p)
                vs[i][p] = Values::read(v_stage + row * kValueStride + Values::kPairWords * p, g);
        }
        // Scores of query head g for rows 2c, 2c + 1 (half 0) and 2c + 8, 2c + 9 (half 1).
        float score[4];
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
            for (int p = 0; p < kPairs; ++p) {
                // Rows 2c and 2c + 1 of this half were loaded by lanes 8c and 8c + 4.
                const uint32_t scales0 = __shfl_sync(0xffffffffu, k_lo[half][p].scales, 8 * c);
                const uint32_t scales1 = __shfl_sync(0xffffffffu, k_lo[half][p].scales, 8 * c + 4);
#pragma unroll
                for (int odd = 0; odd < 2; ++odd) {
                    const int j = 2 * p + odd;
                    float cj[4] = {bias[j], bias[j], 0.0f, 0.0f};
#pragma unroll
                    for (int h = 0; h < 2; ++h) {
                        const PairSlot& w = h == 0 ? k_lo[half][p] : k_hi[half][p];
                        const uint32_t x = (odd ? w.odd : w.even) ^ kSignBits;
                        const uint32_t a[4] = {qa[j][h][0], 0u, qa[j][h][1], 0u};
                        tc::mma_16x8x16(cj, a, biased_pair(x, 0x4140u), biased_pair(x, 0x4342u));
                    }
                    s0 = fmaf(scale_of(scales0, odd), cj[0], s0);
                    s1 = fmaf(scale_of(scales1, odd), cj[1], s1);
                }
            }
            score[2 * half] = r0 + 2 * c + 8 * half < n_rows ? s0 : -INFINITY;
            score[2 * half + 1] = r0 + 2 * c + 1 + 8 * half < n_rows ? s1 : -INFINITY;
        }

        // Online softmax for query head g over the tile (row 0 of a tile is always attended: m_new is finite).
        float tile_max = fmaxf(fmaxf(score[0], score[1]), fmaxf(score[2], score[3]));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
        const float m_new = fmaxf(m_run, tile_max);
        const float alpha = rescale(m_run, m_new);
        float prob[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) prob[i] = expf(score[i] - m_new);
        l_run = l_run * alpha + ((prob[0] + prob[1]) + (prob[2] + prob[3]));
        m_run = m_new;
        // The accumulators hold query heads 2c and 2c + 1, whose factors lanes 8c and 8c + 4 computed.
        const float alpha0 = __shfl_sync(0xffffffffu, alpha, 8 * c);
        const float alpha1 = __shfl_sync(0xffffffffu, alpha, 8 * c + 4);
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
            acc[mt][0] *= alpha0;
            acc[mt][1] *= alpha1;
            acc[mt][2] *= alpha0;
            acc[mt][3] *= alpha1;
        }

        // out^T += V^T P^T per block: A = V^T (16 dims x 16 rows), B = the probabilities times the rows' scales.
#pragma unroll
        for (int p = 0; p < kPairs; ++p) {
#pragma unroll
            for (int odd = 0; odd < 2; ++odd) {
                const int j = 2 * p + odd;
                const uint32_t b0 = pack_half2(prob[0] * scale_of(vs[0][p].scales, odd),
                                               prob[1] * scale_of(vs[1][p].scales, odd));
                const uint32_t b1 = pack_half2(prob[2] * scale_of(vs[2][p].scales, odd),
                                               prob[3] * scale_of(vs[3][p].scales, odd));
                const PairSlot rows[4] = {vs[0][p], vs[1][p], vs[2][p], vs[3][p]};
                uint32_t a0[4], a1[4];
                Values::fragments(rows, odd, g, a0, a1);
                tc::mma_16x8x16(acc[2 * j], a0, b0, b1);
                tc::mma_16x8x16(acc[2 * j + 1], a1, b0, b1);
            }
        }
        __syncwarp();  // every lane has read this stage before the next tile's copies overwrite it
        stage_index ^= 1;
    }
    wait_all_copies();
    __syncthreads();  // the warps' states overwrite the staging memory

    // This warp's state: the sum over the lanes of query head g; the accumulators of query heads 2c, 2c + 1 at the
    // dims of m-tile mt's rows g and g + 8.
    l_run += __shfl_xor_sync(0xffffffffu, l_run, 1);
    l_run += __shfl_xor_sync(0xffffffffu, l_run, 2);
    if (c == 0 && g < n_q) {
        max_s[warp][g] = m_run;
        sum_s[warp][g] = l_run;
    }
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
        const int j = mt / 2, h = mt % 2;
#pragma unroll
        for (int e = 0; e < 2; ++e) {
            const int d = Values::dim(j, h, g, e);
            if (2 * c < n_q) acc_s[warp][2 * c][d] = acc[mt][2 * e];
            if (2 * c + 1 < n_q) acc_s[warp][2 * c + 1][d] = acc[mt][2 * e + 1];
        }
    }
    __syncthreads();
    const int64_t part0 = (static_cast<int64_t>(t) * s.n_head + head0) * args.parts.grid + part;
    write_block_partials(acc_s, max_s, sum_s, n_q, D, part0, args.parts.grid, partial_acc, partial_max_sum);
}

#endif  // __CUDA_ARCH__ >= 800

template <int D, GgmlType VALUES>
__global__ void __launch_bounds__(kSplitThreads)
    attention_split_mma_kernel(const float* __restrict__ q,             // [n_tokens, n_head, head_dim]
                               const uint8_t* __restrict__ k_cache,     // [n_ctx][row_bytes], Q8_0
                               const uint8_t* __restrict__ v_cache,     // [n_ctx][v_row_bytes], VALUES
                               const int32_t* __restrict__ positions,   // [n_tokens]
                               SplitArgs args,
                               float* __restrict__ partial_acc,         // [n_tokens, n_head, grid_parts, head_dim]
                               float2* __restrict__ partial_max_sum) {  // [n_tokens, n_head, grid_parts]
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    // Launched with PDL: q and the token's own cache row come from the kernels just ahead. With one token the
    // position is read and the first tile's older rows are copied before the wait (split_rows_mma).
    const bool early = gridDim.z == 1;
    if (!early) ops::wait_for_producers();
    const int t = blockIdx.z;
    int64_t first, last;
    attended_rows(positions[t], args.shape.window, &first, &last);
    const int64_t n_attended = last - first + 1;
    const int n_parts = split_parts(n_attended, args.parts);
    // The grid is (KV head, part, token): blocks start in the order of their linear index, so the blocks in use at
    // this position come first and spread evenly over the SMs, however much of the grid they are. (Parts along x
    // left the used blocks of each KV head in runs: TinyLlama at 4,096 rows on a grid of 128 parts, half in use,
    // took 7.97 us per layer against 6.59 on a grid of 64.)
    const int kv_head = blockIdx.x, part = blockIdx.y;
    if (part >= n_parts) {  // whole block: not needed at this position
        if (early) ops::wait_for_producers();
        return;
    }
    const int64_t row_lo = first + part * n_attended / n_parts;
    const int n_rows = static_cast<int>(first + (part + 1) * n_attended / n_parts - row_lo);
    split_rows_mma<D, VALUES>(q, k_cache, v_cache, args, partial_acc, partial_max_sum, t, kv_head, part, last, row_lo,
                              n_rows, early);
#endif
}

template <int D>
bool built_for_head_dim() {
    cudaFuncAttributes attributes{};
    SPOOL_CUDA_CHECK(cudaFuncGetAttributes(&attributes, attention_split_mma_kernel<D, GgmlType::Q8_0>));
    return attributes.ptxVersion >= 80;
}

// Holds `kernel` to at most `blocks` resident blocks per SM by asking for a shared-memory carveout that fits only
// that many of its blocks (a hint: the driver takes the next configuration up, 64 KB for 3 blocks of either head_dim
// 64 instance on an H100, where 4 would need 69 or 85 KB).
template <class Kernel>
void prefer_blocks_per_sm(Kernel kernel, int blocks) {
    cudaFuncAttributes attributes{};
    SPOOL_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel));
    int device = 0, per_sm = 0, reserved = 0;
    SPOOL_CUDA_CHECK(cudaGetDevice(&device));
    SPOOL_CUDA_CHECK(cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device));
    SPOOL_CUDA_CHECK(cudaDeviceGetAttribute(&reserved, cudaDevAttrReservedSharedMemoryPerBlock, device));
    const int64_t needed = static_cast<int64_t>(blocks) * static_cast<int64_t>(attributes.sharedSizeBytes + reserved);
    const int64_t percent = per_sm > 0 ? std::min<int64_t>(100, (100 * needed + per_sm - 1) / per_sm) : 100;
    SPOOL_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, static_cast<int>(percent)));
}

template <int D, GgmlType VALUES>
void launch_for_head_dim(const Plan& plan, const SplitArgs& args, const float* q, const KvView& cache,
                         const int32_t* positions, int64_t n_tokens, float* partial_acc, float2* partial_max_sum,
                         cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(plan.shape.n_head_kv), static_cast<unsigned>(plan.parts.grid),
                    static_cast<unsigned>(n_tokens));
    if constexpr (D == 64) prefer_blocks_per_sm(attention_split_mma_kernel<D, VALUES>, kMmaBlocksPerSm64);
    ops::launch_pdl(attention_split_mma_kernel<D, VALUES>, grid, dim3(kSplitThreads), 0, stream, q,
                    static_cast<const uint8_t*>(cache.k), static_cast<const uint8_t*>(cache.v), positions, args,
                    partial_acc, partial_max_sum);
}

}  // namespace

bool split_mma_built(int head_dim) { return head_dim == 64 ? built_for_head_dim<64>() : built_for_head_dim<128>(); }

void launch_split_mma(const Plan& plan, const SplitArgs& args, const float* q, const KvView& cache,
                      const int32_t* positions, int64_t n_tokens, float* partial_acc, float2* partial_max_sum,
                      cudaStream_t stream) {
    auto launch = [&](auto values) {
        constexpr GgmlType kValues = decltype(values)::value;
        if (plan.shape.head_dim == 64)
            launch_for_head_dim<64, kValues>(plan, args, q, cache, positions, n_tokens, partial_acc, partial_max_sum,
                                             stream);
        else
            launch_for_head_dim<128, kValues>(plan, args, q, cache, positions, n_tokens, partial_acc, partial_max_sum,
                                              stream);
    };
    if (plan.v_type == GgmlType::Q4_0)
        launch(std::integral_constant<GgmlType, GgmlType::Q4_0>{});
    else
        launch(std::integral_constant<GgmlType, GgmlType::Q8_0>{});
}

}  // namespace spool::cuda::attn

namespace spool::cuda {

bool attention_split_uses_half_products(GgmlType k_type, GgmlType v_type, const AttentionParams& params) {
    // Q8_0 keys, and Q8_0 or Q4_0 values (MmaValues).
    return k_type == GgmlType::Q8_0 && (v_type == GgmlType::Q8_0 || v_type == GgmlType::Q4_0) &&
           (params.head_dim == 64 || params.head_dim == 128) &&
           params.n_head_kv > 0 && params.n_head % params.n_head_kv == 0 &&
           params.n_head / params.n_head_kv >= 2 && params.n_head / params.n_head_kv <= attn::kMaxMmaQueries;
}

}  // namespace spool::cuda
