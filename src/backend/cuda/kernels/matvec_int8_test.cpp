// ActivationPrecision::int8 (launch.h): the decode matvecs with x rounded to int8 per 8-element group. Every quantized
// type at 1 and 2 tokens against a float64 dot of the reference dequantization with x~ (x as launch.h rounds it,
// replayed bit for bit), so only float32 summation separates the two; the float32 path, bit for bit, where int8
// does not apply (float weights, more than kMatvecInt8MaxTokens tokens); non-finite and all-but-zero groups of x.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/matvec_int8_test_support.h"
#include "backend/cuda/kernels/weight_test_support.h"
#include "tolerances.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;
using gpu_test::QuantMatrix;
using gpu_test::kFloat32, gpu_test::kGroup, gpu_test::kInt8, gpu_test::kTokens;
using gpu_test::Fit, gpu_test::fit, gpu_test::describe, gpu_test::where, gpu_test::first_bit_difference;
using gpu_test::int8_shapes, gpu_test::quantized_formats, gpu_test::round_int8, gpu_test::small_shapes,
    gpu_test::types_where;

// A check is not vacuous when the wrong answer misses the NMSE bound by this factor.
constexpr double kDistinct = 100.0;

std::vector<double> widen(const std::vector<float>& x) { return std::vector<double>(x.begin(), x.end()); }

using Reference = gpu_test::MatvecReference;
using gpu_test::reference_matvec;

std::vector<float> run_matvec(const QuantMatrix& m, const DeviceVector<uint8_t>& w, const float* x, int64_t n_tokens,
                              const float* bias, ActivationPrecision precision) {
    DeviceVector<float> y(static_cast<size_t>(n_tokens * m.n_rows));
    gpu_test::poison(y);
    launch_matvec(m.view(w.data()), x, n_tokens, bias, y.data(), nullptr, precision);
    return y.download();
}

// ---- The host rounding itself (no GPU): the formula of launch.h on hand-made groups.

TEST(CudaMatvecInt8, HostRoundingFollowsTheDefinition) {
    // amax 127 makes inv exactly 1, so q is x rounded to the nearest integer, ties to even.
    const std::vector<float> exact = {127.0f, 2.5f, 3.5f, -2.5f, -0.5f, 0.49f, 126.5f, -127.0f};
    const double q_exact[8] = {127, 2, 4, -2, 0, 0, 126, -127};
    const double d = static_cast<double>(127.0f * (1.0f / 127.0f));
    const std::vector<double> rounded = round_int8(exact, 8);
    for (int i = 0; i < 8; ++i) EXPECT_EQ(rounded[i], d * q_exact[i]) << "element " << i;

    // Random groups: integer levels within +-127, each x~ within half a step of x, the largest |x| at +-127 steps.
    const int64_t n_cols = 20;  // two whole groups and a partial one per token; 3 tokens
    const std::vector<float> x = testing::random_floats(3 * n_cols, 4242);
    const std::vector<double> xr = round_int8(x, n_cols);
    for (int64_t t = 0; t < 3; ++t) {
        for (int64_t j = 0; j < n_cols; j += kGroup) {
            const int64_t end = std::min(j + kGroup, n_cols);
            float amax = 0;
            for (int64_t i = j; i < end; ++i) amax = std::max(amax, std::fabs(x[t * n_cols + i]));
            const double step = static_cast<double>(amax * (1.0f / 127.0f));
            for (int64_t i = j; i < end; ++i) {
                const size_t k = static_cast<size_t>(t * n_cols + i);
                const double q = xr[k] / step;
                EXPECT_EQ(q, std::nearbyint(q)) << "token " << t << " column " << i;
                EXPECT_LE(std::fabs(q), 127.0) << "token " << t << " column " << i;
                // Half a step, plus d * inv = 1 +- 2 float ulps carried to |x| <= 127 steps.
                EXPECT_LE(std::fabs(xr[k] - x[k]), (0.5 + 1e-4) * step) << "token " << t << " column " << i;
                if (std::fabs(x[k]) == amax) {
                    EXPECT_EQ(std::fabs(q), 127.0) << "token " << t << " column " << i;
                }
            }
        }
    }

    // A NaN or an infinity takes its whole group (inv = 0 or NaN makes every x~ NaN) and nothing else; groups of
    // |x| < 1e-30 (zeros, subnormals) round to 0.
    std::vector<float> special = testing::random_floats(5 * kGroup, 4343);
    special[1 * kGroup + 3] = std::numeric_limits<float>::quiet_NaN();
    special[2 * kGroup + 5] = INFINITY;
    for (int i = 0; i < kGroup; ++i) special[3 * kGroup + i] = (i % 2 == 0 ? 0.0f : 1e-39f * (i + 1));
    const std::vector<double> sr = round_int8(special, 5 * kGroup);
    for (int i = 0; i < 5 * kGroup; ++i) {
        const int group = i / kGroup;
        if (group == 1 || group == 2) {
            EXPECT_TRUE(std::isnan(sr[i])) << "element " << i;
        } else if (group == 3) {
            EXPECT_EQ(sr[i], 0.0) << "element " << i;
        } else {
            EXPECT_TRUE(std::isfinite(sr[i]) && sr[i] != 0.0) << "element " << i;
        }
    }
}

// ---- launch_matvec with int8

TEST(CudaMatvecInt8, EveryQuantizedTypeAndShapeMatchesRoundedReference) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 2100;
    for (const gpu_test::WeightFormat& format : quantized_formats()) {
        const GgmlType type = format.type;
        SCOPED_TRACE(gpu_test::format_name(format));
        for (const gpu_test::Shape& shape : int8_shapes(format)) {
            const QuantMatrix m = gpu_test::make_quant_matrix(format, shape.n_rows, shape.n_cols, ++seed);
            const std::vector<float> x = testing::random_floats(static_cast<size_t>(kTokens * m.n_cols), ++seed);
            const std::vector<float> bias = testing::random_floats(static_cast<size_t>(m.n_rows), ++seed);
            const Reference ref = reference_matvec(m, round_int8(x, m.n_cols));
            const std::string name = gpu_test::shape_name(type, m.n_rows, m.n_cols);
            // Not vacuous: x unrounded, or rounded per 32 columns, misses the NMSE bound by far.
            const Fit exact = fit(reference_matvec(m, widen(x)).y, ref, m.n_rows);
            const Fit per32 = fit(reference_matvec(m, round_int8(x, m.n_cols, 32)).y, ref, m.n_rows);
            EXPECT_GT(exact.nmse, kDistinct * tolerance::kParityNmseMatmulF32) << name << ": x vs x~";
            EXPECT_GT(per32.nmse, kDistinct * tolerance::kParityNmseMatmulF32) << name << ": groups of 32 vs 8";

            const DeviceVector<uint8_t> w_dev(m.bytes);
            const DeviceVector<float> x_dev(x), bias_dev(bias);
            for (int64_t n_tokens = 1; n_tokens <= kTokens; ++n_tokens) {
                for (const bool with_bias : {false, true}) {
                    const std::vector<float> y =
                        run_matvec(m, w_dev, x_dev.data(), n_tokens, with_bias ? bias_dev.data() : nullptr, kInt8);
                    const Fit f = fit(y, ref, m.n_rows, with_bias ? &bias : nullptr);
                    EXPECT_LE(f.nmse, tolerance::kParityNmseMatmulF32)
                        << where(type, m.n_rows, m.n_cols, n_tokens) << (with_bias ? " bias" : "") << ": "
                        << describe(f, m.n_rows);
                    EXPECT_LE(f.worst_ratio, tolerance::kKQuantDotVsDequantized)
                        << where(type, m.n_rows, m.n_cols, n_tokens) << (with_bias ? " bias" : "") << ": "
                        << describe(f, m.n_rows);
                }
                // int8 was asked for and used: the float32 path's result does not fit x~.
                const std::vector<float> y32 = run_matvec(m, w_dev, x_dev.data(), n_tokens, nullptr, kFloat32);
                EXPECT_GT(fit(y32, ref, m.n_rows).nmse, kDistinct * tolerance::kParityNmseMatmulF32)
                    << where(type, m.n_rows, m.n_cols, n_tokens) << ": float32 and int8 are indistinguishable here";
            }
        }
    }
}

TEST(CudaMatvecInt8, FloatWeightsAndLargerBatchesRunTheFloat32Path) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 2300;
    for (GgmlType type : gpu_test::weight_types()) {
        const bool quantized = type_info(type).is_quantized;
        for (const gpu_test::Shape& shape : quantized ? small_shapes({type}) : gpu_test::test_shapes(type)) {
            const QuantMatrix m = gpu_test::make_quant_matrix(type, shape.n_rows, shape.n_cols, ++seed);
            const std::vector<float> x =
                testing::random_floats(static_cast<size_t>(kMatvecMaxTokens * m.n_cols), ++seed);
            const std::vector<float> bias = testing::random_floats(static_cast<size_t>(m.n_rows), ++seed);
            const DeviceVector<uint8_t> w_dev(m.bytes);
            const DeviceVector<float> x_dev(x), bias_dev(bias);
            for (int64_t n_tokens = quantized ? kTokens + 1 : 1; n_tokens <= kMatvecMaxTokens; ++n_tokens) {
                const std::vector<float> a = run_matvec(m, w_dev, x_dev.data(), n_tokens, bias_dev.data(), kInt8);
                const std::vector<float> b = run_matvec(m, w_dev, x_dev.data(), n_tokens, bias_dev.data(), kFloat32);
                const size_t i = first_bit_difference(a, b);
                EXPECT_EQ(i, a.size()) << where(type, m.n_rows, m.n_cols, n_tokens) << ": output " << i
                                       << " int8 asked " << a[i] << ", float32 " << b[i];
            }
        }
    }
}

TEST(CudaMatvecInt8, NonFiniteInputMakesItsTokenNonFiniteOnly) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 2500;
    for (GgmlType type : types_where(true)) {
        const gpu_test::Shape shape = gpu_test::test_shapes(type)[1];
        const QuantMatrix m = gpu_test::make_quant_matrix(type, shape.n_rows, shape.n_cols, ++seed);
        const std::vector<float> bias = testing::random_floats(static_cast<size_t>(m.n_rows), ++seed);
        const DeviceVector<uint8_t> w_dev(m.bytes);
        const DeviceVector<float> bias_dev(bias);
        for (const float bad : {std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY}) {
            for (int64_t bad_token = 0; bad_token < kTokens; ++bad_token) {
                std::vector<float> x = testing::random_floats(static_cast<size_t>(kTokens * m.n_cols), ++seed);
                x[static_cast<size_t>(bad_token * m.n_cols + m.n_cols / 2 + 3)] = bad;  // mid-group, mid-row
                const DeviceVector<float> x_dev(x);
                const std::vector<float> y = run_matvec(m, w_dev, x_dev.data(), kTokens, bias_dev.data(), kInt8);
                size_t wrong = 0, first = 0;
                for (size_t i = 0; i < y.size(); ++i) {
                    const bool in_bad_token = static_cast<int64_t>(i) / m.n_rows == bad_token;
                    if (std::isfinite(y[i]) == in_bad_token && wrong++ == 0) first = i;
                }
                EXPECT_EQ(wrong, 0u) << where(type, m.n_rows, m.n_cols, kTokens) << ": x " << bad << " in token "
                                     << bad_token << "; output " << first << " (token " << first / m.n_rows
                                     << ") is " << y[first];
            }
        }
    }
}

TEST(CudaMatvecInt8, NearZeroGroupsRoundToZero) {
    SPOOL_REQUIRE_GPU();
    // Groups with max |x| below 1e-30 (zeros; tiny normals; subnormals) have inv = 0, x~ = 0: a kernel dividing by
    // such an amax turns them into NaN. A group just above the threshold keeps its (finite) levels.
    uint64_t seed = 2700;
    for (GgmlType type : types_where(true)) {
        const gpu_test::Shape shape = gpu_test::test_shapes(type)[1];
        const QuantMatrix m = gpu_test::make_quant_matrix(type, shape.n_rows, shape.n_cols, ++seed);
        std::vector<float> x = testing::random_floats(static_cast<size_t>(kTokens * m.n_cols), ++seed);
        for (int64_t t = 0; t < kTokens; ++t) {
            float* xt = x.data() + t * m.n_cols;
            for (int i = 0; i < kGroup; ++i) {
                xt[1 * kGroup + i] = 0.0f;
                xt[3 * kGroup + i] *= 1e-32f;
                xt[5 * kGroup + i] *= 1e-39f;
                xt[7 * kGroup + i] = std::copysign(i == 2 ? 2e-30f : 1e-31f * (i + 1), xt[7 * kGroup + i]);
            }
        }
        const Reference ref = reference_matvec(m, round_int8(x, m.n_cols));
        const DeviceVector<uint8_t> w_dev(m.bytes);
        const DeviceVector<float> x_dev(x);
        for (int64_t n_tokens = 1; n_tokens <= kTokens; ++n_tokens) {
            const std::vector<float> y = run_matvec(m, w_dev, x_dev.data(), n_tokens, nullptr, kInt8);
            const Fit f = fit(y, ref, m.n_rows);
            EXPECT_LE(f.nmse, tolerance::kParityNmseMatmulF32)
                << where(type, m.n_rows, m.n_cols, n_tokens) << ": " << describe(f, m.n_rows);
            EXPECT_LE(f.worst_ratio, tolerance::kKQuantDotVsDequantized)
                << where(type, m.n_rows, m.n_cols, n_tokens) << ": " << describe(f, m.n_rows);
        }
    }
}

}  // namespace
}  // namespace spool::cuda
