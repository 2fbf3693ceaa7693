// x~ made once by the kernel that writes x (launch.h int8_x_bytes): launch_rms_norm's x_int8, the gated unit's and the
// attention combine's out_int8 hold exactly the int8 rounding of their outputs (replayed on the host), and every
// staged matvec form (plain, residual add, glu, batch, mixed batch, rope + KV epilogue) given that x~ returns the bits
// it returns when it rounds x itself. The x~ is really read where the staged kernel runs (x~ of another vector gives
// that vector's result) and ignored elsewhere.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/kernels/int8_x_test_support.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/weight_test_support.h"
#include "spool/errors.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;
using gpu_test::QuantMatrix;

constexpr ActivationPrecision kInt8 = ActivationPrecision::int8;
constexpr float kEps = 1e-5f;

// One group of x~ as launch.h defines it, on the host: levels as bytes, d, and d * sum of levels.
struct HostGroup {
    int8_t q[8];
    float d, dsum;
};
HostGroup round_group(const float* x) {
    HostGroup g{};
    g.d = gpu_test::round_int8_group(x, 8, g.q);
    int sum = 0;
    for (const int8_t q : g.q) sum += q;
    g.dsum = static_cast<float>(sum) * g.d;
    return g;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// A normalized token on the device: x, its rms_norm output and that output's x~.
struct NormedToken {
    DeviceVector<float> x, weight, out;
    DeviceVector<uint8_t> x_int8;
    NormedToken(int64_t n, uint64_t seed)
        : x(testing::random_floats(static_cast<size_t>(n), seed, 3.0f)),
          weight(testing::random_floats(static_cast<size_t>(n), seed + 1, 0.2f, 1.0f)),
          out(static_cast<size_t>(n)),
          x_int8(int8_x_bytes(n)) {
        launch_rms_norm(x.data(), weight.data(), 1, n, kEps, out.data(), nullptr, x_int8.data());
    }
};

// Every group of x~ at `made` (int8_x_bytes(n) bytes, downloaded) is the host rounding of the n floats of out.
void expect_rounding_of(const std::vector<float>& out, const std::vector<uint8_t>& made, const std::string& name) {
    const int64_t n = static_cast<int64_t>(out.size()), n_groups = n / 8;
    ASSERT_EQ(made.size(), int8_x_bytes(n)) << name;
    int64_t wrong = 0, nonzero = 0;
    for (int64_t g = 0; g < n_groups; ++g) {
        const HostGroup h = round_group(out.data() + 8 * g);
        HostGroup got{};
        std::memcpy(got.q, made.data() + 8 * g, 8);
        std::memcpy(&got.d, made.data() + 8 * n_groups + 8 * g, 4);
        std::memcpy(&got.dsum, made.data() + 8 * n_groups + 8 * g + 4, 4);
        const bool ok = std::memcmp(got.q, h.q, 8) == 0 && std::memcmp(&got.d, &h.d, 4) == 0 &&
                        std::memcmp(&got.dsum, &h.dsum, 4) == 0;
        if (!ok && wrong++ < 3) {
            ADD_FAILURE() << name << " group " << g << ": d " << got.d << " vs " << h.d << ", dsum " << got.dsum
                          << " vs " << h.dsum << ", level 0 " << int{got.q[0]} << " vs " << int{h.q[0]};
        }
        for (int i = 0; i < 8; ++i) nonzero += h.q[i] != 0;
    }
    EXPECT_EQ(wrong, 0) << name;
    EXPECT_GT(nonzero, n / 2) << name << ": mostly zero levels would prove little";
}

TEST(CudaRmsNormInt8X, HoldsTheRoundingOfItsOutput) {
    SPOOL_REQUIRE_GPU();
    for (const int64_t n : {8, 24, 2048, 4104, 11008}) {
        const NormedToken t(n, 100 + static_cast<uint64_t>(n));
        DeviceVector<float> plain(static_cast<size_t>(n));
        launch_rms_norm(t.x.data(), t.weight.data(), 1, n, kEps, plain.data(), nullptr);
        const std::vector<float> out = t.out.download();
        ASSERT_TRUE(same_bits(out, plain.download())) << "n " << n << ": the output changed with x_int8";
        expect_rounding_of(out, t.x_int8.download(), "n " + std::to_string(n));
    }
    // In place (out aliases x), as the rms_norm contract allows.
    const int64_t n = 512;
    NormedToken t(n, 7);
    DeviceVector<uint8_t> in_place_int8(int8_x_bytes(n));
    launch_rms_norm(t.x.data(), t.weight.data(), 1, n, kEps, t.x.data(), nullptr, in_place_int8.data());
    EXPECT_TRUE(same_bits(t.x.download(), t.out.download()));
    EXPECT_TRUE(same_bits(in_place_int8.download(), t.x_int8.download()));
}

TEST(CudaRmsNormInt8X, RefusesShapesItCannotRound) {
    SPOOL_REQUIRE_GPU();
    DeviceVector<float> x(64), w(64), out(64);
    DeviceVector<uint8_t> made(int8_x_bytes(64));
    EXPECT_FALSE(rms_norm_writes_int8(x.data(), w.data(), 2, 32, out.data()));  // one token only
    EXPECT_FALSE(rms_norm_writes_int8(x.data(), w.data(), 1, 12, out.data()));  // whole groups
    EXPECT_FALSE(rms_norm_writes_int8(x.data() + 1, w.data(), 1, 32, out.data()));
    EXPECT_TRUE(rms_norm_writes_int8(x.data(), w.data(), 1, 64, out.data()));
    EXPECT_THROW(launch_rms_norm(x.data(), w.data(), 2, 32, kEps, out.data(), nullptr, made.data()), UsageError);
    EXPECT_THROW(launch_rms_norm(x.data(), w.data(), 1, 12, kEps, out.data(), nullptr, made.data()), UsageError);
}

// The matrices of every fused form for one type (v of v_type), on the device.
struct FormWeights {
    static constexpr int64_t kRows = 4096, kKvRows = 256, kHeadDim = 64;
    QuantMatrix w, up, wk, wv;
    DeviceVector<uint8_t> w_dev, up_dev, k_dev, v_dev;
    std::vector<float> residual, bias;
    FormWeights(GgmlType type, GgmlType v_type, int64_t n_cols, uint64_t seed)
        : w(gpu_test::make_quant_matrix(type, kRows, n_cols, seed)),
          up(gpu_test::make_quant_matrix(type, kRows, n_cols, seed + 1)),
          wk(gpu_test::make_quant_matrix(type, kKvRows, n_cols, seed + 2)),
          wv(gpu_test::make_quant_matrix(v_type, kKvRows, n_cols, seed + 3)),
          w_dev(w.bytes), up_dev(up.bytes), k_dev(wk.bytes), v_dev(wv.bytes),
          residual(testing::random_floats(static_cast<size_t>(2 * kRows), seed + 4)),
          bias(testing::random_floats(static_cast<size_t>(kRows), seed + 5)) {}
};

// Every fused form's outputs for x of n_tokens, with x~ given as `made` (or none).
struct Forms {
    std::vector<float> plain, add, glu, batch_q, batch_k, batch_v, rope_q;
};

Forms run_forms(const FormWeights& fw, int64_t n_tokens, const float* x, const void* made) {
    const int64_t rows = FormWeights::kRows, kv_rows = FormWeights::kKvRows;
    const WeightView w = fw.w.view(fw.w_dev.data());
    const DeviceVector<float> bias(fw.bias);
    auto out = [&](int64_t n_rows) {
        DeviceVector<float> y(static_cast<size_t>(n_rows * n_tokens));
        gpu_test::poison(y);
        return y;
    };
    Forms f;
    DeviceVector<float> y = out(rows);
    launch_matvec(w, x, n_tokens, bias.data(), y.data(), nullptr, kInt8, nullptr, made);
    f.plain = y.download();
    DeviceVector<float> sum(std::vector<float>(fw.residual.begin(), fw.residual.begin() + rows * n_tokens));
    launch_matvec_add(w, x, n_tokens, sum.data(), nullptr, kInt8, made);
    f.add = sum.download();
    DeviceVector<float> glu = out(rows);
    launch_matvec_glu(w, fw.up.view(fw.up_dev.data()), x, n_tokens, Activation::silu, glu.data(), nullptr, kInt8, made);
    f.glu = glu.download();
    MatvecBatch batch;
    batch.count = 3;
    // Two types share a launch only at one token (matvec_batch_mixable); at two, v takes k's matrix.
    const bool mixed_ok = n_tokens == 1 || fw.wv.type == fw.w.type;
    batch.w[0] = w, batch.w[1] = fw.wk.view(fw.k_dev.data());
    batch.w[2] = mixed_ok ? fw.wv.view(fw.v_dev.data()) : batch.w[1];
    DeviceVector<float> q = out(rows), k = out(kv_rows), v = out(kv_rows);
    batch.y[0] = q.data(), batch.y[1] = k.data(), batch.y[2] = v.data();
    batch.bias[0] = bias.data();
    launch_matvec_batch(batch, x, n_tokens, nullptr, kInt8, nullptr, made);
    f.batch_q = q.download(), f.batch_k = k.download(), f.batch_v = v.download();
    if (n_tokens == 1) {  // the rope epilogue: q rotated at position 7 (q has no cache row)
        const DeviceVector<int32_t> position(std::vector<int32_t>{7});
        MatvecRopeKv rk;
        rk.positions = position.data();
        rk.rope = RopeParams{RopeMode::norm, static_cast<int>(FormWeights::kHeadDim), 10000.0f, 1.0f, nullptr};
        rk.head_dim = static_cast<int>(FormWeights::kHeadDim);
        rk.cache.type = rk.cache.v_type = GgmlType::F16;
        rk.role[0] = MatvecRole::q;
        DeviceVector<float> rq = out(rows);
        launch_matvec(w, x, 1, nullptr, rq.data(), nullptr, kInt8, &rk, made);
        f.rope_q = rq.download();
    }
    return f;
}

void expect_same_bits(const Forms& got, const Forms& want, const std::string& name) {
    const std::pair<const std::vector<float>*, const std::vector<float>*> pairs[] = {
        {&got.plain, &want.plain},     {&got.add, &want.add},         {&got.glu, &want.glu},
        {&got.batch_q, &want.batch_q}, {&got.batch_k, &want.batch_k}, {&got.batch_v, &want.batch_v},
        {&got.rope_q, &want.rope_q}};
    const char* forms[] = {"plain", "add", "glu", "batch q", "batch k", "batch v", "rope q"};
    for (size_t i = 0; i < std::size(pairs); ++i) {
        EXPECT_TRUE(same_bits(*pairs[i].first, *pairs[i].second)) << name << " " << forms[i];
    }
}

// Where the staged kernel runs and reads x~, x~ of another token's x decides the result: it equals that token's own
// result, bit for bit. Where it does not (two tokens), x_int8 is ignored.
TEST(CudaMatvecMadeInt8X, StagedFormsReadItAndOthersIgnoreIt) {
    SPOOL_REQUIRE_GPU();
    const int64_t n_cols = 512;
    const NormedToken a(n_cols, 300), b(n_cols, 301);
    uint64_t seed = 400;
    for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                          GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
        ASSERT_TRUE(matvec_staged_type(type)) << type_name(type);
        // Q4_K and Q5_K take a Q6_K v as Q4_K_M / Q5_K_M store it (one mixed launch when it fits), the rest their own.
        const GgmlType v_type = type == GgmlType::Q4_K || type == GgmlType::Q5_K ? GgmlType::Q6_K : type;
        const std::string name(type_name(type));
        const FormWeights fw(type, v_type, n_cols, seed);
        const Forms own_b = run_forms(fw, 1, b.out.data(), nullptr);
        expect_same_bits(run_forms(fw, 1, b.out.data(), b.x_int8.data()), own_b,
                         name + ": x~ made by rms_norm vs rounded in the kernel");
        const Forms own_a = run_forms(fw, 1, a.out.data(), nullptr);
        ASSERT_FALSE(same_bits(own_a.plain, own_b.plain)) << name;
        expect_same_bits(run_forms(fw, 1, a.out.data(), b.x_int8.data()), own_b,
                         name + ": x of one token with x~ of another");
        // Two tokens (no staged kernel): x_int8 must not be read.
        DeviceVector<float> two(static_cast<size_t>(2 * n_cols));
        SPOOL_CUDA_CHECK(cudaMemcpy(two.data(), a.out.data(), n_cols * sizeof(float), cudaMemcpyDeviceToDevice));
        SPOOL_CUDA_CHECK(cudaMemcpy(two.data() + n_cols, b.out.data(), n_cols * sizeof(float), cudaMemcpyDeviceToDevice));
        expect_same_bits(run_forms(fw, 2, two.data(), b.x_int8.data()), run_forms(fw, 2, two.data(), nullptr),
                         name + ": two tokens ignore x_int8");
        seed += 10;
    }
}

// The gate/up launch writes its output's x~ for ffn_down where matvec_glu_writes_int8 says it can: the output is
// unchanged and x~ is its rounding; elsewhere asking for it is refused.
TEST(CudaMatvecMadeInt8X, GatedUnitWritesTheRoundingOfItsOutput) {
    SPOOL_REQUIRE_GPU();
    const int64_t n_cols = 512;
    const NormedToken t(n_cols, 500);
    uint64_t seed = 600;
    for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
        const int64_t rows = 4096;
        const QuantMatrix gate = gpu_test::make_quant_matrix(type, rows, n_cols, ++seed);
        const QuantMatrix up = gpu_test::make_quant_matrix(type, rows, n_cols, ++seed);
        const DeviceVector<uint8_t> g_dev(gate.bytes), u_dev(up.bytes);
        const WeightView g = gate.view(g_dev.data()), u = up.view(u_dev.data());
        for (const bool x_made : {false, true}) {
            const std::string name = std::string(type_name(type)) + (x_made ? " (x~ given)" : " (x rounded)");
            const void* x_int8 = x_made ? t.x_int8.data() : nullptr;
            ASSERT_TRUE(matvec_glu_writes_int8(g, u, t.out.data(), 1, kInt8, x_made)) << name;
            DeviceVector<float> plain(static_cast<size_t>(rows)), out(static_cast<size_t>(rows));
            DeviceVector<uint8_t> made(int8_x_bytes(rows));
            launch_matvec_glu(g, u, t.out.data(), 1, Activation::silu, plain.data(), nullptr, kInt8, x_int8);
            launch_matvec_glu(g, u, t.out.data(), 1, Activation::silu, out.data(), nullptr, kInt8, x_int8, made.data());
            const std::vector<float> y = out.download();
            EXPECT_TRUE(same_bits(y, plain.download())) << name << ": the output changed";
            expect_rounding_of(y, made.download(), name);
        }
        // Not where the blocks cannot hold whole groups of 8 rows: two tokens, float x, too few rows (smaller blocks).
        EXPECT_FALSE(matvec_glu_writes_int8(g, u, t.out.data(), 2, kInt8, false));
        EXPECT_FALSE(matvec_glu_writes_int8(g, u, t.out.data(), 1, ActivationPrecision::float32, false));
        WeightView few = g, few_up = u;
        few.n_rows = few_up.n_rows = 2048;
        EXPECT_FALSE(matvec_glu_writes_int8(few, few_up, t.out.data(), 1, kInt8, true));
        DeviceVector<float> y(4096);
        DeviceVector<uint8_t> made(int8_x_bytes(4096));
        EXPECT_THROW(launch_matvec_glu(few, few_up, t.out.data(), 1, Activation::silu, y.data(), nullptr, kInt8,
                                       t.x_int8.data(), made.data()),
                     UsageError);
    }
}

// The attention combine writes its output's x~ for the output projection at one token: the output is unchanged and
// x~ is its rounding, for head sizes that fill whole warps and one (80) that does not.
TEST(CudaAttentionMadeInt8X, CombineWritesTheRoundingOfItsOutput) {
    SPOOL_REQUIRE_GPU();
    struct Heads {
        int n_head, n_head_kv, head_dim;
    };
    uint64_t seed = 700;
    for (const Heads h : {Heads{32, 4, 64}, Heads{4, 2, 80}, Heads{32, 32, 128}}) {
        const int64_t n_ctx = 512, row_width = static_cast<int64_t>(h.n_head_kv) * h.head_dim;
        const DeviceVector<float> k(testing::random_floats(static_cast<size_t>(n_ctx * row_width), ++seed));
        const DeviceVector<float> v(testing::random_floats(static_cast<size_t>(n_ctx * row_width), ++seed));
        KvView cache;
        cache.k = k.data(), cache.v = v.data();
        cache.type = GgmlType::F32;
        cache.n_ctx = n_ctx, cache.row_width = row_width;
        cache.row_bytes = static_cast<size_t>(row_width) * sizeof(float);
        cache.v_type = GgmlType::F32;
        cache.v_row_bytes = cache.row_bytes;
        AttentionParams params;
        params.n_head = h.n_head, params.n_head_kv = h.n_head_kv, params.head_dim = h.head_dim;
        params.scale = 1.0f / std::sqrt(static_cast<float>(h.head_dim));
        const int64_t n_out = static_cast<int64_t>(h.n_head) * h.head_dim;
        // q scaled up so the softmax is not flat and the outputs differ across heads.
        const DeviceVector<float> q(testing::random_floats(static_cast<size_t>(2 * n_out), ++seed, 3.0f));
        const DeviceVector<int32_t> positions(std::vector<int32_t>{300, 301});
        const size_t ws_bytes = attention_workspace_bytes(2, params, n_ctx);
        DeviceVector<uint8_t> ws(ws_bytes);
        const std::string name = "heads " + std::to_string(h.n_head) + "/" + std::to_string(h.n_head_kv) + " dim " +
                                 std::to_string(h.head_dim);
        ASSERT_TRUE(attention_writes_int8(1, params, n_ctx, ws_bytes)) << name;
        EXPECT_FALSE(attention_writes_int8(2, params, n_ctx, ws_bytes)) << name;
        EXPECT_FALSE(attention_writes_int8(1, params, n_ctx, 0)) << name;
        DeviceVector<float> plain(static_cast<size_t>(n_out)), out(static_cast<size_t>(n_out));
        DeviceVector<uint8_t> made(int8_x_bytes(n_out));
        launch_attention(q.data(), cache, positions.data(), 1, params, plain.data(), ws.data(), ws_bytes, nullptr);
        launch_attention(q.data(), cache, positions.data(), 1, params, out.data(), ws.data(), ws_bytes, nullptr,
                         made.data());
        const std::vector<float> y = out.download();
        EXPECT_TRUE(same_bits(y, plain.download())) << name << ": the output changed";
        expect_rounding_of(y, made.download(), name);
        DeviceVector<float> two(static_cast<size_t>(2 * n_out));
        EXPECT_THROW(launch_attention(q.data(), cache, positions.data(), 2, params, two.data(), ws.data(), ws_bytes,
                                      nullptr, made.data()),
                     UsageError)
            << name;
    }
}

}  // namespace
}  // namespace spool::cuda
