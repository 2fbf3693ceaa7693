// launch_rope_kv_append against the composition it replaces (launch_rope on q, launch_rope on k, launch_kv_append),
// bit for bit: q, k and every byte of both caches. The parts are checked against float64 in ops_test.cpp and
// attention_test.cpp. Skips where no GPU is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_test_support.h"
#include "backend/cuda/kernels/launch.h"
#include "quant/types.h"
#include "spool/errors.h"
#include "test_support.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;

struct RopeKvShape {
    int n_head, n_head_kv, head_dim, n_dims;
};

// The first index where two buffers differ bit for bit, as text; empty when equal.
template <class T>
std::string first_difference(const std::vector<T>& expected, const std::vector<T>& got, const char* what) {
    for (size_t i = 0; i < expected.size(); ++i) {
        if (std::memcmp(&expected[i], &got[i], sizeof(T)) != 0) {
            return std::string(what) + " differs at index " + std::to_string(i) + ": expected " +
                   std::to_string(static_cast<double>(expected[i])) + ", got " +
                   std::to_string(static_cast<double>(got[i]));
        }
    }
    return {};
}

// n distinct cache rows in [0, n_ctx), in random order, with the last row included (the largest angle).
std::vector<int32_t> distinct_positions(int64_t n, int64_t n_ctx, uint64_t seed) {
    std::vector<int32_t> rows(static_cast<size_t>(n_ctx));
    std::iota(rows.begin(), rows.end(), 0);
    std::mt19937_64 rng(seed);
    std::shuffle(rows.begin(), rows.end(), rng);
    rows.resize(static_cast<size_t>(n));
    if (std::find(rows.begin(), rows.end(), n_ctx - 1) == rows.end()) rows[0] = static_cast<int32_t>(n_ctx - 1);
    return rows;
}

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> out(n);
    for (size_t i = 0; i < n; i += 8) {
        const uint64_t word = rng();
        std::memcpy(out.data() + i, &word, std::min<size_t>(8, n - i));
    }
    return out;
}

TEST(CudaRopeKvAppend, BitExactWithRopeRopeKvAppend) {
    SPOOL_REQUIRE_GPU();
    // TinyLlama, Llama-2-7B, partial rotation with a head_dim of 80, a Q8_0 / Q4_0 block across two heads (32), 256.
    const RopeKvShape shapes[] = {{32, 4, 64, 64}, {32, 32, 128, 128}, {4, 2, 80, 32}, {6, 3, 32, 32},
                                  {8, 8, 128, 64}, {4, 1, 256, 256}};
    uint64_t seed = 9000;
    int cases = 0;
    for (const RopeKvShape& s : shapes) {
        const int64_t row_width = static_cast<int64_t>(s.n_head_kv) * s.head_dim;
        // Long enough for large angles; small enough that a 7B-sized F32 cache stays 2 MB.
        const int64_t n_ctx = std::clamp<int64_t>((int64_t{1} << 19) / row_width, 40, 4001);
        // Keys' and values' types: each kept type for both, and Q8_0 keys with Q4_0 values.
        for (const auto& [type, v_type] : std::initializer_list<std::pair<GgmlType, GgmlType>>{
                 {GgmlType::F32, GgmlType::F32},
                 {GgmlType::F16, GgmlType::F16},
                 {GgmlType::Q8_0, GgmlType::Q8_0},
                 {GgmlType::Q4_0, GgmlType::Q4_0},
                 {GgmlType::Q8_0, GgmlType::Q4_0}}) {
            // Old rows: random bytes (only the appended rows may change).
            const size_t k_bytes = static_cast<size_t>(n_ctx) * row_bytes(type, row_width);
            const size_t v_bytes = static_cast<size_t>(n_ctx) * row_bytes(v_type, row_width);
            const auto k_cache = random_bytes(k_bytes, ++seed), v_cache = random_bytes(v_bytes, ++seed);
            for (RopeMode mode : {RopeMode::norm, RopeMode::neox}) {
                for (bool with_factors : {false, true}) {
                    for (int64_t n_tokens : {1, 3, 17}) {
                        const std::string what = "heads " + std::to_string(s.n_head) + "/" +
                                                 std::to_string(s.n_head_kv) + " dim " + std::to_string(s.head_dim) +
                                                 " n_dims " + std::to_string(s.n_dims) + " " +
                                                 std::string(type_name(type)) + "/" +
                                                 std::string(type_name(v_type)) +
                                                 (mode == RopeMode::norm ? " norm" : " neox") +
                                                 (with_factors ? " factors" : "") + " tokens " +
                                                 std::to_string(n_tokens);
                        const auto positions = distinct_positions(n_tokens, n_ctx, ++seed);
                        const auto q = testing::random_floats(static_cast<size_t>(n_tokens * s.n_head * s.head_dim),
                                                              ++seed);
                        auto k = testing::random_floats(static_cast<size_t>(n_tokens * row_width), ++seed, 3.0f);
                        auto v = testing::random_floats(static_cast<size_t>(n_tokens * row_width), ++seed, 0.5f);
                        // Quantizer edge cases: NaN and infinity in a block, a scale beyond fp16, a zero block.
                        k[1] = std::numeric_limits<float>::quiet_NaN();
                        k[2] = INFINITY;
                        if (n_tokens > 1) {
                            for (int i = 0; i < 32; ++i) k[row_width + i] = 2e7f * (i % 2 ? 1.0f : -0.5f);
                            for (int i = 0; i < 32; ++i) v[row_width + i] = 0.0f;
                        }
                        auto factors = testing::random_floats(static_cast<size_t>(s.n_dims / 2), ++seed, 0.3f);
                        for (float& f : factors) f = std::fabs(f) + 0.5f;

                        DeviceVector<int32_t> dpos(positions);
                        DeviceVector<float> dfactors(factors);
                        RopeParams params;
                        params.mode = mode;
                        params.n_dims = s.n_dims;
                        params.freq_base = 10000.0f;
                        params.freq_scale = with_factors ? 0.25f : 1.0f;
                        params.freq_factors = with_factors ? dfactors.data() : nullptr;
                        auto make_view = [&](DeviceVector<uint8_t>& kc, DeviceVector<uint8_t>& vc) {
                            KvView view;
                            view.k = kc.data();
                            view.v = vc.data();
                            view.type = type;
                            view.n_ctx = n_ctx;
                            view.row_width = row_width;
                            view.row_bytes = row_bytes(type, row_width);
                            view.v_type = v_type;
                            view.v_row_bytes = row_bytes(v_type, row_width);
                            return view;
                        };

                        // The composition.
                        DeviceVector<float> q1(q), k1(k), v1(v);
                        DeviceVector<uint8_t> kc1(k_cache), vc1(v_cache);
                        const KvView view1 = make_view(kc1, vc1);
                        launch_rope(q1.data(), dpos.data(), n_tokens, s.n_head, s.head_dim, params, nullptr);
                        launch_rope(k1.data(), dpos.data(), n_tokens, s.n_head_kv, s.head_dim, params, nullptr);
                        launch_kv_append(view1, k1.data(), v1.data(), dpos.data(), n_tokens, nullptr);
                        // The fused launch.
                        DeviceVector<float> q2(q), k2(k), v2(v);
                        DeviceVector<uint8_t> kc2(k_cache), vc2(v_cache);
                        const KvView view2 = make_view(kc2, vc2);
                        launch_rope_kv_append(q2.data(), k2.data(), v2.data(), dpos.data(), n_tokens, s.n_head,
                                              s.n_head_kv, s.head_dim, params, view2, nullptr);

                        const auto q_expected = q1.download(), q_got = q2.download();
                        ASSERT_EQ(first_difference(q_expected, q_got, "q"), "") << what;
                        ASSERT_EQ(first_difference(k1.download(), k2.download(), "k"), "") << what;
                        ASSERT_EQ(first_difference(v1.download(), v2.download(), "v (input)"), "") << what;
                        ASSERT_EQ(first_difference(kc1.download(), kc2.download(), "K cache byte"), "") << what;
                        ASSERT_EQ(first_difference(vc1.download(), vc2.download(), "V cache byte"), "") << what;
                        // Not a comparison of two no-ops: q was rotated and the new rows were written.
                        ASSERT_NE(first_difference(q, q_got, "q"), "") << what;
                        ASSERT_NE(first_difference(k_cache, kc2.download(), "K cache byte"), "") << what;
                        ++cases;
                    }
                }
            }
        }
    }
    EXPECT_EQ(cases, 6 * 5 * 2 * 2 * 3);
}

TEST(CudaRopeKvAppend, RejectsViewsThatDoNotMatchTheHeads) {
    SPOOL_REQUIRE_GPU();
    DeviceVector<float> q(64), k(64), v(64);
    DeviceVector<int32_t> pos(1);
    DeviceVector<uint8_t> cache(4096);
    KvView view;
    view.k = view.v = cache.data();
    view.type = GgmlType::F16;
    view.n_ctx = 4;
    view.row_width = 48;  // n_head_kv * head_dim is 64
    view.row_bytes = 96;
    view.v_type = GgmlType::F16;
    view.v_row_bytes = 96;
    RopeParams params;
    params.n_dims = 32;
    EXPECT_THROW(launch_rope_kv_append(q.data(), k.data(), v.data(), pos.data(), 1, 2, 2, 32, params, view, nullptr),
                 UsageError);
    view.row_width = 64;
    view.type = GgmlType::Q4_1;  // not a KV cache type
    EXPECT_THROW(launch_rope_kv_append(q.data(), k.data(), v.data(), pos.data(), 1, 2, 2, 32, params, view, nullptr),
                 UnsupportedError);
}

}  // namespace
}  // namespace spool::cuda
