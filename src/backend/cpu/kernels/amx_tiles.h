// The AMX tile setup shared by the gemm_*_amx.cpp kernels. Include only from files built with -mamx-tile
// -mamx-int8; internal linkage.
//
// Tile numbers are literals at each use (GCC's intrinsics paste them into the instruction text). The kernels use
//   tmm0, tmm1: C, 16 tokens x 16 weight rows of int32 (one per block or sub-block in flight);
//   tmm2, tmm3: A, 16 tokens x k_bytes activation bytes;
//   tmm4, tmm5: B, k_bytes / 4 rows x 64 bytes: row j holds elements 4j..4j+3 of weight row r at bytes 4r..4r+3
//   (the layout of the AVX-512 kernels' panels).
// Two sets, so that the next product runs while the vector units scale the previous one.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels/dispatch.h"

namespace spool::cpu {
namespace {

constexpr int kAmxTileTokens = static_cast<int>(kPackedTileTokens);  // rows of the A and C tiles
constexpr int kAmxTileRows = 16;    // weight rows per panel: the C tile's 16 int32 columns
// Fewer tokens leave most of a tile empty: the kernels hand them to the AVX-512 ones (same results). Device Xeon,
// one core, legacy types at 2048 columns: at 8 tokens amx ran 0.94x avx512 (Q4_0 51 vs 55 GMAC/s), at 16 1.34-1.47x.
constexpr int64_t kAmxMinTokens = 12;

// LDTILECFG's 64-byte operand, palette 1 (Intel SDM vol. 2B, "LDTILECFG").
struct alignas(64) AmxTileConfig {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];  // bytes per row of tile i
    uint8_t rows[16];
};
static_assert(sizeof(AmxTileConfig) == 64);

// Configures the tiles above for products over k_bytes activation bytes (a multiple of 4, at most 64).
inline void configure_amx_tiles(int k_bytes) {
    AmxTileConfig cfg{};
    cfg.palette_id = 1;
    for (int set = 0; set < 2; ++set) {
        cfg.rows[0 + set] = kAmxTileTokens, cfg.colsb[0 + set] = kAmxTileRows * 4;
        cfg.rows[2 + set] = kAmxTileTokens, cfg.colsb[2 + set] = static_cast<uint16_t>(k_bytes);
        cfg.rows[4 + set] = static_cast<uint8_t>(k_bytes / 4), cfg.colsb[4 + set] = kAmxTileRows * 4;
    }
    // GCC's _tile_loadconfig tells the compiler it reads 8 bytes: make the whole struct's stores happen first.
    asm volatile("" : : "r"(&cfg) : "memory");
    _tile_loadconfig(&cfg);
}

inline uintptr_t align_64(uintptr_t p) { return (p + 63) & ~uintptr_t{63}; }

// The kernels store each block's (K-quants: sub-block's) tile product to a ring of kAmxResultRing int32 tiles and
// scale it kAmxScaleLag blocks later, so the vector loads of the stored sums do not wait on the store right before
// them (lags of 4 and 6 measured no faster than 2).
constexpr int kAmxScaleLag = 2;
constexpr int kAmxResultRing = 2 * kAmxScaleLag;

inline int64_t amx_token_tiles(int64_t n_tokens) { return (n_tokens + kAmxTileTokens - 1) / kAmxTileTokens; }

// Lines to bring into L2 while a kernel's block loop runs, a few per step: a burst of prefetches ahead of the loop
// stalls on the fill buffers instead.
struct L2Prefetch {
    const char* next;
    const char* end;
    int64_t per_step;  // lines per call of step()
    void step() {
        for (int64_t i = 0; i < per_step && next < end; ++i, next += 64) _mm_prefetch(next, _MM_HINT_T1);
    }
};

// Slice k of `slices` of the bytes [p, p + bytes), spread over `steps` calls of step().
inline L2Prefetch l2_prefetch_slice(const uint8_t* p, int64_t bytes, int64_t k, int64_t slices, int64_t steps) {
    const int64_t lines = (bytes + 63) / 64, per_slice = (lines + slices - 1) / slices;
    const int64_t first = per_slice * k < lines ? per_slice * k : lines;
    const int64_t last = per_slice * (k + 1) < lines ? per_slice * (k + 1) : lines;
    const auto* c = reinterpret_cast<const char*>(p);
    return {c + 64 * first, c + 64 * last, (per_slice + steps - 1) / steps};
}

// The loop around an AMX kernel K (gemm_legacy_amx.cpp, gemm_kquant_amx.cpp): every token's activations packed once
// into 16-token tiles (zeros past the last token), then per panel of 16 weight rows: pack it, dot it with each token
// tile. K provides kBlock (elements per weight block), kKBytes (the A tile's bytes per row), Panel and Acts (one
// block of a panel / of a token tile), extra_bytes(nb) (scratch for pack_acts after a tile's blocks), and
//   pack_acts(act, act_row_stride, n_tokens, nb, acts, extra): token t's block b into acts[(t / 16) * nb + b]
//   (row t % 16; the driver has zeroed the rows past n_tokens);
//   pack(rows, nb, panel): 16 row pointers (past the matrix's last row, copies of its first);
//   dot(panel, acts, nb, res, prefetch): res[m][r] = dot(panel row r, token m of the tile), calling
//   prefetch.step() kPrefetchSteps times per block.
//
// The packed activations (dispatch.h PackedGemm): one token tile per amx_tile_bytes, 64-byte aligned.
template <class K>
size_t amx_tile_bytes(int64_t nb) {
    const size_t bytes = sizeof(typename K::Acts) * static_cast<size_t>(nb) + K::extra_bytes(static_cast<size_t>(nb));
    return (bytes + 63) / 64 * 64;
}

template <class K>
size_t amx_packed_bytes(int64_t n, int64_t n_tokens) {
    if (n_tokens < kAmxMinTokens) return 0;  // the AVX-512 kernel takes so few tokens
    return amx_tile_bytes<K>(n / K::kBlock) * static_cast<size_t>(amx_token_tiles(n_tokens));
}

template <class K>
void amx_pack_acts(int64_t n, const void* act, size_t act_row_stride, int64_t n_tokens, int64_t tile_begin,
                   int64_t tile_end, void* packed) {
    using Acts = typename K::Acts;
    const int64_t nb = n / K::kBlock;
    for (int64_t j = tile_begin; j < tile_end; ++j) {
        auto* tile = reinterpret_cast<Acts*>(static_cast<uint8_t*>(packed) + amx_tile_bytes<K>(nb) * j);
        const int64_t t0 = j * kAmxTileTokens;
        const int64_t count = n_tokens - t0 < kAmxTileTokens ? n_tokens - t0 : kAmxTileTokens;
        // Tokens past n_tokens in the last tile are zeros: zero products and scales, never stored.
        if (count < kAmxTileTokens) std::memset(tile, 0, sizeof(Acts) * static_cast<size_t>(nb));
        K::pack_acts(static_cast<const uint8_t*>(act) + static_cast<size_t>(t0) * act_row_stride, act_row_stride,
                     count, nb, tile, tile + nb);
    }
}

template <class K>
size_t amx_panel_scratch(int64_t n) {
    return 64 + sizeof(typename K::Panel) * static_cast<size_t>(n / K::kBlock);
}

template <class K>
void amx_gemm_packed(int64_t n, const void* w, size_t w_row_stride, int64_t n_rows, const void* packed,
                     int64_t n_tokens, float* out, int64_t out_stride, void* scratch) {
    using Panel = typename K::Panel;
    using Acts = typename K::Acts;
    const int64_t nb = n / K::kBlock;
    const size_t tile_bytes = amx_tile_bytes<K>(nb);
    auto* panel = reinterpret_cast<Panel*>(align_64(reinterpret_cast<uintptr_t>(scratch)));
    const auto* w_bytes = static_cast<const uint8_t*>(w);
    const int64_t tiles = amx_token_tiles(n_tokens);
    configure_amx_tiles(K::kKBytes);
    for (int64_t r0 = 0; r0 < n_rows; r0 += kAmxTileRows) {
        const int valid = static_cast<int>(n_rows - r0 < kAmxTileRows ? n_rows - r0 : kAmxTileRows);
        const uint8_t* rows[kAmxTileRows];
        for (int r = 0; r < kAmxTileRows; ++r) rows[r] = w_bytes + (r0 + (r < valid ? r : 0)) * w_row_stride;
        K::pack(rows, nb, panel);
        // The tile loads are asm the compiler does not see read memory: the packed bytes must be stored first.
        asm volatile("" : : : "memory");
        const auto lanes = static_cast<__mmask16>((1u << valid) - 1);
        // The next panel's rows (contiguous in memory) come into L2 while the tiles work on this one, a slice per
        // token tile spread over its block loop, so packing them does not wait for DRAM (the weights' only read).
        const int64_t next_rows = n_rows - r0 - kAmxTileRows < kAmxTileRows ? n_rows - r0 - kAmxTileRows : kAmxTileRows;
        const int64_t next_bytes = next_rows > 0 ? next_rows * static_cast<int64_t>(w_row_stride) : 0;
        for (int64_t k = 0; k < tiles; ++k) {
            const int64_t t0 = k * kAmxTileTokens;
            L2Prefetch prefetch = l2_prefetch_slice(w_bytes + (r0 + kAmxTileRows) * w_row_stride, next_bytes, k, tiles,
                                                    nb * K::kPrefetchSteps);
            alignas(64) float res[kAmxTileTokens][kAmxTileRows];
            const auto* acts = reinterpret_cast<const Acts*>(static_cast<const uint8_t*>(packed) +
                                                             tile_bytes * static_cast<size_t>(k));
            K::dot(panel, acts, nb, res, prefetch);
            const int64_t count = n_tokens - t0 < kAmxTileTokens ? n_tokens - t0 : kAmxTileTokens;
            for (int64_t m = 0; m < count; ++m) {
                _mm512_mask_storeu_ps(out + (t0 + m) * out_stride + r0, lanes, _mm512_load_ps(res[m]));
            }
        }
    }
    _tile_release();
}

// GemmFn's form: the activations packed into the scratch after the panel, then amx_gemm_packed.
template <class K>
size_t amx_gemm_scratch(int64_t n, int64_t n_tokens) {
    return amx_panel_scratch<K>(n) + 64 + amx_packed_bytes<K>(n, n_tokens);
}

template <class K>
void amx_gemm(int64_t n, const void* w, size_t w_row_stride, int64_t n_rows, const void* act, size_t act_row_stride,
              int64_t n_tokens, float* out, int64_t out_stride, void* scratch) {
    void* packed = reinterpret_cast<void*>(
        align_64(reinterpret_cast<uintptr_t>(static_cast<uint8_t*>(scratch) + amx_panel_scratch<K>(n))));
    amx_pack_acts<K>(n, act, act_row_stride, n_tokens, 0, amx_token_tiles(n_tokens), packed);
    amx_gemm_packed<K>(n, w, w_row_stride, n_rows, packed, n_tokens, out, out_stride, scratch);
}

// The amx entry points of weight type t (dispatch.h GemmFn and its scratch size): the tile kernel K from
// kAmxMinTokens tokens, the AVX-512 kernel (same results) below; the scratch fits either. And its PackedGemm.
#define SPOOL_AMX_GEMM(t, K)                                                                                    \
    void gemm_##t##_amx(int64_t n, const void* w, size_t ws, int64_t n_rows, const void* act, size_t as,       \
                        int64_t n_tokens, float* out, int64_t os, void* scratch) {                              \
        if (n_tokens < kAmxMinTokens) {                                                                         \
            gemm_##t##_avx512(n, w, ws, n_rows, act, as, n_tokens, out, os, scratch);                           \
        } else {                                                                                                \
            amx_gemm<K>(n, w, ws, n_rows, act, as, n_tokens, out, os, scratch);                                 \
        }                                                                                                       \
    }                                                                                                           \
    size_t gemm_scratch_##t##_amx(int64_t n, int64_t n_tokens) {                                               \
        const size_t avx512 = gemm_scratch_##t##_avx512(n, n_tokens), amx = amx_gemm_scratch<K>(n, n_tokens);  \
        return avx512 > amx ? avx512 : amx;                                                                     \
    }                                                                                                           \
    extern const PackedGemm packed_gemm_##t##_amx{amx_packed_bytes<K>, amx_pack_acts<K>, amx_gemm_packed<K>,   \
                                                  amx_panel_scratch<K>};

}  // namespace
}  // namespace spool::cpu
