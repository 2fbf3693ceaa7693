// Byte-permutation indices for the AVX-512 VBMI legacy kernels (matmul_legacy_avx512.cpp): where each byte of a
// group of blocks goes, computed at compile time from the block layouts. Pure data; no ISA code.
#pragma once

#include <cstdint>

namespace spool::cpu::legacy_groups {

// A vpermt2b index reads byte i (0..127) of a 128-byte window: two 64-byte loads. A plain aggregate rather than
// std::array: the AVX-512 file that uses it must not instantiate library member functions (their out-of-line
// copies, built with AVX-512 flags, could be the ones the linker keeps for other files).
struct Index {
    uint8_t at[64];
};

// Weights of a 4- or 5-bit type, 4 blocks per group of `block_bytes` each, quants (16 bytes) at qs_offset:
// vector byte 16b + k = qs byte k of block b (its low nibble is element k, its high nibble element 16 + k).
constexpr Index nibble_bytes(int block_bytes, int qs_offset) {
    Index idx{};
    for (int j = 0; j < 64; ++j) idx.at[j] = static_cast<uint8_t>((j / 16) * block_bytes + qs_offset + j % 16);
    return idx;
}

// fp16 fields at `offset` of each of `blocks` blocks, each repeated over the 16 / blocks int32 lanes its block
// occupies in the dot product: 16 half words (the low 32 bytes); the high 32 bytes do the same for offset2.
constexpr Index scale_pattern(int blocks, int block_bytes, int offset, int offset2) {
    Index idx{};
    for (int lane = 0; lane < 16; ++lane) {
        const int b = lane / (16 / blocks);
        for (int byte = 0; byte < 2; ++byte) {
            idx.at[2 * lane + byte] = static_cast<uint8_t>(b * block_bytes + offset + byte);
            idx.at[32 + 2 * lane + byte] = static_cast<uint8_t>(b * block_bytes + offset2 + byte);
        }
    }
    return idx;
}

// 5-bit types: vector byte 16b + k = the qh byte holding bit 4 of element k (half 0) or 16 + k (half 1).
constexpr Index high_bit_bytes(int block_bytes, int qh_offset, int half) {
    Index idx{};
    for (int j = 0; j < 64; ++j)
        idx.at[j] = static_cast<uint8_t>((j / 16) * block_bytes + qh_offset + 2 * half + (j % 16) / 8);
    return idx;
}

// Activation quants (Q8_0 / Q8_1, 32 bytes at qs_offset), 4 blocks: half 0 takes quants 0-15 of each block (read
// from a window at the group start), half 1 quants 16-31 (from a window starting window_shift bytes later).
constexpr Index act_bytes(int block_bytes, int qs_offset, int half, int window_shift) {
    Index idx{};
    for (int j = 0; j < 64; ++j) {
        idx.at[j] = static_cast<uint8_t>((j / 16) * block_bytes + qs_offset + 16 * half + j % 16 - window_shift);
    }
    return idx;
}

// 8-bit weights and activations, 2 blocks per group in natural order: byte 32b + k = quant k of block b.
constexpr Index q8_bytes(int block_bytes, int qs_offset) {
    Index idx{};
    for (int j = 0; j < 64; ++j) idx.at[j] = static_cast<uint8_t>((j / 32) * block_bytes + qs_offset + j % 32);
    return idx;
}

constexpr bool fits_window(const Index& idx) {
    for (uint8_t i : idx.at) {
        if (i >= 128) return false;
    }
    return true;
}

}  // namespace spool::cpu::legacy_groups
