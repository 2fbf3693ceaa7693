// MatvecRopeKv (launch.h): q/k/v projections that rotate q and k and store k and v in the KV cache in their
// epilogue. Each launch form (all three in one launch, q and k together, one at a time; one type or Q4_K with a Q6_K
// v), kernel (shared, staged, mixed), precision and cache type must give exactly what the projections followed by
// launch_rope_kv_append give: the outputs and the cache row, bit for bit. Launches that cannot take the epilogue are
// refused.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/weight_test_support.h"
#include "spool/errors.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;
using gpu_test::QuantMatrix;

constexpr int kHeadDim = 64;
constexpr int64_t kCols = 512, kCtx = 4096;

// Attention heads of q and of k / v: rows of the three projections.
struct Heads {
    int q = 32, kv = 4;
    int64_t q_rows() const { return int64_t{q} * kHeadDim; }
    int64_t kv_rows() const { return int64_t{kv} * kHeadDim; }
};

// A projection set (its matrices stored in `weights`), its input and a cache, on the device.
struct Projections {
    Heads heads;
    std::vector<QuantMatrix> ms;
    std::vector<DeviceVector<uint8_t>> w;
    DeviceVector<float> x, bias_q, factors;
    DeviceVector<int32_t> position;

    Projections(const GgmlType types[3], uint64_t seed, Heads h = {}, WeightLayout weights = WeightLayout::blocks)
        : heads(h),
          x(testing::random_floats(static_cast<size_t>(kCols), seed)),
          bias_q(testing::random_floats(static_cast<size_t>(h.q_rows()), seed + 1)),
          factors(testing::random_floats(kHeadDim / 2, seed + 2, 0.5f, 2.0f)),
          position(std::vector<int32_t>{0}) {
        const int64_t rows[3] = {h.q_rows(), h.kv_rows(), h.kv_rows()};
        for (int i = 0; i < 3; ++i) {
            ms.push_back(gpu_test::make_quant_matrix(gpu_test::WeightFormat{types[i], weights}, rows[i], kCols,
                                                     seed + 3 + static_cast<uint64_t>(i)));
            w.emplace_back(ms.back().bytes);
        }
    }
    WeightView view(int i) const { return ms[static_cast<size_t>(i)].view(w[static_cast<size_t>(i)].data()); }
};

// What one run leaves: q, k, v and the cache rows at the position.
struct Result {
    std::vector<float> q, k, v;
    std::vector<uint8_t> k_row, v_row;
};

struct Case {
    GgmlType cache_type;
    int32_t position;
    int n_dims;
    bool factors, bias;
    ActivationPrecision precision;
};

enum class Layout { one_launch, qk_then_v, singles };

Result run(const Projections& s, const Case& c, Layout layout, bool fused) {
    const int64_t q_rows = s.heads.q_rows(), kv_rows = s.heads.kv_rows();
    const size_t row_bytes_kv = row_bytes(c.cache_type, kv_rows);
    DeviceVector<uint8_t> kc(row_bytes_kv * static_cast<size_t>(kCtx)), vc(kc.size());
    SPOOL_CUDA_CHECK(cudaMemset(kc.data(), 0x5a, kc.size()));
    SPOOL_CUDA_CHECK(cudaMemset(vc.data(), 0x5a, vc.size()));
    DeviceVector<float> q(static_cast<size_t>(q_rows)), k(static_cast<size_t>(kv_rows)), v(k.size());
    gpu_test::poison(q), gpu_test::poison(k), gpu_test::poison(v);
    DeviceVector<int32_t> pos(std::vector<int32_t>{c.position});

    MatvecRopeKv rk;
    rk.positions = pos.data();
    rk.rope.mode = RopeMode::norm;
    rk.rope.n_dims = c.n_dims;
    rk.rope.freq_base = 10000.0f;
    rk.rope.freq_scale = 0.5f;
    rk.rope.freq_factors = c.factors ? s.factors.data() : nullptr;
    rk.head_dim = kHeadDim;
    rk.cache = KvView{kc.data(), vc.data(), c.cache_type, kCtx, kv_rows, row_bytes_kv, c.cache_type, row_bytes_kv};
    const MatvecRole roles[3] = {MatvecRole::q, MatvecRole::k, MatvecRole::v};
    float* ys[3] = {q.data(), k.data(), v.data()};
    const float* bias[3] = {c.bias ? s.bias_q.data() : nullptr, nullptr, nullptr};

    auto launch_run = [&](int begin, int end) {
        MatvecRopeKv r = rk;
        for (int i = begin; i < end; ++i) r.role[i - begin] = roles[i];
        if (end - begin == 1) {
            launch_matvec(s.view(begin), s.x.data(), 1, bias[begin], ys[begin], nullptr, c.precision,
                          fused ? &r : nullptr);
            return;
        }
        MatvecBatch batch;
        batch.count = end - begin;
        for (int i = begin; i < end; ++i) {
            batch.w[i - begin] = s.view(i);
            batch.bias[i - begin] = bias[i];
            batch.y[i - begin] = ys[i];
        }
        launch_matvec_batch(batch, s.x.data(), 1, nullptr, c.precision, fused ? &r : nullptr);
    };
    switch (layout) {
        case Layout::one_launch: launch_run(0, 3); break;
        case Layout::qk_then_v: launch_run(0, 2), launch_run(2, 3); break;
        case Layout::singles: launch_run(0, 1), launch_run(1, 2), launch_run(2, 3); break;
    }
    if (!fused) {
        launch_rope_kv_append(q.data(), k.data(), v.data(), pos.data(), 1, s.heads.q, s.heads.kv, kHeadDim, rk.rope,
                              rk.cache, nullptr);
    }
    Result r{q.download(), k.download(), v.download(), std::vector<uint8_t>(row_bytes_kv),
             std::vector<uint8_t>(row_bytes_kv)};
    const size_t at = static_cast<size_t>(c.position) * row_bytes_kv;
    SPOOL_CUDA_CHECK(cudaMemcpy(r.k_row.data(), kc.data() + at, row_bytes_kv, cudaMemcpyDeviceToHost));
    SPOOL_CUDA_CHECK(cudaMemcpy(r.v_row.data(), vc.data() + at, row_bytes_kv, cudaMemcpyDeviceToHost));
    return r;
}

template <class T>
void expect_same_bits(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
        if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
            ADD_FAILURE() << what << ": element " << i << " differs (fused " << +got[i] << ", separate " << +want[i]
                          << ")";
            return;
        }
    }
}

void expect_same(const Result& got, const Result& want, const std::string& name) {
    expect_same_bits(got.q, want.q, name + " q");
    expect_same_bits(got.k, want.k, name + " k");
    expect_same_bits(got.v, want.v, name + " v");
    expect_same_bits(got.k_row, want.k_row, name + " cache k row");
    expect_same_bits(got.v_row, want.v_row, name + " cache v row");
}

TEST(CudaMatvecRopeKv, EveryFormEqualsProjectionsThenRopeKvAppend) {
    SPOOL_REQUIRE_GPU();
    using T = GgmlType;
    const std::vector<std::vector<GgmlType>> type_sets = {
        {T::Q4_K, T::Q4_K, T::Q4_K},  // int8: the staged kernel (2,560 rows in one launch)
        {T::Q4_K, T::Q4_K, T::Q6_K},  // int8: the mixed staged kernel in one launch
        {T::Q8_0, T::Q8_0, T::Q8_0},  // int8: the shared kernel
        {T::F16, T::F16, T::F16},     // float weights
        {T::Q4_0, T::Q4_0, T::Q4_0},  // float32 x in the shared kernel
    };
    const std::vector<Case> cases = {
        {T::F16, 7, kHeadDim, false, false, ActivationPrecision::int8},
        {T::F32, 3000, kHeadDim, true, true, ActivationPrecision::int8},
        {T::F16, 0, kHeadDim / 2, false, true, ActivationPrecision::float32},
        {T::F16, kCtx - 1, kHeadDim, true, false, ActivationPrecision::float32},
    };
    uint64_t seed = 8100;
    for (const auto& types : type_sets) {
        const Projections s(types.data(), seed += 10);
        for (const Case& c : cases) {
            for (Layout layout : {Layout::one_launch, Layout::qk_then_v, Layout::singles}) {
                if (layout == Layout::one_launch && types[2] != types[0]) {
                    MatvecBatch batch;
                    batch.count = 3;
                    for (int i = 0; i < 3; ++i) batch.w[i] = s.view(i);
                    if (!matvec_batch_mixable(batch, s.x.data(), 1, c.precision)) continue;  // float32: no mixing
                }
                const std::string name = std::string(type_name(types[0])) + "/" + std::string(type_name(types[2])) +
                                         " cache " + std::string(type_name(c.cache_type)) + " position " +
                                         std::to_string(c.position) + " n_dims " + std::to_string(c.n_dims) +
                                         (c.factors ? " factors" : "") + (c.bias ? " bias" : "") +
                                         (c.precision == ActivationPrecision::int8 ? " int8" : " float32") +
                                         " layout " + std::to_string(static_cast<int>(layout));
                expect_same(run(s, c, layout, true), run(s, c, layout, false), name);
            }
        }
    }
}

// Llama-2-7B-sized launches take other forms of the staged kernels, with the epilogue: q/k/v batches of more blocks
// than the GPU holds at once (the many-waves form), and 4,096-row single matrices (Q4_0 and Q4_K split their row pairs
// over two warps, matvec_staged.cu kSplitOneWaveBelowRows), Q4_0 also in the layout the backend uploads it in. The
// same bits as the projections (of those forms too) and launch_rope_kv_append.
TEST(CudaMatvecRopeKv, LargeLaunchFormsEqualProjectionsThenRopeKvAppend) {
    SPOOL_REQUIRE_GPU();
    using T = GgmlType;
    Heads many_waves;
    many_waves.kv = static_cast<int>(gpu_test::many_waves_rows() / (6 * kHeadDim)) + 1;  // q, k, v: 6 kv heads' rows
    many_waves.q = 4 * many_waves.kv;
    const Heads llama_7b{64, 8};  // q: 4,096 rows
    const WeightLayout kBlocks = WeightLayout::blocks;
    const std::vector<std::pair<std::vector<GgmlType>, WeightLayout>> type_sets = {
        {{T::Q4_K, T::Q4_K, T::Q4_K}, kBlocks}, {{T::Q4_K, T::Q4_K, T::Q6_K}, kBlocks},
        {{T::Q8_0, T::Q8_0, T::Q8_0}, kBlocks}, {{T::Q4_0, T::Q4_0, T::Q4_0}, kBlocks},
        {{T::Q6_K, T::Q6_K, T::Q6_K}, kBlocks}, {{T::Q4_0, T::Q4_0, T::Q4_0}, WeightLayout::grouped},
    };
    const std::vector<Case> cases = {
        {T::F16, 7, kHeadDim, false, false, ActivationPrecision::int8},
        {T::F32, 3000, kHeadDim, true, true, ActivationPrecision::int8},
    };
    uint64_t seed = 8300;
    for (const auto& [heads, layout] : {std::pair{many_waves, Layout::one_launch}, {llama_7b, Layout::singles}}) {
        for (const auto& [types, weights] : type_sets) {
            if (layout == Layout::singles && types[2] != types[0]) continue;
            const Projections s(types.data(), seed += 10, heads, weights);
            for (const Case& c : cases) {
                const std::string name = std::string(type_name(types[0])) + "/" + std::string(type_name(types[2])) +
                                         (weights == WeightLayout::grouped ? " grouped" : "") + " cache " +
                                         std::string(type_name(c.cache_type)) + ", q " +
                                         std::to_string(heads.q_rows()) + " rows, layout " +
                                         std::to_string(static_cast<int>(layout));
                expect_same(run(s, c, layout, true), run(s, c, layout, false), name);
            }
        }
    }
}

TEST(CudaMatvecRopeKv, LaunchesThatCannotTakeTheEpilogueAreRefused) {
    SPOOL_REQUIRE_GPU();
    const GgmlType types[3] = {GgmlType::Q8_0, GgmlType::Q8_0, GgmlType::Q8_0};
    const Projections s(types, 8300);
    const int64_t q_rows = Heads{}.q_rows(), kv_rows = Heads{}.kv_rows();
    DeviceVector<uint8_t> kc(static_cast<size_t>(kv_rows * 2 * kCtx)), vc(kc.size());
    DeviceVector<float> y(static_cast<size_t>(2 * q_rows));
    MatvecRopeKv rk;
    rk.positions = s.position.data();
    rk.rope.mode = RopeMode::norm;
    rk.rope.n_dims = kHeadDim;
    rk.head_dim = kHeadDim;
    rk.cache = KvView{kc.data(), vc.data(), GgmlType::F16, kCtx, kv_rows, static_cast<size_t>(kv_rows * 2),
                      GgmlType::F16, static_cast<size_t>(kv_rows * 2)};
    rk.role[0] = MatvecRole::q;
    const WeightView q = s.view(0), k = s.view(1);
    EXPECT_TRUE(matvec_rope_kv_fusable(rk, q, s.x.data(), 1, MatvecRole::q));
    EXPECT_TRUE(matvec_rope_kv_fusable(rk, k, s.x.data(), 1, MatvecRole::k));
    EXPECT_FALSE(matvec_rope_kv_fusable(rk, q, s.x.data(), 2, MatvecRole::q)) << "two tokens";
    EXPECT_FALSE(matvec_rope_kv_fusable(rk, q, s.x.data(), 1, MatvecRole::k)) << "k rows must fill a cache row";
    MatvecRopeKv other = rk;
    other.rope.mode = RopeMode::neox;
    EXPECT_FALSE(matvec_rope_kv_fusable(other, q, s.x.data(), 1, MatvecRole::q)) << "neox pairs span warps";
    other = rk;
    other.cache.type = GgmlType::Q8_0;
    EXPECT_FALSE(matvec_rope_kv_fusable(other, k, s.x.data(), 1, MatvecRole::k)) << "Q8_0 blocks span warps";
    other = rk;
    other.rope.n_dims = kHeadDim + 2;
    EXPECT_FALSE(matvec_rope_kv_fusable(other, q, s.x.data(), 1, MatvecRole::q)) << "n_dims > head_dim";
    other = rk;
    other.head_dim = 48;  // 2048 rows are not whole heads of 48
    EXPECT_FALSE(matvec_rope_kv_fusable(other, q, s.x.data(), 1, MatvecRole::q)) << "rows not whole heads";
    EXPECT_THROW(launch_matvec(q, s.x.data(), 2, nullptr, y.data(), nullptr, ActivationPrecision::int8, &rk),
                 UsageError);
    other = rk;
    other.rope.mode = RopeMode::neox;
    EXPECT_THROW(launch_matvec(q, s.x.data(), 1, nullptr, y.data(), nullptr, ActivationPrecision::int8, &other),
                 UsageError);
}

}  // namespace
}  // namespace spool::cuda
