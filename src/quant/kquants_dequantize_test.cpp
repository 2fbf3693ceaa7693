// Known-answer tests of the K-quant dequantizers (kquants_dequantize.cpp) on hand-built blocks: each case writes
// the bits of one element or one sub-block scale at the byte and shift worked out by hand from ggml-quants.c's
// layout, and checks that exactly that element (or sub-block) changes, to the value the format defines.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <vector>

#include "core/half.h"
#include "quant/blocks_k.h"
#include "quant/reference.h"
#include "quant/types.h"

namespace spool::quant {
namespace {

constexpr uint16_t kHalfOne = 0x3c00;

template <class Block>
std::vector<float> dequantize_one(const Block& b, void (*fn)(const void*, float*, int64_t)) {
    std::vector<float> y(kQK_K);
    fn(&b, y.data(), kQK_K);
    return y;
}

// Checks y[e] == expected(e) for every element, naming the first mismatch.
void expect_values(const std::vector<float>& y, const std::function<float(int)>& expected, const std::string& what) {
    for (int e = 0; e < kQK_K; ++e) {
        ASSERT_EQ(y[e], expected(e)) << what << ": element " << e;
    }
}

TEST(KQuantLayout, TypeTableRowsUseTheseBlocksAndKernels) {
    const struct {
        GgmlType type;
        size_t bytes;
        DequantizeRowFn dequantize;
        QuantizeRowFn quantize;
        VecDotFn vec_dot;
    } rows[] = {
        {GgmlType::Q2_K, sizeof(BlockQ2_K), dequantize_row_q2_k, quantize_row_q2_k_ref, vec_dot_q2_k_q8_k},
        {GgmlType::Q3_K, sizeof(BlockQ3_K), dequantize_row_q3_k, quantize_row_q3_k_ref, vec_dot_q3_k_q8_k},
        {GgmlType::Q4_K, sizeof(BlockQ4_K), dequantize_row_q4_k, quantize_row_q4_k_ref, vec_dot_q4_k_q8_k},
        {GgmlType::Q5_K, sizeof(BlockQ5_K), dequantize_row_q5_k, quantize_row_q5_k_ref, vec_dot_q5_k_q8_k},
        {GgmlType::Q6_K, sizeof(BlockQ6_K), dequantize_row_q6_k, quantize_row_q6_k_ref, vec_dot_q6_k_q8_k},
        {GgmlType::Q8_K, sizeof(BlockQ8_K), dequantize_row_q8_k, quantize_row_q8_k_ref, nullptr},
    };
    for (const auto& row : rows) {
        const TypeInfo& info = type_info(row.type);
        EXPECT_EQ(info.block_size, kQK_K) << info.name;
        EXPECT_EQ(info.block_bytes, row.bytes) << info.name;
        EXPECT_EQ(info.dequantize_row, row.dequantize) << info.name;
        EXPECT_EQ(info.quantize_row, row.quantize) << info.name;
        EXPECT_EQ(info.vec_dot, row.vec_dot) << info.name;
        EXPECT_EQ(info.vec_dot_type, GgmlType::Q8_K) << info.name;
    }
}

// Q2_K: element 128h + 32k + l sits in bits 2k of qs[32h + l]; w = d*(scales[s] & 15)*q - dmin*(scales[s] >> 4).
TEST(KQuantLayout, Q2_KElementsAndScales) {
    BlockQ2_K base{};
    base.d = kHalfOne;
    base.dmin = kHalfOne;
    std::memset(base.scales, 0x01, sizeof(base.scales));  // scale 1, min 0 everywhere
    const struct { int element, byte, shift; } cases[] = {{0, 0, 0}, {33, 1, 2}, {100, 4, 6}, {130, 34, 0}, {255, 63, 6}};
    for (const auto& c : cases) {
        BlockQ2_K b = base;
        b.qs[c.byte] = static_cast<uint8_t>(3 << c.shift);
        expect_values(dequantize_one(b, dequantize_row_q2_k), [&](int e) { return e == c.element ? 3.f : 0.f; },
                      "Q2_K level 3 at element " + std::to_string(c.element));
    }
    BlockQ2_K b = base;
    b.scales[7] = 0x35;                  // sub-block 7 (elements 112..127): scale 5, min 3
    b.qs[32 + 16] = 2;                   // element 128 + 16 = 144 (sub-block 9): level 2
    b.qs[16] = static_cast<uint8_t>(2 << 6);  // element 96 + 16 = 112: level 2
    expect_values(dequantize_one(b, dequantize_row_q2_k),
                  [](int e) { return e == 112 ? 7.f : e == 144 ? 2.f : (e >= 112 && e < 128) ? -3.f : 0.f; },
                  "Q2_K sub-block 7 with scale 5, min 3");
}

// Q3_K: low 2 bits as Q2_K, high bit of element e in bit e/32 of hmask[e % 32] (clear: q -= 4); six-bit scale s:
// low nibble of byte s (s < 8) or high nibble of byte s - 8, top 2 bits at bits 2*(s/4) of byte 8 + s%4; minus 32.
TEST(KQuantLayout, Q3_KElementsAndScales) {
    BlockQ3_K base{};
    base.d = kHalfOne;
    std::memset(base.scales, 0x11, 8);      // low 4 bits of every scale: 1
    std::memset(base.scales + 8, 0xAA, 4);  // top 2 bits: 2, so every scale is 33 - 32 = 1
    const struct { int element, hmask_byte, hmask_bit, qs_byte, shift; } cases[] = {
        {0, 0, 0, 0, 0}, {33, 1, 1, 1, 2}, {130, 2, 4, 34, 0}, {255, 31, 7, 63, 6}};
    for (const auto& c : cases) {
        BlockQ3_K b = base;
        b.hmask[c.hmask_byte] = static_cast<uint8_t>(1 << c.hmask_bit);
        b.qs[c.qs_byte] = static_cast<uint8_t>(3 << c.shift);
        expect_values(dequantize_one(b, dequantize_row_q3_k), [&](int e) { return e == c.element ? 3.f : -4.f; },
                      "Q3_K level 3 at element " + std::to_string(c.element));
    }
    BlockQ3_K b = base;
    b.scales[1] = 0x51;  // scale 9: low nibble 5 (high nibble of byte 1)
    b.scales[9] = 0x8A;  // scale 9: top bits 0 (bits 4-5 of byte 8 + 9 % 4), so 5 - 32 = -27
    expect_values(dequantize_one(b, dequantize_row_q3_k), [](int e) { return e / 16 == 9 ? 108.f : -4.f; },
                  "Q3_K sub-block 9 with scale -27");
}

// Q4_K/Q5_K: element 64c + l (l < 32) in the low nibble of qs[32c + l], 64c + 32 + l in the high nibble.
TEST(KQuantLayout, Q4_KElementsAndScales) {
    BlockQ4_K base{};
    base.d = kHalfOne;
    base.dmin = kHalfOne;
    const uint8_t unit_scales[12] = {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1};  // scale 1, min 0 for all 8 sub-blocks
    std::memcpy(base.scales, unit_scales, 12);
    const struct { int element, byte, shift; } cases[] = {{0, 0, 0}, {40, 8, 4}, {69, 37, 0}, {255, 127, 4}};
    for (const auto& c : cases) {
        BlockQ4_K b = base;
        b.qs[c.byte] = static_cast<uint8_t>(9 << c.shift);
        expect_values(dequantize_one(b, dequantize_row_q4_k), [&](int e) { return e == c.element ? 9.f : 0.f; },
                      "Q4_K level 9 at element " + std::to_string(c.element));
    }
    // Sub-block 5: scale 35 = 0b10'0011 (low nibble of byte 9, top bits of byte 1), min 22 = 0b01'0110 (high nibble
    // of byte 9, top bits of byte 5).
    BlockQ4_K b = base;
    b.scales[9] = 0x63;
    b.scales[1] |= 2 << 6;
    b.scales[5] |= 1 << 6;
    b.qs[64] = 7 << 4;  // element 160 = 64*2 + 32 + 0: high nibble of qs[32*2 + 0]
    expect_values(dequantize_one(b, dequantize_row_q4_k),
                  [](int e) { return e == 160 ? 35.f * 7 - 22 : e / 32 == 5 ? -22.f : 0.f; },
                  "Q4_K sub-block 5 with scale 35, min 22");
}

TEST(KQuantLayout, Q5_KFifthBit) {
    BlockQ5_K base{};
    base.d = kHalfOne;
    base.dmin = kHalfOne;
    const uint8_t unit_scales[12] = {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1};
    std::memcpy(base.scales, unit_scales, 12);
    // Element 200 = 64*3 + 8: low nibble of qs[104]; fifth bit: bit 200/32 = 6 of qh[200 % 32 = 8].
    BlockQ5_K b = base;
    b.qs[104] = 0x05;
    b.qh[8] = 1 << 6;
    expect_values(dequantize_one(b, dequantize_row_q5_k), [](int e) { return e == 200 ? 21.f : 0.f; },
                  "Q5_K level 21 at element 200");
    b = base;
    b.qs[127] = 0xF0;  // element 255: high nibble of qs[127], fifth bit in bit 7 of qh[31]
    b.qh[31] = 1 << 7;
    expect_values(dequantize_one(b, dequantize_row_q5_k), [](int e) { return e == 255 ? 31.f : 0.f; },
                  "Q5_K level 31 at element 255");
}

// Q6_K: per half h, ql[64h + l] = elements l (low) and l + 64 (high), ql[64h + 32 + l] = l + 32 and l + 96;
// qh[32h + l] bits 0, 2, 4, 6 = top bits of l, l + 32, l + 64, l + 96. Level = 6-bit value - 32.
TEST(KQuantLayout, Q6_KElementsAndScales) {
    BlockQ6_K base{};
    base.d = kHalfOne;
    std::memset(base.scales, 1, sizeof(base.scales));
    const struct { int element, ql_byte, ql_shift, qh_byte, qh_shift; } cases[] = {
        {0, 0, 0, 0, 0}, {40, 40, 0, 8, 2}, {70, 6, 4, 6, 4}, {127, 63, 4, 31, 6}, {200, 72, 4, 40, 4}};
    for (const auto& c : cases) {
        BlockQ6_K b = base;
        b.ql[c.ql_byte] = static_cast<uint8_t>(0xD << c.ql_shift);
        b.qh[c.qh_byte] = static_cast<uint8_t>(0x2 << c.qh_shift);  // 6-bit value 0b10'1101 = 45: level 13
        expect_values(dequantize_one(b, dequantize_row_q6_k), [&](int e) { return e == c.element ? 13.f : -32.f; },
                      "Q6_K level 13 at element " + std::to_string(c.element));
    }
    BlockQ6_K b = base;
    b.scales[11] = -3;
    expect_values(dequantize_one(b, dequantize_row_q6_k), [](int e) { return e / 16 == 11 ? 96.f : -32.f; },
                  "Q6_K sub-block 11 with scale -3");
}

TEST(KQuantLayout, Q8_KIsScaleTimesQuant) {
    BlockQ8_K b{};
    b.d = 0.5f;
    for (int e = 0; e < kQK_K; ++e) b.qs[e] = static_cast<int8_t>(e - 128);
    expect_values(dequantize_one(b, dequantize_row_q8_k), [](int e) { return 0.5f * static_cast<float>(e - 128); },
                  "Q8_K");
}

// Rows of several blocks: block i's output lands at i*256 and uses only block i.
TEST(KQuantLayout, RowsOfSeveralBlocksDequantizeBlockByBlock) {
    std::vector<BlockQ6_K> blocks(3);
    for (int i = 0; i < 3; ++i) {
        blocks[i].d = float_to_half(static_cast<float>(i + 1));
        std::memset(blocks[i].scales, 1, sizeof(blocks[i].scales));
    }
    std::vector<float> y(3 * kQK_K);
    dequantize_row_q6_k(blocks.data(), y.data(), 3 * kQK_K);
    for (int i = 0; i < 3 * kQK_K; ++i) ASSERT_EQ(y[i], -32.f * static_cast<float>(i / kQK_K + 1)) << "element " << i;
}

}  // namespace
}  // namespace spool::quant
