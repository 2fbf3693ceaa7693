// CpuBackend::attention (tasks, row splits over threads, merges; attention_group.cpp) against a float64 reference at
// long contexts: decode and prefill, grouped and plain heads, windows, every cache type, 1 to 3 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/backend_cpu.h"
#include "backend/cpu/ops.h"
#include "test_support.h"

namespace spool {
namespace {

// As kAttentionTolerance in kernels/attention_test.cpp (same kernels; the merge adds one rounding of each part).
constexpr double kTolerance = 1e-5;

struct Shape {
    int n_head, n_head_kv, head_dim, window;
};

TEST(CpuAttention, MatchesFloat64ReferenceOnEveryThreadCount) {
    // TinyLlama's grouping (8 per KV head), one KV head (a single task: decode must split it), a group wider than a
    // kernel call (16), plain heads with a window, and a 7-wide group (Qwen2-0.5B's 14/2).
    const Shape shapes[] = {{32, 4, 64, 0}, {8, 1, 64, 0}, {16, 1, 80, 0}, {4, 4, 128, 300}, {14, 2, 64, 0}};
    const int64_t n_ctx = 1100;
    double worst = 0;
    std::string worst_case;
    int cases = 0;
    for (const GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0}) {
        for (const Shape& shape : shapes) {
            if (shape.head_dim % type_info(type).block_size != 0) continue;  // Q8_0, Q4_0 heads are whole blocks
            const int64_t width = static_cast<int64_t>(shape.n_head_kv) * shape.head_dim;
            const size_t stride = row_bytes(type, width);
            const uint64_t seed = 40 + static_cast<uint64_t>(type) * 100 + static_cast<uint64_t>(shape.n_head);
            std::vector<uint8_t> k(stride * n_ctx), v(stride * n_ctx);
            std::vector<float> k_float(static_cast<size_t>(n_ctx * width)), v_float(k_float.size());
            for (auto [bytes, floats, s] : {std::tuple{&k, &k_float, seed}, std::tuple{&v, &v_float, seed + 1}}) {
                const std::vector<float> x = testing::random_floats(floats->size(), s);
                for (int64_t r = 0; r < n_ctx; ++r) {
                    type_info(type).quantize_row(x.data() + r * width, bytes->data() + r * stride, width);
                    type_info(type).dequantize_row(bytes->data() + r * stride, floats->data() + r * width, width);
                }
            }
            const KvView cache{k.data(), v.data(), type, n_ctx, width, stride, type, stride};
            const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
            const AttentionParams params{shape.n_head, shape.n_head_kv, shape.head_dim, scale, shape.window};
            // Decode at positions 0, 33, 1000 and 1099; a prefill of 17 tokens ending at 1099; a speculative batch.
            std::vector<int32_t> prefill(17);
            for (int i = 0; i < 17; ++i) prefill[static_cast<size_t>(i)] = 1083 + i;
            const std::vector<std::vector<int32_t>> batches = {{0}, {33}, {1000}, {1099}, prefill, {500, 501, 502}};
            for (const auto& positions : batches) {
                const auto n_tokens = static_cast<int64_t>(positions.size());
                const int64_t q_width = static_cast<int64_t>(shape.n_head) * shape.head_dim;
                const std::vector<float> q =
                    testing::random_floats(static_cast<size_t>(n_tokens * q_width), seed + 2, 3.0f);
                // float64 reference.
                std::vector<double> expected(q.size());
                double max_v = 0;
                for (int64_t t = 0; t < n_tokens; ++t) {
                    const int64_t last = positions[static_cast<size_t>(t)];
                    const int64_t first = shape.window > 0 ? std::max<int64_t>(0, last - shape.window + 1) : 0;
                    for (int h = 0; h < shape.n_head; ++h) {
                        const int kv = h / (shape.n_head / shape.n_head_kv);
                        const float* qh = q.data() + t * q_width + h * shape.head_dim;
                        std::vector<double> p;
                        double m = -INFINITY, sum = 0;
                        for (int64_t j = first; j <= last; ++j) {
                            double dot = 0;
                            for (int d = 0; d < shape.head_dim; ++d) {
                                dot += static_cast<double>(qh[d]) * k_float[j * width + kv * shape.head_dim + d];
                            }
                            p.push_back(scale * dot);
                            m = std::max(m, p.back());
                        }
                        for (double& x : p) sum += (x = std::exp(x - m));
                        double* o = expected.data() + t * q_width + h * shape.head_dim;
                        for (int64_t j = first; j <= last; ++j) {
                            for (int d = 0; d < shape.head_dim; ++d) {
                                const double vj = v_float[j * width + kv * shape.head_dim + d];
                                o[d] += p[static_cast<size_t>(j - first)] / sum * vj;
                                max_v = std::max(max_v, std::fabs(vj));
                            }
                        }
                    }
                }
                std::vector<float> one_thread;
                for (const size_t n_threads : {1u, 2u, 3u}) {
                    CpuBackend backend(CpuBackendOptions{n_threads, ""});
                    std::vector<float> out(q.size(), NAN);
                    backend.attention(q.data(), cache, positions.data(), n_tokens, params, out.data());
                    const cpu::AttentionPlan plan = cpu::plan_attention(params, positions.data(), n_tokens);
                    const std::string what = std::string(type_name(type)) + " heads " + std::to_string(shape.n_head) +
                                             "/" + std::to_string(shape.n_head_kv) + " head_dim " +
                                             std::to_string(shape.head_dim) + " window " +
                                             std::to_string(shape.window) + " tokens " + std::to_string(n_tokens) +
                                             " last position " + std::to_string(positions.back()) + " threads " +
                                             std::to_string(n_threads) + " parts " + std::to_string(plan.max_parts) +
                                             (plan.by_parts ? " by parts" : "");
                    const auto c = testing::compare(std::span<const double>(expected), std::span<const float>(out));
                    ASSERT_LE(c.max_abs, kTolerance * max_v) << what << ": " << c.report();
                    if (c.max_abs / max_v > worst) {
                        worst = c.max_abs / max_v;
                        worst_case = what + ": " + c.report();
                    }
                    // Bit for bit the same on any thread count (fixed parts, merged in order).
                    if (n_threads == 1) {
                        one_thread = out;
                    } else {
                        ASSERT_TRUE(std::equal(out.begin(), out.end(), one_thread.begin())) << what;
                    }
                    ++cases;
                }
            }
        }
    }
    std::printf("[ cpu attention ] %d cases; worst |diff| / max|V| = %.3g (bound %.0e) at %s\n", cases, worst,
                kTolerance, worst_case.c_str());
}

// A decode step gives the same bits as the same token's row of a prefill (a batch of consecutive positions), on
// any thread count: sessions rely on it (tests/model session_test DecodeRowsEqualPrefillRows).
TEST(CpuAttention, DecodeRowEqualsPrefillRow) {
    const AttentionParams params{8, 1, 64, 0.125f, 0};  // one KV head: decode splits its parts over the threads
    const int64_t n_ctx = 700, width = 64, n_tokens = 20;
    const size_t stride = row_bytes(GgmlType::F16, width);
    std::vector<uint8_t> k(stride * n_ctx), v(stride * n_ctx);
    const std::vector<float> x = testing::random_floats(static_cast<size_t>(2 * n_ctx * width), 91);
    for (int64_t r = 0; r < n_ctx; ++r) {
        type_info(GgmlType::F16).quantize_row(x.data() + r * width, k.data() + r * stride, width);
        type_info(GgmlType::F16).quantize_row(x.data() + (n_ctx + r) * width, v.data() + r * stride, width);
    }
    const KvView cache{k.data(), v.data(), GgmlType::F16, n_ctx, width, stride, GgmlType::F16, stride};
    const std::vector<float> q = testing::random_floats(static_cast<size_t>(n_tokens * 8 * 64), 92, 2.0f);
    std::vector<int32_t> positions(n_tokens);
    for (int i = 0; i < n_tokens; ++i) positions[static_cast<size_t>(i)] = 600 + i;  // 3 parts each
    CpuBackend prefill_backend(CpuBackendOptions{2, ""});
    ASSERT_FALSE(cpu::plan_attention(params, positions.data(), n_tokens).by_parts);  // tasks run whole
    std::vector<float> prefill(q.size());
    prefill_backend.attention(q.data(), cache, positions.data(), n_tokens, params, prefill.data());
    for (const size_t n_threads : {1u, 2u, 3u}) {
        CpuBackend backend(CpuBackendOptions{n_threads, ""});
        for (int64_t t = 0; t < n_tokens; ++t) {
            const size_t row = static_cast<size_t>(t) * 8 * 64;
            ASSERT_TRUE(cpu::plan_attention(params, &positions[static_cast<size_t>(t)], 1).by_parts);
            std::vector<float> decode(8 * 64);
            backend.attention(q.data() + row, cache, &positions[static_cast<size_t>(t)], 1, params, decode.data());
            ASSERT_TRUE(std::equal(decode.begin(), decode.end(), prefill.begin() + static_cast<std::ptrdiff_t>(row)))
                << "token " << t << ", " << n_threads << " threads";
        }
    }
}

// The decisions the tests above rely on.
TEST(CpuAttention, PlanRunsFewTokensByParts) {
    const AttentionParams tinyllama{32, 4, 64, 0.125f, 0};
    const int32_t long_pos = 1000, short_pos = 100;
    // Parts of kAttentionPartRows (256) rows: 1001 rows take 4, 101 rows one.
    const cpu::AttentionPlan decode = cpu::plan_attention(tinyllama, &long_pos, 1);
    EXPECT_EQ(decode.n_tasks, 4);
    EXPECT_EQ(decode.max_parts, 4);
    EXPECT_TRUE(decode.by_parts);
    EXPECT_FALSE(cpu::plan_attention(tinyllama, &short_pos, 1).by_parts);
    // A window bounds the parts.
    const AttentionParams windowed{32, 4, 64, 0.125f, 300};
    EXPECT_EQ(cpu::plan_attention(windowed, &long_pos, 1).max_parts, 2);
    // A prefill runs each task whole.
    std::vector<int32_t> positions(64);
    for (int i = 0; i < 64; ++i) positions[static_cast<size_t>(i)] = 1000 + i;
    EXPECT_FALSE(cpu::plan_attention(tinyllama, positions.data(), 64).by_parts);
    // A group of 16 takes two tasks per KV head.
    const AttentionParams wide{16, 1, 64, 0.125f, 0};
    EXPECT_EQ(cpu::plan_attention(wide, &long_pos, 1).n_tasks, 2);
}

}  // namespace
}  // namespace spool
