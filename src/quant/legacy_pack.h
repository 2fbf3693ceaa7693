// Reading and writing legacy quant blocks: whole-block loads/stores and the 4-bit / 5-bit packing of
// quant/blocks_legacy.h (element j: low nibble of qs[j], element j + 16: high nibble; bit 4 of element j: bit j of qh).
#pragma once

#include <cstdint>
#include <cstring>

#include "quant/blocks_legacy.h"

namespace spool::quant {

// Blocks sit at any even offset of a mapped file and have no alignment of their own beyond 2, so a block is
// copied out with memcpy rather than read through a cast pointer (no alignment or aliasing assumptions).
template <class Block>
Block load_block(const void* row, int64_t i) {
    Block b;
    std::memcpy(&b, static_cast<const unsigned char*>(row) + i * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
    return b;
}

template <class Block>
void store_block(void* row, int64_t i, const Block& b) {
    std::memcpy(static_cast<unsigned char*>(row) + i * static_cast<int64_t>(sizeof(Block)), &b, sizeof(Block));
}

// q: [32] values in [0, 15] -> qs: [16] bytes.
inline void pack_nibbles(const int* q, uint8_t* qs) {
    for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | (q[j + 16] & 0x0f) << 4);
}

// qs: [16] bytes -> q: [32] values in [0, 15].
inline void unpack_nibbles(const uint8_t* qs, int* q) {
    for (int j = 0; j < 16; ++j) {
        q[j] = qs[j] & 0x0f;
        q[j + 16] = qs[j] >> 4;
    }
}

// q: [32] values in [0, 31] -> qs: [16] low nibbles, qh: [4] bytes of a little-endian uint32 of bit 4s.
inline void pack_5bit(const int* q, uint8_t* qs, uint8_t* qh) {
    pack_nibbles(q, qs);
    uint32_t high = 0;
    for (int j = 0; j < 32; ++j) high |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
    for (int k = 0; k < 4; ++k) qh[k] = static_cast<uint8_t>(high >> (8 * k));
}

// qs: [16], qh: [4] -> q: [32] values in [0, 31].
inline void unpack_5bit(const uint8_t* qs, const uint8_t* qh, int* q) {
    unpack_nibbles(qs, q);
    const uint32_t high = static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 |
                          static_cast<uint32_t>(qh[2]) << 16 | static_cast<uint32_t>(qh[3]) << 24;
    for (int j = 0; j < 32; ++j) q[j] |= static_cast<int>((high >> j) & 1u) << 4;
}

}  // namespace spool::quant
