// The split path's wide forms for a Q4_0 or Q8_0 cache (or Q8_0 keys with Q4_0 values) with one query head per KV head
// and head_dim 128 or 256 (Plan::wide_rows, MHA shapes such as Llama-2-7B): each warp's K and V rows are copied into
// shared memory by cp.async, one or two steps ahead, and each lane reads one whole block of a row (18 or 34 bytes) of
// each from there. Included by attention_split.cu, whose kernel picks it for blocks of kWideMinRows rows or more.
//
// Why staged: with each lane loading its own part of a row from global memory, a warp's load touched 4-8 rows (4-8
// lines of L1) for 16 bytes each, and the L1 data pipe was the limit: ncu, 7B heads at 4,096 rows (H100), 2.38 M L1
// wavefronts and 74% of L1 throughput for the Q4_0 cache's 18.9 MB (Q8_0: 2.32 M, 59%, 35.7 MB), against 0.98 M for
// the F16 kernel's 67 MB. A cp.async of 32 lanes copies 256 bytes of two to four rows, and the shared-memory reads
// below are free of bank conflicts. Q4_0 (v45): 1.37 M wavefronts, 44% of L1 throughput, 15.2 -> 14.3 us per layer,
// then bound by its instructions (57% of issue slots busy). Q8_0 (v46): 20.4 -> 18.4 us per layer; end to end
// (7B Q4_K_M after a 3,968-token prompt) 2,547 -> 2,499 us per decode step.
#pragma once

#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/attention_split_blocks.cuh"
#include "backend/cuda/kernels/attention_split_wide.cuh"
#include "backend/cuda/kernels/mma_sm80.cuh"
#include "backend/cuda/kernels/ops_common.cuh"

namespace spool::cuda::attn {

// Where a warp's rows sit in its shared memory: one tile per step (kRows rows of a KV head's segment for K, then the
// same for V). A lane takes one block (BLOCK_BYTES: 18 for Q4_0, 34 for Q8_0) of a row; PAD_WORDS of padding after
// every PAD_EVERY words place the first words of the warp's 32 blocks in 32 different banks.
template <int BLOCK_BYTES, int PAD_WORDS, int PAD_EVERY, int D_MAX>
struct StagedTile {
    static_assert(D_MAX % 128 == 0, "segments of a multiple of 8 bytes, so that cp.async copies 8-byte chunks");
    static constexpr int kLanes = D_MAX / 32;                    // one lane per 32-element block
    static constexpr int kRows = 32 / kLanes;                    // rows per warp and step
    static constexpr int kSegmentBytes = kLanes * BLOCK_BYTES;   // a KV head's part of a row
    static constexpr int kSegmentWords = kSegmentBytes / 4;
    static constexpr int kChunks = kSegmentBytes / 8;            // cp.async copies per segment
    static constexpr int kTileChunks = kRows * kChunks;
    static constexpr int kCopiesPerLane = (kTileChunks + 31) / 32;
    __host__ __device__ static constexpr int row_word(int r) {
        return r * kSegmentWords + PAD_WORDS * (r * kSegmentWords / PAD_EVERY);
    }
    // The word holding the start of block li of a row (its scale; an odd block starts 2 bytes into it).
    __host__ __device__ static constexpr int lane_word(int li) { return BLOCK_BYTES * li / 4; }
    static constexpr int kTileWords = row_word(kRows - 1) + kSegmentWords;
    // Whether the words a warp reads at once (word j of each lane's block: row_word(row) + lane_word(li) + j) fall in
    // 32 different banks.
    static constexpr bool reads_free_of_bank_conflicts() {
        uint32_t banks = 0;
        for (int row = 0; row < kRows; ++row) {
            for (int li = 0; li < kLanes; ++li) banks |= 1u << ((row_word(row) + lane_word(li)) % 32);
        }
        return banks == 0xffffffffu;
    }
};
// Q4_0: rows 72 (head_dim 128) or 144 bytes apart, 16 bytes of padding after every 144.
template <int D_MAX>
using StagedQ4Tile = StagedTile<18, 4, 36, D_MAX>;
// Q8_0: rows 136 or 272 bytes apart, 32 bytes of padding after every 544 (no layout of rows at 8-byte boundaries is
// free of conflicts for lanes of half a block, WideQ8's split: hence a whole block per lane here).
template <int D_MAX>
using StagedQ8Tile = StagedTile<34, 8, 136, D_MAX>;
static_assert(StagedQ4Tile<128>::reads_free_of_bank_conflicts() && StagedQ4Tile<256>::reads_free_of_bank_conflicts());
static_assert(StagedQ8Tile<128>::reads_free_of_bank_conflicts() && StagedQ8Tile<256>::reads_free_of_bank_conflicts());

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800

// One block of a Q4_0 or Q8_0 row read from shared memory: words w[0..N_WORDS - 1] start at the word holding the
// block's scale; an odd block (li odd: 18 li and 34 li are then 2 mod 4) starts 2 bytes into that word, so its scale
// is the word's high half and its quants the following words.
template <int N_WORDS>
struct RawStaged {
    uint32_t w[N_WORDS];
    uint32_t selector;  // 0x5432: quants 2 bytes into w[j] (even block); 0x7654: w[j + 1] (odd)
    int shift;          // the scale's bits in w[0]: 0 or 16
    __device__ __forceinline__ void set_block(int li) {
        selector = li & 1 ? 0x7654u : 0x5432u;
        shift = (li & 1) * 16;
    }
    __device__ __forceinline__ void load(const uint32_t* words) {
#pragma unroll
        for (int i = 0; i < N_WORDS; ++i) w[i] = words[i];
    }
    __device__ __forceinline__ uint32_t quants(int j) const { return __byte_perm(w[j], w[j + 1], selector); }
    __device__ __forceinline__ float scale() const {
        return __half2float(__ushort_as_half(static_cast<unsigned short>(w[0] >> shift)));
    }
};

// The staged form of one half's cache type: its tile, its arithmetic and its block words (the 16 or 32 quant bytes,
// the scale and the 2-byte shift of an odd block).
template <GgmlType TYPE, int D_MAX>
struct StagedHalf;
template <int D_MAX>
struct StagedHalf<GgmlType::Q4_0, D_MAX> {
    using Tile = StagedQ4Tile<D_MAX>;
    using Form = WideQ4;
    using Raw = RawStaged<5>;
};
template <int D_MAX>
struct StagedHalf<GgmlType::Q8_0, D_MAX> {
    using Tile = StagedQ8Tile<D_MAX>;
    using Form = WideQ8Block;
    using Raw = RawStaged<9>;
};

// Stages per warp: the step being computed and the copies of the next kDepth - 1 steps in flight. Q4_0 (H100, 7B heads
// at 4,096 rows): 2 stages 14.7 us per layer, 3 stages 14.3, 4 stages 14.65 (at 5 blocks per SM: 14.8, 14.6). Q8_0:
// two, for less shared memory per block (24 KB against 33 KB), so that the kernels after it find room on the SMs
// sooner (end to end, 7B Q4_K_M at depth 4096: 395.8 tok/s against 389.4 with 3 stages, both at 4 per SM).
__host__ __device__ constexpr int staged_depth(GgmlType k, GgmlType v) {
    return k == GgmlType::Q4_0 && v == GgmlType::Q4_0 ? 3 : 2;
}

// A stage holds a warp's K tile, then its V tile (the same rows); K and V of one type share one set of copies.
template <GgmlType K, GgmlType V, int D_MAX>
struct Staged {
    using KHalf = StagedHalf<K, D_MAX>;
    using VHalf = StagedHalf<V, D_MAX>;
    using Form = PairForm<typename KHalf::Form, typename VHalf::Form>;
    static constexpr int kDepth = staged_depth(K, V);
    static constexpr int kLanes = KHalf::Tile::kLanes;
    static constexpr int kRows = KHalf::Tile::kRows;
    static_assert(kLanes == VHalf::Tile::kLanes && kRows == VHalf::Tile::kRows, "one row per lane group in both");
    static constexpr int kVWord = KHalf::Tile::kTileWords;  // the V tile's first word in a stage
    static constexpr int kStageWords = kVWord + VHalf::Tile::kTileWords;
    static_assert(kVWord % 2 == 0 && kStageWords % 2 == 0, "tiles at 8-byte boundaries, for cp.async's 8-byte copies");
};

// A lane's cp.async copies of one tile: chunks lane, lane + 32, .. (chunk c: 8 bytes at 8 (c % kChunks) of row
// c / kChunks); their offsets and rows are the same in every step, so they are worked out once.
template <class Tile>
struct TileCopies {
    uint32_t src[Tile::kCopiesPerLane];  // from the tile's first row in the cache
    uint32_t dst[Tile::kCopiesPerLane];  // shared address in stage 0
    int row[Tile::kCopiesPerLane];       // from the tile's first row; past the tile's chunks, never copied
    __device__ __forceinline__ TileCopies(int lane, int64_t row_bytes, const uint32_t* tile) {
#pragma unroll
        for (int i = 0; i < Tile::kCopiesPerLane; ++i) {
            const int c = lane + 32 * i;
            const int r = c / Tile::kChunks, chunk = c - r * Tile::kChunks;
            row[i] = c < Tile::kTileChunks ? r : INT_MAX;
            src[i] = static_cast<uint32_t>(r * row_bytes + 8 * chunk);
            dst[i] = tc::shared_address(tile + Tile::row_word(r)) + 8 * chunk;
        }
    }
    // Copies the chunks of rows below rows_left from each of the N tiles at src_tiles[n] (rows row_bytes apart, as
    // the constructor's) into the stage dst_bytes[n] past stage 0's tile: the rows `pass` takes (CopyPass; `own`, the
    // token's row, in the tile's numbering).
    template <int N>
    __device__ __forceinline__ void issue(const uint8_t* const (&src_tiles)[N], const uint32_t (&dst_bytes)[N],
                                          int rows_left, CopyPass pass, int own, int64_t row_bytes) const {
#pragma unroll
        for (int i = 0; i < Tile::kCopiesPerLane; ++i) {
            if (row[i] >= rows_left) continue;
            if (!copied_in(pass, near_own_row(row[i], own, row_bytes))) continue;
#pragma unroll
            for (int n = 0; n < N; ++n) tc::copy_async<8>(dst[i] + dst_bytes[n], src_tiles[n] + src[i], true);
        }
    }
};

template <GgmlType K, GgmlType V, int D_MAX>
__device__ __forceinline__ void split_rows_staged(const float* __restrict__ q, const uint8_t* __restrict__ k_cache,
                                                  const uint8_t* __restrict__ v_cache, const SplitArgs& args,
                                                  float* __restrict__ partial_acc, float2* __restrict__ partial_max_sum,
                                                  int t, int64_t last, int64_t row_lo, int n_rows, bool early) {
    using S = Staged<K, V, D_MAX>;
    using KTile = typename S::KHalf::Tile;
    using VTile = typename S::VHalf::Tile;
    using Form = typename S::Form;
    constexpr bool kOneType = K == V;
    constexpr int kDepth = S::kDepth;
    constexpr int kRowGroups = kSplitWarps * S::kRows;
    __shared__ __align__(16) uint32_t stages_s[kSplitWarps][kDepth][S::kStageWords];
    const Shape& s = args.shape;
    const int kv_head = blockIdx.y, head = kv_head;  // one query head per KV head (Plan::wide_rows), one per block
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int sub = lane / S::kLanes, li = lane - sub * S::kLanes;  // row sub of each tile, block li
    const int64_t k_row_bytes = static_cast<int64_t>(s.row_bytes);
    const int64_t v_row_bytes = kOneType ? k_row_bytes : static_cast<int64_t>(s.v_row_bytes);
    const int64_t warp_row0 = row_lo + warp * S::kRows;  // this warp's rows: step * kRowGroups + 0 .. kRows - 1
    const uint8_t* k_tiles = k_cache + warp_row0 * k_row_bytes + kv_head * static_cast<int64_t>(KTile::kSegmentBytes);
    const uint8_t* v_tiles = v_cache + warp_row0 * v_row_bytes + kv_head * static_cast<int64_t>(VTile::kSegmentBytes);
    uint32_t* stages = &stages_s[warp][0][0];

    const TileCopies<KTile> k_copies(lane, k_row_bytes, stages);
    const TileCopies<VTile> v_copies(lane, v_row_bytes, stages + S::kVWord);  // unused for one type
    auto copy_tile = [&](int step, int stage, CopyPass pass) {
        const uint8_t* k_src = k_tiles + step * (kRowGroups * k_row_bytes);
        const uint8_t* v_src = v_tiles + step * (kRowGroups * v_row_bytes);
        const int first = step * kRowGroups + warp * S::kRows;  // the tile's first row, from row_lo
        const int own = static_cast<int>(last - row_lo) - first;  // in the tile's numbering
        const uint32_t stage_bytes = 4 * stage * S::kStageWords;
        if constexpr (kOneType) {
            k_copies.issue({k_src, v_src}, {stage_bytes, stage_bytes + 4 * S::kVWord}, n_rows - first, pass, own,
                           k_row_bytes);
        } else {
            k_copies.issue({k_src}, {stage_bytes}, n_rows - first, pass, own, k_row_bytes);
            v_copies.issue({v_src}, {stage_bytes}, n_rows - first, pass, own, v_row_bytes);
        }
    };
    const int n_steps = (n_rows + kRowGroups - 1) / kRowGroups;  // block-uniform
    // The first kDepth - 1 steps form one group, followed by empty groups, so that the loop's wait (all groups
    // but the newest kDepth - 2) always completes the step it reads.
    if (early) {
        for (int step = 0; step < kDepth - 1 && step < n_steps; ++step) copy_tile(step, step, CopyPass::before_wait);
        ops::wait_for_producers();
        for (int step = 0; step < kDepth - 1 && step < n_steps; ++step) copy_tile(step, step, CopyPass::after_wait);
    } else {
        for (int step = 0; step < kDepth - 1 && step < n_steps; ++step) copy_tile(step, step, CopyPass::all);
    }
#pragma unroll
    for (int i = 0; i < kDepth - 1; ++i) tc::commit_copies();
    ops::allow_dependents();  // as split_rows

    const int e0 = li * Form::kElements;  // head_dim == D_MAX (Plan::wide_rows), so every lane has a block
    typename Form::Query query;
    {
        const float* qh = q + (static_cast<int64_t>(t) * s.n_head + head) * s.head_dim + e0;
        float x[Form::kElements];
#pragma unroll
        for (int e = 0; e < Form::kElements; ++e) x[e] = qh[e] * s.scale;
        query = Form::round_query(x);
    }

    typename S::KHalf::Raw k_row;
    typename S::VHalf::Raw v_row;
    k_row.set_block(li);
    v_row.set_block(li);
    const int k_word = KTile::row_word(sub) + KTile::lane_word(li);
    const int v_word = S::kVWord + VTile::row_word(sub) + VTile::lane_word(li);
    float m[1] = {-INFINITY}, l[1] = {0.0f};
    typename Form::Acc acc{};
    int stage = 0;
    for (int step = 0; step < n_steps; ++step) {  // block-uniform bound: shuffles run converged
        tc::wait_copies_but<kDepth - 2>();
        __syncwarp();  // every lane's copies of this step have landed, and every lane is done with the last stage
        // The stage read at the last step takes the step kDepth - 1 ahead.
        if (step + kDepth - 1 < n_steps)
            copy_tile(step + kDepth - 1, stage == 0 ? kDepth - 1 : stage - 1, CopyPass::all);
        tc::commit_copies();
        const uint32_t* stage_words = stages + stage * S::kStageWords;
        k_row.load(stage_words + k_word);
        v_row.load(stage_words + v_word);
        stage = stage == kDepth - 1 ? 0 : stage + 1;

        const bool in_rows = step * kRowGroups + warp * S::kRows + sub < n_rows;
        wide_row_step<Form, S::kLanes>(k_row, v_row, query, in_rows, in_rows, m[0], l[0], acc);
    }
    acc.to_plain();
    finish_block<1, Form::kElements, S::kLanes, D_MAX>(m, l, acc.v, args, t, head, 1, e0, partial_acc,
                                                       partial_max_sum);
}

#endif  // __CUDA_ARCH__ >= 800

}  // namespace spool::cuda::attn
