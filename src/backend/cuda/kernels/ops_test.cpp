// The CUDA element-wise and row kernels (ops_*.cu) against float64 references written here with the ref
// backend's semantics (kernels/ref), on seeded random data at odd sizes. Skips where no GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "backend/cuda/cuda_test_support.h"
#include "backend/cuda/kernels/launch.h"
#include "core/half.h"
#include "test_support.h"
#include "tolerances.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;

// Sum of squared errors over sum of squared expected values (tests/parity's measure); NaN anywhere gives NaN.
double nmse(std::span<const double> expected, std::span<const float> actual) {
    double err = 0, ref = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
        const double d = expected[i] - actual[i];
        err += d * d;
        ref += expected[i] * expected[i];
    }
    return err / std::max(ref, 1e-300);
}

void expect_close(std::span<const double> expected, std::span<const float> actual, double max_nmse,
                  const std::string& what) {
    ASSERT_EQ(expected.size(), actual.size()) << what;
    const double e = nmse(expected, actual);
    EXPECT_TRUE(e <= max_nmse) << what << ": nmse " << e << " > " << max_nmse << "; "
                               << testing::compare(expected, actual).report();
}

std::vector<double> ref_rms_norm(const std::vector<float>& x, const std::vector<float>& w, int64_t rows, int64_t n,
                                 float eps) {
    std::vector<double> out(x.size());
    for (int64_t r = 0; r < rows; ++r) {
        double sum_sq = 0;
        for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[r * n + i]) * x[r * n + i];
        const double scale = 1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps);
        for (int64_t i = 0; i < n; ++i) out[r * n + i] = static_cast<float>(x[r * n + i] * scale * w[i]);
    }
    return out;
}

TEST(CudaOps, RmsNormMatchesFloat64) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 100;
    for (int64_t rows : {1, 3, 17}) {
        for (int64_t n : {32, 333, 2048, 4096, 8200}) {
            const auto x = testing::random_floats(static_cast<size_t>(rows * n), ++seed, 2.0f, 0.3f);
            const auto w = testing::random_floats(static_cast<size_t>(n), ++seed, 0.5f, 1.0f);
            const auto expected = ref_rms_norm(x, w, rows, n, 1e-5f);
            DeviceVector<float> dx(x), dw(w), dout(x.size());
            launch_rms_norm(dx.data(), dw.data(), rows, n, 1e-5f, dout.data(), nullptr);
            const auto got = dout.download();
            expect_close(expected, got, tolerance::kParityNmseFloatOps,
                         "rms_norm rows " + std::to_string(rows) + " n " + std::to_string(n));
            // In place (out aliases x).
            launch_rms_norm(dx.data(), dw.data(), rows, n, 1e-5f, dx.data(), nullptr);
            EXPECT_EQ(dx.download(), got) << "in-place rms_norm differs, n " << n;
        }
    }
}

std::vector<double> ref_rope(const std::vector<float>& x, const std::vector<int32_t>& positions, int n_heads,
                             int head_dim, RopeMode mode, int n_dims, float base, float scale,
                             const std::vector<float>* factors) {
    std::vector<double> out(x.begin(), x.end());
    const int half = n_dims / 2;
    for (size_t t = 0; t < positions.size(); ++t) {
        for (int h = 0; h < n_heads; ++h) {
            double* head = out.data() + (t * n_heads + h) * head_dim;
            const float* src = x.data() + (t * n_heads + h) * head_dim;
            for (int i = 0; i < half; ++i) {
                double theta = static_cast<double>(positions[t]) * std::pow(static_cast<double>(base), -2.0 * i / n_dims);
                if (factors != nullptr) theta /= (*factors)[i];
                theta *= scale;
                const int a = mode == RopeMode::norm ? 2 * i : i, b = mode == RopeMode::norm ? 2 * i + 1 : i + half;
                const double x0 = src[a], x1 = src[b];
                head[a] = static_cast<float>(x0 * std::cos(theta) - x1 * std::sin(theta));
                head[b] = static_cast<float>(x0 * std::sin(theta) + x1 * std::cos(theta));
            }
        }
    }
    return out;
}

TEST(CudaOps, RopeMatchesFloat64) {
    SPOOL_REQUIRE_GPU();
    struct Case {
        int head_dim, n_dims;
    };
    uint64_t seed = 200;
    for (RopeMode mode : {RopeMode::norm, RopeMode::neox}) {
        for (Case c : {Case{64, 64}, Case{128, 128}, Case{128, 64}, Case{80, 32}}) {
            for (bool with_factors : {false, true}) {
                for (float scale : {1.0f, 0.25f}) {
                    for (int n_tokens : {1, 3, 17}) {
                        const int n_heads = 5;
                        std::vector<int32_t> positions(static_cast<size_t>(n_tokens));
                        for (int t = 0; t < n_tokens; ++t) positions[t] = (t * 977 + 13 * static_cast<int>(seed)) % 4001;
                        positions[0] = n_tokens == 1 ? 3999 : 0;
                        const auto x = testing::random_floats(static_cast<size_t>(n_tokens * n_heads * c.head_dim), ++seed);
                        auto factors = testing::random_floats(static_cast<size_t>(c.n_dims / 2), ++seed, 0.3f, 2.0f);
                        for (float& f : factors) f = std::fabs(f) + 0.5f;
                        const std::vector<double> expected = ref_rope(x, positions, n_heads, c.head_dim, mode, c.n_dims,
                                                                      10000.0f, scale, with_factors ? &factors : nullptr);
                        DeviceVector<float> dx(x), dfactors(factors);
                        DeviceVector<int32_t> dpos(positions);
                        RopeParams params;
                        params.mode = mode;
                        params.n_dims = c.n_dims;
                        params.freq_base = 10000.0f;
                        params.freq_scale = scale;
                        params.freq_factors = with_factors ? dfactors.data() : nullptr;
                        launch_rope(dx.data(), dpos.data(), n_tokens, n_heads, c.head_dim, params, nullptr);
                        const auto got = dx.download();
                        expect_close(expected, got, tolerance::kParityNmseRope,
                                     std::string(mode == RopeMode::norm ? "norm" : "neox") + " head_dim " +
                                         std::to_string(c.head_dim) + " n_dims " + std::to_string(c.n_dims) +
                                         (with_factors ? " factors" : "") + " scale " + std::to_string(scale) +
                                         " tokens " + std::to_string(n_tokens));
                        // Dimensions past n_dims pass through bit for bit.
                        for (size_t i = 0; i < x.size(); ++i) {
                            if (static_cast<int>(i % c.head_dim) >= c.n_dims) {
                                ASSERT_EQ(got[i], x[i]) << "index " << i;
                            }
                        }
                    }
                }
            }
        }
    }
}

TEST(CudaOps, GluMatchesFloat64) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 300;
    for (Activation act : {Activation::silu, Activation::gelu}) {
        for (int64_t n : {1, 7, 5632, 11011}) {
            auto gate = testing::random_floats(static_cast<size_t>(n), ++seed, 3.0f);
            const auto up = testing::random_floats(static_cast<size_t>(n), ++seed);
            if (n > 7) gate[3] = -120.0f, gate[4] = 95.0f;  // exp overflow on either side
            std::vector<double> expected(gate.size());
            for (size_t i = 0; i < gate.size(); ++i) {
                const double g = gate[i];
                const double a = act == Activation::silu
                                     ? g / (1.0 + std::exp(-g))
                                     : 0.5 * g * (1.0 + std::tanh(0.79788456080286535588 * g * (1.0 + 0.044715 * g * g)));
                expected[i] = static_cast<float>(a * up[i]);
            }
            DeviceVector<float> dgate(gate), dup(up), dout(gate.size());
            launch_glu(dgate.data(), dup.data(), n, act, dout.data(), nullptr);
            const auto got = dout.download();
            const std::string what = std::string(act == Activation::silu ? "silu" : "gelu") + " n " + std::to_string(n);
            expect_close(expected, got, tolerance::kParityNmseFloatOps, what);
            launch_glu(dgate.data(), dup.data(), n, act, dgate.data(), nullptr);  // out aliases gate
            EXPECT_EQ(dgate.download(), got) << what << " in place";
        }
    }
}

TEST(CudaOps, AddIsExact) {
    SPOOL_REQUIRE_GPU();
    for (int64_t n : {1, 5, 2048, 4099}) {
        const auto a = testing::random_floats(static_cast<size_t>(n), 400 + n), b = testing::random_floats(static_cast<size_t>(n), 500 + n);
        DeviceVector<float> da(a), db(b), dout(a.size());
        launch_add(da.data(), db.data(), n, dout.data(), nullptr);
        const auto got = dout.download();
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], a[i] + b[i]) << "n " << n << " index " << i;
        launch_add(da.data(), db.data(), n, db.data(), nullptr);  // out aliases b
        EXPECT_EQ(db.download(), got);
    }
    // A misaligned view (offset by one float) takes the scalar path.
    const auto a = testing::random_floats(101, 7), b = testing::random_floats(101, 8);
    DeviceVector<float> da(a), db(b), dout(101);
    launch_add(da.data() + 1, db.data() + 1, 100, dout.data() + 1, nullptr);
    const auto got = dout.download();
    for (int i = 1; i < 101; ++i) ASSERT_EQ(got[i], a[i] + b[i]) << "index " << i;
}

// The ref's rule: best starts at 0 and moves only to a strictly larger value.
int32_t ref_argmax(const float* x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i) {
        if (x[i] > x[best]) best = i;
    }
    return static_cast<int32_t>(best);
}

TEST(CudaOps, ArgmaxTiesAndNaNLikeTheRef) {
    SPOOL_REQUIRE_GPU();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    uint64_t seed = 600;
    for (int64_t n : {1, 31, 32000, 32003}) {
        const int64_t rows = 7;
        auto x = testing::random_floats(static_cast<size_t>(rows * n), ++seed);
        if (n > 31) {
            float* r1 = x.data() + n;  // row 1: a tie between a late and an early index
            r1[n - 5] = 9.0f, r1[1234] = 9.0f;
            float* r2 = x.data() + 2 * n;  // row 2: NaN at 0 -> 0
            r2[0] = nan, r2[77] = 50.0f;
            float* r3 = x.data() + 3 * n;  // row 3: NaNs elsewhere are skipped
            r3[5] = nan, r3[n - 1] = nan, r3[900] = 20.0f;
            float* r4 = x.data() + 4 * n;  // row 4: all equal -> 0
            for (int64_t i = 0; i < n; ++i) r4[i] = -1.5f;
            float* r5 = x.data() + 5 * n;  // row 5: -0 and +0 tie as the maximum
            for (int64_t i = 0; i < n; ++i) r5[i] = -std::fabs(r5[i]) - 1.0f;
            r5[40] = -0.0f, r5[30] = 0.0f, r5[50] = 0.0f;
            float* r6 = x.data() + 6 * n;  // row 6: -inf everywhere but a few NaNs -> 0 (nothing beats x[0])
            for (int64_t i = 0; i < n; ++i) r6[i] = -std::numeric_limits<float>::infinity();
            r6[1] = nan, r6[n / 2] = nan;
        }
        DeviceVector<float> dx(x);
        DeviceVector<int32_t> dout(static_cast<size_t>(rows));
        launch_argmax(dx.data(), rows, n, dout.data(), nullptr);
        const auto got = dout.download();
        for (int64_t r = 0; r < rows; ++r)
            EXPECT_EQ(got[r], ref_argmax(x.data() + r * n, n)) << "n " << n << " row " << r;
    }
}

// With a remainder buffer: lo = half(x - hi), and hi is the same as without one.
TEST(CudaOps, F32ToF16RoundsToNearestEvenAndSaturates) {
    SPOOL_REQUIRE_GPU();
    const auto is_nan = [](uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; };
    for (bool with_remainder : {false, true}) {
        for (int64_t n : {3, 4096, 1001}) {
            auto x = testing::random_floats(static_cast<size_t>(n), 700 + n, 100.0f);
            x[0] = 1e6f, x[1] = -70000.0f, x[2] = 65519.0f;  // saturate, saturate, rounds down to 65504
            if (n > 6) x[3] = std::numeric_limits<float>::quiet_NaN(), x[4] = 1e-6f, x[5] = 1.0f + 1.0f / 2048;  // tie
            DeviceVector<float> dx(x);
            DeviceVector<uint16_t> dout(x.size()), dlo(x.size());
            launch_f32_to_f16(dx.data(), n, reinterpret_cast<__half*>(dout.data()), nullptr,
                              with_remainder ? reinterpret_cast<__half*>(dlo.data()) : nullptr);
            const auto got = dout.download(), lo = dlo.download();
            for (int64_t i = 0; i < n; ++i) {
                if (std::isnan(x[i])) {
                    EXPECT_TRUE(is_nan(got[i])) << "NaN became " << got[i];
                    if (with_remainder) {
                        EXPECT_TRUE(is_nan(lo[i])) << "NaN's remainder became " << lo[i];
                    }
                    continue;
                }
                const float clamped = std::fmin(std::fmax(x[i], -65504.0f), 65504.0f);
                ASSERT_EQ(got[i], float_to_half(clamped)) << "n " << n << " index " << i << " value " << x[i];
                if (with_remainder) {
                    ASSERT_EQ(lo[i], float_to_half(clamped - half_to_float(got[i])))
                        << "remainder, n " << n << " index " << i << " value " << x[i];
                }
            }
        }
    }
}

}  // namespace
}  // namespace spool::cuda
