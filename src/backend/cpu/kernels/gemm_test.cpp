// The multi-token kernels (dispatch.h cpu_gemm_kernels) of every weight type on every ISA, on seeded random rows at
// odd shapes: each (row, token) against the quant/ reference vec_dot, bounded by 1e-5 * sum_i |w_i * a_i| (both sum
// the same exact integers per block, in different float orders: see vec_dot_test.cpp), and the whole product
// against float64 with the dequantized weights and the unrounded activations (NMSE, tests/tolerances.h).
#include <cmath>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "backend/cpu/kernels/kernel_test_support.h"
#include "test_support.h"
#include "tolerances.h"

namespace spool::cpu::testing {
namespace {

constexpr double kRelToMagnitude = 1e-5;
constexpr float kUntouched = 12345.0f;

struct Shape {
    int64_t n_rows, n_tokens, n_cols;
};

// Odd row counts (partial 8- and 16-row panels, a partial second group of 8), token counts that leave partial tiles
// of 3, 4 and 8 (split into two), and long rows (2816 = 11 * 256). On AVX2 Q5_1 changes tile shape at 16 tokens and
// Q8_0 at 64 (gemm_legacy_avx2.cpp GemmQ5_1, GemmQ8_0).
constexpr Shape kShapes[] = {{1, 1, 256},   {3, 2, 512},    {37, 5, 256},    {131, 17, 768},  {9, 64, 256},
                             {13, 17, 2816}, {131, 2, 256}, {17, 3, 1024},   {40, 67, 256},   {17, 130, 256},
                             {19, 69, 512},  {48, 63, 256}};

// The types with 32-element blocks also take odd block counts (the amx kernel pairs blocks) and a single block.
std::vector<Shape> shapes_for(GgmlType w_type) {
    std::vector<Shape> shapes(std::begin(kShapes), std::end(kShapes));
    if (type_info(w_type).block_size == 32) {
        shapes.push_back({21, 19, 288});
        shapes.push_back({16, 32, 32});
        shapes.push_back({35, 8, 96});
    }
    return shapes;
}

double nmse_limit(GgmlType act_type) {
    switch (act_type) {
        case GgmlType::F32: return tolerance::kParityNmseMatmulF32;
        case GgmlType::F16: return tolerance::kParityNmseMatmulF16Act;
        case GgmlType::BF16: return tolerance::kParityNmseMatmulBF16Act;
        default: return tolerance::kParityNmseMatmulQ8Act;
    }
}

struct Problem {
    std::vector<float> w_float;   // [n_rows][n_cols] as quantized then dequantized
    std::vector<float> x;         // [n_tokens][n_cols] unrounded activations
    std::vector<uint8_t> w;       // [n_rows][w_stride]
    std::vector<uint8_t> act;     // [n_tokens][act_stride]
    std::vector<float> act_float; // [n_tokens][n_cols] activations as rounded to act_type
    size_t w_stride = 0, act_stride = 0;
};

// Rows `pad` bytes apart beyond their size (a multiple of 4, as GGUF row strides keep block alignment).
Problem make_problem(GgmlType w_type, GgmlType act_type, const Shape& s, uint64_t seed) {
    constexpr size_t kPad = 36;
    Problem p;
    const size_t n = static_cast<size_t>(s.n_cols);
    p.w_stride = row_bytes(w_type, s.n_cols) + kPad;
    p.act_stride = row_bytes(act_type, s.n_cols) + kPad;
    p.w.assign(p.w_stride * static_cast<size_t>(s.n_rows), 0xcd);
    p.act.assign(p.act_stride * static_cast<size_t>(s.n_tokens), 0xcd);
    p.w_float.resize(n * static_cast<size_t>(s.n_rows));
    p.act_float.resize(n * static_cast<size_t>(s.n_tokens));
    for (int64_t r = 0; r < s.n_rows; ++r) {
        const std::vector<float> row = spool::testing::random_floats(n, seed + 7919 * r);
        uint8_t* dst = p.w.data() + p.w_stride * r;
        type_info(w_type).quantize_row(row.data(), dst, s.n_cols);
        type_info(w_type).dequantize_row(dst, p.w_float.data() + n * r, s.n_cols);
    }
    p.x = spool::testing::random_floats(n * static_cast<size_t>(s.n_tokens), seed + 1, 2.0f, 0.25f);
    for (int64_t t = 0; t < s.n_tokens; ++t) {
        uint8_t* dst = p.act.data() + p.act_stride * t;
        type_info(act_type).quantize_row(p.x.data() + n * t, dst, s.n_cols);
        type_info(act_type).dequantize_row(dst, p.act_float.data() + n * t, s.n_cols);
    }
    return p;
}

class GemmTest : public ::testing::TestWithParam<std::tuple<GgmlType, CpuIsa>> {};

TEST_P(GemmTest, MatchesVecDotAndFloat64) {
    const auto [w_type, isa] = GetParam();
    SPOOL_REQUIRE_ISA(isa);
    const MatmulKernels* mk = cpu_matmul_kernels(w_type, isa);
    const GemmKernels* gk = cpu_gemm_kernels(w_type, isa);
    ASSERT_NE(mk, nullptr);
    ASSERT_NE(gk, nullptr);
    ASSERT_EQ(gk->weight_type, w_type);
    const TypeInfo& info = type_info(w_type);
    for (const Shape& s : shapes_for(w_type)) {
        const std::string where = std::string(info.name) + " on " + std::string(cpu_isa_name(isa)) + ", " +
                                  std::to_string(s.n_rows) + " rows x " + std::to_string(s.n_tokens) + " tokens x " +
                                  std::to_string(s.n_cols) + " cols";
        const Problem p = make_problem(w_type, mk->act_type, s, 1000 + s.n_rows + 31 * s.n_tokens + s.n_cols);
        // Outputs 3 floats apart beyond n_rows, to catch writes past a token's rows; scratch misaligned on purpose.
        const int64_t out_stride = s.n_rows + 3;
        std::vector<float> out(static_cast<size_t>(out_stride * s.n_tokens), kUntouched);
        std::vector<uint8_t> scratch(gk->scratch_bytes(s.n_cols, s.n_tokens) + 3);
        gk->gemm(s.n_cols, p.w.data(), p.w_stride, s.n_rows, p.act.data(), p.act_stride, s.n_tokens, out.data(),
                 out_stride, scratch.data() + 3);

        const size_t n = static_cast<size_t>(s.n_cols);
        std::vector<double> exact, got;
        double worst_excess = -1;
        std::string worst;
        for (int64_t t = 0; t < s.n_tokens; ++t) {
            for (int64_t r = 0; r < out_stride; ++r) {
                const float value = out[static_cast<size_t>(t * out_stride + r)];
                if (r >= s.n_rows) {
                    ASSERT_EQ(value, kUntouched) << where << ": wrote past n_rows at token " << t << ", row " << r;
                    continue;
                }
                float expected = 0;
                info.vec_dot(s.n_cols, &expected, p.w.data() + p.w_stride * r, p.act.data() + p.act_stride * t);
                double magnitude = 0, reference = 0;
                for (size_t i = 0; i < n; ++i) {
                    const double wi = p.w_float[n * r + i];
                    magnitude += std::fabs(wi * p.act_float[n * t + i]);
                    reference += wi * p.x[n * t + i];
                }
                const double excess = std::fabs(static_cast<double>(value) - expected) - kRelToMagnitude * magnitude;
                if (excess > worst_excess || std::isnan(value)) {
                    worst_excess = std::isnan(value) ? INFINITY : excess;
                    worst = "token " + std::to_string(t) + ", row " + std::to_string(r) + ": vec_dot " +
                            std::to_string(expected) + ", gemm " + std::to_string(value) + " (bound " +
                            std::to_string(kRelToMagnitude * magnitude) + ")";
                }
                exact.push_back(reference);
                got.push_back(value);
            }
        }
        EXPECT_LE(worst_excess, 0.0) << where << ": worst " << worst;
        double err = 0, ref = 0;
        for (size_t i = 0; i < exact.size(); ++i) {
            err += (got[i] - exact[i]) * (got[i] - exact[i]);
            ref += exact[i] * exact[i];
        }
        const auto cmp = spool::testing::compare(std::span<const double>(exact), std::span<const double>(got));
        EXPECT_LE(err / ref, nmse_limit(mk->act_type)) << where << " against float64: " << cmp.report();
    }
}

// A kernel that ignores part of a row, a row of its panel or a token of its tile must fail: change one block of one
// weight row (the last row, in a partial panel) and one activation row (the last tile's), and only their outputs may
// move. 30 rows x 65 tokens: the last row in the second group of a partial 16-row panel, Q8_0's many-token tile.
void every_input_counts(GgmlType w_type, CpuIsa isa, const Shape& s) {
    SCOPED_TRACE(std::to_string(s.n_rows) + " rows x " + std::to_string(s.n_tokens) + " tokens");
    const MatmulKernels* mk = cpu_matmul_kernels(w_type, isa);
    const GemmKernels* gk = cpu_gemm_kernels(w_type, isa);
    const int64_t changed_token = s.n_tokens - 2;
    Problem p = make_problem(w_type, mk->act_type, s, 77);
    std::vector<uint8_t> scratch(gk->scratch_bytes(s.n_cols, s.n_tokens));
    auto run = [&] {
        std::vector<float> out(static_cast<size_t>(s.n_rows * s.n_tokens));
        gk->gemm(s.n_cols, p.w.data(), p.w_stride, s.n_rows, p.act.data(), p.act_stride, s.n_tokens, out.data(),
                 s.n_rows, scratch.data());
        return out;
    };
    const std::vector<float> before = run();
    // Last block of the last weight row; last block of changed_token.
    const int64_t n = s.n_cols, block = type_info(w_type).block_size;
    std::vector<float> x = spool::testing::random_floats(static_cast<size_t>(n), 5);
    for (int64_t i = n - block; i < n; ++i) x[static_cast<size_t>(i)] = 3.0f * x[static_cast<size_t>(i)] + 1.0f;
    type_info(w_type).quantize_row(x.data(), p.w.data() + p.w_stride * (s.n_rows - 1), n);
    const std::vector<float> after = run();
    for (int64_t t = 0; t < s.n_tokens; ++t) {
        for (int64_t r = 0; r < s.n_rows; ++r) {
            const size_t i = static_cast<size_t>(t * s.n_rows + r);
            if (r == s.n_rows - 1) {
                EXPECT_NE(before[i], after[i]) << type_name(w_type) << ": token " << t << " ignores the changed row";
            } else {
                EXPECT_EQ(before[i], after[i]) << type_name(w_type) << ": token " << t << ", row " << r << " moved";
            }
        }
    }
    const std::vector<float> y = spool::testing::random_floats(static_cast<size_t>(n), 6, 3.0f);
    type_info(mk->act_type).quantize_row(y.data(), p.act.data() + p.act_stride * changed_token, n);
    const std::vector<float> changed = run();
    for (int64_t t = 0; t < s.n_tokens; ++t) {
        for (int64_t r = 0; r < s.n_rows; ++r) {
            const size_t i = static_cast<size_t>(t * s.n_rows + r);
            if (t == changed_token) {
                EXPECT_NE(after[i], changed[i]) << type_name(w_type) << ": row " << r << " ignores token " << t;
            } else {
                EXPECT_EQ(after[i], changed[i]) << type_name(w_type) << ": token " << t << ", row " << r << " moved";
            }
        }
    }
}

TEST_P(GemmTest, EveryInputCounts) {
    const auto [w_type, isa] = GetParam();
    SPOOL_REQUIRE_ISA(isa);
    for (const Shape& s : {Shape{11, 7, 512}, Shape{30, 65, 256}}) {
        every_input_counts(w_type, isa, s);
    }
}

// Decode rows must equal prefill rows bit for bit (the session and model tests rely on it): every token's row from
// gemm over a batch, from gemm over other row ranges (how threads split a matrix) and from gemv on the token alone
// must be the same float. On AVX2 the batch and the part take different tile shapes: Q5_1's at 17 and 14 tokens,
// Q8_0's at 66 and 63.
void rows_do_not_depend_on_the_batch(GgmlType w_type, CpuIsa isa, const Shape& s) {
    SCOPED_TRACE(std::to_string(s.n_rows) + " rows x " + std::to_string(s.n_tokens) + " tokens");
    const MatmulKernels* mk = cpu_matmul_kernels(w_type, isa);
    const GemmKernels* gk = cpu_gemm_kernels(w_type, isa);
    const Problem p = make_problem(w_type, mk->act_type, s, 91);
    const size_t rows = static_cast<size_t>(s.n_rows);
    std::vector<uint8_t> scratch(gk->scratch_bytes(s.n_cols, s.n_tokens));
    std::vector<float> batch(rows * static_cast<size_t>(s.n_tokens));
    gk->gemm(s.n_cols, p.w.data(), p.w_stride, s.n_rows, p.act.data(), p.act_stride, s.n_tokens, batch.data(),
             s.n_rows, scratch.data());
    // Rows 5.. of tokens 3.. (another panel split and tile split), and every token alone through gemv.
    constexpr int64_t kRow0 = 5, kToken0 = 3;
    std::vector<float> part(rows * static_cast<size_t>(s.n_tokens), NAN);
    gk->gemm(s.n_cols, p.w.data() + p.w_stride * kRow0, p.w_stride, s.n_rows - kRow0,
             p.act.data() + p.act_stride * kToken0, p.act_stride, s.n_tokens - kToken0, part.data() + kRow0, s.n_rows,
             scratch.data());
    for (int64_t t = 0; t < s.n_tokens; ++t) {
        std::vector<float> alone(rows, NAN);
        gk->gemv(s.n_cols, p.w.data(), p.w_stride, s.n_rows, p.act.data() + p.act_stride * t, alone.data());
        for (int64_t r = 0; r < s.n_rows; ++r) {
            const float in_batch = batch[static_cast<size_t>(t * s.n_rows + r)];
            ASSERT_EQ(alone[static_cast<size_t>(r)], in_batch)
                << type_name(w_type) << " on " << cpu_isa_name(isa) << ": token " << t << ", row " << r
                << ": gemv differs from gemm";
            // (vec_dot_rows, the untiled types' kernel, sums a row by another path when it falls in a remainder.)
            if (gk->tiled && t >= kToken0 && r >= kRow0) {
                ASSERT_EQ(part[static_cast<size_t>((t - kToken0) * s.n_rows + r)], in_batch)
                    << type_name(w_type) << " on " << cpu_isa_name(isa) << ": token " << t << ", row " << r
                    << ": a batch of other rows and tokens changed it";
            }
        }
    }
}

TEST_P(GemmTest, RowsDoNotDependOnTheBatch) {
    const auto [w_type, isa] = GetParam();
    SPOOL_REQUIRE_ISA(isa);
    // 14 tokens against 11: amx tiles against the avx512 kernel they hand fewer than 12 tokens to.
    std::vector<Shape> shapes = {{29, 17, 768}, {40, 66, 256}, {21, 14, 512}};
    if (type_info(w_type).block_size == 32) shapes.push_back({21, 19, 288});  // an odd block count
    for (const Shape& s : shapes) {
        rows_do_not_depend_on_the_batch(w_type, isa, s);
        if (::testing::Test::HasFatalFailure()) return;
    }
}

// The split form (PackedGemm, AMX): activations packed tile by tile in two calls, then gemm over two chunks of rows
// from a misaligned scratch, must give gemm's bits for every (row, token), and too few tokens must ask for no packing.
TEST_P(GemmTest, PackedFormEqualsGemm) {
    const auto [w_type, isa] = GetParam();
    SPOOL_REQUIRE_ISA(isa);
    const GemmKernels* gk = cpu_gemm_kernels(w_type, isa);
    const PackedGemm* pg = gk->packed;
    if (pg == nullptr) GTEST_SKIP() << type_name(w_type) << " on " << cpu_isa_name(isa) << " has no packed form";
    const MatmulKernels* mk = cpu_matmul_kernels(w_type, isa);
    EXPECT_EQ(pg->packed_bytes(256, 3), 0u) << "3 tokens: the AVX-512 kernel's case";
    for (const Shape& s : {Shape{37, 35, 768}, Shape{21, 16, 512}, Shape{40, 67, 256}}) {
        SCOPED_TRACE(std::to_string(s.n_rows) + " rows x " + std::to_string(s.n_tokens) + " tokens");
        const Problem p = make_problem(w_type, mk->act_type, s, 313);
        std::vector<uint8_t> scratch(gk->scratch_bytes(s.n_cols, s.n_tokens));
        std::vector<float> expected(static_cast<size_t>(s.n_rows * s.n_tokens), NAN);
        gk->gemm(s.n_cols, p.w.data(), p.w_stride, s.n_rows, p.act.data(), p.act_stride, s.n_tokens, expected.data(),
                 s.n_rows, scratch.data());

        const size_t bytes = pg->packed_bytes(s.n_cols, s.n_tokens);
        ASSERT_GT(bytes, 0u);
        std::vector<uint8_t> packed_space(bytes + 64, 0xcd);
        uint8_t* packed = packed_space.data() + (64 - reinterpret_cast<uintptr_t>(packed_space.data()) % 64) % 64;
        const int64_t tiles = (s.n_tokens + kPackedTileTokens - 1) / kPackedTileTokens;
        pg->pack_acts(s.n_cols, p.act.data(), p.act_stride, s.n_tokens, 1, tiles, packed);  // later tiles first
        pg->pack_acts(s.n_cols, p.act.data(), p.act_stride, s.n_tokens, 0, 1, packed);
        std::vector<uint8_t> panel_space(pg->scratch_bytes(s.n_cols) + 3);
        std::vector<float> got(expected.size(), NAN);
        constexpr int64_t kSplit = 16;  // a chunk boundary on a panel boundary, as the backend splits rows
        pg->gemm(s.n_cols, p.w.data(), p.w_stride, kSplit, packed, s.n_tokens, got.data(), s.n_rows,
                 panel_space.data() + 3);
        pg->gemm(s.n_cols, p.w.data() + p.w_stride * kSplit, p.w_stride, s.n_rows - kSplit, packed, s.n_tokens,
                 got.data() + kSplit, s.n_rows, panel_space.data() + 3);
        for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_EQ(got[i], expected[i]) << type_name(w_type) << ": token " << i / static_cast<size_t>(s.n_rows)
                                           << ", row " << i % static_cast<size_t>(s.n_rows);
        }
    }
}

TEST(GemmTable, TiledWhereExpected) {
    for (CpuIsa isa : kAllIsas) {
        if (!cpu_isa_available(isa)) continue;
        for (GgmlType t : kWeightTypes) {
            const GemmKernels* gk = cpu_gemm_kernels(t, isa);
            ASSERT_NE(gk, nullptr) << type_name(t);
            const bool quantized = type_info(t).block_size > 1;
            EXPECT_EQ(gk->tiled, quantized && isa != CpuIsa::scalar) << type_name(t) << " on " << cpu_isa_name(isa);
            EXPECT_GE(gk->rows_per_panel, 1);
            EXPECT_GE(gk->min_tokens, 1);
        }
    }
    EXPECT_EQ(cpu_gemm_kernels(GgmlType::IQ2_XXS, CpuIsa::scalar), nullptr);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, GemmTest,
                         ::testing::Combine(::testing::ValuesIn(kWeightTypes), ::testing::ValuesIn(kAllIsas)),
                         [](const auto& p) {
                             return std::string(type_name(std::get<0>(p.param))) + "_" +
                                    isa_param_name(std::get<1>(p.param));
                         });

}  // namespace
}  // namespace spool::cpu::testing
