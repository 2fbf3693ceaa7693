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

// Float64 y = W x for all kTokens tokens, and per output the size of its float32 rounding budget:
// sum_i |x_i| * max_i |w_i| + |bias| (the bias is added by the check), as tolerance::kKQuantDotVsDequantized is defined.
using Reference = gpu_test::MatvecReference;

Reference reference_matvec(const QuantMatrix& m, const std::vector<float>& x, const std::vector<float>& bias) {
    Reference ref = gpu_test::reference_matvec(m, std::vector<double>(x.begin(), x.end()));
    for (size_t i = 0; i < ref.budget.size(); ++i) {
        ref.budget[i] += std::fabs(static_cast<double>(bias[i % static_cast<size_t>(m.n_rows)]));
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
    for (const gpu_test::WeightFormat& format : gpu_test::weight_formats()) {
        SCOPED_TRACE(gpu_test::format_name(format));
        for (const gpu_test::Shape& shape : gpu_test::test_shapes(format)) {
            const QuantMatrix m = gpu_test::make_quant_matrix(format, shape.n_rows, shape.n_cols, ++seed);
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

// ---- Fused forms: each against the float64 reference (residual add: bit-equal to the plain kernel plus the add).

double silu64(double g) { return g / (1.0 + std::exp(-g)); }
double gelu64(double g) { return 0.5 * g * (1.0 + std::tanh(0.79788456080286535588 * g * (1.0 + 0.044715 * g * g))); }

// Shapes the fused forms take: rows of whole 8-element groups.
std::vector<gpu_test::Shape> fusable_shapes(const gpu_test::WeightFormat& format) {
    std::vector<gpu_test::Shape> shapes;
    for (const gpu_test::Shape& s : gpu_test::test_shapes(format)) {
        if (s.n_cols % 8 == 0) shapes.push_back(s);
    }
    return shapes;
}

TEST(CudaMatvecFused, ResidualAddEqualsPlainMatvecPlusAdd) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 900;
    for (const gpu_test::WeightFormat& format : gpu_test::weight_formats()) {
        SCOPED_TRACE(gpu_test::format_name(format));
        for (const gpu_test::Shape& shape : fusable_shapes(format)) {
            gpu_test::expect_residual_add_is_matvec_plus_add(format, shape, seed, {1, 2, 3, 8},
                                                             ActivationPrecision::float32);
            seed += 3;
        }
    }
}

TEST(CudaMatvecFused, GatedUnitMatchesFloat64Reference) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 1000;
    for (const gpu_test::WeightFormat& format : gpu_test::weight_formats()) {
        const GgmlType type = format.type;
        SCOPED_TRACE(gpu_test::format_name(format));
        for (const gpu_test::Shape& shape : fusable_shapes(format)) {
            const QuantMatrix gate = gpu_test::make_quant_matrix(format, shape.n_rows, shape.n_cols, ++seed);
            const QuantMatrix up = gpu_test::make_quant_matrix(format, shape.n_rows, shape.n_cols, ++seed);
            const std::vector<float> x = testing::random_floats(static_cast<size_t>(kTokens * gate.n_cols), ++seed);
            const std::vector<float> zero_bias(static_cast<size_t>(gate.n_rows), 0.0f);
            const Reference g = reference_matvec(gate, x, zero_bias), u = reference_matvec(up, x, zero_bias);
            const DeviceVector<uint8_t> gate_dev(gate.bytes), up_dev(up.bytes);
            const DeviceVector<float> x_dev(x);
            for (Activation act : {Activation::silu, Activation::gelu}) {
                for (int64_t n_tokens : {1, 2, 3, 8}) {
                    DeviceVector<float> out(static_cast<size_t>(n_tokens * gate.n_rows));
                    gpu_test::poison(out);
                    launch_matvec_glu(gate.view(gate_dev.data()), up.view(up_dev.data()), x_dev.data(), n_tokens, act,
                                      out.data(), nullptr);
                    const std::vector<float> got = out.download();
                    double worst = 0;
                    size_t worst_i = 0;
                    for (size_t i = 0; i < got.size(); ++i) {
                        const double gv = g.y[i], uv = u.y[i];
                        const double a = act == Activation::silu ? silu64(gv) : gelu64(gv);
                        const double expected = a * uv;
                        // Error of each dot within its rounding budget, carried through act(g) * u (|act'| <= 1.13).
                        const double bound = tolerance::kKQuantDotVsDequantized *
                                                 (1.13 * std::fabs(uv) * g.budget[i] + std::fabs(a) * u.budget[i]) +
                                             1e-6 * std::fabs(expected) + 1e-30;
                        const double ratio = std::isnan(got[i]) ? INFINITY : std::fabs(got[i] - expected) / bound;
                        if (ratio > worst || std::isnan(ratio)) worst = ratio, worst_i = i;
                    }
                    EXPECT_LE(worst, 1.0) << gpu_test::shape_name(type, gate.n_rows, gate.n_cols) << " n_tokens "
                                          << n_tokens << (act == Activation::silu ? " silu" : " gelu") << ": output "
                                          << worst_i << " got " << got[worst_i];
                }
            }
        }
    }
}

TEST(CudaMatvecFused, BatchOfThreeMatchesFloat64Reference) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 1100;
    for (const gpu_test::WeightFormat& format : gpu_test::weight_formats()) {
        const GgmlType type = format.type;
        SCOPED_TRACE(gpu_test::format_name(format));
        const std::vector<gpu_test::Shape> shapes = fusable_shapes(format);
        const int64_t n_cols = shapes[1].n_cols;
        // q, k, v-like row counts: the first not a multiple of the block's rows, the others smaller.
        const int64_t rows[3] = {1031, 37, 131};
        std::vector<QuantMatrix> ms;
        std::vector<Reference> refs;
        std::vector<std::vector<float>> biases;
        const std::vector<float> x = testing::random_floats(static_cast<size_t>(kTokens * n_cols), ++seed);
        for (int i = 0; i < 3; ++i) {
            ms.push_back(gpu_test::make_quant_matrix(format, rows[i], n_cols, ++seed));
            biases.push_back(testing::random_floats(static_cast<size_t>(rows[i]), ++seed));
            refs.push_back(reference_matvec(ms.back(), x, biases.back()));
        }
        std::vector<DeviceVector<uint8_t>> w_dev;
        std::vector<DeviceVector<float>> b_dev;
        for (int i = 0; i < 3; ++i) w_dev.emplace_back(ms[i].bytes), b_dev.emplace_back(biases[i]);
        const DeviceVector<float> x_dev(x);
        for (int count : {2, 3}) {
            for (int64_t n_tokens : {1, 3, 8}) {
                std::vector<DeviceVector<float>> ys;
                MatvecBatch batch;
                batch.count = count;
                for (int i = 0; i < count; ++i) {
                    ys.emplace_back(static_cast<size_t>(n_tokens * rows[i]));
                    gpu_test::poison(ys.back());
                }
                for (int i = 0; i < count; ++i) {
                    batch.w[i] = ms[i].view(w_dev[i].data());
                    batch.bias[i] = i == 1 ? nullptr : b_dev[i].data();  // biases optional per matrix
                    batch.y[i] = ys[i].data();
                }
                launch_matvec_batch(batch, x_dev.data(), n_tokens, nullptr);
                for (int i = 0; i < count; ++i) {
                    const std::vector<float> got = ys[i].download();
                    double worst = 0;
                    size_t worst_i = 0;
                    for (size_t j = 0; j < got.size(); ++j) {
                        const size_t r = j % static_cast<size_t>(rows[i]);
                        const double expected = refs[i].y[j] + (i == 1 ? 0.0 : static_cast<double>(biases[i][r]));
                        const double ratio = std::isnan(got[j]) ? INFINITY
                                                                : std::fabs(got[j] - expected) / refs[i].budget[j];
                        if (ratio > worst || std::isnan(ratio)) worst = ratio, worst_i = j;
                    }
                    EXPECT_LE(worst, tolerance::kKQuantDotVsDequantized)
                        << type_name(type) << " count " << count << " matrix " << i << " n_tokens " << n_tokens
                        << ": output " << worst_i << " got " << got[worst_i];
                }
            }
        }
    }
}

// A 4 x 256 Q4_K view at a made-up device address, for argument checks that fail before any device work.
WeightView fake_q4k_view() { return gpu_test::unbacked_view(GgmlType::Q4_K, 4, 256, 144); }

TEST(CudaMatvecFused, RejectsBadCallsBeforeTouchingTheDevice) {
    const WeightView w = fake_q4k_view();
    const float* x = reinterpret_cast<const float*>(uintptr_t{512});
    float* y = reinterpret_cast<float*>(uintptr_t{1024});
    EXPECT_TRUE(matvec_fusable(w, x));
    EXPECT_FALSE(matvec_fusable(w, x + 1));
    EXPECT_THROW(launch_matvec_add(w, x + 1, 1, y, nullptr), UsageError);
    EXPECT_THROW(launch_matvec_add(w, x, 9, y, nullptr), UsageError);
    WeightView other = w;
    other.type = GgmlType::Q6_K;
    other.row_bytes = 210;
    EXPECT_THROW(launch_matvec_glu(w, other, x, 1, Activation::silu, y, nullptr), UsageError);  // types differ
    other = w;
    other.n_rows = 5;
    EXPECT_THROW(launch_matvec_glu(w, other, x, 1, Activation::silu, y, nullptr), UsageError);  // rows differ
    MatvecBatch batch;
    batch.count = 0;
    EXPECT_THROW(launch_matvec_batch(batch, x, 1, nullptr), UsageError);
    batch.count = 4;
    EXPECT_THROW(launch_matvec_batch(batch, x, 1, nullptr), UsageError);
    batch.count = 2;
    batch.w[0] = w;
    batch.w[1] = w;
    batch.w[1].n_cols = 512;
    batch.w[1].row_bytes = 288;
    EXPECT_THROW(launch_matvec_batch(batch, x, 1, nullptr), UsageError);  // n_cols differ
    WeightView f16 = w;
    f16.type = GgmlType::F16;
    f16.n_cols = 36;
    f16.row_bytes = 72;
    EXPECT_FALSE(matvec_fusable(f16, x));  // not whole 8-element groups
}

// Argument checks run on the host before any device work, so they need no GPU.
TEST(CudaMatvec, RejectsBadCallsBeforeTouchingTheDevice) {
    const WeightView w = fake_q4k_view();
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
