// Tests of the legacy quantizers and dequantizers (legacy.cpp): block layout on hand-built blocks, llama.cpp's
// rounding rules on blocks with known answers, round-trip error against bounds derived from the format, edge cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/half.h"
#include "quant/blocks_legacy.h"
#include "quant/legacy_test_support.h"
#include "quant/reference.h"
#include "quant/types.h"
#include "test_support.h"

namespace spool::quant {
namespace {

using testing::legacy_type;
using testing::legacy_types;
using testing::LegacyType;

template <class Block>
std::vector<float> dequantize_block(const Block& b, DequantizeRowFn fn) {
    std::vector<float> y(32);
    fn(&b, y.data(), 32);
    return y;
}

TEST(LegacyLayout, TypeTableRowsUseTheseBlocksAndKernels) {
    const struct {
        GgmlType type;
        size_t bytes;
        DequantizeRowFn dequantize;
        QuantizeRowFn quantize;
    } rows[] = {
        {GgmlType::Q4_0, sizeof(BlockQ4_0), dequantize_row_q4_0, quantize_row_q4_0_ref},
        {GgmlType::Q4_1, sizeof(BlockQ4_1), dequantize_row_q4_1, quantize_row_q4_1_ref},
        {GgmlType::Q5_0, sizeof(BlockQ5_0), dequantize_row_q5_0, quantize_row_q5_0_ref},
        {GgmlType::Q5_1, sizeof(BlockQ5_1), dequantize_row_q5_1, quantize_row_q5_1_ref},
        {GgmlType::Q8_0, sizeof(BlockQ8_0), dequantize_row_q8_0, quantize_row_q8_0_ref},
        {GgmlType::Q8_1, sizeof(BlockQ8_1), dequantize_row_q8_1, quantize_row_q8_1_ref},
    };
    for (const auto& row : rows) {
        const TypeInfo& info = type_info(row.type);
        EXPECT_EQ(info.block_size, kLegacyBlockSize) << info.name;
        EXPECT_EQ(info.block_bytes, row.bytes) << info.name;
        EXPECT_EQ(info.dequantize_row, row.dequantize) << info.name;
        EXPECT_EQ(info.quantize_row, row.quantize) << info.name;
    }
}

// Element j < 16 is the low nibble of qs[j], element j + 16 the high nibble; bit 4 of element j is bit j of qh.
TEST(LegacyLayout, DequantizesHandBuiltBlocks) {
    const uint16_t half_0_5 = 0x3800, half_minus_1 = 0xbc00;
    uint8_t qs[16];
    for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(j | (15 - j) << 4);
    const uint8_t qh[4] = {0xa5, 0x0f, 0xf0, 0x81};  // little-endian 0x81f00fa5
    const uint32_t high = 0x81f00fa5u;
    auto nibble = [&](int j) { return j < 16 ? j : 15 - (j - 16); };
    auto five = [&](int j) { return nibble(j) | static_cast<int>((high >> j) & 1u) << 4; };

    BlockQ4_0 q4_0{half_0_5, {}};
    std::memcpy(q4_0.qs, qs, 16);
    BlockQ4_1 q4_1{half_0_5, half_minus_1, {}};
    std::memcpy(q4_1.qs, qs, 16);
    BlockQ5_0 q5_0{half_0_5, {}, {}};
    std::memcpy(q5_0.qh, qh, 4);
    std::memcpy(q5_0.qs, qs, 16);
    BlockQ5_1 q5_1{half_0_5, half_minus_1, {}, {}};
    std::memcpy(q5_1.qh, qh, 4);
    std::memcpy(q5_1.qs, qs, 16);
    BlockQ8_0 q8_0{half_0_5, {}};
    BlockQ8_1 q8_1{half_0_5, 0x4000, {}};
    for (int j = 0; j < 32; ++j) q8_0.qs[j] = q8_1.qs[j] = static_cast<int8_t>(j * 8 - 128);

    const auto y4_0 = dequantize_block(q4_0, dequantize_row_q4_0);
    const auto y4_1 = dequantize_block(q4_1, dequantize_row_q4_1);
    const auto y5_0 = dequantize_block(q5_0, dequantize_row_q5_0);
    const auto y5_1 = dequantize_block(q5_1, dequantize_row_q5_1);
    const auto y8_0 = dequantize_block(q8_0, dequantize_row_q8_0);
    const auto y8_1 = dequantize_block(q8_1, dequantize_row_q8_1);
    for (int j = 0; j < 32; ++j) {
        SCOPED_TRACE("element " + std::to_string(j));
        EXPECT_EQ(y4_0[j], (nibble(j) - 8) * 0.5f);
        EXPECT_EQ(y4_1[j], nibble(j) * 0.5f - 1.0f);
        EXPECT_EQ(y5_0[j], (five(j) - 16) * 0.5f);
        EXPECT_EQ(y5_1[j], five(j) * 0.5f - 1.0f);
        EXPECT_EQ(y8_0[j], (j * 8 - 128) * 0.5f);
        EXPECT_EQ(y8_1[j], (j * 8 - 128) * 0.5f);
    }
}

// Blocks whose scale is exact, so the expected quants follow from llama.cpp's rules by hand:
// 4/5-bit: q = trunc(x / d + zero + 0.5) (ties go up), top clamped; Q8: q = roundf(x / d) (ties away from zero).
TEST(LegacyQuantize, FollowsLlamaCppRoundingRulesOnKnownBlocks) {
    {  // Q4_0: x = j - 16, max magnitude -16 at j = 0, so d = -16 / -8 = 2; q = trunc((j - 16) / 2 + 8.5)
        float x[32];
        for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
        BlockQ4_0 b;
        quantize_row_q4_0_ref(x, &b, 32);
        EXPECT_EQ(b.d, float_to_half(2.0f));
        for (int j = 0; j < 16; ++j) {
            EXPECT_EQ(b.qs[j] & 15, std::min(15, (j + 1) / 2)) << j;            // x = -15 -> 1.0 -> 1: tie up
            EXPECT_EQ(b.qs[j] >> 4, std::min(15, (j + 17) / 2)) << j + 16;      // x = 15 -> 16 -> clamped 15
        }
    }
    {  // Q4_0, product rounded before the add: 1.222f * (1 / (1.504f / -8)) rounds to exactly -6.5, + 8.5 = 2.
       // A fused multiply-add keeps the exact product (just above -6.5 in magnitude) and gives 1.999999 -> 1.
        float x[32] = {1.504f, 1.222f};
        BlockQ4_0 b;
        quantize_row_q4_0_ref(x, &b, 32);
        EXPECT_EQ(b.qs[0] & 15, 0);
        EXPECT_EQ(b.qs[1] & 15, 2) << "the product x * (1/d) must be rounded to float before adding 8.5";
        EXPECT_EQ(b.qs[2] & 15, 8);
    }
    {  // Q4_1: min 0, max 15 so d = 1, m = 0; halves round up: 2.5 -> 3
        float x[32];
        for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j % 30) * 0.5f;
        x[1] = 15.0f;
        BlockQ4_1 b;
        quantize_row_q4_1_ref(x, &b, 32);
        EXPECT_EQ(b.d, float_to_half(1.0f));
        EXPECT_EQ(b.m, float_to_half(0.0f));
        for (int j = 0; j < 32; ++j) {
            const int q = j < 16 ? b.qs[j] & 15 : b.qs[j - 16] >> 4;
            EXPECT_EQ(q, static_cast<int>(std::floor(x[j] + 0.5f))) << j;
        }
    }
    {  // Q5_0: x = j - 16 (+0.5 for odd j), d = -16 / -16 = 1; odd j: q = j + 1, and j = 31 clamps 32 -> 31
        float x[32];
        for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16) + (j % 2 ? 0.5f : 0.0f);
        BlockQ5_0 b;
        quantize_row_q5_0_ref(x, &b, 32);
        EXPECT_EQ(b.d, float_to_half(1.0f));
        uint32_t qh;
        std::memcpy(&qh, b.qh, 4);
        for (int j = 0; j < 32; ++j) {
            const int low = j < 16 ? b.qs[j] & 15 : b.qs[j - 16] >> 4;
            const int q = low | static_cast<int>((qh >> j) & 1u) << 4;
            EXPECT_EQ(q, std::min(31, j % 2 ? j + 1 : j)) << j;
        }
    }
    {  // Q5_1: x = j, so d = 1, m = 0 and q = j
        float x[32];
        for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j);
        BlockQ5_1 b;
        quantize_row_q5_1_ref(x, &b, 32);
        EXPECT_EQ(b.d, float_to_half(1.0f));
        EXPECT_EQ(b.m, float_to_half(0.0f));
        uint32_t qh;
        std::memcpy(&qh, b.qh, 4);
        for (int j = 0; j < 32; ++j) {
            const int low = j < 16 ? b.qs[j] & 15 : b.qs[j - 16] >> 4;
            EXPECT_EQ(low | static_cast<int>((qh >> j) & 1u) << 4, j) << j;
        }
    }
    {  // Q8_0 / Q8_1: max magnitude 127 so d = 1; +-2.5 -> +-3 (away from zero, not to even); s = d * sum
        float x[32];
        for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16) + (j % 4 == 1 ? 0.5f : 0.0f);
        x[0] = -127.0f;
        BlockQ8_0 b0;
        BlockQ8_1 b1;
        quantize_row_q8_0_ref(x, &b0, 32);
        quantize_row_q8_1_ref(x, &b1, 32);
        EXPECT_EQ(b0.d, float_to_half(1.0f));
        EXPECT_EQ(b1.d, float_to_half(1.0f));
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
            const int expected = static_cast<int>(std::round(x[j]));
            EXPECT_EQ(b0.qs[j], expected) << j;
            EXPECT_EQ(b1.qs[j], expected) << j;
            sum += expected;
        }
        EXPECT_EQ(b1.s, float_to_half(static_cast<float>(sum)));
        EXPECT_EQ(static_cast<int>(std::round(-2.5f)), -3);
    }
}

// dequantize(quantize(x)) on seeded normal data: every element within the format's bound at x (half a step, one
// step at Q4_0/Q5_0's clamped top, plus fp16 scale rounding), and the RMSE within kRmseOverUniformNoise of d/sqrt(12).
TEST(LegacyQuantize, RoundTripErrorWithinHalfAStep) {
    struct Data {
        float stddev, mean;
    };
    const Data datas[] = {{1.0f, 0.0f}, {0.02f, 0.0f}, {1.0f, 3.0f}, {1e4f, 0.0f}, {1e-3f, -0.01f}};
    uint64_t seed = 100;
    for (const LegacyType& t : legacy_types()) {
        for (const Data& data : datas) {
            for (const int64_t n : {32, 32 * 7, 32 * 33}) {
                const std::vector<float> x = spool::testing::random_floats(n, ++seed, data.stddev, data.mean);
                const std::vector<float> y = testing::dequantize(t, testing::quantize(t, x));
                SCOPED_TRACE(std::string(t.name) + " n=" + std::to_string(n) + " std=" + std::to_string(data.stddev) +
                             " mean=" + std::to_string(data.mean));
                for (int64_t b = 0; b < n / 32; ++b) {
                    const testing::BlockScale s = testing::expected_scale(t, x.data() + 32 * b);
                    for (int64_t j = 32 * b; j < 32 * b + 32; ++j) {
                        const double err = std::fabs(static_cast<double>(y[j]) - x[j]);
                        ASSERT_LE(err, testing::allowed_error(t, s, x[j]))
                            << "at index " << j << ": x " << x[j] << ", dequantized " << y[j] << ", step " << s.d;
                    }
                }
                const spool::testing::Comparison c =
                    spool::testing::compare(std::span<const float>(x), std::span<const float>(y));
                const double noise = testing::uniform_noise_rms(t, x);
                EXPECT_LE(c.rmse, testing::kRmseOverUniformNoise * noise)
                    << "uniform-noise RMS " << noise << "; " << c.report();
                EXPECT_GT(c.rmse, 0.0) << "a lossy format reproduced random data exactly: " << c.report();
            }
        }
    }
}

TEST(LegacyQuantize, AllZeroBlocksDequantizeToZero) {
    const std::vector<float> x(32 * 3, 0.0f);
    for (const LegacyType& t : legacy_types()) {
        const std::vector<float> y = testing::dequantize(t, testing::quantize(t, x));
        for (size_t j = 0; j < y.size(); ++j) ASSERT_EQ(y[j], 0.0f) << t.name << " at " << j;
    }
}

// A block of one repeated value c: Q4_1/Q5_1 store it as m = fp16(c) with d = 0; the symmetric types put it on
// their end level, so it comes back as c up to the fp16 rounding of d.
TEST(LegacyQuantize, BlocksOfEqualValuesComeBackUpToFp16Rounding) {
    for (const float c : {0.37f, -2.5f, 1000.0f, -3e-2f, 7.0f}) {
        const std::vector<float> x(64, c);
        for (const LegacyType& t : legacy_types()) {
            const std::vector<float> y = testing::dequantize(t, testing::quantize(t, x));
            for (size_t j = 0; j < y.size(); ++j) {
                ASSERT_LE(std::fabs(y[j] - c), std::fabs(c) * testing::kHalfRel)
                    << t.name << " c " << c << " got " << y[j];
            }
        }
    }
}

// 1e30 does not fit an fp16 scale: the scale saturates at 65504 and the block at the format's largest magnitude.
TEST(LegacyQuantize, HugeValuesSaturateAndStayFinite) {
    std::vector<float> x = spool::testing::random_floats(32 * 3, 7);
    for (float& v : x) v *= 1e30f;
    for (int j = 0; j < 32; ++j) x[32 + j] = 1e30f * (1.0f + static_cast<float>(j) / 32);  // block 1: positive
    const double largest_level[] = {8, 15, 16, 31, 127, 127};  // by type, in legacy_types() order
    for (size_t k = 0; k < legacy_types().size(); ++k) {
        const LegacyType& t = legacy_types()[k];
        const std::vector<float> y = testing::dequantize(t, testing::quantize(t, x));
        for (size_t j = 0; j < y.size(); ++j) {
            ASSERT_TRUE(std::isfinite(y[j])) << t.name << " at " << j << ": " << y[j];
            if (!t.has_min) {
                ASSERT_TRUE(y[j] == 0.0f || (y[j] > 0) == (x[j] > 0)) << t.name << " sign at " << j;
            }
        }
        // The positive block lands on the largest value the format can store: level * 65504 (+ m for _1 types).
        const double expected = largest_level[k] * 65504.0 + (t.has_min ? 65504.0 : 0.0);
        for (int j = 32; j < 64; ++j) ASSERT_EQ(y[j], static_cast<float>(expected)) << t.name << " at " << j;
    }
}

// 1e-30 is below fp16's smallest subnormal scale: the block comes back as 0, never NaN.
TEST(LegacyQuantize, TinyValuesFlushToZero) {
    std::vector<float> x = spool::testing::random_floats(32 * 7, 8);
    for (float& v : x) v *= 1e-30f;
    x[40] = 1e-38f;  // makes 1/d overflow float in block 1: llama.cpp converts inf there
    for (const LegacyType& t : legacy_types()) {
        const std::vector<float> y = testing::dequantize(t, testing::quantize(t, x));
        for (size_t j = 0; j < y.size(); ++j) ASSERT_LE(std::fabs(y[j] - x[j]), 1e-29) << t.name << " at " << j;
    }
    for (float& v : x) v *= 1e10f;  // 1e-20 .. 1e-28, still below the fp16 subnormal spacing of the scale
    for (const LegacyType& t : legacy_types()) {
        const std::vector<float> y = testing::dequantize(t, testing::quantize(t, x));
        for (size_t j = 0; j < y.size(); ++j) ASSERT_LE(std::fabs(y[j] - x[j]), 1e-19) << t.name << " at " << j;
    }
}

// A NaN or infinity poisons its own block (every element NaN) and leaves the other blocks byte for byte as they were.
TEST(LegacyQuantize, NonFiniteInputPoisonsOnlyItsBlock) {
    for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()}) {
        const std::vector<float> clean = spool::testing::random_floats(32 * 3, 9);
        std::vector<float> x = clean;
        x[32 + 5] = bad;
        for (const LegacyType& t : legacy_types()) {
            SCOPED_TRACE(std::string(t.name) + " with " + std::to_string(bad));
            const std::vector<uint8_t> q = testing::quantize(t, x);
            const std::vector<uint8_t> q_clean = testing::quantize(t, clean);
            const std::vector<float> y = testing::dequantize(t, q);
            for (int j = 32; j < 64; ++j) ASSERT_TRUE(std::isnan(y[j])) << "at " << j << ": " << y[j];
            const size_t bb = t.block_bytes;
            EXPECT_TRUE(std::equal(q.begin(), q.begin() + bb, q_clean.begin()));
            EXPECT_TRUE(std::equal(q.begin() + 2 * bb, q.end(), q_clean.begin() + 2 * bb));
        }
    }
}

// Blocks are read and written with memcpy: rows at odd addresses give the same bytes and values.
TEST(LegacyQuantize, RowsAtUnalignedAddresses) {
    const std::vector<float> x = spool::testing::random_floats(32 * 5, 10);
    for (const LegacyType& t : legacy_types()) {
        const std::vector<uint8_t> aligned = testing::quantize(t, x);
        std::vector<uint8_t> storage(aligned.size() + 1);
        t.quantize(x.data(), storage.data() + 1, static_cast<int64_t>(x.size()));
        EXPECT_TRUE(std::equal(aligned.begin(), aligned.end(), storage.begin() + 1)) << t.name;
        std::vector<float> y(x.size());
        t.dequantize(storage.data() + 1, y.data(), static_cast<int64_t>(y.size()));
        EXPECT_EQ(y, testing::dequantize(t, aligned)) << t.name;
    }
}

}  // namespace
}  // namespace spool::quant
