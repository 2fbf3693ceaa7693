// Tests of the K-quant quantizers (kquants_quantize.cpp): round-trip error per type on seeded random rows of 1, 3
// and 11 super-blocks, and the documented results for all-zero, constant, huge, tiny and NaN/Inf input.
// Byte-identity with llama.cpp is checked on its own files in tests/quant/kquants_files_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "quant/blocks_k.h"
#include "quant/reference.h"
#include "quant/types.h"
#include "test_support.h"
#include "tolerances.h"

namespace spool::quant {
namespace {

struct KType {
    GgmlType type;
    double rmse_over_sigma;  // tests/tolerances.h
    bool float_scale;        // Q8_K keeps a float32 scale; the others fp16
};

const KType kKTypes[] = {
    {GgmlType::Q2_K, tolerance::kRmseOverSigmaQ2_K, false}, {GgmlType::Q3_K, tolerance::kRmseOverSigmaQ3_K, false},
    {GgmlType::Q4_K, tolerance::kRmseOverSigmaQ4_K, false}, {GgmlType::Q5_K, tolerance::kRmseOverSigmaQ5_K, false},
    {GgmlType::Q6_K, tolerance::kRmseOverSigmaQ6_K, false}, {GgmlType::Q8_K, tolerance::kRmseOverSigmaQ8_K, true},
};

// gtest prints a parameter of a failing test with this.
void PrintTo(const KType& k, std::ostream* os) { *os << type_name(k.type); }

constexpr int kBlockCounts[] = {1, 3, 11};

std::vector<uint8_t> quantize(GgmlType t, const std::vector<float>& x) {
    const TypeInfo& info = type_info(t);
    std::vector<uint8_t> q(row_bytes(t, static_cast<int64_t>(x.size())));
    info.quantize_row(x.data(), q.data(), static_cast<int64_t>(x.size()));
    return q;
}

std::vector<float> dequantize(GgmlType t, const std::vector<uint8_t>& q, size_t n) {
    std::vector<float> y(n);
    type_info(t).dequantize_row(q.data(), y.data(), static_cast<int64_t>(n));
    return y;
}

std::vector<float> round_trip(GgmlType t, const std::vector<float>& x) { return dequantize(t, quantize(t, x), x.size()); }

class KQuantQuantize : public ::testing::TestWithParam<KType> {};

TEST_P(KQuantQuantize, RoundTripErrorWithinTypeBound) {
    const KType& k = GetParam();
    for (int n_blocks : kBlockCounts) {
        for (const float mean : {0.0f, 0.5f}) {  // a mean exercises the mins of Q2_K/Q4_K/Q5_K
            const float sigma = 1.0f;
            const auto x = testing::random_floats(static_cast<size_t>(n_blocks) * kQK_K, 1000 + n_blocks, sigma, mean);
            const auto y = round_trip(k.type, x);
            const auto c = testing::compare<float, float>(x, y);
            EXPECT_LE(c.rmse, k.rmse_over_sigma * sigma)
                << type_name(k.type) << ", " << n_blocks << " blocks, mean " << mean << ": " << c.report();
        }
    }
}

// The row is quantized block by block: a row's bytes are its blocks' bytes, and one block never affects another.
TEST_P(KQuantQuantize, BlocksAreIndependent) {
    const KType& k = GetParam();
    const size_t bytes = type_info(k.type).block_bytes;
    const auto x = testing::random_floats(11 * kQK_K, 77, 2.0f);
    const auto whole = quantize(k.type, x);
    for (int i = 0; i < 11; ++i) {
        const std::vector<float> block(x.begin() + i * kQK_K, x.begin() + (i + 1) * kQK_K);
        const auto alone = quantize(k.type, block);
        ASSERT_EQ(std::memcmp(alone.data(), whole.data() + i * bytes, bytes), 0) << type_name(k.type) << " block " << i;
    }
}

TEST_P(KQuantQuantize, AllZeroRowsGiveExactZeros) {
    const KType& k = GetParam();
    const std::vector<float> x(3 * kQK_K, 0.0f);
    const auto y = round_trip(k.type, x);
    for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], 0.0f) << type_name(k.type) << " element " << i;
}

TEST_P(KQuantQuantize, ConstantRowsComeBackClose) {
    const KType& k = GetParam();
    for (const float c : {0.7f, -0.7f, 3.0f, -250.0f}) {
        const std::vector<float> x(3 * kQK_K, c);
        const auto y = round_trip(k.type, x);
        const auto cmp = testing::compare<float, float>(x, y);
        EXPECT_LE(cmp.max_abs, tolerance::kKQuantConstantRowRel * std::fabs(c))
            << type_name(k.type) << " constant " << c << ": " << cmp.report();
    }
}

// Finite magnitudes beyond the fp16 scales saturate: finite output of the input's sign, beyond fp16's own range.
// Blocks of ordinary values in the same row are unaffected.
TEST_P(KQuantQuantize, HugeValuesSaturateWithTheirSign) {
    const KType& k = GetParam();
    auto x = testing::random_floats(3 * kQK_K, 5);
    std::mt19937 rng(6);
    for (int e = 0; e < kQK_K; ++e) x[e] = (rng() % 2 ? 1e30f : -1e30f) * (1.0f + 0.001f * static_cast<float>(e));
    for (int e = kQK_K; e < 2 * kQK_K; e += 7) x[e] = e % 2 ? 1e30f : -1e30f;  // block 1: a few huge among normal
    const auto y = round_trip(k.type, x);
    for (int e = 0; e < 2 * kQK_K; ++e) {
        ASSERT_TRUE(std::isfinite(y[e])) << type_name(k.type) << " element " << e << " of " << x[e] << " gave " << y[e];
        if (std::fabs(x[e]) < 1e29f) continue;
        ASSERT_EQ(std::signbit(y[e]), std::signbit(x[e])) << type_name(k.type) << " element " << e << " gave " << y[e];
        ASSERT_GT(std::fabs(y[e]), 65504.f) << type_name(k.type) << " element " << e;
    }
    const std::vector<float> tail(x.begin() + 2 * kQK_K, x.end());
    const std::vector<float> y_tail(y.begin() + 2 * kQK_K, y.end());
    EXPECT_EQ(y_tail, round_trip(k.type, tail)) << type_name(k.type);
}

// 1e-30 lies far below the smallest fp16 scale: fp16-scaled types store zeros (error 1e-30, no NaN); Q8_K's float
// scale keeps the values to its usual relative error.
TEST_P(KQuantQuantize, TinyValuesGiveZerosOrScaledCopies) {
    const KType& k = GetParam();
    const float sigma = 1e-30f;
    const auto x = testing::random_floats(3 * kQK_K, 8, sigma);
    const auto y = round_trip(k.type, x);
    const auto c = testing::compare<float, float>(x, y);
    if (k.float_scale) {
        EXPECT_LE(c.rmse, k.rmse_over_sigma * sigma) << c.report();
    } else {
        for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], 0.0f) << type_name(k.type) << " element " << i;
    }
}

// A block holding NaN or +-Inf is stored poisoned and dequantizes to NaN everywhere; the other blocks are untouched.
TEST_P(KQuantQuantize, NonFiniteInputPoisonsOnlyItsBlock) {
    const KType& k = GetParam();
    const size_t bytes = type_info(k.type).block_bytes;
    for (const float bad : {std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY}) {
        auto x = testing::random_floats(3 * kQK_K, 9);
        const auto clean = quantize(k.type, x);
        x[kQK_K + 44] = bad;
        const auto q = quantize(k.type, x);
        const auto y = dequantize(k.type, q, x.size());
        for (int e = kQK_K; e < 2 * kQK_K; ++e) ASSERT_TRUE(std::isnan(y[e])) << type_name(k.type) << " element " << e;
        EXPECT_EQ(std::memcmp(q.data(), clean.data(), bytes), 0) << type_name(k.type) << " block 0 changed";
        EXPECT_EQ(std::memcmp(q.data() + 2 * bytes, clean.data() + 2 * bytes, bytes), 0)
            << type_name(k.type) << " block 2 changed";
    }
}

INSTANTIATE_TEST_SUITE_P(AllKTypes, KQuantQuantize, ::testing::ValuesIn(kKTypes),
                         [](const auto& info) { return std::string(type_name(info.param.type)); });

// Q8_K: the value of largest magnitude maps to -127 (scale -max/127), and bsums are the sums of 16 quants.
TEST(KQuantQ8_K, ScaleQuantsAndBsums) {
    for (int n_blocks : kBlockCounts) {
        const auto x = testing::random_floats(static_cast<size_t>(n_blocks) * kQK_K, 20 + n_blocks, 3.0f, -0.5f);
        std::vector<BlockQ8_K> q(static_cast<size_t>(n_blocks));
        quantize_row_q8_k_ref(x.data(), q.data(), static_cast<int64_t>(x.size()));
        for (int i = 0; i < n_blocks; ++i) {
            int argmax = 0;
            for (int e = 0; e < kQK_K; ++e) {
                if (std::fabs(x[i * kQK_K + e]) > std::fabs(x[i * kQK_K + argmax])) argmax = e;
            }
            EXPECT_EQ(q[i].qs[argmax], -127) << "block " << i;
            EXPECT_FLOAT_EQ(q[i].d, -x[i * kQK_K + argmax] / 127.f) << "block " << i;
            for (int g = 0; g < kQK_K / 16; ++g) {
                int sum = 0;
                for (int l = 0; l < 16; ++l) sum += q[i].qs[16 * g + l];
                ASSERT_EQ(q[i].bsums[g], sum) << "block " << i << " group " << g;
            }
        }
    }
}

}  // namespace
}  // namespace spool::quant
