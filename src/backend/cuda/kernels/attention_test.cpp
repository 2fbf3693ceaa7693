// The CUDA KV append and attention kernels (attention_*.cu) against the host quantizers (bit-exact cache bytes)
// and a float64 attention written here with the ref's semantics (kernels/ref/attention.cpp): every cache type pair,
// GQA shapes, windows, decode across split boundaries of a 4096-row cache, prefill, and CUDA graph replay.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_test_support.h"
#include "backend/cuda/kernels/attention_test_support.h"
#include "backend/cuda/kernels/launch.h"
#include "core/half.h"
#include "quant/types.h"
#include "spool/errors.h"
#include "test_support.h"
#include "tolerances.h"

namespace spool::cuda {
namespace {

using namespace attention_test;
using gpu_test::DeviceVector;

// kernels/ref/attention.cpp's loops, on the dequantized rows.
std::vector<double> ref_attention(const std::vector<float>& q, const HostCache& cache,
                                  const std::vector<int32_t>& positions, const AttentionParams& p) {
    const int group = p.n_head / p.n_head_kv;
    const int64_t q_width = static_cast<int64_t>(p.n_head) * p.head_dim;
    std::vector<double> out(q.size());
    std::vector<double> scores, acc(static_cast<size_t>(p.head_dim));
    for (size_t t = 0; t < positions.size(); ++t) {
        const int64_t last = positions[t];
        const int64_t first = p.window > 0 ? std::max<int64_t>(0, last - p.window + 1) : 0;
        for (int h = 0; h < p.n_head; ++h) {
            const float* qh = q.data() + t * q_width + static_cast<int64_t>(h) * p.head_dim;
            const int64_t col = static_cast<int64_t>(h / group) * p.head_dim;
            scores.assign(static_cast<size_t>(last - first + 1), 0.0);
            double max_score = -INFINITY;
            for (int64_t j = first; j <= last; ++j) {
                const float* kr = cache.k.data() + j * cache.row_width + col;
                double dot = 0;
                for (int d = 0; d < p.head_dim; ++d) dot += static_cast<double>(qh[d]) * kr[d];
                scores[j - first] = dot * p.scale;
                max_score = std::max(max_score, scores[j - first]);
            }
            double sum = 0;
            for (double& s : scores) sum += (s = std::exp(s - max_score));
            std::fill(acc.begin(), acc.end(), 0.0);
            for (int64_t j = first; j <= last; ++j) {
                const float* vr = cache.v.data() + j * cache.row_width + col;
                const double w = scores[j - first] / sum;
                for (int d = 0; d < p.head_dim; ++d) acc[d] += w * vr[d];
            }
            for (int d = 0; d < p.head_dim; ++d) out[t * q_width + static_cast<int64_t>(h) * p.head_dim + d] = acc[d];
        }
    }
    return out;
}

double nmse(std::span<const double> expected, std::span<const float> actual) {
    double err = 0, ref = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
        const double d = expected[i] - actual[i];
        err += d * d;
        ref += expected[i] * expected[i];
    }
    return err / std::max(ref, 1e-300);
}

std::string describe(const HeadShape& s, CacheTypes types, int window, const std::vector<int32_t>& positions,
                     bool split) {
    std::string text = cache_text(types) + " heads " + std::to_string(s.n_head) + "/" +
                       std::to_string(s.n_head_kv) + " dim " + std::to_string(s.head_dim) + " window " +
                       std::to_string(window) + (split ? " split" : " tiled") + " positions";
    for (size_t i = 0; i < positions.size() && i < 4; ++i) text += " " + std::to_string(positions[i]);
    if (positions.size() > 4) text += " ... (" + std::to_string(positions.size()) + " tokens)";
    return text;
}

// The split path's NMSE limit against the float64 reference, by how it rounds its products.
double split_limit(CacheTypes types, const AttentionParams& params) {
    if (attention_split_rounds_q_to_int8(types.k, types.v, params)) return tolerance::kParityNmseAttentionInt8Query;
    if (attention_split_uses_half_products(types.k, types.v, params))
        return tolerance::kParityNmseAttentionHalfProducts;
    return tolerance::kParityNmseAttention;
}

// Runs launch_attention for `positions` on `cache` and compares with the float64 reference. use_workspace false
// passes no workspace, which sends decode-sized batches through the tiled kernel too.
void check_attention(const HostCache& host, const DeviceCache& dev, const HeadShape& shape, int window,
                     const std::vector<int32_t>& positions, bool use_workspace, uint64_t seed) {
    const AttentionParams params = params_for(shape, window);
    const auto n_tokens = static_cast<int64_t>(positions.size());
    const auto q = testing::random_floats(static_cast<size_t>(n_tokens * shape.n_head * shape.head_dim), seed);
    DeviceVector<float> dq(q), dout(q.size());
    DeviceVector<int32_t> dpos(positions);
    const size_t ws_bytes = use_workspace ? attention_workspace_bytes(n_tokens, params, host.n_ctx) : 0;
    DeviceVector<uint8_t> ws(std::max<size_t>(ws_bytes, 1));
    SPOOL_CUDA_CHECK(cudaMemset(ws.data(), 0xff, ws.size()));    // NaN partials unless written
    SPOOL_CUDA_CHECK(cudaMemset(dout.data(), 0xff, q.size() * 4));  // every output must be written
    launch_attention(dq.data(), dev.view, dpos.data(), n_tokens, params, dout.data(), use_workspace ? ws.data() : nullptr,
                     ws_bytes, nullptr);
    const auto got = dout.download();
    const auto expected = ref_attention(q, host, positions, params);
    const double e = nmse(expected, got);
    const bool split = use_workspace && n_tokens <= 8;
    const double limit = split ? split_limit(host.types, params)
                         : attention_tiled_uses_half_products(host.types.k, host.types.v, shape.head_dim)
                             ? tolerance::kParityNmseAttentionHalfProducts
                             : tolerance::kParityNmseAttention;
    EXPECT_TRUE(e <= limit)
        << describe(shape, host.types, window, positions, split) << ": nmse " << e << "; "
        << testing::compare(std::span<const double>(expected), std::span<const float>(got)).report();
}

// Each type for both halves, and Q8_0 keys with Q4_0 values (kv_cache_pair_supported).
constexpr CacheTypes kCacheTypes[] = {{GgmlType::F32, GgmlType::F32},
                                      {GgmlType::F16, GgmlType::F16},
                                      {GgmlType::Q8_0, GgmlType::Q8_0},
                                      {GgmlType::Q4_0, GgmlType::Q4_0},
                                      {GgmlType::Q8_0, GgmlType::Q4_0}};
// With Q8_0 keys (Q8_0 or Q4_0 values), groups of 2, 4, 7 and 8 query heads per KV head at head_dim 64 and 128 take the
// tensor-core split path (attention_split_uses_half_products); with a Q8_0 cache, or a Q4_0 cache at head_dim 128 or
// 256, one query head per KV head takes the integer wide form in blocks of 48 rows or more
// (attention_split_rounds_q_to_int8); the rest the float32 kernels.
constexpr HeadShape kShapes[] = {{8, 2, 64}, {4, 4, 64},  {16, 1, 64}, {32, 4, 64},  {32, 32, 128}, {4, 2, 80},
                                 {6, 3, 32}, {4, 1, 256}, {24, 2, 128}, {28, 4, 128}, {12, 6, 64}};

TEST(CudaKvAppend, CacheBytesEqualTheHostQuantizer) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 1000;
    for (CacheTypes types : kCacheTypes) {
        for (int64_t row_width : {64, 256, 4096}) {
            for (int64_t n_tokens : {1, 3, 17}) {
                const int64_t n_ctx = 40;
                HostCache host = make_cache(types, n_ctx, row_width, n_ctx, ++seed);
                DeviceCache dev(host);
                auto k = testing::random_floats(static_cast<size_t>(n_tokens * row_width), ++seed, 3.0f);
                auto v = testing::random_floats(static_cast<size_t>(n_tokens * row_width), ++seed, 0.01f);
                // Edge cases of the quantizers: NaN and infinity in a block, a zero block (-0 first: Q4_0's scale
                // is then -0), values whose scale overflows fp16, a scale below fp16's subnormals, exact fp16 ties,
                // and a block whose largest magnitude appears with both signs (Q4_0 takes the first).
                k[0] = std::numeric_limits<float>::quiet_NaN();
                k[33] = INFINITY;
                for (int i = 0; i < 32 && row_width >= 64; ++i) v[32 + i] = i == 0 ? -0.0f : 0.0f;
                if (row_width >= 128) v[64 + 5] = -5.0f, v[64 + 9] = 5.0f, v[96 + 3] = 5.0f, v[96 + 20] = -5.0f;
                if (n_tokens > 1) {
                    for (int i = 0; i < 32; ++i) k[row_width + i] = 2e7f * (i % 2 ? 1.0f : -0.5f);
                    for (int i = 32; i < 64; ++i) k[row_width + i] = 1e-38f * static_cast<float>(i - 40);
                    v[row_width + 1] = 1.0f + 1.0f / 2048, v[row_width + 2] = 1.0f + 3.0f / 2048;
                }
                std::vector<int32_t> positions(static_cast<size_t>(n_tokens));
                for (int64_t t = 0; t < n_tokens; ++t) positions[t] = static_cast<int32_t>((t * 7 + 5) % n_ctx);
                DeviceVector<float> dk(k), dv(v);
                DeviceVector<int32_t> dpos(positions);
                launch_kv_append(dev.view, dk.data(), dv.data(), dpos.data(), n_tokens, nullptr);
                for (int64_t t = 0; t < n_tokens; ++t)
                    host.store_row(positions[t], k.data() + t * row_width, v.data() + t * row_width);
                const std::string what = cache_text(types) + " width " + std::to_string(row_width) +
                                         " tokens " + std::to_string(n_tokens);
                const auto k_bytes = dev.k.download(), v_bytes = dev.v.download();
                ASSERT_EQ(k_bytes.size(), host.k_bytes.size());
                ASSERT_EQ(v_bytes.size(), host.v_bytes.size());
                for (size_t i = 0; i < k_bytes.size(); ++i) {
                    ASSERT_EQ(k_bytes[i], host.k_bytes[i])
                        << what << ": K byte " << i << " (row " << i / host.k_row_bytes << ")";
                }
                for (size_t i = 0; i < v_bytes.size(); ++i) {
                    ASSERT_EQ(v_bytes[i], host.v_bytes[i])
                        << what << ": V byte " << i << " (row " << i / host.v_row_bytes << ")";
                }
            }
        }
    }
}

TEST(CudaAttention, SmallBatchesEveryShapeAndType) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 2000;
    for (CacheTypes types : kCacheTypes) {
        for (const HeadShape& shape : kShapes) {
            const int64_t n_ctx = 64, filled = 28;  // 11 earlier rows + up to 17 new ones
            const HostCache host = make_cache(types, n_ctx, static_cast<int64_t>(shape.n_head_kv) * shape.head_dim,
                                              filled, ++seed);
            const DeviceCache dev(host);
            for (int window : {0, 5}) {
                for (int64_t n_tokens : {1, 3, 17}) {
                    for (bool use_workspace : {true, false}) {
                        check_attention(host, dev, shape, window, consecutive(11, n_tokens), use_workspace, ++seed);
                    }
                }
                check_attention(host, dev, shape, window, {0}, true, ++seed);  // the first token attends to itself
                check_attention(host, dev, shape, window, {27, 3, 15}, true, ++seed);  // any order
                check_attention(host, dev, shape, window, {27, 3, 15}, false, ++seed);
            }
        }
    }
}

TEST(CudaAttention, PrefillOf128After11Rows) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 3000;
    for (CacheTypes types : kCacheTypes) {
        for (const HeadShape& shape : kShapes) {
            const int64_t n_ctx = 160, filled = 139;
            const HostCache host = make_cache(types, n_ctx, static_cast<int64_t>(shape.n_head_kv) * shape.head_dim,
                                              filled, ++seed);
            const DeviceCache dev(host);
            for (int window : {0, 5, 50}) check_attention(host, dev, shape, window, consecutive(11, 128), true, ++seed);
        }
    }
}

TEST(CudaAttention, DecodeAcrossSplitBoundariesOf4096Rows) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 4000;
    for (CacheTypes types : kCacheTypes) {
        // One query head per KV head takes the wide form for a Q8_0 cache, or a Q4_0 cache at head_dim 128 or 256,
        // where blocks hold 48 rows or more: staged in shared memory at 128 and 256, in registers for Q8_0 at 64 and
        // 80 (80 leaves lanes without dims, and its rows of 5 Q8_0 blocks, 170 bytes, alternate in alignment). Groups
        // of query heads at head_dim 64 and 128 take the tensor-core form with Q8_0 keys (Q8_0 or Q4_0 values).
        for (const HeadShape& shape : {HeadShape{32, 4, 64}, HeadShape{32, 32, 128}, HeadShape{16, 1, 64},
                                       HeadShape{8, 8, 64}, HeadShape{2, 2, 80}, HeadShape{2, 2, 256},
                                       HeadShape{12, 3, 128}}) {
            const int64_t n_ctx = 4096;
            const HostCache host = make_cache(types, n_ctx, static_cast<int64_t>(shape.n_head_kv) * shape.head_dim,
                                              n_ctx, ++seed);
            const DeviceCache dev(host);
            for (int window : {0, 300}) {
                for (int32_t position : {0, 1, 63, 64, 255, 256, 257, 1000, 4095})
                    check_attention(host, dev, shape, window, {position}, true, ++seed);
                check_attention(host, dev, shape, window, {254, 255, 256}, true, ++seed);  // speculative check
                check_attention(host, dev, shape, window, {4095}, false, ++seed);         // tiled at 4096 rows
            }
        }
    }
}

// One capture of (kv_append, attention) replayed at many positions: same pointers, only positions[] changes.
TEST(CudaAttention, GraphReplaysAtEveryPosition) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 5000;
    for (CacheTypes types : kCacheTypes) {
        const HeadShape shape{32, 4, 64};
        const int64_t n_ctx = 2048, row_width = static_cast<int64_t>(shape.n_head_kv) * shape.head_dim;
        HostCache host = make_cache(types, n_ctx, row_width, n_ctx, ++seed);
        DeviceCache dev(host);
        const AttentionParams params = params_for(shape, 0);
        const size_t ws_bytes = attention_workspace_bytes(1, params, n_ctx);
        DeviceVector<uint8_t> ws(ws_bytes);
        SPOOL_CUDA_CHECK(cudaMemset(ws.data(), 0xff, ws_bytes));
        DeviceVector<float> dq(static_cast<size_t>(shape.n_head * shape.head_dim)), dout(dq.size());
        DeviceVector<float> dk(static_cast<size_t>(row_width)), dv(static_cast<size_t>(row_width));
        DeviceVector<int32_t> dpos(1);

        cudaStream_t stream;
        SPOOL_CUDA_CHECK(cudaStreamCreate(&stream));  // blocking: ordered after the synchronous uploads
        cudaGraph_t graph;
        cudaGraphExec_t exec;
        SPOOL_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
        launch_kv_append(dev.view, dk.data(), dv.data(), dpos.data(), 1, stream);
        launch_attention(dq.data(), dev.view, dpos.data(), 1, params, dout.data(), ws.data(), ws_bytes, stream);
        SPOOL_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
        SPOOL_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));

        for (int32_t position : {5, 300, 64, 2047, 0, 1023, 128, 127}) {
            const auto q = testing::random_floats(dq.size(), ++seed);
            const auto k = testing::random_floats(dk.size(), ++seed), v = testing::random_floats(dv.size(), ++seed);
            dq.upload(q);
            dk.upload(k);
            dv.upload(v);
            dpos.upload(std::vector<int32_t>{position});
            SPOOL_CUDA_CHECK(cudaGraphLaunch(exec, stream));
            SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream));
            host.store_row(position, k.data(), v.data());
            const auto got = dout.download();
            const auto expected = ref_attention(q, host, {position}, params);
            const double e = nmse(expected, got);
            const double limit = split_limit(types, params);
            EXPECT_TRUE(e <= limit)
                << "graph replay, " << cache_text(types) << " position " << position << ": nmse " << e << "; "
                << testing::compare(std::span<const double>(expected), std::span<const float>(got)).report();
        }
        SPOOL_CUDA_CHECK(cudaGraphExecDestroy(exec));
        SPOOL_CUDA_CHECK(cudaGraphDestroy(graph));
        SPOOL_CUDA_CHECK(cudaStreamDestroy(stream));
    }
}

// Host-only: the workspace formula and the shape checks (run without a GPU).
TEST(CudaAttentionPlan, WorkspaceHoldsOnePartialPerBlock) {
    const AttentionParams tiny = params_for({32, 4, 64}, 0);  // 4 KV heads x 4 batches of 2 query heads
    const size_t partial = (64 + 2) * 4;  // accumulators, max and sum of one (token, head, part), in bytes
    // The largest over the cache types: a Q8_0 cache takes all 8 query heads of a KV head per block (4 blocks per
    // token and part, one wave of 3 x 132 blocks), so one token splits into 396 / 4 = 99 parts, at most one per 64
    // rows; the float32 path's 4 x 4 blocks take 33.
    EXPECT_EQ(attention_workspace_bytes(1, tiny, 4096), size_t{32} * 64 * partial);
    EXPECT_EQ(attention_workspace_bytes(1, tiny, 32768), size_t{32} * 99 * partial);
    EXPECT_EQ(attention_workspace_bytes(1, tiny, 1024), size_t{32} * 16 * partial);
    // Up to 3 tokens: 1 x 64, 2 x 49 or 3 x 33 parts; the largest is 99.
    EXPECT_EQ(attention_workspace_bytes(3, tiny, 4096), size_t{99} * 32 * partial);
    // Prefill needs none; no split batch (up to 8 tokens) goes past 3 x 33 parts.
    EXPECT_EQ(attention_workspace_bytes(512, tiny, 4096), size_t{99} * 32 * partial);
    EXPECT_EQ(attention_workspace_bytes(0, tiny, 4096), 0u);
}

// Short caches: parts of at least 64 rows for heads up to 64, of 16 (one kernel step) for larger heads.
TEST(CudaAttentionPlan, ShortCachesSplitByHeadSize) {
    const size_t small_head = (64 + 2) * 4, large_head = (128 + 2) * 4;  // bytes of one partial
    const AttentionParams tiny = params_for({32, 4, 64}, 0);
    const AttentionParams llama7b = params_for({32, 32, 128}, 0);  // 32 blocks per part
    EXPECT_EQ(attention_workspace_bytes(1, tiny, 145), size_t{32} * 3 * small_head);      // ceil(145 / 64)
    EXPECT_EQ(attention_workspace_bytes(1, llama7b, 145), size_t{32} * 10 * large_head);  // ceil(145 / 16)
    EXPECT_EQ(attention_workspace_bytes(1, llama7b, 16), size_t{32} * 1 * large_head);
    // Long caches: ceil(528 target blocks / 32) = 17 parts either way.
    EXPECT_EQ(attention_workspace_bytes(1, llama7b, 4096), size_t{32} * 17 * large_head);
    EXPECT_EQ(attention_split_parts(1, llama7b, GgmlType::F16, 4096, 4096), 17);
    // A Q8_0 or Q4_0 cache's staged wide form runs 4 blocks per SM, so its parts round down to one wave of 528: 16.
    EXPECT_EQ(attention_split_parts(1, llama7b, GgmlType::Q8_0, 4096, 4096), 16);
    EXPECT_EQ(attention_split_parts(1, llama7b, GgmlType::Q4_0, 4096, 4096), 16);
    EXPECT_EQ(attention_split_parts(1, llama7b, GgmlType::Q4_0, 4096, 145), 10);
}

// How a token's rows are divided (PartRule): the tensor-core path (Q8_0 cache, TinyLlama's 8 query heads per KV
// head: 4 blocks per part, 3 blocks per SM) into parts of 64 rows or more up to one wave's 99; the float32 paths
// (4 x 4 blocks per part) into parts of 64 rows or more up to 33.
TEST(CudaAttentionPlan, PartsGrowWithTheContext) {
    const AttentionParams tiny = params_for({32, 4, 64}, 0);
    const int64_t n_ctx = 32768;
    for (const auto& [rows, parts] : std::vector<std::pair<int64_t, int>>{
             {1, 1}, {64, 1}, {65, 2}, {1024, 16}, {4096, 64}, {4097, 65}, {6336, 99}, {32768, 99}}) {
        EXPECT_EQ(attention_split_parts(1, tiny, GgmlType::Q8_0, n_ctx, rows), parts) << rows << " rows";
    }
    for (const auto& [rows, parts] :
         std::vector<std::pair<int64_t, int>>{{1, 1}, {128, 2}, {1024, 16}, {2112, 33}, {32768, 33}}) {
        EXPECT_EQ(attention_split_parts(1, tiny, GgmlType::F16, n_ctx, rows), parts) << rows << " rows";
    }
    // A short cache bounds the grid: 1,024 rows hold at most 16 parts.
    EXPECT_EQ(attention_split_parts(1, tiny, GgmlType::Q8_0, 1024, 1024), 16);
    // Two tokens: 8 blocks per part, so the grid holds 396 / 8 = 49 parts.
    EXPECT_EQ(attention_split_parts(2, tiny, GgmlType::Q8_0, n_ctx, 3072), 48);
    EXPECT_EQ(attention_split_parts(2, tiny, GgmlType::Q8_0, n_ctx, 8192), 49);
}

TEST(CudaAttentionPlan, UnsupportedShapesThrowAtPlanTime) {
    EXPECT_THROW(attention_workspace_bytes(1, params_for({8, 2, 60}, 0), 128), UnsupportedError);
    EXPECT_THROW(attention_workspace_bytes(1, params_for({8, 2, 512}, 0), 128), UnsupportedError);
    EXPECT_THROW(attention_workspace_bytes(1, params_for({8, 3, 64}, 0), 128), UsageError);
}

// Host-only: a pair of types the kernels are not built for is refused before anything is launched.
TEST(CudaAttentionPlan, UnkeptTypePairsThrow) {
    const HeadShape shape{8, 8, 64};
    KvView view;
    view.type = GgmlType::Q4_0;  // Q4_0 keys beside Q8_0 values: the reverse of the kept pair
    view.v_type = GgmlType::Q8_0;
    view.n_ctx = 16;
    view.row_width = static_cast<int64_t>(shape.n_head_kv) * shape.head_dim;
    view.row_bytes = row_bytes(view.type, view.row_width);
    view.v_row_bytes = row_bytes(view.v_type, view.row_width);
    const AttentionParams params = params_for(shape, 0);
    try {
        launch_attention(nullptr, view, nullptr, 1, params, nullptr, nullptr, 0, nullptr);
        ADD_FAILURE() << "launch_attention accepted Q4_0 keys with Q8_0 values";
    } catch (const UnsupportedError& e) {
        EXPECT_NE(std::string(e.what()).find("keys q4_0 and values q8_0"), std::string::npos) << e.what();
    }
    EXPECT_THROW(launch_kv_append(view, nullptr, nullptr, nullptr, 1, nullptr), UnsupportedError);
    EXPECT_THROW(launch_rope_kv_append(nullptr, nullptr, nullptr, nullptr, 1, shape.n_head, shape.n_head_kv,
                                       shape.head_dim, RopeParams{}, view, nullptr),
                 UnsupportedError);
    EXPECT_TRUE(kv_cache_pair_supported(GgmlType::Q8_0, GgmlType::Q4_0));
    EXPECT_FALSE(kv_cache_pair_supported(GgmlType::F16, GgmlType::F32));
}

}  // namespace
}  // namespace spool::cuda
