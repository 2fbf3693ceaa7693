// ActivationPrecision::int8 (launch.h) in the fused matvec forms: the residual add, the gated unit, and batches of
// one type and of Q4_K or Q5_K with Q6_K, each against a float64 reference with x~ (x as launch.h rounds it); which
// batches may mix types; and the float32 path, bit for bit, where int8 does not apply (float weights, more than
// kMatvecInt8MaxTokens tokens).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/matvec_int8_test_support.h"
#include "backend/cuda/kernels/weight_test_support.h"
#include "spool/errors.h"
#include "tolerances.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;
using gpu_test::QuantMatrix;
using gpu_test::kFloat32, gpu_test::kInt8, gpu_test::kTokens;
using gpu_test::Fit, gpu_test::fit, gpu_test::describe, gpu_test::where, gpu_test::first_bit_difference;
using gpu_test::quantized_formats, gpu_test::round_int8, gpu_test::small_shapes;

using Reference = gpu_test::MatvecReference;
using gpu_test::reference_matvec;

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
