// launch.h DeferredNorm: the residual add writes x~ of y * weight and the sums of y^2 per 8-row group exactly as the
// host rounds them, without changing y; the launches that read that x~ (plain, glu, batch, mixed batch, rope
// epilogue) give what they give for rms_norm's output and its x~, within the int8 rounding of a scaled group, and each
// writes the norm's output; a launch that cannot run the staged kernel runs rms_norm first and reads x.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/kernels/int8_x_test_support.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/weight_test_support.h"
#include "spool/errors.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;
using gpu_test::QuantMatrix;
using gpu_test::WeightFormat;

constexpr ActivationPrecision kInt8 = ActivationPrecision::int8;
constexpr float kEps = 1e-5f;

// The host's x~ of n values and their sums of squares, in deferred_norm_x_bytes layout.
std::vector<uint8_t> host_norm_x(const std::vector<float>& y, const std::vector<float>& weight) {
    const int64_t n = static_cast<int64_t>(y.size()), n_groups = n / 8;
    std::vector<uint8_t> out(deferred_norm_x_bytes(n));
    for (int64_t g = 0; g < n_groups; ++g) {
        float v[8], sum_sq = 0.0f;
        for (int i = 0; i < 8; ++i) {
            v[i] = y[static_cast<size_t>(8 * g + i)] * weight[static_cast<size_t>(8 * g + i)];
            sum_sq = std::fma(y[static_cast<size_t>(8 * g + i)], y[static_cast<size_t>(8 * g + i)], sum_sq);
        }
        int8_t q[8];
        const float d = gpu_test::round_int8_group(v, 8, q);
        int sum = 0;
        for (const int8_t level : q) sum += level;
        const float dsum = static_cast<float>(sum) * d;
        std::memcpy(out.data() + 8 * g, q, 8);
        std::memcpy(out.data() + 8 * n_groups + 8 * g, &d, 4);
        std::memcpy(out.data() + 8 * n_groups + 8 * g + 4, &dsum, 4);
        std::memcpy(out.data() + int8_x_bytes(n) + 4 * g, &sum_sq, 4);
    }
    return out;
}

TEST(CudaDeferredNorm, ResidualAddWritesTheGroupsOfYTimesTheWeight) {
    SPOOL_REQUIRE_GPU();
    // x and its x~ as rms_norm makes them: a residual add reads the x~ its producer made (the attention combine, the
    // glu), with which the staged kernel takes 2,048 rows of Q8_0, Q4_K and Q6_K.
    const int64_t n_cols = 512;
    const DeviceVector<float> input(testing::random_floats(static_cast<size_t>(n_cols), 11, 2.0f));
    const DeviceVector<float> ones(std::vector<float>(static_cast<size_t>(n_cols), 1.0f));
    DeviceVector<float> x(static_cast<size_t>(n_cols));
    DeviceVector<uint8_t> x_int8(int8_x_bytes(n_cols));
    launch_rms_norm(input.data(), ones.data(), 1, n_cols, kEps, x.data(), nullptr, x_int8.data());
    uint64_t seed = 20;
    for (const WeightFormat format : {WeightFormat{GgmlType::Q4_0, WeightLayout::grouped}, WeightFormat{GgmlType::Q8_0},
                                      WeightFormat{GgmlType::Q4_K}, WeightFormat{GgmlType::Q6_K}}) {
        // 4,096 rows (7B: the split one-wave form for Q4_0 and Q4_K, blocks of 4 warps for Q8_0 and Q6_K: 8 rows
        // each) write it; 2,048 (TinyLlama: split, blocks of 4 rows) do not.
        for (const int64_t rows : {int64_t{4096}, int64_t{2048}}) {
            const std::string name = gpu_test::format_name(format) + " " + std::to_string(rows) + " rows";
            const QuantMatrix m = gpu_test::make_quant_matrix(format, rows, n_cols, ++seed);
            const DeviceVector<uint8_t> w_dev(m.bytes);
            const WeightView w = m.view(w_dev.data());
            const bool writes = matvec_add_writes_norm_x(w, x.data(), 1, kInt8, true);
            EXPECT_EQ(writes, rows == 4096) << name;
            if (!writes) {
                DeviceVector<float> y(static_cast<size_t>(rows)), weight(static_cast<size_t>(rows));
                DeviceVector<uint8_t> norm_x(deferred_norm_x_bytes(rows));
                EXPECT_THROW(launch_matvec_add(w, x.data(), 1, y.data(), nullptr, kInt8, x_int8.data(), weight.data(),
                                               norm_x.data()),
                             UsageError)
                    << name;
                continue;
            }
            const std::vector<float> residual = testing::random_floats(static_cast<size_t>(rows), ++seed, 3.0f);
            const std::vector<float> weight = testing::random_floats(static_cast<size_t>(rows), ++seed, 0.2f, 1.0f);
            DeviceVector<float> plain(residual), y(residual);
            const DeviceVector<float> weight_dev(weight);
            DeviceVector<uint8_t> norm_x(deferred_norm_x_bytes(rows));
            launch_matvec_add(w, x.data(), 1, plain.data(), nullptr, kInt8, x_int8.data());
            launch_matvec_add(w, x.data(), 1, y.data(), nullptr, kInt8, x_int8.data(), weight_dev.data(),
                              norm_x.data());
            const std::vector<float> sum = y.download();
            const std::vector<float> want_sum = plain.download();
            EXPECT_EQ(std::memcmp(sum.data(), want_sum.data(), sum.size() * sizeof(float)), 0) << name << ": y changed";
            const std::vector<uint8_t> got = norm_x.download(), want = host_norm_x(sum, weight);
            int64_t wrong = 0;
            for (size_t i = 0; i < got.size(); ++i) wrong += got[i] != want[i];
            EXPECT_EQ(wrong, 0) << name << ": bytes of x~ and sums that differ from the host's";
        }
    }
}

TEST(CudaDeferredNorm, ResidualAddRefusesWhatItCannotWrite) {
    SPOOL_REQUIRE_GPU();
    const int64_t n_cols = 512;
    const DeviceVector<float> x(testing::random_floats(static_cast<size_t>(2 * n_cols), 3));
    const QuantMatrix m = gpu_test::make_quant_matrix(GgmlType::Q4_K, 4100, n_cols, 5);  // 4,100: not whole groups
    const DeviceVector<uint8_t> w_dev(m.bytes);
    WeightView w = m.view(w_dev.data());
    DeviceVector<float> y(8200), weight(8200);
    DeviceVector<uint8_t> norm_x(deferred_norm_x_bytes(4100));
    EXPECT_FALSE(matvec_add_writes_norm_x(w, x.data(), 1, kInt8, false));
    EXPECT_THROW(launch_matvec_add(w, x.data(), 1, y.data(), nullptr, kInt8, nullptr, weight.data(), norm_x.data()),
                 UsageError);
    w.n_rows = 4096;
    EXPECT_TRUE(matvec_add_writes_norm_x(w, x.data(), 1, kInt8, false));
    EXPECT_FALSE(matvec_add_writes_norm_x(w, x.data(), 2, kInt8, false));                       // one token
    EXPECT_FALSE(matvec_add_writes_norm_x(w, x.data(), 1, ActivationPrecision::float32, false));  // int8 x
    EXPECT_THROW(launch_matvec_add(w, x.data(), 1, y.data(), nullptr, kInt8, nullptr, weight.data(), nullptr),
                 UsageError);
}

// What a reading launch gives for x: its outputs, and x as written (for a DeferredNorm) or given.
struct Reads {
    std::vector<float> plain, glu, batch_q, batch_v, rope_q;
    std::vector<std::vector<float>> written;  // each launch's norm.out
};

// Each form reads x (n_cols) with x~ made, and with `norm` (out replaced by a fresh poisoned buffer per launch).
Reads run_reads(const WeightFormat& format, const WeightFormat& v_format, int64_t rows, int64_t n_cols, uint64_t seed,
                const float* x, const void* made, const DeferredNorm* norm) {
    const QuantMatrix w = gpu_test::make_quant_matrix(format, rows, n_cols, seed);
    const QuantMatrix up = gpu_test::make_quant_matrix(format, rows, n_cols, seed + 1);
    const QuantMatrix wv = gpu_test::make_quant_matrix(v_format, 256, n_cols, seed + 2);
    const DeviceVector<uint8_t> w_dev(w.bytes), up_dev(up.bytes), v_dev(wv.bytes);
    const WeightView view = w.view(w_dev.data());
    Reads r;
    std::vector<DeviceVector<float>> outs;
    DeferredNorm copies[4];
    auto next_norm = [&]() -> const DeferredNorm* {
        if (norm == nullptr) return nullptr;
        outs.emplace_back(static_cast<size_t>(n_cols));
        gpu_test::poison(outs.back());
        DeferredNorm& copy = copies[outs.size() - 1];
        copy = *norm;
        copy.out = outs.back().data();
        return &copy;
    };
    auto x_of = [&](const DeferredNorm* n) { return n != nullptr ? static_cast<const float*>(n->out) : x; };
    DeviceVector<float> y(static_cast<size_t>(rows)), g(static_cast<size_t>(rows)), v(256);
    const DeferredNorm* n = next_norm();
    launch_matvec(view, x_of(n), 1, nullptr, y.data(), nullptr, kInt8, nullptr, made, n);
    r.plain = y.download();
    n = next_norm();
    launch_matvec_glu(view, up.view(up_dev.data()), x_of(n), 1, Activation::silu, g.data(), nullptr, kInt8, made,
                      nullptr, n);
    r.glu = g.download();
    MatvecBatch batch;
    batch.count = 2;
    batch.w[0] = view, batch.w[1] = wv.view(v_dev.data());
    batch.y[0] = y.data(), batch.y[1] = v.data();
    n = next_norm();
    launch_matvec_batch(batch, x_of(n), 1, nullptr, kInt8, nullptr, made, n);
    r.batch_q = y.download(), r.batch_v = v.download();
    const DeviceVector<int32_t> position(std::vector<int32_t>{7});
    MatvecRopeKv rk;
    rk.positions = position.data();
    rk.rope = RopeParams{RopeMode::norm, 64, 10000.0f, 1.0f, nullptr};
    rk.head_dim = 64;
    rk.cache.type = rk.cache.v_type = GgmlType::F16;
    rk.role[0] = MatvecRole::q;
    n = next_norm();
    launch_matvec(view, x_of(n), 1, nullptr, y.data(), nullptr, kInt8, &rk, made, n);
    r.rope_q = y.download();
    for (const DeviceVector<float>& o : outs) r.written.push_back(o.download());
    return r;
}

// got within the rounding of a scaled group of x~ (a level may move by one where the scaled value sits on a rounding
// boundary) of want: max |got - want| <= 1e-3 * max |want|.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& name) {
    ASSERT_EQ(got.size(), want.size()) << name;
    double worst = 0.0, scale = 0.0;
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_TRUE(std::isfinite(got[i])) << name << " [" << i << "]";
        worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]));
        scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
    }
    EXPECT_GT(scale, 0.0) << name;
    EXPECT_LE(worst, 1e-3 * scale) << name;
}

TEST(CudaDeferredNorm, ReadersFinishTheNorm) {
    SPOOL_REQUIRE_GPU();
    const int64_t n_cols = 2048;  // whole runs of grouped Q6_K
    const std::vector<float> residual = testing::random_floats(static_cast<size_t>(n_cols), 31, 3.0f);
    const std::vector<float> weight = testing::random_floats(static_cast<size_t>(n_cols), 32, 0.2f, 1.0f);
    const DeviceVector<float> r_dev(residual), w_dev(weight);
    // rms_norm's output and its x~: what the reads must match.
    DeviceVector<float> normed(static_cast<size_t>(n_cols));
    DeviceVector<uint8_t> normed_x(int8_x_bytes(n_cols));
    launch_rms_norm(r_dev.data(), w_dev.data(), 1, n_cols, kEps, normed.data(), nullptr, normed_x.data());
    const std::vector<float> want_x = normed.download();
    const DeviceVector<uint8_t> norm_x(host_norm_x(residual, weight));
    const DeferredNorm norm{r_dev.data(), w_dev.data(), kEps, nullptr};
    struct Case {
        WeightFormat format, v_format;
        int64_t rows;
        bool staged;
    };
    // Staged: Q4_K with a Q6_K v (one mixed launch; v in the GGUF layout and grouped as the backend uploads it),
    // grouped Q4_0, Q8_0. Not staged (rms_norm runs first): F16, and Q4_0 at 1,024 rows.
    const WeightFormat q4_0_grouped{GgmlType::Q4_0, WeightLayout::grouped};
    const Case cases[] = {{{GgmlType::Q4_K}, {GgmlType::Q6_K}, 4096, true},
                          {{GgmlType::Q4_K}, {GgmlType::Q6_K, WeightLayout::grouped}, 4096, true},
                          {q4_0_grouped, q4_0_grouped, 4096, true},
                          {{GgmlType::Q8_0}, {GgmlType::Q8_0}, 4096, true},
                          {{GgmlType::F16}, {GgmlType::F16}, 1024, false},
                          {{GgmlType::Q4_0}, {GgmlType::Q4_0}, 1024, false}};
    uint64_t seed = 40;
    for (const Case& c : cases) {
        const std::string name = gpu_test::format_name(c.format) + " (v " + gpu_test::format_name(c.v_format) + ") " +
                                 std::to_string(c.rows) + " rows";
        const Reads want =
            run_reads(c.format, c.v_format, c.rows, n_cols, seed, normed.data(), normed_x.data(), nullptr);
        const Reads got = run_reads(c.format, c.v_format, c.rows, n_cols, seed, nullptr, norm_x.data(), &norm);
        seed += 10;
        const std::pair<const std::vector<float>*, const std::vector<float>*> pairs[] = {
            {&got.plain, &want.plain}, {&got.glu, &want.glu}, {&got.batch_q, &want.batch_q},
            {&got.batch_v, &want.batch_v}, {&got.rope_q, &want.rope_q}};
        const char* forms[] = {"plain", "glu", "batch q", "batch v", "rope q"};
        for (size_t i = 0; i < std::size(pairs); ++i) {
            if (c.staged) {
                expect_close(*pairs[i].first, *pairs[i].second, name + " " + forms[i]);
            } else {  // rms_norm wrote x, which the launch read as before
                EXPECT_EQ(*pairs[i].first, *pairs[i].second) << name << " " << forms[i];
            }
        }
        ASSERT_EQ(got.written.size(), 4u) << name;
        for (size_t i = 0; i < got.written.size(); ++i) {
            const std::vector<float>& x = got.written[i];
            for (size_t e = 0; e < x.size(); ++e) {
                // The scale is summed in another order than rms_norm's: a few ulps.
                ASSERT_NEAR(x[e], want_x[e], 1e-5f * std::fabs(want_x[e]) + 1e-30f)
                    << name << " x written by " << forms[std::min<size_t>(i + (i >= 3 ? 1 : 0), 4)] << " [" << e << "]";
            }
        }
    }
}

}  // namespace
}  // namespace spool::cuda
