// The reference ops on cases with known answers: RMS norm by hand, rope keeps norms and composes, softmax
// weights sum to 1, windows and groups pick the right rows, activations at known points, argmax ties.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "core/half.h"
#include "kernels/ref/ops.h"
#include "quant/types.h"
#include "test_support.h"

namespace spool::kernels::ref {
namespace {

using spool::testing::random_floats;

TEST(RefOps, RmsNormByHand) {
    const std::vector<float> x = {3.0f, 4.0f, -1.0f, 1.0f};
    const std::vector<float> w = {1.0f, 2.0f};
    std::vector<float> out(4);
    rms_norm(x.data(), w.data(), 2, 2, 0.0f, out.data());
    const double r0 = std::sqrt(12.5), r1 = 1.0;
    EXPECT_NEAR(out[0], 3.0 / r0, 1e-6);
    EXPECT_NEAR(out[1], 8.0 / r0, 1e-6);
    EXPECT_NEAR(out[2], -1.0 / r1, 1e-6);
    EXPECT_NEAR(out[3], 2.0 / r1, 1e-6);
}

double norm(const float* x, int n) {
    double s = 0;
    for (int i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
    return std::sqrt(s);
}

TEST(RefOps, RopeKnownAngleKeepsNormsAndComposes) {
    // NORM: pair (x0, x1) of a 2-dim head at position 1 rotates by exactly 1 radian.
    std::vector<float> x = {1.0f, 0.0f};
    const int32_t one = 1;
    rope(x.data(), &one, 1, 1, 2, RopeParams{RopeMode::norm, 2, 10000.0f, 1.0f, nullptr});
    EXPECT_NEAR(x[0], std::cos(1.0), 1e-7);
    EXPECT_NEAR(x[1], std::sin(1.0), 1e-7);
    // NEOX: pair (x0, x2) of a 4-dim head rotates by the position; (x1, x3) by pos * 10000^(-1/2).
    std::vector<float> y = {1.0f, 1.0f, 0.0f, 0.0f};
    const int32_t three = 3;
    rope(y.data(), &three, 1, 1, 4, RopeParams{RopeMode::neox, 4, 10000.0f, 1.0f, nullptr});
    EXPECT_NEAR(y[0], std::cos(3.0), 1e-6);
    EXPECT_NEAR(y[2], std::sin(3.0), 1e-6);
    EXPECT_NEAR(y[1], std::cos(0.03), 1e-6);
    EXPECT_NEAR(y[3], std::sin(0.03), 1e-6);

    // Norms kept per pair (so per head); rotating by a then by b equals rotating by a + b; position 0 is identity.
    for (const RopeMode mode : {RopeMode::norm, RopeMode::neox}) {
        const int head_dim = 64, n_heads = 3;
        const std::vector<float> original = random_floats(head_dim * n_heads, 42);
        std::vector<float> a = original, ab = original, direct = original, zero = original;
        const std::vector<float> factors = random_floats(head_dim / 2, 43, 0.2f, 1.5f);
        const RopeParams params{mode, 48, 10000.0f, 0.5f, factors.data()};  // partial, scaled, with factors
        const int32_t pa = 17, pb = 29, pab = 46, p0 = 0;
        rope(a.data(), &pa, 1, n_heads, head_dim, params);
        ab = a;
        rope(ab.data(), &pb, 1, n_heads, head_dim, params);
        rope(direct.data(), &pab, 1, n_heads, head_dim, params);
        rope(zero.data(), &p0, 1, n_heads, head_dim, params);
        for (int h = 0; h < n_heads; ++h) {
            EXPECT_NEAR(norm(a.data() + h * head_dim, head_dim), norm(original.data() + h * head_dim, head_dim), 1e-5);
        }
        for (size_t i = 0; i < original.size(); ++i) {
            EXPECT_NEAR(ab[i], direct[i], 1e-5) << i;
            EXPECT_EQ(zero[i], original[i]) << i;
            if (static_cast<int>(i % head_dim) >= 48) {
                EXPECT_EQ(a[i], original[i]) << "unrotated tail " << i;
            }
        }
    }
}

// A cache of F32 rows built from float values.
struct TestCache {
    std::vector<float> k, v;
    KvView view;
    TestCache(int64_t n_ctx, int64_t width) : k(static_cast<size_t>(n_ctx * width)), v(k.size()) {
        view = KvView{k.data(), v.data(), GgmlType::F32, n_ctx, width, static_cast<size_t>(width) * 4, GgmlType::F32,
                      static_cast<size_t>(width) * 4};
    }
};

TEST(RefOps, AttentionWeightsSumToOneAndFollowTheRules) {
    const int head_dim = 4, n_head = 4, n_head_kv = 2, n_ctx = 6;
    TestCache cache(n_ctx, n_head_kv * head_dim);
    const std::vector<float> keys = random_floats(cache.k.size(), 7);
    std::copy(keys.begin(), keys.end(), cache.k.begin());
    // Values: KV head 0 rows are all the constant vector c, so any softmax weights that sum to 1 give c;
    // KV head 1 row j holds j in every element, so a window of 1 gives the query's own position.
    for (int j = 0; j < n_ctx; ++j) {
        for (int d = 0; d < head_dim; ++d) {
            cache.v[j * 8 + d] = 0.25f * static_cast<float>(d + 1);
            cache.v[j * 8 + 4 + d] = static_cast<float>(j);
        }
    }
    const std::vector<float> q = random_floats(n_head * head_dim, 8);
    std::vector<float> out(q.size());
    const int32_t pos = 4;
    attention(q.data(), cache.view, &pos, 1, AttentionParams{n_head, n_head_kv, head_dim, 0.5f, 0}, out.data());
    for (int h = 0; h < 2; ++h) {  // query heads 0, 1 read KV head 0
        for (int d = 0; d < head_dim; ++d) EXPECT_NEAR(out[h * head_dim + d], 0.25 * (d + 1), 1e-6);
    }
    attention(q.data(), cache.view, &pos, 1, AttentionParams{n_head, n_head_kv, head_dim, 0.5f, 1}, out.data());
    for (int h = 2; h < 4; ++h) {  // heads 2, 3 read KV head 1; window 1 sees only row 4
        for (int d = 0; d < head_dim; ++d) EXPECT_NEAR(out[h * head_dim + d], 4.0, 1e-6);
    }
    // A zero query weighs rows 0..pos equally: the mean of 0..4 is 2.
    const std::vector<float> zero_q(q.size(), 0.0f);
    attention(zero_q.data(), cache.view, &pos, 1, AttentionParams{n_head, n_head_kv, head_dim, 0.5f, 0}, out.data());
    EXPECT_NEAR(out[2 * head_dim], 2.0, 1e-6);
}

TEST(RefOps, KvAppendRoundsToTheCacheType) {
    const int64_t width = 64, n_ctx = 3;
    const std::vector<float> k = random_floats(width, 11), v = random_floats(width, 12);
    std::vector<uint16_t> kh(static_cast<size_t>(width * n_ctx)), vh(kh.size());
    const KvView view{kh.data(), vh.data(), GgmlType::F16, n_ctx, width, static_cast<size_t>(width) * 2, GgmlType::F16,
                      static_cast<size_t>(width) * 2};
    const int32_t pos = 2;
    kv_append(view, k.data(), v.data(), &pos, 1);
    for (int64_t i = 0; i < width; ++i) {
        EXPECT_EQ(kh[2 * width + i], float_to_half(k[i]));
        EXPECT_EQ(vh[2 * width + i], float_to_half(v[i]));
    }
}

TEST(RefOps, ActivationsAtKnownPoints) {
    EXPECT_DOUBLE_EQ(silu(0.0), 0.0);
    EXPECT_NEAR(silu(1.0), 0.7310585786300049, 1e-15);
    EXPECT_NEAR(silu(-30.0), 0.0, 1e-11);
    EXPECT_NEAR(gelu(1.0), 0.8411919906082768, 1e-12);
    const std::vector<float> gate = {1.0f, -2.0f}, up = {2.0f, 3.0f};
    std::vector<float> out(2);
    glu(gate.data(), up.data(), 2, Activation::silu, out.data());
    EXPECT_NEAR(out[0], 2 * 0.7310585786300049, 1e-6);
    EXPECT_NEAR(out[1], 3 * (-2.0 / (1.0 + std::exp(2.0))), 1e-6);
}

TEST(RefOps, ArgmaxTiesGoToLowestIndex) {
    const std::vector<float> x = {1.0f, 5.0f, 5.0f, 2.0f, -1.0f, -1.0f};
    std::vector<int32_t> out(2);
    argmax(x.data(), 2, 3, out.data());
    EXPECT_EQ(out[0], 1);
    EXPECT_EQ(out[1], 0);
}

TEST(RefOps, MatmulAndEmbedByHand) {
    // W = [[1, 2, 3], [4, 5, 6]] as ne [3, 2]; two tokens.
    const std::vector<float> w = {1, 2, 3, 4, 5, 6}, x = {1, 0, -1, 0.5f, 0.5f, 0.5f}, bias = {10, 20};
    std::vector<float> y(4);
    const WeightView view{w.data(), GgmlType::F32, 3, 2, 12};
    matmul(view, x.data(), 2, bias.data(), y.data());
    EXPECT_FLOAT_EQ(y[0], 1 - 3 + 10);
    EXPECT_FLOAT_EQ(y[1], 4 - 6 + 20);
    EXPECT_FLOAT_EQ(y[2], 3 + 10);
    EXPECT_FLOAT_EQ(y[3], 7.5f + 20);
    // Embed reads rows of any type through the type table: an F16 table gives its halves exactly.
    std::vector<uint16_t> table(6);
    for (size_t i = 0; i < 6; ++i) table[i] = float_to_half(0.1f * static_cast<float>(i) - 0.2f);
    const WeightView tv{table.data(), GgmlType::F16, 3, 2, 6};
    const int32_t ids[] = {1, 0, 1};
    std::vector<float> e(9);
    embed(tv, ids, 3, e.data());
    for (int t = 0; t < 3; ++t) {
        for (int c = 0; c < 3; ++c) EXPECT_EQ(e[t * 3 + c], half_to_float(table[ids[t] * 3 + c]));
    }
}

}  // namespace
}  // namespace spool::kernels::ref
