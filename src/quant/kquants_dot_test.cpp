// Tests of the K-quant dot products (kquants_dot.cpp) on seeded random rows of 1, 3 and 11 super-blocks: against the
// float64 dot of the dequantized rows (only float rounding may differ), and against the float64 dot of the original
// rows (within the quantization error of both rows).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "quant/blocks_k.h"
#include "quant/reference.h"
#include "quant/types.h"
#include "test_support.h"
#include "tolerances.h"

namespace spool::quant {
namespace {

struct DotCase {
    GgmlType type;
    double rmse_over_sigma;  // of the weight type, tests/tolerances.h
};

const DotCase kDotCases[] = {
    {GgmlType::Q2_K, tolerance::kRmseOverSigmaQ2_K}, {GgmlType::Q3_K, tolerance::kRmseOverSigmaQ3_K},
    {GgmlType::Q4_K, tolerance::kRmseOverSigmaQ4_K}, {GgmlType::Q5_K, tolerance::kRmseOverSigmaQ5_K},
    {GgmlType::Q6_K, tolerance::kRmseOverSigmaQ6_K},
};

// gtest prints a parameter of a failing test with this.
void PrintTo(const DotCase& c, std::ostream* os) { *os << type_name(c.type); }

struct QuantizedRow {
    std::vector<uint8_t> bytes;
    std::vector<float> values;  // dequantized
};

QuantizedRow quantize(GgmlType t, const std::vector<float>& x) {
    const TypeInfo& info = type_info(t);
    const auto n = static_cast<int64_t>(x.size());
    QuantizedRow row{std::vector<uint8_t>(row_bytes(t, n)), std::vector<float>(x.size())};
    info.quantize_row(x.data(), row.bytes.data(), n);
    info.dequantize_row(row.bytes.data(), row.values.data(), n);
    return row;
}

class KQuantDot : public ::testing::TestWithParam<DotCase> {};

TEST_P(KQuantDot, MatchesDequantizedAndOriginalRows) {
    const DotCase& c = GetParam();
    const TypeInfo& info = type_info(c.type);
    ASSERT_EQ(info.vec_dot_type, GgmlType::Q8_K);
    for (int n_blocks : {1, 3, 11}) {
        for (const float mean : {0.0f, 0.3f}) {  // a mean makes the min terms (bsums) matter
            const size_t n = static_cast<size_t>(n_blocks) * kQK_K;
            const float sigma_w = 0.05f, sigma_a = 2.0f;
            const auto w = testing::random_floats(n, 300 + n_blocks, sigma_w, mean * sigma_w);
            const auto a = testing::random_floats(n, 400 + n_blocks, sigma_a, mean * sigma_a);
            const QuantizedRow wq = quantize(c.type, w);
            const QuantizedRow aq = quantize(GgmlType::Q8_K, a);

            float got = 0;
            info.vec_dot(static_cast<int64_t>(n), &got, wq.bytes.data(), aq.bytes.data());

            double exact_dequantized = 0, exact_original = 0, magnitude = 0, max_w = 0;
            for (size_t i = 0; i < n; ++i) {
                exact_dequantized += static_cast<double>(wq.values[i]) * static_cast<double>(aq.values[i]);
                exact_original += static_cast<double>(w[i]) * static_cast<double>(a[i]);
                magnitude += std::fabs(static_cast<double>(aq.values[i]));
                max_w = std::max(max_w, std::fabs(static_cast<double>(wq.values[i])));
            }
            magnitude *= max_w;
            const std::string where = std::string(info.name) + ", " + std::to_string(n_blocks) + " blocks, mean " +
                                      std::to_string(mean) + ": got " + std::to_string(got);
            EXPECT_LE(std::fabs(got - exact_dequantized), tolerance::kKQuantDotVsDequantized * magnitude)
                << where << ", float64 dot of the dequantized rows " << exact_dequantized;
            const double noise = std::sqrt(static_cast<double>(n)) * sigma_w * sigma_a *
                                 std::hypot(c.rmse_over_sigma, tolerance::kRmseOverSigmaQ8_K);
            EXPECT_LE(std::fabs(got - exact_original), tolerance::kKQuantDotSigmas * noise)
                << where << ", float64 dot of the original rows " << exact_original;
        }
    }
}

// The min terms come from Q8_K's bsums: activations with a large common offset make them dominate.
TEST_P(KQuantDot, MinTermsUseTheActivationSums) {
    const DotCase& c = GetParam();
    const TypeInfo& info = type_info(c.type);
    const size_t n = 3 * kQK_K;
    const auto w = testing::random_floats(n, 500, 1.0f, -1.0f);  // mostly negative: large mins
    const auto a = testing::random_floats(n, 501, 0.1f, 1.0f);   // mostly positive: bsums far from 0
    const QuantizedRow wq = quantize(c.type, w);
    const QuantizedRow aq = quantize(GgmlType::Q8_K, a);
    float got = 0;
    info.vec_dot(static_cast<int64_t>(n), &got, wq.bytes.data(), aq.bytes.data());
    double expected = 0, magnitude = 0, max_w = 0;
    for (size_t i = 0; i < n; ++i) {
        expected += static_cast<double>(wq.values[i]) * static_cast<double>(aq.values[i]);
        magnitude += std::fabs(static_cast<double>(aq.values[i]));
        max_w = std::max(max_w, std::fabs(static_cast<double>(wq.values[i])));
    }
    EXPECT_LE(std::fabs(got - expected), tolerance::kKQuantDotVsDequantized * magnitude * max_w)
        << info.name << ": got " << got << ", float64 dot of the dequantized rows " << expected;
}

TEST_P(KQuantDot, ZeroWeightsGiveZero) {
    const DotCase& c = GetParam();
    const TypeInfo& info = type_info(c.type);
    const size_t n = 3 * kQK_K;
    const QuantizedRow wq = quantize(c.type, std::vector<float>(n, 0.0f));
    const QuantizedRow aq = quantize(GgmlType::Q8_K, testing::random_floats(n, 600));
    float got = -1;
    info.vec_dot(static_cast<int64_t>(n), &got, wq.bytes.data(), aq.bytes.data());
    EXPECT_EQ(got, 0.0f) << info.name;
}

INSTANTIATE_TEST_SUITE_P(AllKTypes, KQuantDot, ::testing::ValuesIn(kDotCases),
                         [](const auto& info) { return std::string(type_name(info.param.type)); });

}  // namespace
}  // namespace spool::quant
