// launch_matmul_tc against a float64 product of what its tensor cores multiply: the reference dequantization
// (quant/) rounded to half (saturated) and x rounded to half. Every quantized type at odd shapes (partial tiles, rows
// that are not a multiple of 16), 1 to 130 tokens (one to three passes of 64), with and without accumulation, with
// the columns sliced (a workspace) and not. The only difference allowed is float32 summation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/weight_test_support.h"
#include "core/half.h"
#include "spool/errors.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;
using gpu_test::QuantMatrix;

float half_rounded(float v) {
    if (std::isnan(v)) return v;
    return half_to_float(float_to_half(std::clamp(v, -65504.0f, 65504.0f)));
}

struct Case {
    int64_t n_tokens;
    bool accumulate;
    int sm_count;  // 0: no workspace (one slice)
};

// Runs one case and compares every output with the float64 product, within 1e-5 of the sum of |w x| (float32
// accumulation over at most a few thousand products stays far below; a wrong tile, row or token does not).
void check(const QuantMatrix& m, const DeviceVector<uint8_t>& w_dev, const std::vector<float>& x, const Case& c,
           uint64_t seed) {
    const int64_t n = c.n_tokens, rows = m.n_rows, cols = m.n_cols;
    const std::vector<float> x_used(x.begin(), x.begin() + static_cast<ptrdiff_t>(n * cols));
    const DeviceVector<float> x_dev(x_used);
    DeviceVector<uint8_t> packed(matmul_tc_x_bytes(n, cols));
    launch_pack_x_tc(m.type, x_dev.data(), n, cols, packed.data(), nullptr);

    const std::vector<float> start = testing::random_floats(static_cast<size_t>(n * rows), seed);
    DeviceVector<float> y(static_cast<size_t>(n * rows));
    if (c.accumulate) {
        y.upload(start);
    } else {
        gpu_test::poison(y);  // an output the kernel fails to write reads NaN
    }
    const WeightView view = m.view(w_dev.data());
    const size_t ws_bytes = c.sm_count > 0 ? matmul_tc_workspace_bytes(view, n, c.sm_count) : 0;
    DeviceVector<uint8_t> workspace(ws_bytes);
    launch_matmul_tc(view, packed.data(), n, y.data(), c.accumulate, ws_bytes > 0 ? workspace.data() : nullptr,
                     ws_bytes, std::max(c.sm_count, 1), nullptr);
    const std::vector<float> got = y.download();

    std::vector<float> w_half(m.dequantized.size()), x_half(x_used.size());
    std::transform(m.dequantized.begin(), m.dequantized.end(), w_half.begin(), half_rounded);
    std::transform(x_used.begin(), x_used.end(), x_half.begin(), half_rounded);
    int64_t bad = 0;
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t r = 0; r < rows; ++r) {
            double sum = 0, sum_abs = 0;
            for (int64_t i = 0; i < cols; ++i) {
                const double p = static_cast<double>(w_half[r * cols + i]) * x_half[t * cols + i];
                sum += p;
                sum_abs += std::fabs(p);
            }
            const size_t k = static_cast<size_t>(t * rows + r);
            if (c.accumulate) {
                sum += start[k];
                sum_abs += std::fabs(start[k]);
            }
            if (!(std::fabs(got[k] - sum) <= 1e-5 * sum_abs + 1e-30) && bad++ == 0) {
                ADD_FAILURE() << gpu_test::shape_name(m.type, rows, cols) << " n_tokens " << n
                              << (c.accumulate ? " accumulate" : "") << " sm_count " << c.sm_count << ": token " << t
                              << " row " << r << " got " << got[k] << ", expected " << sum << " (sum |w x| "
                              << sum_abs << ")";
            }
        }
    }
    EXPECT_EQ(bad, 0) << gpu_test::shape_name(m.type, rows, cols) << " n_tokens " << n;
}

TEST(CudaMatmulTc, EveryQuantizedTypeMatchesTheHalfProducts) {
    SPOOL_REQUIRE_GPU();
    if (!prepare_matmul_tc()) GTEST_SKIP() << "launch_matmul_tc's kernels were built for a GPU older than sm_80";
    uint64_t seed = 900;
    for (const gpu_test::WeightFormat& format : gpu_test::weight_formats()) {
        const GgmlType type = format.type;
        SCOPED_TRACE(gpu_test::format_name(format));
        if (type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16) continue;
        for (const gpu_test::Shape& shape : gpu_test::test_shapes(format)) {
            const QuantMatrix m = gpu_test::make_quant_matrix(format, shape.n_rows, shape.n_cols, ++seed);
            const DeviceVector<uint8_t> w_dev(m.bytes);
            const std::vector<float> x = testing::random_floats(static_cast<size_t>(130 * m.n_cols), ++seed);
            const bool small = m.n_rows * m.n_cols <= 200'000;
            const std::vector<Case> cases =
                small ? std::vector<Case>{{1, false, 132}, {9, true, 132}, {64, false, 132}, {130, true, 132},
                                          {17, false, 0}, {40, true, 1}}
                      : std::vector<Case>{{9, false, 132}, {16, true, 132}, {65, true, 132}, {24, true, 0}};
            for (const Case& c : cases) check(m, w_dev, x, c, ++seed);
        }
    }
}

TEST(CudaMatmulTc, RejectsFloatWeightsAndBadTokenCounts) {
    WeightView w = gpu_test::unbacked_view(GgmlType::F16, 10, 64, 128);
    EXPECT_FALSE(matmul_tc_takes(w));
    EXPECT_THROW(launch_matmul_tc(w, nullptr, 9, nullptr, false, nullptr, 0, 1, nullptr), UsageError);
    w.type = GgmlType::Q8_0;
    w.row_bytes = 68;
    EXPECT_TRUE(matmul_tc_takes(w));
    EXPECT_THROW(launch_matmul_tc(w, nullptr, 0, nullptr, false, nullptr, 0, 1, nullptr), UsageError);
    w.data = reinterpret_cast<const void*>(uintptr_t{258});  // not 16-byte aligned
    EXPECT_FALSE(matmul_tc_takes(w));
}

}  // namespace
}  // namespace spool::cuda
