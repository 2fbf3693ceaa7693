// Block layouts of the legacy 32-element GGUF quant types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1), byte for byte
// as llama.cpp ggml-common.h (block_q4_0 ... block_q8_1). fp16 fields hold raw IEEE binary16 bits, little-endian.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace spool::quant {

static_assert(std::endian::native == std::endian::little, "GGUF blocks are little-endian and are used in place");

// Elements per block of every legacy type (llama.cpp QK4_0 = QK4_1 = QK5_0 = QK5_1 = QK8_0 = QK8_1 = 32).
inline constexpr int64_t kLegacyBlockSize = 32;

// Element j of a 4-bit block is the low nibble of qs[j] for j < 16 and the high nibble of qs[j - 16] for j >= 16.
// The 5-bit types add bit 4 of element j as bit j of the little-endian uint32 in qh.

// x[j] = (q[j] - 8) * d, q in [0, 15].
struct BlockQ4_0 {
    uint16_t d;        // fp16 scale
    uint8_t qs[16];    // [32] nibbles
};

// x[j] = q[j] * d + m, q in [0, 15].
struct BlockQ4_1 {
    uint16_t d;        // fp16 scale
    uint16_t m;        // fp16 minimum
    uint8_t qs[16];    // [32] nibbles
};

// x[j] = (q[j] - 16) * d, q in [0, 31].
struct BlockQ5_0 {
    uint16_t d;        // fp16 scale
    uint8_t qh[4];     // [32] bit 4 of each quant; bytes, not a uint32, so the block has no padding (22 bytes)
    uint8_t qs[16];    // [32] low nibbles
};

// x[j] = q[j] * d + m, q in [0, 31].
struct BlockQ5_1 {
    uint16_t d;        // fp16 scale
    uint16_t m;        // fp16 minimum
    uint8_t qh[4];     // [32] bit 4 of each quant
    uint8_t qs[16];    // [32] low nibbles
};

// x[j] = qs[j] * d.
struct BlockQ8_0 {
    uint16_t d;        // fp16 scale
    int8_t qs[32];     // [32]
};

// x[j] = qs[j] * d; s = fp16(d * sum(qs)) lets a dot with a Q4_1/Q5_1 row add m * s instead of summing again.
struct BlockQ8_1 {
    uint16_t d;        // fp16 scale
    uint16_t s;        // fp16 d * sum(qs)
    int8_t qs[32];     // [32]
};

static_assert(sizeof(BlockQ4_0) == 18 && offsetof(BlockQ4_0, qs) == 2);
static_assert(sizeof(BlockQ4_1) == 20 && offsetof(BlockQ4_1, m) == 2 && offsetof(BlockQ4_1, qs) == 4);
static_assert(sizeof(BlockQ5_0) == 22 && offsetof(BlockQ5_0, qh) == 2 && offsetof(BlockQ5_0, qs) == 6);
static_assert(sizeof(BlockQ5_1) == 24 && offsetof(BlockQ5_1, qh) == 4 && offsetof(BlockQ5_1, qs) == 8);
static_assert(sizeof(BlockQ8_0) == 34 && offsetof(BlockQ8_0, qs) == 2);
static_assert(sizeof(BlockQ8_1) == 36 && offsetof(BlockQ8_1, s) == 2 && offsetof(BlockQ8_1, qs) == 4);

// What the legacy quantizers (quantize_row_q*_ref in reference.h) do with inputs llama.cpp leaves undefined.
// On finite inputs whose scale and minimum fit fp16 they produce exactly llama.cpp's bytes.
// - A block holding a NaN or an infinity is stored "poisoned": d (and m, s) = fp16 NaN, all quants 0, so each of
//   its 32 elements dequantizes to NaN and any vec_dot that touches it is NaN. Other blocks of the row are unaffected.
//   (llama.cpp converts NaN to an integer there, which is undefined behaviour in C.)
// - A scale, minimum or sum that would overflow fp16 (|d| > 65504, e.g. a block of 1e30) is stored as +-65504 and
//   the quants are chosen for that stored scale, so the block saturates at the largest magnitude the format can
//   hold (8 * 65504 for Q4_0) and stays finite. llama.cpp stores fp16 infinity there, which dequantizes to inf/NaN.
// - A scale that rounds to fp16 zero (|d| < 2^-25, e.g. a block of 1e-30) is stored as 0, as in llama.cpp: the block
//   dequantizes to 0 (Q4_0/Q5_0/Q8_x: error |x| < 127 * 2^-25) or to its minimum m (Q4_1/Q5_1: error below the
//   block's spread, < 31 * 2^-25, plus the fp16 rounding of m); never NaN.
// - An all-zero block gets d = 0 and dequantizes to exact zeros; a block of equal values c dequantizes to c
//   (Q4_0/Q5_0/Q8_x exactly up to fp16 rounding of d; Q4_1/Q5_1 to fp16(c)).

}  // namespace spool::quant
