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

#include <cstdint>

namespace spool::cpu {
namespace {

constexpr int kAmxTileTokens = 16;  // rows of the A and C tiles
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

}  // namespace
}  // namespace spool::cpu
