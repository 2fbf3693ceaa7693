// ActivationPrecision::int8 (launch.h): the decode matvecs with x rounded to int8 per 8-element group. Every quantized
// type at 1 and 2 tokens against a float64 dot of the reference dequantization with x~ (x as launch.h rounds it,
// replayed here bit for bit), so only float32 summation separates the two; the float32 path, bit for bit, where int8
// does not apply (float weights, more than kMatvecInt8MaxTokens tokens); non-finite and all-but-zero groups of x.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cuda/kernels/int8_x_test_support.h"
#include "backend/cuda/kernels/launch.h"
#include "spool/errors.h"
#include "backend/cuda/kernels/weight_test_support.h"
#include "tolerances.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;
using gpu_test::QuantMatrix;

constexpr ActivationPrecision kInt8 = ActivationPrecision::int8;
constexpr ActivationPrecision kFloat32 = ActivationPrecision::float32;
constexpr int64_t kTokens = kMatvecInt8MaxTokens;  // the token counts int8 applies to: 1..kTokens
constexpr int64_t kGroup = 8;                      // columns that share one int8 scale (launch.h)
// A check is not vacuous when the wrong answer misses the NMSE bound by this factor.
constexpr double kDistinct = 100.0;

// x~ as launch.h defines int8 activations (gpu_test::round_int8_group: bit for bit what the kernel multiplies with),
// widened to double (d * q is exact there). x is [n_tokens, n_cols]; groups of `group` columns start again at each
// token. A group other than kGroup only shows that the checks tell a wrong grouping apart.
std::vector<double> round_int8(const std::vector<float>& x, int64_t n_cols, int64_t group = kGroup) {
    std::vector<double> out(x.size());
    for (size_t row = 0; row < x.size(); row += static_cast<size_t>(n_cols)) {
        for (int64_t j = 0; j < n_cols; j += group) {
            const size_t begin = row + static_cast<size_t>(j);
            const size_t end = row + static_cast<size_t>(std::min(j + group, n_cols));
            std::vector<int8_t> levels(end - begin);
            const float d = gpu_test::round_int8_group(x.data() + begin, end - begin, levels.data());
            for (size_t i = begin; i < end; ++i) out[i] = static_cast<double>(d) * static_cast<double>(levels[i - begin]);
        }
    }
    return out;
}

std::vector<double> widen(const std::vector<float>& x) { return std::vector<double>(x.begin(), x.end()); }

std::vector<GgmlType> types_where(bool quantized) {
    std::vector<GgmlType> out;
    for (GgmlType type : gpu_test::weight_types()) {
        if (type_info(type).is_quantized == quantized) out.push_back(type);
    }
    return out;
}

std::vector<gpu_test::WeightFormat> quantized_formats() {
    std::vector<gpu_test::WeightFormat> out;
    for (const gpu_test::WeightFormat& f : gpu_test::weight_formats()) {
        if (type_info(f.type).is_quantized) out.push_back(f);
    }
    return out;
}

// A shape the staged kernel takes (launch.h kMatvecStagedMinRows: enough rows, whole 256-column runs).
constexpr gpu_test::Shape kStagedShape{kMatvecStagedMinRows + 3, 512};

// For types staged from fewer rows than kMatvecStagedMinRows, their smallest staged launch: a grid of 2-warp blocks,
// which larger launches do not use, and one matrix of so few rows splits each row pair's columns over two warps
// (matvec_staged.cu kSplitBelowRows). Appended to shapes where the type has one.
void add_fewest_rows_staged(const gpu_test::WeightFormat& format, std::vector<gpu_test::Shape>& shapes) {
    const GgmlType type = format.type;
    if (matvec_staged_type(type) && matvec_staged_min_rows(type) < kMatvecStagedMinRows) {
        shapes.push_back({matvec_staged_min_rows(type) + 1, gpu_test::format_cols(format, 512)});
    }
}

// kStagedShape with whole runs of format's layout.
gpu_test::Shape staged_shape(const gpu_test::WeightFormat& format) {
    return {kStagedShape.n_rows, gpu_test::format_cols(format, kStagedShape.n_cols)};
}

// test_shapes, plus for the staged types one that takes the staged kernel where test_shapes has none (their
// largest shapes of 32-element blocks are too narrow for it), add_fewest_rows_staged's, and one of more blocks than
// the GPU holds at once (the kernel's many-waves form).
std::vector<gpu_test::Shape> int8_shapes(const gpu_test::WeightFormat& format) {
    const GgmlType type = format.type;
    std::vector<gpu_test::Shape> shapes = gpu_test::test_shapes(format);
    if (matvec_staged_type(type) && type_info(type).block_size == 32) shapes.push_back(staged_shape(format));
    add_fewest_rows_staged(format, shapes);
    if (matvec_staged_type(type)) shapes.push_back({gpu_test::many_waves_rows(), gpu_test::format_cols(format, 256)});
    return shapes;
}

// The two smallest shapes of test_shapes (odd row counts, a partial last row group): enough for the forms that share
// the plain kernel's inner loop, and cheap to quantize; for the staged types also one that takes the staged kernel,
// and add_fewest_rows_staged's.
std::vector<gpu_test::Shape> small_shapes(const gpu_test::WeightFormat& format) {
    const GgmlType type = format.type;
    const std::vector<gpu_test::Shape> all = gpu_test::test_shapes(format);
    std::vector<gpu_test::Shape> shapes = {all[0], all[1]};
    if (matvec_staged_type(type)) shapes.push_back(staged_shape(format));
    add_fewest_rows_staged(format, shapes);
    return shapes;
}

using Reference = gpu_test::MatvecReference;
using gpu_test::reference_matvec;

// How outputs (the first got.size() of ref's; plus bias[row] where bias is given) fit ref: NMSE, and the worst
// |error| / (budget + |bias|). An output that is not finite makes both infinite.
struct Fit {
    double nmse = 0, worst_ratio = 0;
    size_t worst = 0;
    double expected_at_worst = 0, got_at_worst = 0;
};

template <class T>
Fit fit(const std::vector<T>& got, const Reference& ref, int64_t n_rows, const std::vector<float>* bias = nullptr) {
    Fit f;
    double err_sq = 0, ref_sq = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double b = bias != nullptr ? static_cast<double>((*bias)[i % static_cast<size_t>(n_rows)]) : 0.0;
        const double expected = ref.y[i] + b;
        const double err = std::fabs(static_cast<double>(got[i]) - expected);
        const double ratio = std::isfinite(err) ? err / (ref.budget[i] + std::fabs(b)) : INFINITY;
        err_sq += std::isfinite(err) ? err * err : INFINITY;
        ref_sq += expected * expected;
        if (ratio > f.worst_ratio) {
            f.worst_ratio = ratio, f.worst = i, f.expected_at_worst = expected;
            f.got_at_worst = static_cast<double>(got[i]);
        }
    }
    f.nmse = err_sq / ref_sq;
    return f;
}

std::string describe(const Fit& f, int64_t n_rows) {
    std::ostringstream out;
    out << "nmse " << f.nmse << ", worst |error| / budget " << f.worst_ratio << " at output " << f.worst << " (token "
        << f.worst / static_cast<size_t>(n_rows) << ", row " << f.worst % static_cast<size_t>(n_rows) << "): expected "
        << f.expected_at_worst << ", got " << f.got_at_worst;
    return out.str();
}

std::string where(GgmlType type, int64_t n_rows, int64_t n_cols, int64_t n_tokens) {
    return gpu_test::shape_name(type, n_rows, n_cols) + " n_tokens " + std::to_string(n_tokens);
}

// The first index whose bits differ between a and b (NaN payloads included), or a.size() when none does.
size_t first_bit_difference(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return i;
    }
    return a.size();
}

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

// ---- Fused forms with int8

double silu64(double g) { return g / (1.0 + std::exp(-g)); }
double gelu64(double g) { return 0.5 * g * (1.0 + std::tanh(0.79788456080286535588 * g * (1.0 + 0.044715 * g * g))); }

TEST(CudaMatvecInt8Fused, ResidualAddEqualsPlainInt8MatvecPlusAdd) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 2900;
    for (const gpu_test::WeightFormat& format : quantized_formats()) {
        SCOPED_TRACE(gpu_test::format_name(format));
        for (const gpu_test::Shape& shape : small_shapes(format)) {
            gpu_test::expect_residual_add_is_matvec_plus_add(format, shape, seed, {1, kTokens}, kInt8);
            seed += 3;
        }
    }
}

TEST(CudaMatvecInt8Fused, GatedUnitMatchesRoundedReference) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 3100;
    for (const gpu_test::WeightFormat& format : quantized_formats()) {
        const GgmlType type = format.type;
        SCOPED_TRACE(gpu_test::format_name(format));
        for (const gpu_test::Shape& shape : small_shapes(format)) {
            const QuantMatrix gate = gpu_test::make_quant_matrix(format, shape.n_rows, shape.n_cols, ++seed);
            const QuantMatrix up = gpu_test::make_quant_matrix(format, shape.n_rows, shape.n_cols, ++seed);
            const std::vector<float> x = testing::random_floats(static_cast<size_t>(kTokens * gate.n_cols), ++seed);
            const std::vector<double> xr = round_int8(x, gate.n_cols);
            const Reference g = reference_matvec(gate, xr), u = reference_matvec(up, xr);
            const DeviceVector<uint8_t> gate_dev(gate.bytes), up_dev(up.bytes);
            const DeviceVector<float> x_dev(x);
            for (Activation act : {Activation::silu, Activation::gelu}) {
                for (int64_t n_tokens = 1; n_tokens <= kTokens; ++n_tokens) {
                    DeviceVector<float> out(static_cast<size_t>(n_tokens * gate.n_rows));
                    gpu_test::poison(out);
                    launch_matvec_glu(gate.view(gate_dev.data()), up.view(up_dev.data()), x_dev.data(), n_tokens, act,
                                      out.data(), nullptr, kInt8);
                    const std::vector<float> got = out.download();
                    double worst = 0, err_sq = 0, ref_sq = 0;
                    size_t worst_i = 0;
                    for (size_t i = 0; i < got.size(); ++i) {
                        const double a = act == Activation::silu ? silu64(g.y[i]) : gelu64(g.y[i]);
                        const double expected = a * u.y[i];
                        // Each dot's error within its rounding budget, carried through act(g) * u (|act'| <= 1.13).
                        const double bound = tolerance::kKQuantDotVsDequantized *
                                                 (1.13 * std::fabs(u.y[i]) * g.budget[i] + std::fabs(a) * u.budget[i]) +
                                             1e-6 * std::fabs(expected) + 1e-30;
                        const double err = std::fabs(static_cast<double>(got[i]) - expected);
                        const double ratio = std::isfinite(err) ? err / bound : INFINITY;
                        err_sq += std::isfinite(err) ? err * err : INFINITY;
                        ref_sq += expected * expected;
                        if (ratio > worst) worst = ratio, worst_i = i;
                    }
                    const std::string name = where(type, gate.n_rows, gate.n_cols, n_tokens) +
                                             (act == Activation::silu ? " silu" : " gelu");
                    EXPECT_LE(worst, 1.0) << name << ": output " << worst_i << " got " << got[worst_i];
                    // Float32 dots and activation against float64: the matmul bound holds for the product too.
                    EXPECT_LE(err_sq / ref_sq, tolerance::kParityNmseMatmulF32) << name;
                }
            }
        }
    }
}

TEST(CudaMatvecInt8Fused, BatchMatchesRoundedReference) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 3300;
    for (const gpu_test::WeightFormat& format : quantized_formats()) {
        const GgmlType type = format.type;
        SCOPED_TRACE(gpu_test::format_name(format));
        const int64_t n_cols = gpu_test::test_shapes(format)[1].n_cols;
        // q, k, v-like: the first not a multiple of the block's rows; for the staged types enough rows in all for it
        const int64_t rows[3] = {matvec_staged_type(type) ? kMatvecStagedMinRows - 37 : 263, 37, 131};
        const std::vector<float> x = testing::random_floats(static_cast<size_t>(kTokens * n_cols), ++seed);
        const std::vector<double> xr = round_int8(x, n_cols);
        std::vector<QuantMatrix> ms;
        std::vector<Reference> refs;
        std::vector<std::vector<float>> biases;
        for (int i = 0; i < 3; ++i) {
            ms.push_back(gpu_test::make_quant_matrix(format, rows[i], n_cols, ++seed));
            biases.push_back(testing::random_floats(static_cast<size_t>(rows[i]), ++seed));
            refs.push_back(reference_matvec(ms.back(), xr));
        }
        std::vector<DeviceVector<uint8_t>> w_dev;
        std::vector<DeviceVector<float>> b_dev;
        for (int i = 0; i < 3; ++i) w_dev.emplace_back(ms[i].bytes), b_dev.emplace_back(biases[i]);
        const DeviceVector<float> x_dev(x);
        for (int count : {2, 3}) {
            for (int64_t n_tokens = 1; n_tokens <= kTokens; ++n_tokens) {
                std::vector<DeviceVector<float>> ys;
                for (int i = 0; i < count; ++i) {
                    ys.emplace_back(static_cast<size_t>(n_tokens * rows[i]));
                    gpu_test::poison(ys.back());
                }
                MatvecBatch batch;
                batch.count = count;
                for (int i = 0; i < count; ++i) {
                    batch.w[i] = ms[i].view(w_dev[i].data());
                    batch.bias[i] = i == 1 ? nullptr : b_dev[i].data();  // biases optional per matrix
                    batch.y[i] = ys[i].data();
                }
                launch_matvec_batch(batch, x_dev.data(), n_tokens, nullptr, kInt8);
                for (int i = 0; i < count; ++i) {
                    const Fit f = fit(ys[i].download(), refs[i], rows[i], i == 1 ? nullptr : &biases[i]);
                    const std::string name = where(type, rows[i], n_cols, n_tokens) + " count " +
                                             std::to_string(count) + " matrix " + std::to_string(i);
                    EXPECT_LE(f.nmse, tolerance::kParityNmseMatmulF32) << name << ": " << describe(f, rows[i]);
                    EXPECT_LE(f.worst_ratio, tolerance::kKQuantDotVsDequantized)
                        << name << ": " << describe(f, rows[i]);
                }
            }
        }
    }
}

// Batches of two types in one launch (launch.h matvec_batch_mixable): Q4_K or Q5_K first with Q6_K matrices (in the
// GGUF layout, and grouped as the backend uploads rows of 2,048 columns), in every position after the first, each
// matrix against its own rounded reference; and the launches that may not mix.
TEST(CudaMatvecInt8Fused, MixedTypeBatchMatchesRoundedReference) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 3500;
    for (const WeightLayout alt_layout : {WeightLayout::blocks, WeightLayout::grouped}) {
        const int64_t n_cols = alt_layout == WeightLayout::grouped ? 2048 : 512;
        const std::vector<float> x = testing::random_floats(static_cast<size_t>(n_cols), ++seed);
        const std::vector<double> xr = round_int8(x, n_cols);
        const DeviceVector<float> x_dev(x);
        for (const GgmlType first : {GgmlType::Q4_K, GgmlType::Q5_K}) {
            const GgmlType alt = GgmlType::Q6_K;
            // Just enough rows in all for the staged kernel of both types, the first matrix's count odd; then more
            // blocks than the GPU holds at once (the kernel's many-waves form).
            const int64_t needed = std::max(matvec_staged_min_rows(first), matvec_staged_min_rows(alt));
            for (const int64_t first_rows : {needed - 199, gpu_test::many_waves_rows()}) {
                const int64_t rows[3] = {first_rows, 37, 163};
                for (const std::vector<bool>& is_alt : {std::vector<bool>{false, false, true},
                                                        {false, true, false},
                                                        {false, true, true},
                                                        {false, true}}) {
                    const int count = static_cast<int>(is_alt.size());
                    std::vector<QuantMatrix> ms;
                    std::vector<Reference> refs;
                    std::vector<std::vector<float>> biases;
                    std::vector<DeviceVector<uint8_t>> w_dev;
                    std::vector<DeviceVector<float>> b_dev, ys;
                    int64_t total = 0;
                    for (int i = 0; i < count; ++i) {
                        const int64_t n = count == 2 && i == 1 ? rows[1] + rows[2] + 200 : rows[i];
                        total += n;
                        ms.push_back(gpu_test::make_quant_matrix(
                            is_alt[i] ? gpu_test::WeightFormat{alt, alt_layout} : gpu_test::WeightFormat{first}, n,
                            n_cols, ++seed));
                        biases.push_back(testing::random_floats(static_cast<size_t>(n), ++seed));
                        refs.push_back(reference_matvec(ms.back(), xr));
                        w_dev.emplace_back(ms.back().bytes);
                        b_dev.emplace_back(biases.back());
                        ys.emplace_back(static_cast<size_t>(n));
                        gpu_test::poison(ys.back());
                    }
                    MatvecBatch batch;
                    batch.count = count;
                    for (int i = 0; i < count; ++i) {
                        batch.w[i] = ms[i].view(w_dev[i].data());
                        batch.bias[i] = i == 1 ? nullptr : b_dev[i].data();
                        batch.y[i] = ys[i].data();
                    }
                    std::string layout;
                    for (int i = 0; i < count; ++i) {
                        layout += std::string(i ? "+" : "") + std::string(type_name(ms[i].type)) +
                                  (ms[i].layout == WeightLayout::grouped ? " grouped" : "");
                    }
                    ASSERT_TRUE(matvec_batch_mixable(batch, x_dev.data(), 1, kInt8))
                        << layout << ", " << total << " rows";
                    launch_matvec_batch(batch, x_dev.data(), 1, nullptr, kInt8);
                    for (int i = 0; i < count; ++i) {
                        const Fit f = fit(ys[i].download(), refs[i], ms[i].n_rows, i == 1 ? nullptr : &biases[i]);
                        const std::string name = layout + " matrix " + std::to_string(i);
                        EXPECT_LE(f.nmse, tolerance::kParityNmseMatmulF32) << name << ": " << describe(f, ms[i].n_rows);
                        EXPECT_LE(f.worst_ratio, tolerance::kKQuantDotVsDequantized)
                            << name << ": " << describe(f, ms[i].n_rows);
                    }
                    // Where the staged kernel does not run (2 tokens, float32 x), the types may not share a launch.
                    EXPECT_FALSE(matvec_batch_mixable(batch, x_dev.data(), 2, kInt8)) << layout;
                    EXPECT_FALSE(matvec_batch_mixable(batch, x_dev.data(), 1, kFloat32)) << layout;
                    EXPECT_THROW(launch_matvec_batch(batch, x_dev.data(), 1, nullptr, kFloat32), UsageError) << layout;
                }
            }
        }
    }
    // Pairs without a mixed kernel, too few rows for the staged kernel, and alt matrices of two layouts.
    const int64_t n_cols = 2048;
    const DeviceVector<float> x_dev(testing::random_floats(static_cast<size_t>(n_cols), 3599));
    // With third_layout, a third matrix of b's type in that layout.
    auto mixable = [&](gpu_test::WeightFormat a, gpu_test::WeightFormat b, int64_t rows_a,
                       std::optional<WeightLayout> third_layout = std::nullopt) {
        const QuantMatrix ma = gpu_test::make_quant_matrix(a, rows_a, n_cols, 3600);
        const QuantMatrix mb = gpu_test::make_quant_matrix(b, 37, n_cols, 3601);
        const QuantMatrix mc = gpu_test::make_quant_matrix(
            gpu_test::WeightFormat{b.type, third_layout.value_or(b.layout)}, 37, n_cols, 3602);
        const DeviceVector<uint8_t> da(ma.bytes), db(mb.bytes), dc(mc.bytes);
        DeviceVector<float> ya(static_cast<size_t>(rows_a)), yb(37), yc(37);
        MatvecBatch batch;
        batch.count = third_layout ? 3 : 2;
        batch.w[0] = ma.view(da.data()), batch.w[1] = mb.view(db.data()), batch.w[2] = mc.view(dc.data());
        batch.y[0] = ya.data(), batch.y[1] = yb.data(), batch.y[2] = yc.data();
        return matvec_batch_mixable(batch, x_dev.data(), 1, kInt8);
    };
    const gpu_test::WeightFormat q4_k{GgmlType::Q4_K}, q6_k{GgmlType::Q6_K}, q8_0{GgmlType::Q8_0};
    const gpu_test::WeightFormat q6_k_grouped{GgmlType::Q6_K, WeightLayout::grouped};
    EXPECT_TRUE(mixable(q4_k, q6_k, 4096));
    EXPECT_TRUE(mixable(q4_k, q6_k_grouped, 4096));
    EXPECT_FALSE(mixable(q6_k, q4_k, 4096));
    EXPECT_FALSE(mixable(q6_k_grouped, q4_k, 4096));
    EXPECT_FALSE(mixable(q4_k, q8_0, 4096));
    EXPECT_FALSE(mixable(q4_k, q6_k, 1031));
    EXPECT_FALSE(mixable(q4_k, q6_k_grouped, 4096, WeightLayout::blocks));  // alt matrices in two layouts
    EXPECT_FALSE(mixable(q4_k, q6_k, 4096, WeightLayout::grouped));
    EXPECT_TRUE(mixable(q4_k, q6_k_grouped, 4096, WeightLayout::grouped));
    // Llama-2-7B's q/k/v size mixes too (the many-waves form).
    EXPECT_TRUE(mixable(q4_k, q6_k, 12288));
    EXPECT_TRUE(mixable(q4_k, q6_k_grouped, 12288));
}

TEST(CudaMatvecInt8Fused, FloatWeightsAndLargerBatchesRunTheFloat32Path) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 3500;
    for (GgmlType type : gpu_test::weight_types()) {
        const bool quantized = type_info(type).is_quantized;
        const gpu_test::Shape shape = small_shapes({type})[1];  // whole 8-element groups for every type
        const QuantMatrix gate = gpu_test::make_quant_matrix(type, shape.n_rows, shape.n_cols, ++seed);
        const QuantMatrix up = gpu_test::make_quant_matrix(type, shape.n_rows, shape.n_cols, ++seed);
        const std::vector<float> x =
            testing::random_floats(static_cast<size_t>(kMatvecMaxTokens * gate.n_cols), ++seed);
        const std::vector<float> residual =
            testing::random_floats(static_cast<size_t>(kMatvecMaxTokens * gate.n_rows), ++seed);
        const std::vector<float> bias = testing::random_floats(static_cast<size_t>(gate.n_rows), ++seed);
        const DeviceVector<uint8_t> gate_dev(gate.bytes), up_dev(up.bytes);
        const DeviceVector<float> x_dev(x), bias_dev(bias);
        const std::vector<int64_t> counts = quantized ? std::vector<int64_t>{kTokens + 1, kMatvecMaxTokens}
                                                      : std::vector<int64_t>{1, 2, kMatvecMaxTokens};
        for (int64_t n_tokens : counts) {
            const size_t n_out = static_cast<size_t>(n_tokens * gate.n_rows);
            const std::string name = where(type, gate.n_rows, gate.n_cols, n_tokens);
            std::vector<float> got[2][4];  // [precision][add, glu, batch y0, batch y1]
            for (int p = 0; p < 2; ++p) {
                const ActivationPrecision precision = p == 0 ? kInt8 : kFloat32;
                DeviceVector<float> add(std::vector<float>(residual.begin(), residual.begin() + n_out));
                launch_matvec_add(gate.view(gate_dev.data()), x_dev.data(), n_tokens, add.data(), nullptr, precision);
                DeviceVector<float> glu(n_out), y0(n_out), y1(n_out);
                gpu_test::poison(glu);
                gpu_test::poison(y0);
                gpu_test::poison(y1);
                launch_matvec_glu(gate.view(gate_dev.data()), up.view(up_dev.data()), x_dev.data(), n_tokens,
                                  Activation::silu, glu.data(), nullptr, precision);
                MatvecBatch batch;
                batch.count = 2;
                batch.w[0] = gate.view(gate_dev.data());
                batch.w[1] = up.view(up_dev.data());
                batch.bias[0] = bias_dev.data();
                batch.y[0] = y0.data();
                batch.y[1] = y1.data();
                launch_matvec_batch(batch, x_dev.data(), n_tokens, nullptr, precision);
                got[p][0] = add.download(), got[p][1] = glu.download();
                got[p][2] = y0.download(), got[p][3] = y1.download();
            }
            const char* forms[4] = {"matvec_add", "matvec_glu", "matvec_batch y[0]", "matvec_batch y[1]"};
            for (int k = 0; k < 4; ++k) {
                const size_t i = first_bit_difference(got[0][k], got[1][k]);
                EXPECT_EQ(i, got[0][k].size()) << name << " " << forms[k] << ": output " << i << " int8 asked "
                                               << got[0][k][i] << ", float32 " << got[1][k][i];
            }
        }
    }
}

}  // namespace
}  // namespace spool::cuda
