// launch_dequantize_rows_f16 against the reference dequantization (quant/) rounded to half: bit-exact, for every
// weight type at odd shapes and row ranges, plus saturation at the half range.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/weight_test_support.h"
#include "core/half.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;
using gpu_test::QuantMatrix;

// What the kernel must store: the nearest half, with finite values past +-65504 clamped there (launch.h).
uint16_t expected_half(float v) {
    if (std::isnan(v)) return float_to_half(v);
    return float_to_half(std::clamp(v, -65504.0f, 65504.0f));
}

// Dequantizes rows [begin, end) and requires every half to equal the reference's bits.
void check_rows(const QuantMatrix& m, const DeviceVector<uint8_t>& w_dev, int64_t begin, int64_t end) {
    const size_t n = static_cast<size_t>((end - begin) * m.n_cols);
    DeviceVector<uint16_t> out(n);
    gpu_test::poison(out);
    launch_dequantize_rows_f16(m.view(w_dev.data()), begin, end, reinterpret_cast<__half*>(out.data()), nullptr);
    const std::vector<uint16_t> got = out.download();
    size_t mismatches = 0, first = 0;
    for (size_t i = 0; i < n; ++i) {
        if (got[i] != expected_half(m.dequantized[static_cast<size_t>(begin * m.n_cols) + i])) {
            if (mismatches++ == 0) first = i;
        }
    }
    const float ref = m.dequantized[static_cast<size_t>(begin * m.n_cols) + first];
    EXPECT_EQ(mismatches, 0u) << gpu_test::shape_name(m.type, m.n_rows, m.n_cols) << " rows [" << begin << ", " << end
                              << "): first at row " << begin + static_cast<int64_t>(first) / m.n_cols << " column "
                              << static_cast<int64_t>(first) % m.n_cols << ": reference " << ref << " (half 0x"
                              << std::hex << expected_half(ref) << "), got 0x" << got[first] << " ("
                              << half_to_float(got[first]) << ")";
}

TEST(CudaDequantizeRowsF16, EveryTypeMatchesTheReferenceBitForBit) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 300;
    for (const gpu_test::WeightFormat& format : gpu_test::weight_formats()) {
        SCOPED_TRACE(gpu_test::format_name(format));
        for (const gpu_test::Shape& shape : gpu_test::test_shapes(format)) {
            const QuantMatrix m = gpu_test::make_quant_matrix(format, shape.n_rows, shape.n_cols, ++seed);
            const DeviceVector<uint8_t> w_dev(m.bytes);
            check_rows(m, w_dev, 0, m.n_rows);
            check_rows(m, w_dev, 3, m.n_rows - 2);  // a slice: rows start mid-matrix
            check_rows(m, w_dev, m.n_rows - 1, m.n_rows);
        }
    }
}

TEST(CudaDequantizeRowsF16, SaturatesBeyondTheHalfRange) {
    SPOOL_REQUIRE_GPU();
    // F32 weights of +-1e5 and +-7e4 become +-65504; 6e4 stays 60000 (rounded); BF16 too. Q8_0 blocks scaled past
    // 65504 (d = 1000, q up to 127) saturate the same way.
    std::vector<float> values = testing::random_floats(4 * 64, 1);
    for (size_t i = 0; i < values.size(); i += 7) values[i] = (i % 2 ? 1.0e5f : -7.0e4f);
    values[3] = 6.0e4f;
    for (GgmlType type : {GgmlType::F32, GgmlType::BF16, GgmlType::Q8_0}) {
        QuantMatrix m{type, 4, 64, row_bytes(type, 64), {}, {}};
        m.bytes.resize(m.row_bytes * 4);
        m.dequantized.resize(values.size());
        std::vector<float> scaled = values;
        if (type == GgmlType::Q8_0) {
            for (float& v : scaled) v *= 1000.0f;
        }
        for (int64_t r = 0; r < 4; ++r) {
            type_info(type).quantize_row(scaled.data() + r * 64, m.bytes.data() + r * m.row_bytes, 64);
            type_info(type).dequantize_row(m.bytes.data() + r * m.row_bytes, m.dequantized.data() + r * 64, 64);
        }
        const DeviceVector<uint8_t> w_dev(m.bytes);
        check_rows(m, w_dev, 0, 4);
        EXPECT_TRUE(std::any_of(m.dequantized.begin(), m.dequantized.end(), [](float v) { return v > 65504.0f; }));
    }
}

TEST(CudaDequantizeRowsF16, RejectsRowsOutsideTheMatrix) {
    const WeightView w = gpu_test::unbacked_view(GgmlType::Q8_0, 10, 64, 68);
    __half* out = reinterpret_cast<__half*>(uintptr_t{1024});
    EXPECT_THROW(launch_dequantize_rows_f16(w, 5, 11, out, nullptr), UsageError);
    EXPECT_THROW(launch_dequantize_rows_f16(w, -1, 3, out, nullptr), UsageError);
    EXPECT_THROW(launch_dequantize_rows_f16(w, 4, 3, out, nullptr), UsageError);
    EXPECT_NO_THROW(launch_dequantize_rows_f16(w, 4, 4, out, nullptr));  // empty: nothing queued
}

}  // namespace
}  // namespace spool::cuda
