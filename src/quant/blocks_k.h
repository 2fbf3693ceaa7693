// Block layouts of the K-quant types (256-element super-blocks) and the bit accessors that read them.
// Byte for byte as llama.cpp ggml/src/ggml-common.h (block_q2_K ... block_q8_K); bit layouts as its ggml-quants.c.
#pragma once

#include <cstdint>

namespace spool::quant {

inline constexpr int kQK_K = 256;  // elements per super-block (llama.cpp QK_K)

// 2.5625 bits per weight. 16 sub-blocks of 16: w = d*(scales[s] & 0xF)*q - dmin*(scales[s] >> 4), q in 0..3.
struct BlockQ2_K {
    uint8_t scales[kQK_K / 16];  // [16] low nibble: scale, high nibble: min, of sub-block s = element / 16
    uint8_t qs[kQK_K / 4];       // [64] 2-bit quants: element 128*h + 32*k + l in bits 2k of qs[32*h + l]
    uint16_t d;                  // fp16 super-block scale of the scales
    uint16_t dmin;               // fp16 super-block scale of the mins
};
static_assert(sizeof(BlockQ2_K) == 84, "block_q2_K must be 84 bytes, as in GGUF");

// 3.4375 bits per weight. 16 sub-blocks of 16: w = d*(scale6[s] - 32)*q, q in -4..3.
struct BlockQ3_K {
    uint8_t hmask[kQK_K / 8];  // [32] high bit of element e: bit (e / 32) of hmask[e % 32]; clear means q -= 4
    uint8_t qs[kQK_K / 4];     // [64] low 2 bits, same places as BlockQ2_K::qs
    uint8_t scales[12];        // 16 six-bit scales: low 4 bits in nibbles of bytes 0..7, high 2 bits in bytes 8..11
    uint16_t d;                // fp16 super-block scale
};
static_assert(sizeof(BlockQ3_K) == 110, "block_q3_K must be 110 bytes, as in GGUF");

// 4.5 bits per weight. 8 sub-blocks of 32: w = d*sc[s]*q - dmin*m[s], q in 0..15, sc and m six-bit.
struct BlockQ4_K {
    uint16_t d;            // fp16 super-block scale of the scales
    uint16_t dmin;         // fp16 super-block scale of the mins
    uint8_t scales[12];    // 8 six-bit scales and 8 six-bit mins (k4 packing, see k4_scale_min)
    uint8_t qs[kQK_K / 2]; // [128] element 64*c + l (l < 32) in the low nibble of qs[32*c + l], 64*c + 32 + l in the high
};
static_assert(sizeof(BlockQ4_K) == 144, "block_q4_K must be 144 bytes, as in GGUF");

// 5.5 bits per weight. As BlockQ4_K with a fifth bit per weight: q in 0..31.
struct BlockQ5_K {
    uint16_t d;             // fp16 super-block scale of the scales
    uint16_t dmin;          // fp16 super-block scale of the mins
    uint8_t scales[12];     // as BlockQ4_K::scales
    uint8_t qh[kQK_K / 8];  // [32] fifth bit of element e: bit (e / 32) of qh[e % 32]
    uint8_t qs[kQK_K / 2];  // [128] low 4 bits, same places as BlockQ4_K::qs
};
static_assert(sizeof(BlockQ5_K) == 176, "block_q5_K must be 176 bytes, as in GGUF");

// 6.5625 bits per weight. 16 sub-blocks of 16: w = d*scales[s]*q, q in -32..31.
struct BlockQ6_K {
    uint8_t ql[kQK_K / 2];      // [128] low 4 bits (layout in q6_k_level)
    uint8_t qh[kQK_K / 4];      // [64] high 2 bits
    int8_t scales[kQK_K / 16];  // [16] signed 8-bit sub-block scales
    uint16_t d;                 // fp16 super-block scale
};
static_assert(sizeof(BlockQ6_K) == 210, "block_q6_K must be 210 bytes, as in GGUF");

// The activation format for K-quant dot products: w = d*qs, with sums of 16 quants kept for the min terms.
struct BlockQ8_K {
    float d;                     // float32 scale (not fp16)
    int8_t qs[kQK_K];            // [256]
    int16_t bsums[kQK_K / 16];   // [16] bsums[g] = sum of qs[16*g .. 16*g + 15]
};
static_assert(sizeof(BlockQ8_K) == 292, "block_q8_K must be 292 bytes, as in GGUF");

// ---- Accessors: element e (0..255) of a super-block, and sub-block scales. Shared by dequantize and vec_dot.

// Q2_K and Q3_K keep 2-bit fields of 128 elements in 32 bytes: element 32*k + l of a half in bits 2k of byte l.
inline int q2_field(const uint8_t* qs, int e) noexcept {
    return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

inline int q2_k_level(const BlockQ2_K& b, int e) noexcept { return q2_field(b.qs, e); }  // 0..3

inline int q3_k_level(const BlockQ3_K& b, int e) noexcept {  // -4..3
    const bool high = (b.hmask[e % 32] >> (e / 32)) & 1;
    return q2_field(b.qs, e) - (high ? 0 : 4);
}

// Sub-block s (0..15) of Q3_K: the signed scale, -32..31.
inline int q3_k_scale(const BlockQ3_K& b, int s) noexcept {
    const int low = s < 8 ? (b.scales[s] & 0xF) : (b.scales[s - 8] >> 4);
    const int high = (b.scales[8 + s % 4] >> (2 * (s / 4))) & 3;
    return (low | high << 4) - 32;
}

// Q4_K/Q5_K 6-bit scale and min of sub-block s (0..7) from the 12 packed bytes (llama.cpp get_scale_min_k4):
// s < 4: scale = bytes[s] & 63, min = bytes[s + 4] & 63; s >= 4: low 4 bits in the nibbles of bytes[s + 4],
// high 2 bits in the top bits of bytes[s - 4] (scale) and bytes[s] (min).
inline void k4_scale_min(const uint8_t* scales, int s, int& scale, int& min) noexcept {
    if (s < 4) {
        scale = scales[s] & 63;
        min = scales[s + 4] & 63;
    } else {
        scale = (scales[s + 4] & 0xF) | ((scales[s - 4] >> 6) << 4);
        min = (scales[s + 4] >> 4) | ((scales[s] >> 6) << 4);
    }
}

// Q4_K/Q5_K low 4 bits: 64-element chunk c in qs[32*c .. 32*c + 31], first 32 in low nibbles, next 32 in high.
inline int k4_nibble(const uint8_t* qs, int e) noexcept {
    return (qs[32 * (e / 64) + e % 32] >> (4 * ((e % 64) / 32))) & 0xF;
}

inline int q4_k_level(const BlockQ4_K& b, int e) noexcept { return k4_nibble(b.qs, e); }  // 0..15

inline int q5_k_level(const BlockQ5_K& b, int e) noexcept {  // 0..31
    return k4_nibble(b.qs, e) | (((b.qh[e % 32] >> (e / 32)) & 1) << 4);
}

// Q6_K: per 128-element half h, ql[64*h + l] holds elements l (low nibble) and l + 64 (high nibble), ql[64*h + 32 + l]
// holds l + 32 and l + 96; qh[32*h + l] holds the high 2 bits of l, l + 32, l + 64, l + 96 at bits 0, 2, 4, 6.
inline int q6_k_level(const BlockQ6_K& b, int e) noexcept {  // -32..31
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    const int low = (b.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0xF;
    const int high = (b.qh[32 * h + l] >> (2 * k)) & 3;
    return (low | high << 4) - 32;
}

}  // namespace spool::quant
