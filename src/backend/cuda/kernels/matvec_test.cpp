// launch_matvec against a float64 dot of the reference dequantization (quant/), for every weight type, at odd shapes,
// for 1..8 tokens, with and without bias. Float32 arithmetic only, so the NMSE bound is the float32 matmul one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/weight_test_support.h"
#include "spool/errors.h"
#include "tolerances.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;
using gpu_test::QuantMatrix;

constexpr int64_t kTokens = kMatvecMaxTokens;

// Float64 y = W x + bias for all kTokens tokens, and per output the size of its float32 rounding budget:
// sum_i |x_i| * max_i |w_i| (+ |bias|), as tolerance::kKQuantDotVsDequantized is defined.
struct Reference {
    std::vector<double> y;       // [kTokens, n_rows]
    std::vector<double> budget;  // [kTokens, n_rows]
};

Reference reference_matvec(const QuantMatrix& m, const std::vector<float>& x, const std::vector<float>& bias) {
    Reference ref{std::vector<double>(static_cast<size_t>(kTokens * m.n_rows)),
                  std::vector<double>(static_cast<size_t>(kTokens * m.n_rows))};
    for (int64_t r = 0; r < m.n_rows; ++r) {
        const float* w = m.dequantized.data() + r * m.n_cols;
        double max_w = 0;
        for (int64_t i = 0; i < m.n_cols; ++i) max_w = std::max(max_w, std::fabs(static_cast<double>(w[i])));
        for (int64_t t = 0; t < kTokens; ++t) {
            const float* xt = x.data() + t * m.n_cols;
            double sum = 0, sum_abs_x = 0;
            for (int64_t i = 0; i < m.n_cols; ++i) {
                sum += static_cast<double>(w[i]) * xt[i];
                sum_abs_x += std::fabs(static_cast<double>(xt[i]));
            }
            ref.y[t * m.n_rows + r] = sum;
            ref.budget[t * m.n_rows + r] = sum_abs_x * max_w + std::fabs(static_cast<double>(bias[r]));
        }
    }
    return ref;
}

// Runs launch_matvec for n_tokens and checks every output: NMSE <= kParityNmseMatmulF32 and each |error| within
// kKQuantDotVsDequantized of its rounding budget.
void check_matvec(const QuantMatrix& m, const DeviceVector<uint8_t>& w_dev, const float* x_dev, int64_t n_tokens,
                  const float* bias_dev, const std::vector<float>& bias, const Reference& ref) {
    DeviceVector<float> y_dev(static_cast<size_t>(n_tokens * m.n_rows));
    gpu_test::poison(y_dev);
    launch_matvec(m.view(w_dev.data()), x_dev, n_tokens, bias_dev, y_dev.data(), nullptr);
    const std::vector<float> y = y_dev.download();

    std::vector<double> expected(y.size());
    double err_sq = 0, ref_sq = 0, worst_ratio = 0;
    size_t worst = 0;
    for (size_t i = 0; i < y.size(); ++i) {
        const size_t r = i % static_cast<size_t>(m.n_rows);
        expected[i] = ref.y[i] + (bias_dev != nullptr ? static_cast<double>(bias[r]) : 0.0);
        const double err = std::fabs(static_cast<double>(y[i]) - expected[i]);
        err_sq += err * err;
        ref_sq += expected[i] * expected[i];
        const double ratio = std::isnan(err) ? INFINITY : err / ref.budget[i];
        if (ratio > worst_ratio || std::isnan(err)) worst_ratio = ratio, worst = i;
    }
    const auto c = testing::compare(std::span<const double>(expected), std::span<const float>(y));
    const double nmse = err_sq / ref_sq;
    EXPECT_LE(nmse, tolerance::kParityNmseMatmulF32)
        << gpu_test::shape_name(m.type, m.n_rows, m.n_cols) << " n_tokens " << n_tokens
        << (bias_dev ? " bias" : "") << ": nmse " << nmse << "; " << c.report();
    EXPECT_LE(worst_ratio, tolerance::kKQuantDotVsDequantized)
        << gpu_test::shape_name(m.type, m.n_rows, m.n_cols) << " n_tokens " << n_tokens
        << (bias_dev ? " bias" : "") << ": output " << worst << " (token " << worst / m.n_rows << ", row "
        << worst % m.n_rows << ") expected " << expected[worst] << ", got " << y[worst] << "; " << c.report();
}

TEST(CudaMatvec, EveryTypeAndShapeMatchesFloat64Reference) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 100;
    for (GgmlType type : gpu_test::weight_types()) {
        for (const gpu_test::Shape& shape : gpu_test::test_shapes(type)) {
            const QuantMatrix m = gpu_test::make_quant_matrix(type, shape.n_rows, shape.n_cols, ++seed);
            const std::vector<float> x = testing::random_floats(static_cast<size_t>(kTokens * m.n_cols), ++seed);
            const std::vector<float> bias = testing::random_floats(static_cast<size_t>(m.n_rows), ++seed);
            const Reference ref = reference_matvec(m, x, bias);
            const DeviceVector<uint8_t> w_dev(m.bytes);
            const DeviceVector<float> x_dev(x), bias_dev(bias);
            // Every token count on the smallest shape; 1, 2, 3 and 8 elsewhere.
            const bool all_counts = shape.n_rows == 37;
            for (int64_t n_tokens = 1; n_tokens <= kTokens; ++n_tokens) {
                if (!all_counts && n_tokens > 3 && n_tokens != kTokens) continue;
                check_matvec(m, w_dev, x_dev.data(), n_tokens, nullptr, bias, ref);
                check_matvec(m, w_dev, x_dev.data(), n_tokens, bias_dev.data(), bias, ref);
            }
        }
    }
}

TEST(CudaMatvec, RowStrideLargerThanThePackedRow) {
    SPOOL_REQUIRE_GPU();
    // Padding keeps each type's row alignment (quant_blocks.cuh kRowAlign): 16, 8, 4 or 2 bytes.
    const struct {
        GgmlType type;
        int64_t n_cols;
        size_t padding;
    } cases[] = {{GgmlType::Q4_K, 512, 16}, {GgmlType::Q6_K, 512, 2}, {GgmlType::Q8_0, 96, 2},
                 {GgmlType::Q4_1, 96, 4},   {GgmlType::F16, 64, 16},  {GgmlType::F32, 64, 16}};
    uint64_t seed = 700;
    for (const auto& c : cases) {
        const QuantMatrix m = gpu_test::make_quant_matrix(c.type, 45, c.n_cols, ++seed, c.padding);
        const std::vector<float> x = testing::random_floats(static_cast<size_t>(kTokens * m.n_cols), ++seed);
        const std::vector<float> bias = testing::random_floats(static_cast<size_t>(m.n_rows), ++seed);
        const Reference ref = reference_matvec(m, x, bias);
        const DeviceVector<uint8_t> w_dev(m.bytes);
        const DeviceVector<float> x_dev(x);
        for (int64_t n_tokens : {1, 8}) check_matvec(m, w_dev, x_dev.data(), n_tokens, nullptr, bias, ref);
    }
}

TEST(CudaMatvec, FloatWeightsTakeUnalignedActivations) {
    SPOOL_REQUIRE_GPU();
    // x one float past a 16-byte boundary: float weights fall back to the element-at-a-time kernel.
    uint64_t seed = 800;
    for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
        const QuantMatrix m = gpu_test::make_quant_matrix(type, 53, 264, ++seed);
        const std::vector<float> x = testing::random_floats(static_cast<size_t>(kTokens * m.n_cols), ++seed);
        const std::vector<float> bias = testing::random_floats(static_cast<size_t>(m.n_rows), ++seed);
        const Reference ref = reference_matvec(m, x, bias);
        const DeviceVector<uint8_t> w_dev(m.bytes);
        std::vector<float> x_shifted(x.size() + 1, 0.0f);
        std::copy(x.begin(), x.end(), x_shifted.begin() + 1);
        const DeviceVector<float> x_dev(x_shifted);
        for (int64_t n_tokens : {1, 3}) check_matvec(m, w_dev, x_dev.data() + 1, n_tokens, nullptr, bias, ref);
    }
}

// Argument checks run on the host before any device work, so they need no GPU.
TEST(CudaMatvec, RejectsBadCallsBeforeTouchingTheDevice) {
    WeightView w;
    w.data = reinterpret_cast<const void*>(uintptr_t{256});
    w.type = GgmlType::Q4_K;
    w.n_cols = 256;
    w.n_rows = 4;
    w.row_bytes = 144;
    const float* x = reinterpret_cast<const float*>(uintptr_t{512});
    float* y = reinterpret_cast<float*>(uintptr_t{1024});
    EXPECT_THROW(launch_matvec(w, x, 0, nullptr, y, nullptr), UsageError);
    EXPECT_THROW(launch_matvec(w, x, kMatvecMaxTokens + 1, nullptr, y, nullptr), UsageError);
    EXPECT_THROW(launch_matvec(w, x + 1, 1, nullptr, y, nullptr), UsageError);  // float4 reads of x
    WeightView bad = w;
    bad.n_cols = 250;
    EXPECT_THROW(launch_matvec(bad, x, 1, nullptr, y, nullptr), UsageError);  // not whole super-blocks
    bad = w;
    bad.row_bytes = 100;
    EXPECT_THROW(launch_matvec(bad, x, 1, nullptr, y, nullptr), UsageError);  // row too short
    bad = w;
    bad.data = reinterpret_cast<const void*>(uintptr_t{264});
    EXPECT_THROW(launch_matvec(bad, x, 1, nullptr, y, nullptr), UsageError);  // 8-byte aligned only
    bad = w;
    bad.type = GgmlType::IQ2_XXS;
    EXPECT_THROW(launch_matvec(bad, x, 1, nullptr, y, nullptr), UnsupportedError);
    EXPECT_FALSE(weight_type_supported(GgmlType::IQ2_XXS));
    EXPECT_FALSE(weight_type_supported(GgmlType::Q8_K));
    for (GgmlType type : gpu_test::weight_types()) EXPECT_TRUE(weight_type_supported(type)) << type_name(type);
}

}  // namespace
}  // namespace spool::cuda
