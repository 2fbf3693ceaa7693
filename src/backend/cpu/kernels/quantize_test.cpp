// Every activation quantizer on every ISA against the quant/ reference quantizer: the bytes must be identical,
// on random rows and on rows built to hit the edge cases (rounding ties, NaN/Inf, huge and tiny blocks, zeros,
// a tie between +max and -max, float-type tails and specials).
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backend/cpu/kernels/kernel_test_support.h"
#include "test_support.h"

namespace spool::cpu::testing {
namespace {

constexpr std::array kActTypes = {GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K,
                                  GgmlType::F16,  GgmlType::BF16, GgmlType::F32};

// Random rows with one edge case written into each block after the first few (cycling through the cases).
std::vector<float> edge_case_row(int64_t n, int64_t block, uint64_t seed) {
    std::vector<float> x = spool::testing::random_floats(static_cast<size_t>(n), seed, 2.0f);
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    const int64_t n_blocks = n / block;
    for (int64_t b = 2; b < n_blocks; ++b) {
        float* v = x.data() + b * block;
        switch (b % 10) {
            case 0:  // amax 127: the scale is 1, so x.5 values are exact rounding ties (half away vs half even)
                for (int64_t j = 0; j < block; ++j) v[j] = static_cast<float>(j % 16) - 7.5f;
                v[0] = 127.0f;
                break;
            case 1:
                v[block / 2] = nan;
                break;
            case 2:
                v[block - 1] = -inf;
                break;
            case 3:
                for (int64_t j = 0; j < block; ++j) v[j] *= 1e7f;
                break;  // past the fp16 scale range
            case 4:
                for (int64_t j = 0; j < block; ++j) v[j] *= 1e-39f;
                break;  // subnormal floats
            case 5:
                for (int64_t j = 0; j < block; ++j) v[j] = 0.0f;
                break;
            case 6:
                v[1] = 9.0f;
                v[block - 1] = -9.0f;
                break;  // +max and -max tie
            case 7:
                v[3] = -9.0f;
                v[block - 2] = 9.0f;
                break;  // the same, negative first
            case 8:
                for (int64_t j = 0; j < block; ++j) v[j] = 1.5f;
                break;  // all equal
            default:
                for (int64_t j = 0; j < block; ++j) v[j] *= 3e4f;
                break;  // Q8_1 sums beyond fp16 range
        }
    }
    return x;
}

class QuantizeTest : public ::testing::TestWithParam<std::tuple<GgmlType, CpuIsa>> {};

TEST_P(QuantizeTest, BytesMatchReference) {
    const auto [type, isa] = GetParam();
    SPOOL_REQUIRE_ISA(isa);
    const QuantizeRowFn quantize = cpu_quantize_row(type, isa);
    ASSERT_NE(quantize, nullptr);
    const TypeInfo& info = type_info(type);
    const int64_t block = info.block_size == 1 ? 32 : info.block_size;
    std::vector<int64_t> sizes = {block, 3 * block, 23 * block};
    if (info.block_size == 1) sizes.insert(sizes.end(), {1, 7, 15, 17, 1001});
    for (int64_t n : sizes) {
        for (uint64_t seed : {1u, 2u}) {
            const std::vector<float> x = edge_case_row(n, block, seed * 1000 + n);
            std::vector<uint8_t> expected(row_bytes(type, n)), got(expected.size() + 1, 0xab);
            info.quantize_row(x.data(), expected.data(), n);
            quantize(x.data(), got.data(), n);
            size_t first_diff = expected.size();
            for (size_t i = 0; i < expected.size(); ++i) {
                if (expected[i] != got[i]) {
                    first_diff = i;
                    break;
                }
            }
            EXPECT_EQ(first_diff, expected.size())
                << info.name << " on " << cpu_isa_name(isa) << ", n = " << n << ", seed " << seed
                << ": first differing byte " << first_diff << " (block " << first_diff / info.block_bytes
                << "): expected " << int(expected[first_diff % expected.size()]) << ", got "
                << int(got[first_diff % expected.size()]);
            EXPECT_EQ(got.back(), 0xab) << "wrote past the row";
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllActTypes, QuantizeTest,
                         ::testing::Combine(::testing::ValuesIn(kActTypes), ::testing::ValuesIn(kAllIsas)),
                         [](const auto& p) {
                             return std::string(type_name(std::get<0>(p.param))) + "_" +
                                    isa_param_name(std::get<1>(p.param));
                         });

}  // namespace
}  // namespace spool::cpu::testing
