// Every weight type's vec_dot and vec_dot_rows on every ISA against the quant/ reference vec_dot, on seeded
// random rows quantized by the reference quantizers. Bound: |got - ref| <= 1e-5 * sum_i |w_i * a_i| (dequantized,
// in double): both sides sum exact per-block integers in float, in different orders, so they differ by float
// rounding only, a few ulps of the sum of magnitudes; a wrong quant or scale is off by far more.
#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/kernels/kernel_test_support.h"
#include "test_support.h"

namespace spool::cpu::testing {
namespace {

constexpr double kRelToMagnitude = 1e-5;

struct QuantRows {
    std::vector<uint8_t> bytes;  // [n_rows][stride]
    size_t stride = 0;
};

// n_rows rows of n reference-quantized values, each stride bytes apart (stride >= row bytes, a multiple of 4).
QuantRows make_rows(GgmlType type, int64_t n, int64_t n_rows, size_t pad, uint64_t seed) {
    const TypeInfo& info = type_info(type);
    QuantRows rows;
    rows.stride = row_bytes(type, n) + pad;
    rows.bytes.assign(rows.stride * static_cast<size_t>(n_rows), 0xcd);
    for (int64_t r = 0; r < n_rows; ++r) {
        const std::vector<float> x = spool::testing::random_floats(static_cast<size_t>(n), seed + 7919 * r);
        info.quantize_row(x.data(), rows.bytes.data() + rows.stride * r, n);
    }
    return rows;
}

// sum |w_i * a_i| of the dequantized rows, in double.
double magnitude(GgmlType w_type, const void* w, GgmlType a_type, const void* a, int64_t n) {
    std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
    type_info(w_type).dequantize_row(w, wf.data(), n);
    type_info(a_type).dequantize_row(a, af.data(), n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::fabs(static_cast<double>(wf[i]) * af[i]);
    return sum;
}

// Element counts: 1, 3 and 11 blocks; float types (block of 1) also get lengths that leave SIMD tails.
std::vector<int64_t> sizes_for(GgmlType type) {
    const int64_t block = type_info(type).block_size;
    if (block == 1) return {1, 3, 11, 37, 4099};
    return {block, 3 * block, 11 * block};
}

class VecDotTest : public ::testing::TestWithParam<std::tuple<GgmlType, CpuIsa>> {};

TEST_P(VecDotTest, MatchesReference) {
    const auto [w_type, isa] = GetParam();
    SPOOL_REQUIRE_ISA(isa);
    const MatmulKernels* k = cpu_matmul_kernels(w_type, isa);
    ASSERT_NE(k, nullptr);
    const TypeInfo& info = type_info(w_type);
    ASSERT_EQ(k->act_type, info.vec_dot_type);
    for (int64_t n : sizes_for(w_type)) {
        const QuantRows w = make_rows(w_type, n, 1, 0, 100 + n);
        const QuantRows a = make_rows(info.vec_dot_type, n, 1, 0, 200 + n);
        float expected = 0, got = NAN;
        info.vec_dot(n, &expected, w.bytes.data(), a.bytes.data());
        k->vec_dot(n, &got, w.bytes.data(), a.bytes.data());
        const double bound = kRelToMagnitude * magnitude(w_type, w.bytes.data(), k->act_type, a.bytes.data(), n);
        EXPECT_LE(std::fabs(static_cast<double>(got) - expected), bound)
            << info.name << " on " << cpu_isa_name(isa) << ", n = " << n << ": expected " << expected << ", got " << got
            << " (bound " << bound << ")";
    }
}

// 13 rows (groups of 4 or 2 taken from slices, then a remainder) with padding between rows; out[13] untouched.
TEST_P(VecDotTest, RowsMatchReference) {
    const auto [w_type, isa] = GetParam();
    SPOOL_REQUIRE_ISA(isa);
    const MatmulKernels* k = cpu_matmul_kernels(w_type, isa);
    ASSERT_NE(k, nullptr);
    const TypeInfo& info = type_info(w_type);
    constexpr int64_t kRows = 13;
    for (int64_t n : sizes_for(w_type)) {
        const QuantRows w = make_rows(w_type, n, kRows, 36, 300 + n);
        const QuantRows a = make_rows(info.vec_dot_type, n, 1, 0, 400 + n);
        std::vector<float> expected(kRows), got(kRows + 1, NAN);
        got[kRows] = 12345.0f;
        std::vector<double> bound(kRows);
        for (int64_t r = 0; r < kRows; ++r) {
            const uint8_t* row = w.bytes.data() + w.stride * r;
            info.vec_dot(n, &expected[r], row, a.bytes.data());
            bound[r] = kRelToMagnitude * magnitude(w_type, row, k->act_type, a.bytes.data(), n);
        }
        k->vec_dot_rows(n, w.bytes.data(), w.stride, kRows, a.bytes.data(), got.data());
        const auto cmp = spool::testing::compare(std::span<const float>(expected), std::span<const float>(got));
        for (int64_t r = 0; r < kRows; ++r) {
            EXPECT_LE(std::fabs(static_cast<double>(got[r]) - expected[r]), bound[r])
                << info.name << " on " << cpu_isa_name(isa) << ", n = " << n << ", row " << r << ": " << cmp.report();
        }
        EXPECT_EQ(got[kRows], 12345.0f) << "vec_dot_rows wrote past n_rows";
    }
}

// A kernel that ignores part of the row must fail: changing the last block of the weights changes the result.
TEST_P(VecDotTest, SeesTheLastBlock) {
    const auto [w_type, isa] = GetParam();
    SPOOL_REQUIRE_ISA(isa);
    const MatmulKernels* k = cpu_matmul_kernels(w_type, isa);
    const TypeInfo& info = type_info(w_type);
    const int64_t n = 3 * std::max<int64_t>(info.block_size, 32);
    std::vector<float> x = spool::testing::random_floats(static_cast<size_t>(n), 5);
    std::vector<uint8_t> w(row_bytes(w_type, n)), w2(w.size()), a(row_bytes(info.vec_dot_type, n));
    info.quantize_row(x.data(), w.data(), n);
    for (int64_t i = n - info.block_size; i < n; ++i) x[i] = 3.0f * x[i] + 1.0f;
    info.quantize_row(x.data(), w2.data(), n);
    const std::vector<float> y = spool::testing::random_floats(static_cast<size_t>(n), 6);
    type_info(info.vec_dot_type).quantize_row(y.data(), a.data(), n);
    float r1 = 0, r2 = 0, e2 = 0;
    k->vec_dot(n, &r1, w.data(), a.data());
    k->vec_dot(n, &r2, w2.data(), a.data());
    info.vec_dot(n, &e2, w2.data(), a.data());
    EXPECT_NE(r1, r2);
    EXPECT_NEAR(r2, e2, 1e-3 * (std::fabs(e2) + 1));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, VecDotTest,
                         ::testing::Combine(::testing::ValuesIn(kWeightTypes), ::testing::ValuesIn(kAllIsas)),
                         [](const auto& p) {
                             return std::string(type_name(std::get<0>(p.param))) + "_" +
                                    isa_param_name(std::get<1>(p.param));
                         });

}  // namespace
}  // namespace spool::cpu::testing
