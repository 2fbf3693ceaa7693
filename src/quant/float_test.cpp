// Tests of the F32 / F16 / BF16 row conversions and dot products (float.cpp) on seeded data, odd sizes, edge values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/half.h"
#include "quant/reference.h"
#include "quant/types.h"
#include "test_support.h"

namespace spool::quant {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> round_trip(QuantizeRowFn quantize, DequantizeRowFn dequantize, size_t elem_bytes,
                              const std::vector<float>& x) {
    std::vector<uint8_t> q(x.size() * elem_bytes);
    quantize(x.data(), q.data(), static_cast<int64_t>(x.size()));
    std::vector<float> y(x.size());
    dequantize(q.data(), y.data(), static_cast<int64_t>(y.size()));
    return y;
}

TEST(FloatRows, F32IsACopy) {
    for (const int64_t n : {1, 7, 33, 1001}) {
        const std::vector<float> x = spool::testing::random_floats(n, 40 + n);
        EXPECT_EQ(round_trip(quantize_row_f32_ref, dequantize_row_f32, 4, x), x);
    }
}

// Round to nearest: relative error <= 2^-11 (F16; absolute 2^-25 among its subnormals) and 2^-8 (BF16), and each
// stored value is the format's own rounding of x (half.h, tested exhaustively in core/half_test.cpp).
TEST(FloatRows, F16AndBf16RoundToNearest) {
    for (const int64_t n : {1, 7, 33, 1001}) {
        const std::vector<float> x = spool::testing::random_floats(n, 60 + n, 3.0f);
        const std::vector<float> h = round_trip(quantize_row_f16_ref, dequantize_row_f16, 2, x);
        const std::vector<float> b = round_trip(quantize_row_bf16_ref, dequantize_row_bf16, 2, x);
        for (int64_t i = 0; i < n; ++i) {
            ASSERT_EQ(h[i], half_to_float(float_to_half(x[i]))) << i;
            ASSERT_EQ(b[i], bf16_to_float(float_to_bf16(x[i]))) << i;
            ASSERT_LE(std::fabs(static_cast<double>(h[i]) - x[i]), std::max(std::fabs(x[i]) / 2048.0, 0x1p-25)) << i;
            ASSERT_LE(std::fabs(static_cast<double>(b[i]) - x[i]), std::fabs(x[i]) / 256.0) << i;
        }
    }
}

// F16 and BF16 keep IEEE semantics: NaN stays NaN, infinities stay, F16 overflows to infinity beyond 65520 and
// underflows to (signed) zero below 2^-25; BF16 has float's range.
TEST(FloatRows, EdgeValuesFollowIeee) {
    const std::vector<float> x = {std::numeric_limits<float>::quiet_NaN(), kInf, -kInf, 1e30f, -1e30f, 1e-30f,
                                  -1e-30f, 0.0f, -0.0f, 65504.0f, 65520.0f, 6e-8f};
    const std::vector<float> h = round_trip(quantize_row_f16_ref, dequantize_row_f16, 2, x);
    const std::vector<float> b = round_trip(quantize_row_bf16_ref, dequantize_row_bf16, 2, x);
    EXPECT_TRUE(std::isnan(h[0]));
    EXPECT_TRUE(std::isnan(b[0]));
    EXPECT_EQ(h[1], kInf);
    EXPECT_EQ(h[2], -kInf);
    EXPECT_EQ(h[3], kInf);
    EXPECT_EQ(h[4], -kInf);
    EXPECT_EQ(h[5], 0.0f);
    EXPECT_TRUE(std::signbit(h[6]));
    EXPECT_EQ(h[9], 65504.0f);
    EXPECT_EQ(h[10], kInf);
    EXPECT_EQ(h[11], 5.9604644775390625e-8f);  // the smallest fp16 subnormal
    EXPECT_LE(std::fabs(b[3] - 1e30f), 1e30f / 256);
    EXPECT_LE(std::fabs(b[5] - 1e-30f), 1e-30f / 256);
    EXPECT_EQ(b[1], kInf);
}

TEST(FloatRows, UnalignedRows) {
    const std::vector<float> x = spool::testing::random_floats(33, 70);
    std::vector<uint8_t> storage(33 * 2 + 1);
    quantize_row_f16_ref(x.data(), storage.data() + 1, 33);
    std::vector<float> y(33);
    dequantize_row_f16(storage.data() + 1, y.data(), 33);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(y[i], half_to_float(float_to_half(x[i]))) << i;
    float dot = 0;
    vec_dot_f16_f16(33, &dot, storage.data() + 1, storage.data() + 1);
    double expected = 0;
    for (float v : y) expected += static_cast<double>(v * v);
    EXPECT_EQ(dot, static_cast<float>(expected));
}

// The dot products multiply in float and add in double, so against a float64 dot of the stored values the error is
// at most half an ulp per product plus the final rounding to float: FLT_EPSILON * sum |w * a|.
// Against the original floats, F16/BF16 rounding of both rows adds up to 2 * 2^-11 (2^-8) of sum |w * a|.
TEST(FloatDot, MatchesFloat64) {
    struct Case {
        const char* name;
        QuantizeRowFn quantize;
        DequantizeRowFn dequantize;
        VecDotFn dot;
        size_t bytes;
        double rel;  // rounding of one stored value
    };
    const Case cases[] = {
        {"F32", quantize_row_f32_ref, dequantize_row_f32, vec_dot_f32_f32, 4, 0.0},
        {"F16", quantize_row_f16_ref, dequantize_row_f16, vec_dot_f16_f16, 2, 1.0 / 2048},
        {"BF16", quantize_row_bf16_ref, dequantize_row_bf16, vec_dot_bf16_bf16, 2, 1.0 / 256},
    };
    uint64_t seed = 80;
    for (const Case& c : cases) {
        for (const int64_t n : {1, 7, 33, 32 * 33 + 5}) {
            const std::vector<float> w = spool::testing::random_floats(n, ++seed, 1.0f, 0.2f);
            const std::vector<float> a = spool::testing::random_floats(n, ++seed, 4.0f);
            std::vector<uint8_t> wq(n * c.bytes), aq(n * c.bytes);
            c.quantize(w.data(), wq.data(), n);
            c.quantize(a.data(), aq.data(), n);
            std::vector<float> wd(n), ad(n);
            c.dequantize(wq.data(), wd.data(), n);
            c.dequantize(aq.data(), ad.data(), n);
            double stored = 0, original = 0, magnitude = 0;
            for (int64_t i = 0; i < n; ++i) {
                stored += static_cast<double>(wd[i]) * ad[i];
                original += static_cast<double>(w[i]) * a[i];
                magnitude += std::fabs(static_cast<double>(w[i]) * a[i]);
            }
            float got = std::numeric_limits<float>::quiet_NaN();
            c.dot(n, &got, wq.data(), aq.data());
            EXPECT_LE(std::fabs(got - stored), FLT_EPSILON * magnitude * (1 + 2 * c.rel))
                << c.name << " n=" << n << ": got " << got << ", float64 " << stored;
            EXPECT_LE(std::fabs(got - original), (FLT_EPSILON + 2 * c.rel + c.rel * c.rel) * magnitude)
                << c.name << " n=" << n << ": got " << got << ", float64 of the original rows " << original;
        }
    }
}

TEST(FloatRows, TypeTableRowsUseTheseKernels) {
    EXPECT_EQ(type_info(GgmlType::F32).dequantize_row, dequantize_row_f32);
    EXPECT_EQ(type_info(GgmlType::F16).quantize_row, quantize_row_f16_ref);
    EXPECT_EQ(type_info(GgmlType::F16).vec_dot, vec_dot_f16_f16);
    EXPECT_EQ(type_info(GgmlType::BF16).dequantize_row, dequantize_row_bf16);
    EXPECT_EQ(type_info(GgmlType::BF16).vec_dot, vec_dot_bf16_bf16);
}

}  // namespace
}  // namespace spool::quant
