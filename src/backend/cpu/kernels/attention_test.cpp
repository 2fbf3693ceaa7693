// The attention span kernels of every ISA against a float64 reference on the same stored cache rows (F32, F16,
// Q8_0, Q4_0), whole and split into merged parts; the quantized caches' rows converted exactly (the F32 kernel on the
// dequantized rows gives the same bits); and the vectorized expf against std::exp over the whole float range.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/kernels/attention_dispatch.h"
#include "backend/cpu/kernels/kernel_test_support.h"
#include "test_support.h"

namespace spool::cpu::testing {
namespace {

// |got - expected| <= kAttentionTolerance * max_j |V_j| per output. The kernel and the reference read the same
// stored rows, so they differ by float32 rounding only: a score's dot of <= 128 products is off by a few ulps of
// sum |q k| (~1e-6 with these inputs), which moves the weights by that relative amount; the weighted sum then adds
// a few ulps of max |V|. Measured at most 3e-7 (see the printed worst case); a wrong row, scale or weight is off by
// far more (a single misplaced row of 1000 moves the output by ~1e-3 of max |V|).
constexpr double kAttentionTolerance = 1e-5;
// The vectorized expf: at most this many float ulps from the correctly rounded value in its normal range.
constexpr double kExpMaxUlps = 2.0;

constexpr float kExpLow = -87.33654f;            // below: flushed to 0 (attention_dispatch.h)
constexpr float kExpHigh = 88.72283935546875f;  // above: +inf

// Cache rows: n_rows rows of n_kv_heads * head_dim keys of k_type and values of v_type, reference-quantized from
// seeded normals.
struct Cache {
    GgmlType k_type, v_type;
    int64_t n_rows;
    int64_t width;
    size_t k_stride, v_stride;
    std::vector<uint8_t> k, v;
    std::vector<float> k_float, v_float;  // the stored rows, dequantized: what the kernel must see
};

Cache make_cache(GgmlType k_type, GgmlType v_type, int64_t n_rows, int n_kv_heads, int head_dim, uint64_t seed) {
    Cache c{k_type, v_type, n_rows, static_cast<int64_t>(n_kv_heads) * head_dim, 0, 0, {}, {}, {}, {}};
    c.k_stride = row_bytes(k_type, c.width);
    c.v_stride = row_bytes(v_type, c.width);
    for (auto [bytes, floats, s, type, stride] : {std::tuple{&c.k, &c.k_float, seed, k_type, c.k_stride},
                                                  std::tuple{&c.v, &c.v_float, seed + 1, v_type, c.v_stride}}) {
        const TypeInfo& info = type_info(type);
        const std::vector<float> x = spool::testing::random_floats(static_cast<size_t>(n_rows * c.width), s);
        bytes->resize(stride * static_cast<size_t>(n_rows));
        floats->resize(x.size());
        for (int64_t r = 0; r < n_rows; ++r) {
            info.quantize_row(x.data() + r * c.width, bytes->data() + static_cast<size_t>(r) * stride, c.width);
            info.dequantize_row(bytes->data() + static_cast<size_t>(r) * stride, floats->data() + r * c.width,
                                c.width);
        }
    }
    return c;
}
Cache make_cache(GgmlType type, int64_t n_rows, int n_kv_heads, int head_dim, uint64_t seed) {
    return make_cache(type, type, n_rows, n_kv_heads, head_dim, seed);
}

// softmax(scale * q . K_j) V_j over rows [first, first + n) of KV head kv_head, in float64. out: [n_q][head_dim].
std::vector<double> reference(const Cache& c, const float* q, int n_q, int head_dim, int kv_head, int64_t first,
                              int64_t n, float scale) {
    std::vector<double> out(static_cast<size_t>(n_q * head_dim), 0.0), scores(static_cast<size_t>(n));
    for (int h = 0; h < n_q; ++h) {
        double max = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
            const float* k = c.k_float.data() + (first + j) * c.width + kv_head * head_dim;
            double dot = 0;
            for (int d = 0; d < head_dim; ++d) dot += static_cast<double>(q[h * head_dim + d]) * k[d];
            scores[static_cast<size_t>(j)] = static_cast<double>(scale) * dot;
            max = std::max(max, scores[static_cast<size_t>(j)]);
        }
        double sum = 0;
        for (double& s : scores) sum += (s = std::exp(s - max));
        for (int64_t j = 0; j < n; ++j) {
            const float* v = c.v_float.data() + (first + j) * c.width + kv_head * head_dim;
            for (int d = 0; d < head_dim; ++d) out[static_cast<size_t>(h * head_dim + d)] += scores[j] / sum * v[d];
        }
    }
    return out;
}

double max_abs_v(const Cache& c, int head_dim, int kv_head, int64_t first, int64_t n) {
    double m = 0;
    for (int64_t j = first; j < first + n; ++j) {
        for (int d = 0; d < head_dim; ++d) {
            m = std::max(m, std::fabs(double{c.v_float[j * c.width + kv_head * head_dim + d]}));
        }
    }
    return m;
}

AttentionSpan span_of(const Cache& c, const float* q, int n_q, int head_dim, int kv_head, int64_t first, int64_t n,
                      float scale) {
    const int64_t column = int64_t{kv_head} * head_dim;
    const size_t k_offset = static_cast<size_t>(first) * c.k_stride + row_bytes(c.k_type, column);
    const size_t v_offset = static_cast<size_t>(first) * c.v_stride + row_bytes(c.v_type, column);
    return AttentionSpan{q, c.k.data() + k_offset, c.v.data() + v_offset, c.k_stride, c.v_stride, n, n_q, head_dim,
                         scale};
}

class AttentionSpanTest : public ::testing::TestWithParam<std::tuple<GgmlType, CpuIsa>> {};

// Head dims 64, 80 and 128 (and 66 and 40 for the float types: padding tails), groups 1, 3, 4 and 8, spans ending at
// positions 0, 1, 31, 33 and 1000 and one in the middle of the cache (a window), q scaled so scores reach +-40
// (the softmax must subtract the max), the second of two KV heads (a row offset), whole and split in three parts.
TEST_P(AttentionSpanTest, MatchesFloat64Reference) {
    const auto [type, isa] = GetParam();
    SPOOL_REQUIRE_ISA(isa);
    const AttentionSpanFn kernel = cpu_attention_kernel(type, isa);
    ASSERT_NE(kernel, nullptr);
    std::vector<int> head_dims = {64, 128};
    if (type == GgmlType::Q8_0 || type == GgmlType::Q4_0) {
        head_dims.push_back(96);  // whole blocks of 32 per head
    } else {
        head_dims.insert(head_dims.end(), {80, 66, 40});
    }
    struct Rows {
        int64_t first, n;
    };
    const Rows spans[] = {{0, 1}, {0, 2}, {0, 32}, {0, 34}, {0, 1001}, {517, 300}};
    double worst = 0;
    std::string worst_case;
    int cases = 0;
    for (const int head_dim : head_dims) {
        const int n_kv_heads = 2;
        const Cache cache = make_cache(type, 1001, n_kv_heads, head_dim,
                                       1000 + static_cast<uint64_t>(head_dim) * 7 + static_cast<uint64_t>(type));
        for (const int n_q : {1, 3, 4, 8}) {
            for (const float q_scale : {1.0f, 6.0f}) {
                const std::vector<float> q = spool::testing::random_floats(
                    static_cast<size_t>(n_q * head_dim), 77 + static_cast<uint64_t>(n_q * head_dim), q_scale);
                const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
                for (const Rows rows : spans) {
                    const int kv_head = 1;
                    const std::vector<double> expected =
                        reference(cache, q.data(), n_q, head_dim, kv_head, rows.first, rows.n, scale);
                    const double bound = kAttentionTolerance * max_abs_v(cache, head_dim, kv_head, rows.first, rows.n);
                    const std::string what = std::string(type_name(type)) + " head_dim " + std::to_string(head_dim) +
                                             " n_q " + std::to_string(n_q) + " q*" + std::to_string(q_scale) +
                                             " rows [" + std::to_string(rows.first) + ", +" +
                                             std::to_string(rows.n) + ")";

                    // Whole span, finished output.
                    std::vector<float> out(static_cast<size_t>(n_q * head_dim), NAN);
                    kernel(span_of(cache, q.data(), n_q, head_dim, kv_head, rows.first, rows.n, scale),
                           AttentionOut{out.data(), nullptr, nullptr});
                    // Three parts (some empty for short spans), merged in order.
                    const size_t values = static_cast<size_t>(n_q * head_dim);
                    std::vector<float> merged(values, NAN), part(values, NAN);
                    float merged_max[kAttentionMaxGroup], merged_sum[kAttentionMaxGroup];
                    float part_max[kAttentionMaxGroup], part_sum[kAttentionMaxGroup];
                    const AttentionOut into{merged.data(), merged_max, merged_sum};
                    for (int i = 0; i < 3; ++i) {
                        const int64_t b = rows.n * i / 3, e = rows.n * (i + 1) / 3;
                        const AttentionOut target = i == 0 ? into : AttentionOut{part.data(), part_max, part_sum};
                        kernel(span_of(cache, q.data(), n_q, head_dim, kv_head, rows.first + b, e - b, scale), target);
                        if (i > 0) attention_merge(into, target, n_q, head_dim);
                    }
                    attention_finish(into, n_q, head_dim, merged.data());

                    for (const auto& [name, got] : {std::pair{"whole", &out}, std::pair{"merged", &merged}}) {
                        const auto c = spool::testing::compare(std::span<const double>(expected),
                                                               std::span<const float>(*got));
                        ASSERT_LE(c.max_abs, bound) << what << " " << name << ": " << c.report();
                        if (c.max_abs / bound * kAttentionTolerance > worst) {
                            worst = c.max_abs / bound * kAttentionTolerance;
                            worst_case = what + " " + name + ": " + c.report();
                        }
                        ++cases;
                    }
                }
            }
        }
    }
    std::printf("[ %s %s ] %d cases; worst |diff| / max|V| = %.3g (bound %.0e) at %s\n", type_name(type).data(),
                std::string(cpu_isa_name(isa)).c_str(), cases, worst, kAttentionTolerance, worst_case.c_str());
}

// An empty span reports max -inf and sum 0, and merges as nothing, on either side of a merge.
TEST_P(AttentionSpanTest, EmptySpanIsNeutral) {
    const auto [type, isa] = GetParam();
    SPOOL_REQUIRE_ISA(isa);
    const int head_dim = 64, n_q = 4;
    const Cache cache = make_cache(type, 3, 1, head_dim, 5);
    const std::vector<float> q = spool::testing::random_floats(n_q * head_dim, 6);
    const AttentionSpanFn kernel = cpu_attention_kernel(type, isa);
    std::vector<float> empty(n_q * head_dim, NAN), full(n_q * head_dim, NAN), whole(n_q * head_dim, NAN);
    float empty_max[n_q], empty_sum[n_q], full_max[n_q], full_sum[n_q];
    const AttentionOut e{empty.data(), empty_max, empty_sum}, f{full.data(), full_max, full_sum};
    kernel(span_of(cache, q.data(), n_q, head_dim, 0, 0, 0, 0.125f), e);
    for (int h = 0; h < n_q; ++h) {
        EXPECT_EQ(empty_max[h], -INFINITY);
        EXPECT_EQ(empty_sum[h], 0.0f);
    }
    for (int i = 0; i < n_q * head_dim; ++i) ASSERT_EQ(empty[i], 0.0f) << i;
    kernel(span_of(cache, q.data(), n_q, head_dim, 0, 0, 3, 0.125f), f);
    kernel(span_of(cache, q.data(), n_q, head_dim, 0, 0, 3, 0.125f), AttentionOut{whole.data(), nullptr, nullptr});
    attention_merge(f, e, n_q, head_dim);  // empty part: nothing changes
    attention_merge(e, f, n_q, head_dim);  // into an empty one: becomes the full part
    attention_finish(f, n_q, head_dim, full.data());
    attention_finish(e, n_q, head_dim, empty.data());
    for (int i = 0; i < n_q * head_dim; ++i) {
        ASSERT_EQ(full[i], whole[i]) << i;
        ASSERT_EQ(empty[i], whole[i]) << i;
    }
}

INSTANTIATE_TEST_SUITE_P(All, AttentionSpanTest,
                         ::testing::Combine(::testing::Values(GgmlType::F32, GgmlType::F16, GgmlType::Q8_0,
                                                              GgmlType::Q4_0),
                                            ::testing::ValuesIn(kAllIsas)),
                         [](const auto& info) {
                             return std::string(type_name(std::get<0>(info.param))) + "_" +
                                    isa_param_name(std::get<1>(info.param));
                         });

// A quantized cache's kernel runs the F32 kernel's arithmetic on its rows converted to float32, so if that conversion
// gives exactly quant/'s dequantized floats, both kernels give the same bits. Over one row the output is that V row
// itself (its weight is exactly 1), so a V element converted differently fails there; a K element moves a score and,
// over 300 rows of unit-normal data, some output. Spans over whole and partial tiles, one and several heads. Every
// pair of key and value types but F32 with F32, so each half is read by its own type (a mixed cache, -ctk q8_0
// -ctv q4_0): a V half read as K's type, or at K's row stride, fails.
class CacheTypePairTest : public ::testing::TestWithParam<std::tuple<std::tuple<GgmlType, GgmlType>, CpuIsa>> {};

TEST_P(CacheTypePairTest, RowsConvertExactly) {
    const auto [types, isa] = GetParam();
    const auto [k_type, v_type] = types;
    SPOOL_REQUIRE_ISA(isa);
    const AttentionSpanFn kernel = cpu_attention_kernel(k_type, v_type, isa);
    const AttentionSpanFn f32_kernel = cpu_attention_kernel(GgmlType::F32, isa);
    ASSERT_NE(kernel, nullptr);
    for (const int head_dim : {64, 96, 128}) {
        const Cache cache = make_cache(k_type, v_type, 300, 2, head_dim, 900 + static_cast<uint64_t>(head_dim));
        Cache floats = cache;  // the dequantized rows stored as an F32 cache
        floats.k_type = floats.v_type = GgmlType::F32;
        floats.k_stride = floats.v_stride = static_cast<size_t>(cache.width) * sizeof(float);
        for (auto [bytes, values] : {std::pair{&floats.k, &cache.k_float}, std::pair{&floats.v, &cache.v_float}}) {
            bytes->resize(values->size() * sizeof(float));
            std::memcpy(bytes->data(), values->data(), bytes->size());
        }
        for (const int n_q : {1, 4}) {
            const std::vector<float> q = spool::testing::random_floats(static_cast<size_t>(n_q * head_dim),
                                                                       31 + static_cast<uint64_t>(n_q), 4.0f);
            const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
            for (const int64_t n : {int64_t{1}, int64_t{13}, int64_t{64}, int64_t{300}}) {
                std::vector<float> got(static_cast<size_t>(n_q * head_dim), NAN), want(got.size(), NAN);
                kernel(span_of(cache, q.data(), n_q, head_dim, 1, 0, n, scale),
                       AttentionOut{got.data(), nullptr, nullptr});
                f32_kernel(span_of(floats, q.data(), n_q, head_dim, 1, 0, n, scale),
                           AttentionOut{want.data(), nullptr, nullptr});
                for (size_t i = 0; i < got.size(); ++i) {
                    ASSERT_EQ(got[i], want[i]) << "K " << type_name(k_type) << " V " << type_name(v_type)
                                               << " head_dim " << head_dim << " n_q " << n_q << " rows " << n
                                               << " at " << i;
                }
            }
        }
    }
}

// The pairs of kAttentionCacheTypes but (F32, F32), the reference itself.
std::vector<std::tuple<GgmlType, GgmlType>> cache_type_pairs() {
    std::vector<std::tuple<GgmlType, GgmlType>> pairs;
    for (const GgmlType k : kAttentionCacheTypes) {
        for (const GgmlType v : kAttentionCacheTypes) {
            if (k != GgmlType::F32 || v != GgmlType::F32) pairs.emplace_back(k, v);
        }
    }
    return pairs;
}

INSTANTIATE_TEST_SUITE_P(All, CacheTypePairTest,
                         ::testing::Combine(::testing::ValuesIn(cache_type_pairs()), ::testing::ValuesIn(kAllIsas)),
                         [](const auto& info) {
                             const auto& types = std::get<0>(info.param);
                             return std::string(type_name(std::get<0>(types))) + "_" +
                                    std::string(type_name(std::get<1>(types))) + "_" +
                                    isa_param_name(std::get<1>(info.param));
                         });

// Any other type has no kernel, on either half.
TEST(CacheTypePairs, OthersHaveNoKernel) {
    EXPECT_EQ(cpu_attention_kernel(GgmlType::Q8_0, GgmlType::Q5_0, CpuIsa::scalar), nullptr);
    EXPECT_EQ(cpu_attention_kernel(GgmlType::BF16, GgmlType::F16, CpuIsa::scalar), nullptr);
    EXPECT_NE(cpu_attention_kernel(GgmlType::Q8_0, GgmlType::Q4_0, CpuIsa::scalar), nullptr);
}

class ExpRowTest : public ::testing::TestWithParam<CpuIsa> {};

// Float ulps between got and the exact value e (a double), measured in the ulp of e rounded to float.
double ulps(float got, double e) {
    const float ef = static_cast<float>(e);
    const double ulp = static_cast<double>(std::nextafter(ef, INFINITY)) - ef;
    return std::fabs(static_cast<double>(got) - e) / ulp;
}

TEST_P(ExpRowTest, MatchesStdExpEverywhere) {
    const CpuIsa isa = GetParam();
    SPOOL_REQUIRE_ISA(isa);
    const ExpRowFn exp_row = cpu_attention_kernels(isa).exp_row;
    // A step of 1e-4 from -120 to 100 (2.2 million values: every binade of the result, both range ends), powers
    // of ten down to 1e-45 of either sign (inputs near 0), special values, and an odd count so the vector tail runs.
    std::vector<float> x;
    constexpr int kSteps = 2'200'000;
    for (int i = 0; i <= kSteps; ++i) x.push_back(static_cast<float>(-120.0 + 220.0 * i / kSteps));
    for (int p = 1; p <= 45; ++p) {
        x.push_back(static_cast<float>(std::pow(10.0, -p)));
        x.push_back(-static_cast<float>(std::pow(10.0, -p)));
    }
    for (const float special : {0.0f, -0.0f, FLT_MIN, -FLT_MIN, 1e-30f, -1e-30f, kExpLow, kExpHigh,
                                std::nextafter(kExpLow, -INFINITY), std::nextafter(kExpHigh, 0.0f), -1e30f, 1e30f,
                                -INFINITY, INFINITY, -FLT_MAX, FLT_MAX}) {
        x.push_back(special);
    }
    if (x.size() % 2 == 0) x.push_back(-3.5f);
    std::vector<float> got(x.size());
    exp_row(x.data(), got.data(), static_cast<int64_t>(x.size()));

    double worst_ulps = 0;
    float worst_x = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        const double e = std::exp(static_cast<double>(x[i]));
        ASSERT_FALSE(std::isnan(got[i])) << "exp(" << x[i] << ") is NaN";
        if (x[i] < kExpLow) {
            ASSERT_EQ(got[i], 0.0f) << "exp(" << x[i] << ") must flush to 0";
            ASSERT_LT(e, static_cast<double>(FLT_MIN));
        } else if (x[i] > kExpHigh || std::isinf(static_cast<float>(e))) {
            ASSERT_EQ(got[i], INFINITY) << "exp(" << x[i] << ")";
        } else {
            const double u = ulps(got[i], e);
            ASSERT_LE(u, kExpMaxUlps) << "exp(" << x[i] << "): got " << got[i] << ", expected " << e;
            if (u > worst_ulps) {
                worst_ulps = u;
                worst_x = x[i];
            }
        }
    }
    const float nan_in = std::numeric_limits<float>::quiet_NaN();
    float nan_out = 0;
    exp_row(&nan_in, &nan_out, 1);
    EXPECT_TRUE(std::isnan(nan_out));
    // In place, and the largest input below the overflow edge stays finite only if expf does.
    std::vector<float> in_place = {-1.0f, 0.5f, -20.0f};
    exp_row(in_place.data(), in_place.data(), 3);
    EXPECT_NEAR(in_place[0], std::exp(-1.0), 1e-7);
    EXPECT_NEAR(in_place[2], std::exp(-20.0), 1e-15);
    std::printf("[ exp %s ] %zu inputs; worst %.3f ulp at x = %.9g\n", std::string(cpu_isa_name(isa)).c_str(),
                x.size(), worst_ulps, static_cast<double>(worst_x));
}

INSTANTIATE_TEST_SUITE_P(All, ExpRowTest, ::testing::ValuesIn(kAllIsas),
                         [](const auto& info) { return isa_param_name(info.param); });

}  // namespace
}  // namespace spool::cpu::testing
