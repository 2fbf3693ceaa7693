// Tests of the legacy dot products (legacy_vec_dot.cpp) against float64 dots: of the dequantized rows (only
// float rounding may differ) and of the original floats (within the quantization noise of both rows).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <vector>

#include "core/half.h"
#include "quant/blocks_legacy.h"
#include "quant/legacy_pack.h"
#include "quant/legacy_test_support.h"
#include "quant/reference.h"
#include "quant/types.h"
#include "test_support.h"

namespace spool::quant {
namespace {

using testing::legacy_type;
using testing::LegacyType;

struct DotCase {
    GgmlType w, a;
    VecDotFn fn;
};

const DotCase kCases[] = {
    {GgmlType::Q4_0, GgmlType::Q8_0, vec_dot_q4_0_q8_0}, {GgmlType::Q4_1, GgmlType::Q8_1, vec_dot_q4_1_q8_1},
    {GgmlType::Q5_0, GgmlType::Q8_0, vec_dot_q5_0_q8_0}, {GgmlType::Q5_1, GgmlType::Q8_1, vec_dot_q5_1_q8_1},
    {GgmlType::Q8_0, GgmlType::Q8_0, vec_dot_q8_0_q8_0},
};

// For Q4_1/Q5_1 the dot adds m * s per block, where s = fp16(d_float * sum(qs)) is not exactly the sum of the
// dequantized activations d16 * sum(qs): both differ from d * sum by at most 2^-11 relative (fp16 rounding).
// Returns the bound sum over blocks of |m| * |s - sum(dequantized a)|.
double min_term_slack(const DotCase& c, const std::vector<uint8_t>& wq, const std::vector<uint8_t>& aq, int64_t nb) {
    if (c.a != GgmlType::Q8_1) return 0.0;
    double slack = 0.0;
    for (int64_t b = 0; b < nb; ++b) {
        const auto w = load_block<BlockQ4_1>(wq.data() + b * legacy_type(c.w).block_bytes, 0);  // d, m lead both
        const auto a = load_block<BlockQ8_1>(aq.data(), b);
        double sum = 0;
        for (int j = 0; j < 32; ++j) sum += a.qs[j];
        const double d16 = half_to_float(a.d);
        const double scale = std::max(std::fabs(static_cast<double>(half_to_float(a.s))), std::fabs(d16 * sum));
        slack += std::fabs(half_to_float(w.m)) * (2 * testing::kHalfRel * scale + 4064 * testing::kHalfAbs);
    }
    return slack;
}

TEST(LegacyVecDot, MatchesFloat64DotOfDequantizedRows) {
    uint64_t seed = 500;
    for (const DotCase& c : kCases) {
        const LegacyType& wt = legacy_type(c.w);
        const LegacyType& at = legacy_type(c.a);
        for (const int64_t n : {32, 32 * 7, 32 * 33}) {
            for (const float mean : {0.0f, 0.7f}) {
                const std::vector<float> w = spool::testing::random_floats(n, ++seed, 1.0f, mean);
                const std::vector<float> a = spool::testing::random_floats(n, ++seed, 2.0f);
                const std::vector<uint8_t> wq = testing::quantize(wt, w), aq = testing::quantize(at, a);
                const std::vector<float> wd = testing::dequantize(wt, wq), ad = testing::dequantize(at, aq);
                double exact = 0, magnitude = 0;
                for (int64_t i = 0; i < n; ++i) {
                    exact += static_cast<double>(wd[i]) * ad[i];
                    magnitude += std::fabs(static_cast<double>(wd[i]) * ad[i]);
                }
                float got = std::numeric_limits<float>::quiet_NaN();
                c.fn(n, &got, wq.data(), aq.data());
                // Per block: 3 float roundings (scale products, int to float), then n/32 float additions.
                const int64_t nb = n / 32;
                const double bound =
                    static_cast<double>(nb + 3) * FLT_EPSILON * magnitude + min_term_slack(c, wq, aq, nb);
                EXPECT_LE(std::fabs(got - exact), bound)
                    << wt.name << " x " << at.name << " n=" << n << " mean=" << mean << ": got " << got << ", float64 "
                    << exact << " (sum |w*a| " << magnitude << ")";
            }
        }
    }
}

// Against the original floats the error is the quantization noise of both rows: sum_i (w_i * ea_i + a_i * ew_i),
// with ew, ea spread over +-half a step (RMS step / sqrt(12)) and independent between elements. The bound is 6
// standard deviations of that sum plus the float64-dot bound of the test above.
TEST(LegacyVecDot, CloseToFloat64DotOfOriginalRows) {
    uint64_t seed = 900;
    for (const DotCase& c : kCases) {
        const LegacyType& wt = legacy_type(c.w);
        const LegacyType& at = legacy_type(c.a);
        for (const int64_t n : {32, 32 * 7, 32 * 33}) {
            const std::vector<float> w = spool::testing::random_floats(n, ++seed, 1.0f, 0.3f);
            const std::vector<float> a = spool::testing::random_floats(n, ++seed, 3.0f);
            const std::vector<uint8_t> wq = testing::quantize(wt, w), aq = testing::quantize(at, a);
            double exact = 0, variance = 0, magnitude = 0;
            for (int64_t i = 0; i < n; ++i) {
                exact += static_cast<double>(w[i]) * a[i];
                magnitude += std::fabs(static_cast<double>(w[i]) * a[i]);
                const double sw = testing::expected_scale(wt, w.data() + i / 32 * 32).d;
                const double sa = testing::expected_scale(at, a.data() + i / 32 * 32).d;
                const double wi = w[i], ai = a[i];
                variance += (ai * ai * sw * sw + wi * wi * sa * sa) / 12;
            }
            float got = std::numeric_limits<float>::quiet_NaN();
            c.fn(n, &got, wq.data(), aq.data());
            const double bound = 6 * std::sqrt(variance) +
                                 static_cast<double>(n / 32 + 3) * 2 * FLT_EPSILON * magnitude +
                                 min_term_slack(c, wq, aq, n / 32);
            EXPECT_LE(std::fabs(got - exact), bound) << wt.name << " x " << at.name << " n=" << n << ": got " << got
                                                     << ", float64 of the original rows " << exact;
        }
    }
}

TEST(LegacyVecDot, NonFiniteBlockGivesNaN) {
    for (const DotCase& c : kCases) {
        std::vector<float> w = spool::testing::random_floats(96, 31);
        const std::vector<float> a = spool::testing::random_floats(96, 32);
        w[50] = std::numeric_limits<float>::infinity();
        const auto wq = testing::quantize(legacy_type(c.w), w), aq = testing::quantize(legacy_type(c.a), a);
        float got = 0;
        c.fn(96, &got, wq.data(), aq.data());
        EXPECT_TRUE(std::isnan(got)) << legacy_type(c.w).name << ": " << got;
    }
}

TEST(LegacyVecDot, ZeroRowsGiveZero) {
    for (const DotCase& c : kCases) {
        const std::vector<float> w(64, 0.0f);
        const std::vector<float> a = spool::testing::random_floats(64, 33);
        const auto wq = testing::quantize(legacy_type(c.w), w), aq = testing::quantize(legacy_type(c.a), a);
        float got = 1;
        c.fn(64, &got, wq.data(), aq.data());
        EXPECT_EQ(got, 0.0f) << legacy_type(c.w).name;
    }
}

TEST(LegacyVecDot, TypeTableRowsUseTheseDots) {
    for (const DotCase& c : kCases) {
        EXPECT_EQ(type_info(c.w).vec_dot, c.fn) << type_info(c.w).name;
        EXPECT_EQ(type_info(c.w).vec_dot_type, c.a) << type_info(c.w).name;
    }
}

}  // namespace
}  // namespace spool::quant
