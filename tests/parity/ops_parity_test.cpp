// Every op of every built backend against the ref backend (float64 loops) on seeded random data at odd sizes:
// n_tokens 1, 3 and 17, odd row counts, every weight type for matmul and embed, every KV cache type.
// One test body per op, instantiated for each backend (cpu now; cuda when built).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/backend_cpu.h"
#include "parity/parity_support.h"
#include "quant/types.h"
#include "tolerances.h"

namespace spool::testing {
namespace {

using tolerance::kParityNmseAttention;
using tolerance::kParityNmseAttentionHalfProducts;
using tolerance::kParityNmseAttentionInt8Query;
using tolerance::kParityNmseFloatOps;
using tolerance::kParityNmseRope;

constexpr int64_t kTokenCounts[] = {1, 3, 17};

// Weight types the ref backend can multiply (the quant table has a vec_dot and an activation quantizer).
std::vector<GgmlType> matmul_types(const Backend& backend) {
    std::vector<GgmlType> out;
    for (const TypeInfo& info : all_type_infos()) {
        if (backend.supports(Op::matmul, info.type)) out.push_back(info.type);
    }
    return out;
}

// Rows of random weights stored as `type` (quantized from N(0, 1) floats by the type's reference quantizer).
std::vector<uint8_t> random_weights(GgmlType type, int64_t n_cols, int64_t n_rows, uint64_t seed) {
    const std::vector<float> values = random_floats(static_cast<size_t>(n_cols * n_rows), seed);
    const size_t row = row_bytes(type, n_cols);
    std::vector<uint8_t> bytes(row * static_cast<size_t>(n_rows));
    for (int64_t r = 0; r < n_rows; ++r) {
        type_info(type).quantize_row(values.data() + r * n_cols, bytes.data() + static_cast<size_t>(r) * row, n_cols);
    }
    return bytes;
}

// The NMSE limit for a matmul whose activations a backend may round to the weight type's vec_dot type.
double matmul_limit(GgmlType type) {
    switch (type_info(type).vec_dot_type) {
        case GgmlType::F32: return tolerance::kParityNmseMatmulF32;
        case GgmlType::F16: return tolerance::kParityNmseMatmulF16Act;
        case GgmlType::BF16: return tolerance::kParityNmseMatmulBF16Act;
        default: return tolerance::kParityNmseMatmulQ8Act;  // Q8_0, Q8_1, Q8_K
    }
}

class Parity : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override { backend_ = make_parity_backend(GetParam()); }
    Backend& test() { return *backend_; }
    Backend& ref() { return ref_; }

    std::unique_ptr<Backend> backend_;
    RefBackend ref_;
};

TEST_P(Parity, MatmulEveryWeightType) {
    if (const auto* cpu = dynamic_cast<const CpuBackend*>(&test())) {
        std::printf("[ parity %s ] cpu kernel set: %s\n", GetParam().c_str(),
                    std::string(cpu::cpu_isa_name(cpu->isa())).c_str());
    }
    for (GgmlType type : matmul_types(ref())) {
        if (!test().supports(Op::matmul, type)) {
            ADD_FAILURE() << GetParam() << " cannot multiply " << type_name(type) << " weights, ref can";
            continue;
        }
        WorstCase worst{"matmul " + std::string(type_name(type)), {}, {}};
        for (const int64_t n_in : {256, 768}) {
            // 300 tokens: past the CUDA backend's stacked F16 GEMM (kStackedMaxTokens), its two-GEMM form.
            for (const int64_t n_tokens : {int64_t{1}, int64_t{3}, int64_t{17}, int64_t{300}}) {
                const int64_t n_out = n_tokens == 1 || n_tokens == 3 ? 37 : 131;  // odd row counts
                const uint64_t seed = 1000 + static_cast<uint64_t>(type) * 10 + static_cast<uint64_t>(n_tokens);
                const std::vector<uint8_t> w = random_weights(type, n_in, n_out, seed);
                const std::vector<float> x = random_floats(static_cast<size_t>(n_tokens * n_in), seed + 1);
                const std::vector<float> bias = random_floats(static_cast<size_t>(n_out), seed + 2);
                std::vector<std::vector<float>> results;
                for (Backend* b : {&ref(), &test()}) {
                    const DeviceWeights wd(*b, w, type, n_in, n_out);
                    DeviceArray<float> xd(*b, std::span<const float>(x)), bd(*b, std::span<const float>(bias));
                    DeviceArray<float> y(*b, static_cast<size_t>(n_tokens * n_out));
                    b->matmul(wd.view(), xd.data(), n_tokens, n_tokens == 3 ? bd.data() : nullptr, y.data());
                    results.push_back(y.download());
                }
                const std::string what = std::string(type_name(type)) + " n_in " + std::to_string(n_in) +
                                          " n_tokens " + std::to_string(n_tokens) + " n_out " + std::to_string(n_out);
                worst.add(what, expect_parity(what, results[0], results[1], matmul_limit(type)));
            }
        }
        worst.print(matmul_limit(type));
    }
}

TEST_P(Parity, EmbedEveryTableType) {
    WorstCase worst{"embed", {}, {}};
    for (const TypeInfo& info : all_type_infos()) {
        if (!ref().supports(Op::embed, info.type)) continue;
        // Q8_1 and Q8_K are activation formats (vec_dot inputs): no model file stores a table in them.
        if ((info.type == GgmlType::Q8_1 || info.type == GgmlType::Q8_K) && !test().supports(Op::embed, info.type)) {
            continue;
        }
        ASSERT_TRUE(test().supports(Op::embed, info.type)) << type_name(info.type);
        const int64_t n_cols = 256, n_rows = 101;
        const std::vector<uint8_t> table = random_weights(info.type, n_cols, n_rows, 77);
        for (const int64_t n_tokens : kTokenCounts) {
            std::vector<int32_t> ids(static_cast<size_t>(n_tokens));
            std::mt19937 rng(static_cast<uint32_t>(n_tokens));
            for (int32_t& id : ids) id = static_cast<int32_t>(rng() % n_rows);
            std::vector<std::vector<float>> results;
            for (Backend* b : {&ref(), &test()}) {
                const DeviceWeights td(*b, table, info.type, n_cols, n_rows);
                DeviceArray<int32_t> idd(*b, std::span<const int32_t>(ids));
                DeviceArray<float> out(*b, static_cast<size_t>(n_tokens * n_cols));
                b->embed(td.view(), idd.data(), n_tokens, out.data());
                results.push_back(out.download());
            }
            const std::string what = std::string(info.name) + " n_tokens " + std::to_string(n_tokens);
            worst.add(what, expect_parity(what, results[0], results[1], kParityNmseFloatOps));
        }
    }
    worst.print(kParityNmseFloatOps);
}

TEST_P(Parity, RmsNorm) {
    WorstCase worst{"rms_norm", {}, {}};
    for (const int64_t n_rows : kTokenCounts) {
        for (const int64_t n : {32, 333}) {
            const std::vector<float> x = random_floats(static_cast<size_t>(n_rows * n), 5 + n_rows, 3.0f);
            const std::vector<float> w = random_floats(static_cast<size_t>(n), 6, 0.1f, 1.0f);
            std::vector<std::vector<float>> results;
            for (Backend* b : {&ref(), &test()}) {
                DeviceArray<float> xd(*b, std::span<const float>(x)), wd(*b, std::span<const float>(w));
                DeviceArray<float> out(*b, x.size());
                b->rms_norm(xd.data(), wd.data(), n_rows, n, 1e-5f, out.data());
                results.push_back(out.download());
            }
            const std::string what = "rows " + std::to_string(n_rows) + " n " + std::to_string(n);
            worst.add(what, expect_parity(what, results[0], results[1], kParityNmseFloatOps));
        }
    }
    worst.print(kParityNmseFloatOps);
}

TEST_P(Parity, RopeBothModesScalingAndFactors) {
    WorstCase worst{"rope", {}, {}};
    const int head_dim = 64;
    for (const RopeMode mode : {RopeMode::norm, RopeMode::neox}) {
        for (const int n_dims : {64, 32}) {  // 32: partial rotation, the rest passes through
            for (const bool factors : {false, true}) {
                for (const int64_t n_tokens : kTokenCounts) {
                    const int n_heads = 3;
                    const std::vector<float> x =
                        random_floats(static_cast<size_t>(n_tokens * n_heads * head_dim), 9 + n_tokens);
                    std::vector<float> freq_factors(static_cast<size_t>(n_dims / 2));
                    for (size_t i = 0; i < freq_factors.size(); ++i) freq_factors[i] = 1.0f + 0.37f * static_cast<float>(i % 5);
                    std::vector<int32_t> pos(static_cast<size_t>(n_tokens));
                    for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int32_t>(i * 97 % 1500);
                    std::vector<std::vector<float>> results;
                    for (Backend* b : {&ref(), &test()}) {
                        DeviceArray<float> xd(*b, std::span<const float>(x));
                        DeviceArray<float> fd(*b, std::span<const float>(freq_factors));
                        DeviceArray<int32_t> pd(*b, std::span<const int32_t>(pos));
                        const RopeParams params{mode, n_dims, 10000.0f, factors ? 0.25f : 1.0f,
                                                factors ? fd.data() : nullptr};
                        b->rope(xd.data(), pd.data(), n_tokens, n_heads, head_dim, params);
                        results.push_back(xd.download());
                    }
                    const std::string what = std::string(mode == RopeMode::norm ? "norm" : "neox") + " n_dims " +
                                             std::to_string(n_dims) + (factors ? " factors+scale" : "") +
                                             " n_tokens " + std::to_string(n_tokens);
                    worst.add(what, expect_parity(what, results[0], results[1], kParityNmseRope));
                }
            }
        }
    }
    worst.print(kParityNmseRope);
}

TEST_P(Parity, KvAppendAndAttentionEveryCacheType) {
    struct Shape {
        int n_head, n_head_kv, window, n_past, head_dim;
    };
    // Grouped (4 per KV head), plain (1 per KV head), a group wider than the cpu kernel's slice (16), a window, and
    // plain after 200 rows at head_dim 64 and after 13,000 rows at head_dim 128 (7B's heads; two, so that the second
    // KV head's rows start mid-line), where the CUDA split kernel's blocks take 48 rows or more (its 256 parts): its
    // integer wide form, for a Q8_0 cache with rows in registers at 64 and staged in shared memory at 128, for a Q4_0
    // cache staged at 128. (Few heads keep the reference backend fast: it converts whole cache rows.)
    const Shape shapes[] = {{8, 2, 0, 11, 64}, {4, 4, 0, 11, 64},  {16, 1, 0, 11, 64},
                            {8, 2, 5, 11, 64}, {4, 4, 0, 200, 64}, {2, 2, 0, 13000, 128}};
    // Each type for both halves, and Q8_0 keys with Q4_0 values (-ctk q8_0 -ctv q4_0), which every backend keeps.
    const std::pair<GgmlType, GgmlType> pairs[] = {{GgmlType::F32, GgmlType::F32},
                                                   {GgmlType::F16, GgmlType::F16},
                                                   {GgmlType::Q8_0, GgmlType::Q8_0},
                                                   {GgmlType::Q4_0, GgmlType::Q4_0},
                                                   {GgmlType::Q8_0, GgmlType::Q4_0}};
    for (const auto& [cache_type, v_type] : pairs) {
        ASSERT_TRUE(test().supports_kv_cache(cache_type, v_type)) << type_name(cache_type) << "/" << type_name(v_type);
        const std::string cache_name = cache_type == v_type ? std::string(type_name(cache_type))
                                                            : "K " + std::string(type_name(cache_type)) + " V " +
                                                                  std::string(type_name(v_type));
        WorstCase worst{"attn " + cache_name, {}, {}};
        // An F16 or Q8_0 cache's products may round q, the probabilities (and Q8_0 rows) to fp16, as llama.cpp's do;
        // a quantized cache's scores may take q rounded to int8, as llama.cpp's q8_1.
        const bool quantized = cache_type == GgmlType::Q8_0 || cache_type == GgmlType::Q4_0;
        const double limit = quantized                      ? kParityNmseAttentionInt8Query
                             : cache_type == GgmlType::F16 ? kParityNmseAttentionHalfProducts
                                                           : kParityNmseAttention;
        for (const Shape& shape : shapes) {
            for (const int64_t n_tokens : kTokenCounts) {
                const int64_t n_past = shape.n_past, n_ctx = n_past + 29;
                const int head_dim = shape.head_dim;
                const int64_t kv_width = static_cast<int64_t>(shape.n_head_kv) * head_dim;
                const int64_t q_width = static_cast<int64_t>(shape.n_head) * head_dim;
                const uint64_t seed = 300 + static_cast<uint64_t>(n_tokens) + static_cast<uint64_t>(shape.n_head);
                // Earlier positions 0..n_past-1 go in first, then the batch at n_past.. (a prefill after a prompt).
                const std::vector<float> k_old = random_floats(static_cast<size_t>(n_past * kv_width), seed);
                const std::vector<float> v_old = random_floats(static_cast<size_t>(n_past * kv_width), seed + 1);
                const std::vector<float> k = random_floats(static_cast<size_t>(n_tokens * kv_width), seed + 2);
                const std::vector<float> v = random_floats(static_cast<size_t>(n_tokens * kv_width), seed + 3);
                const std::vector<float> q = random_floats(static_cast<size_t>(n_tokens * q_width), seed + 4);
                std::vector<int32_t> pos_old(static_cast<size_t>(n_past)), pos(static_cast<size_t>(n_tokens));
                for (size_t i = 0; i < pos_old.size(); ++i) pos_old[i] = static_cast<int32_t>(i);
                for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int32_t>(n_past + static_cast<int64_t>(i));
                const size_t row = row_bytes(cache_type, kv_width), v_row = row_bytes(v_type, kv_width);
                std::vector<std::vector<float>> results;
                for (Backend* b : {&ref(), &test()}) {
                    Buffer cache = b->allocate((row + v_row) * static_cast<size_t>(n_ctx));
                    const KvView view{cache.data(), static_cast<uint8_t*>(cache.data()) + row * static_cast<size_t>(n_ctx),
                                      cache_type, n_ctx, kv_width, row, v_type, v_row};
                    DeviceArray<float> kod(*b, std::span<const float>(k_old)), vod(*b, std::span<const float>(v_old));
                    DeviceArray<float> kd(*b, std::span<const float>(k)), vd(*b, std::span<const float>(v));
                    DeviceArray<float> qd(*b, std::span<const float>(q));
                    DeviceArray<int32_t> pod(*b, std::span<const int32_t>(pos_old)), pd(*b, std::span<const int32_t>(pos));
                    DeviceArray<float> out(*b, q.size());
                    b->kv_append(view, kod.data(), vod.data(), pod.data(), n_past);
                    b->kv_append(view, kd.data(), vd.data(), pd.data(), n_tokens);
                    const AttentionParams params{shape.n_head, shape.n_head_kv, head_dim,
                                                 1.0f / std::sqrt(static_cast<float>(head_dim)), shape.window};
                    b->attention(qd.data(), view, pd.data(), n_tokens, params, out.data());
                    results.push_back(out.download());
                }
                const std::string what = "heads " + std::to_string(shape.n_head) + "/" +
                                         std::to_string(shape.n_head_kv) + " window " + std::to_string(shape.window) +
                                         " past " + std::to_string(n_past) + " n_tokens " + std::to_string(n_tokens);
                worst.add(what, expect_parity(what, results[0], results[1], limit));
            }
        }
        worst.print(limit);
    }
}

TEST_P(Parity, GluAddArgmax) {
    WorstCase glu{"glu", {}, {}}, add{"add", {}, {}};
    for (const int64_t n_tokens : kTokenCounts) {
        const int64_t n = n_tokens * 515;  // odd widths
        const std::vector<float> a = random_floats(static_cast<size_t>(n), 40 + n_tokens, 3.0f);
        const std::vector<float> b_in = random_floats(static_cast<size_t>(n), 50 + n_tokens);
        for (const Activation act : {Activation::silu, Activation::gelu}) {
            std::vector<std::vector<float>> results;
            for (Backend* b : {&ref(), &test()}) {
                DeviceArray<float> ad(*b, std::span<const float>(a)), bd(*b, std::span<const float>(b_in));
                DeviceArray<float> out(*b, a.size());
                b->glu(ad.data(), bd.data(), n, act, out.data());
                results.push_back(out.download());
            }
            const std::string what = std::string(act == Activation::silu ? "silu" : "gelu") + " n " + std::to_string(n);
            glu.add(what, expect_parity(what, results[0], results[1], kParityNmseFloatOps));
        }
        std::vector<std::vector<float>> sums;
        std::vector<std::vector<int32_t>> maxima;
        for (Backend* b : {&ref(), &test()}) {
            DeviceArray<float> ad(*b, std::span<const float>(a)), bd(*b, std::span<const float>(b_in));
            DeviceArray<float> out(*b, a.size());
            DeviceArray<int32_t> idx(*b, static_cast<size_t>(n_tokens));
            b->add(ad.data(), bd.data(), n, out.data());
            b->argmax(ad.data(), n_tokens, 515, idx.data());
            sums.push_back(out.download());
            maxima.push_back(idx.download());
        }
        add.add("n " + std::to_string(n), expect_parity("add", sums[0], sums[1], kParityNmseFloatOps));
        EXPECT_EQ(maxima[0], maxima[1]) << "argmax, n_tokens " << n_tokens;
    }
    glu.print(kParityNmseFloatOps);
    add.print(kParityNmseFloatOps);
}

// The fused ops (a backend may override them with one pass) against the ref backend's composition of plain ops.
TEST_P(Parity, FusedOpsEqualTheirComposition) {
    const GgmlType types[] = {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K};
    WorstCase worst{"fused", {}, {}};
    for (const GgmlType type : types) {
        if (!test().supports(Op::matmul, type)) continue;
        for (const int64_t n_tokens : kTokenCounts) {
            const int64_t n_in = 512, n_out = 131, n_ff = 259;
            const uint64_t seed = 9000 + static_cast<uint64_t>(type) * 10 + static_cast<uint64_t>(n_tokens);
            const std::vector<uint8_t> wa = random_weights(type, n_in, n_out, seed);
            const std::vector<uint8_t> wb = random_weights(type, n_in, n_ff, seed + 1);
            const std::vector<uint8_t> wc = random_weights(type, n_in, n_ff, seed + 2);
            const std::vector<float> x = random_floats(static_cast<size_t>(n_tokens * n_in), seed + 3);
            const std::vector<float> residual = random_floats(static_cast<size_t>(n_tokens * n_out), seed + 4);
            const std::vector<float> bias = random_floats(static_cast<size_t>(n_ff), seed + 5);
            const GgmlType other = type == GgmlType::Q6_K ? GgmlType::Q8_0 : GgmlType::Q6_K;
            const std::vector<uint8_t> wm = random_weights(other, n_in, n_ff, seed + 6);
            std::vector<std::vector<float>> add_out, glu_out, shared_a, shared_b, shared_c, mixed_a, mixed_b, mixed_c;
            for (Backend* b : {&ref(), &test()}) {
                const DeviceWeights da(*b, wa, type, n_in, n_out), db(*b, wb, type, n_in, n_ff),
                    dc(*b, wc, type, n_in, n_ff);
                DeviceArray<float> xd(*b, std::span<const float>(x)), rd(*b, std::span<const float>(residual));
                DeviceArray<float> bd(*b, std::span<const float>(bias));
                DeviceArray<float> scratch(*b, static_cast<size_t>(n_tokens * n_ff));
                DeviceArray<float> out(*b, static_cast<size_t>(n_tokens * n_ff));
                DeviceArray<float> ya(*b, static_cast<size_t>(n_tokens * n_out));
                DeviceArray<float> yb(*b, static_cast<size_t>(n_tokens * n_ff)), yc(*b, static_cast<size_t>(n_tokens * n_ff));
                const WeightView va = da.view(), vb = db.view(), vc = dc.view();
                b->matmul_add(va, xd.data(), n_tokens, scratch.data(), rd.data());
                add_out.push_back(rd.download());
                b->matmul_glu(vb, vc, xd.data(), n_tokens, Activation::silu, scratch.data(), out.data());
                glu_out.push_back(out.download());
                const WeightView views[3] = {va, vb, vc};
                const float* const biases[3] = {nullptr, bd.data(), nullptr};
                float* const ys[3] = {ya.data(), yb.data(), yc.data()};
                b->matmul_shared_input(3, views, biases, xd.data(), n_tokens, ys);
                shared_a.push_back(ya.download());
                shared_b.push_back(yb.download());
                shared_c.push_back(yc.download());
                // A last matrix of another type (Q4_K_M stores v as Q6_K beside Q4_K q and k): the first two may
                // still share a launch, the third runs alone.
                const DeviceWeights dm(*b, wm, other, n_in, n_ff);
                const WeightView mixed[3] = {va, vb, dm.view()};
                b->matmul_shared_input(3, mixed, biases, xd.data(), n_tokens, ys);
                mixed_a.push_back(ya.download());
                mixed_b.push_back(yb.download());
                mixed_c.push_back(yc.download());
            }
            const std::string what = std::string(type_name(type)) + " n_tokens " + std::to_string(n_tokens);
            const double limit = matmul_limit(type);
            worst.add("matmul_add " + what, expect_parity("matmul_add " + what, add_out[0], add_out[1], limit));
            worst.add("matmul_glu " + what, expect_parity("matmul_glu " + what, glu_out[0], glu_out[1], limit));
            worst.add("shared q " + what, expect_parity("shared q " + what, shared_a[0], shared_a[1], limit));
            worst.add("shared k+bias " + what, expect_parity("shared k " + what, shared_b[0], shared_b[1], limit));
            worst.add("shared v " + what, expect_parity("shared v " + what, shared_c[0], shared_c[1], limit));
            worst.add("mixed q " + what, expect_parity("mixed q " + what, mixed_a[0], mixed_a[1], limit));
            worst.add("mixed k+bias " + what, expect_parity("mixed k " + what, mixed_b[0], mixed_b[1], limit));
            const std::string other_what = std::string(type_name(other)) + " n_tokens " + std::to_string(n_tokens);
            worst.add("mixed v " + other_what,
                      expect_parity("mixed v " + other_what, mixed_c[0], mixed_c[1], matmul_limit(other)));
        }
    }
    worst.print(matmul_limit(GgmlType::Q4_K));

    // rope_kv_append: both rotations and the cache rows, for every cache type.
    for (const GgmlType cache_type : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0}) {
        WorstCase rope_worst{"rope_kv " + std::string(type_name(cache_type)), {}, {}};
        for (const int64_t n_tokens : kTokenCounts) {
            const int n_head = 8, n_head_kv = 2, head_dim = 64;
            const int64_t kv_width = n_head_kv * head_dim, n_ctx = 64;
            const uint64_t seed = 7700 + static_cast<uint64_t>(n_tokens);
            const std::vector<float> q = random_floats(static_cast<size_t>(n_tokens * n_head * head_dim), seed);
            const std::vector<float> k = random_floats(static_cast<size_t>(n_tokens * kv_width), seed + 1);
            const std::vector<float> v = random_floats(static_cast<size_t>(n_tokens * kv_width), seed + 2);
            std::vector<int32_t> pos(static_cast<size_t>(n_tokens));
            for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int32_t>(5 + i * 2);
            const size_t row = row_bytes(cache_type, kv_width);
            std::vector<std::vector<float>> qs, ks, cached;
            for (Backend* b : {&ref(), &test()}) {
                Buffer cache = b->allocate(row * static_cast<size_t>(n_ctx) * 2);
                const KvView view{cache.data(), static_cast<uint8_t*>(cache.data()) + row * static_cast<size_t>(n_ctx),
                                  cache_type, n_ctx, kv_width, row, cache_type, row};
                DeviceArray<float> qd(*b, std::span<const float>(q)), kd(*b, std::span<const float>(k));
                DeviceArray<float> vd(*b, std::span<const float>(v));
                DeviceArray<int32_t> pd(*b, std::span<const int32_t>(pos));
                const RopeParams rope{RopeMode::norm, head_dim, 10000.0f, 1.0f, nullptr};
                b->rope_kv_append(qd.data(), kd.data(), vd.data(), pd.data(), n_tokens, n_head, n_head_kv, head_dim,
                                  rope, view);
                qs.push_back(qd.download());
                ks.push_back(kd.download());
                // The cache as floats: dequantize its bytes on the host.
                std::vector<uint8_t> bytes(row * static_cast<size_t>(n_ctx) * 2);
                b->download(bytes.data(), cache.data(), bytes.size());
                std::vector<float> rows;
                for (const int32_t p : pos) {
                    for (int half = 0; half < 2; ++half) {
                        std::vector<float> r(static_cast<size_t>(kv_width));
                        type_info(cache_type).dequantize_row(
                            bytes.data() + (static_cast<size_t>(half) * static_cast<size_t>(n_ctx) + static_cast<size_t>(p)) * row,
                            r.data(), kv_width);
                        rows.insert(rows.end(), r.begin(), r.end());
                    }
                }
                cached.push_back(rows);
            }
            const std::string what = "n_tokens " + std::to_string(n_tokens);
            rope_worst.add("q " + what, expect_parity("rope_kv q " + what, qs[0], qs[1], kParityNmseRope));
            rope_worst.add("k " + what, expect_parity("rope_kv k " + what, ks[0], ks[1], kParityNmseRope));
            // A rotated value within float rounding of a Q8_0 or Q4_0 rounding boundary may land one step over: allow
            // one such step among the 2 x 128 values of a token (Q4_0's steps are 16 times Q8_0's).
            const double cache_limit = cache_type == GgmlType::Q8_0   ? 1e-5
                                       : cache_type == GgmlType::Q4_0 ? 2e-3
                                                                      : kParityNmseRope;
            rope_worst.add("cache " + what, expect_parity("rope_kv cache " + what, cached[0], cached[1], cache_limit));
        }
        rope_worst.print(kParityNmseRope);
    }
}

// A decode step's pattern: one token normalized, then read by several matmuls; then the normalized tensor changes
// (an add into it, a matmul writing it) and is read again; the same for a gated unit's output. A backend that keeps
// something derived from a producer's output for the matmuls (the cuda backend's int8 x~, made by rms_norm and by
// matmul_glu) must notice every change. Matrices large enough for the cuda backend's staged kernels, which read it.
TEST_P(Parity, NormedInputReadByMatmulsUntilItChanges) {
    for (const GgmlType type : {GgmlType::Q4_K, GgmlType::Q8_0, GgmlType::Q4_0}) {
        if (!test().supports(Op::matmul, type)) continue;
        const int64_t n = 512, n_out = 4096;
        const uint64_t seed = 9500 + static_cast<uint64_t>(type) * 10;
        const std::vector<uint8_t> w = random_weights(type, n, n_out, seed);
        const std::vector<uint8_t> wu = random_weights(type, n, n_out, seed + 1);
        const std::vector<uint8_t> w_back = random_weights(type, n_out, n, seed + 2);  // n_out -> n: writes the normed
        const std::vector<uint8_t> w_down = random_weights(type, n_out, n_out, seed + 7);  // reads the glu's output
        const std::vector<float> x = random_floats(static_cast<size_t>(n), seed + 3, 3.0f);
        const std::vector<float> norm = random_floats(static_cast<size_t>(n), seed + 4, 0.2f, 1.0f);
        const std::vector<float> delta = random_floats(static_cast<size_t>(n), seed + 5);
        const std::vector<float> h = random_floats(static_cast<size_t>(n_out), seed + 6, 0.05f);  // back's input
        std::vector<std::vector<float>> outs[7];
        for (Backend* b : {&ref(), &test()}) {
            const DeviceWeights wd(*b, w, type, n, n_out), wud(*b, wu, type, n, n_out), wbd(*b, w_back, type, n_out, n),
                wdd(*b, w_down, type, n_out, n_out);
            const WeightView down = wdd.view(), view = wd.view(), up = wud.view(), back = wbd.view();
            DeviceArray<float> xd(*b, std::span<const float>(x)), nd(*b, std::span<const float>(norm));
            DeviceArray<float> dd(*b, std::span<const float>(delta)), normed(*b, static_cast<size_t>(n));
            DeviceArray<float> hd(*b, std::span<const float>(h));
            DeviceArray<float> y(*b, static_cast<size_t>(n_out)), g(*b, static_cast<size_t>(n_out));
            DeviceArray<float> scratch(*b, static_cast<size_t>(n_out));
            b->rms_norm(xd.data(), nd.data(), 1, n, 1e-5f, normed.data());
            b->matmul(view, normed.data(), 1, nullptr, y.data());
            outs[0].push_back(y.download());
            b->matmul_glu(view, up, normed.data(), 1, Activation::silu, scratch.data(), g.data());
            outs[1].push_back(g.download());
            DeviceArray<float> z(*b, static_cast<size_t>(n_out));
            b->matmul(down, g.data(), 1, nullptr, z.data());  // reads the glu's output
            outs[5].push_back(z.download());
            b->add(g.data(), y.data(), n_out, g.data());  // which changes
            b->matmul(down, g.data(), 1, nullptr, z.data());
            outs[6].push_back(z.download());
            b->add(normed.data(), dd.data(), n, normed.data());  // the normed tensor changes
            b->matmul(view, normed.data(), 1, nullptr, y.data());
            outs[2].push_back(y.download());
            b->rms_norm(xd.data(), nd.data(), 1, n, 1e-5f, normed.data());
            b->matmul(back, hd.data(), 1, nullptr, normed.data());  // a matmul writes it
            b->matmul(view, normed.data(), 1, nullptr, y.data());
            outs[3].push_back(y.download());
            b->rms_norm(xd.data(), nd.data(), 1, n, 1e-5f, normed.data());
            b->matmul_add(back, hd.data(), 1, scratch.data(), normed.data());  // a residual add into it
            b->matmul(view, normed.data(), 1, nullptr, y.data());
            outs[4].push_back(y.download());
        }
        const char* steps[] = {"matmul after rms_norm", "matmul_glu after it", "matmul after an add into the input",
                               "matmul after a matmul wrote the input", "matmul after a matmul_add into the input",
                               "matmul of the glu output", "matmul after an add into the glu output"};
        for (int i = 0; i < 7; ++i) {
            const std::string what = std::string(type_name(type)) + " " + steps[i];
            expect_parity(what, outs[i][0], outs[i][1], matmul_limit(type));
        }
    }
}

// A decode step's residual add with the next block's norm (matmul_add_rms_norm), whose output matmuls then read: the
// cuda backend leaves that norm to the matmuls (launch.h DeferredNorm), so normed must hold its values for the first
// of them and for a download or any other op after it, and the residual must be the add's. Shapes that take the
// staged kernels there (4,096 rows).
TEST_P(Parity, ResidualAddWithTheNextNormReadByMatmuls) {
    for (const GgmlType type : {GgmlType::Q4_K, GgmlType::Q8_0, GgmlType::Q4_0}) {
        if (!test().supports(Op::matmul, type)) continue;
        const int64_t n = 4096, n_in = 256;
        const uint64_t seed = 9700 + static_cast<uint64_t>(type) * 10;
        const std::vector<uint8_t> w_add = random_weights(type, n_in, n, seed);  // n_in -> n: the residual add
        const std::vector<uint8_t> w = random_weights(type, n, n, seed + 1);     // reads normed (also as W_up)
        const std::vector<float> h = random_floats(static_cast<size_t>(n_in), seed + 3, 0.2f);
        const std::vector<float> residual = random_floats(static_cast<size_t>(n), seed + 4, 3.0f);
        const std::vector<float> norm = random_floats(static_cast<size_t>(n), seed + 5, 0.2f, 1.0f);
        const std::vector<float> delta = random_floats(static_cast<size_t>(n), seed + 6);
        std::vector<std::vector<float>> outs[8];
        for (Backend* b : {&ref(), &test()}) {
            const DeviceWeights ad(*b, w_add, type, n_in, n), wd(*b, w, type, n, n);
            const WeightView add = ad.view(), view = wd.view();
            DeviceArray<float> hd(*b, std::span<const float>(h)), rd(*b, std::span<const float>(residual));
            DeviceArray<float> nd(*b, std::span<const float>(norm)), dd(*b, std::span<const float>(delta));
            DeviceArray<float> normed(*b, static_cast<size_t>(n)), y(*b, static_cast<size_t>(n));
            DeviceArray<float> g(*b, static_cast<size_t>(n)), scratch(*b, static_cast<size_t>(n));
            b->matmul_add_rms_norm(add, hd.data(), 1, scratch.data(), rd.data(), nd.data(), 1e-5f, normed.data());
            b->matmul(view, normed.data(), 1, nullptr, y.data());
            outs[0].push_back(y.download());
            b->matmul_glu(view, view, normed.data(), 1, Activation::silu, scratch.data(), g.data());
            outs[1].push_back(g.download());
            outs[2].push_back(normed.download());
            outs[3].push_back(rd.download());
            // Downloaded before any matmul reads it; read after that.
            b->matmul_add_rms_norm(add, hd.data(), 1, scratch.data(), rd.data(), nd.data(), 1e-5f, normed.data());
            outs[4].push_back(normed.download());
            b->matmul(view, normed.data(), 1, nullptr, y.data());
            outs[5].push_back(y.download());
            // Another op reads and changes it first.
            b->matmul_add_rms_norm(add, hd.data(), 1, scratch.data(), rd.data(), nd.data(), 1e-5f, normed.data());
            b->add(normed.data(), dd.data(), n, normed.data());
            b->matmul(view, normed.data(), 1, nullptr, y.data());
            outs[6].push_back(y.download());
            outs[7].push_back(rd.download());
        }
        const char* steps[] = {"matmul of normed", "matmul_glu of normed", "normed", "residual",
                               "normed downloaded first", "matmul after that", "matmul after an add into normed",
                               "residual after three adds"};
        for (int i = 0; i < 8; ++i) {
            const std::string what = std::string(type_name(type)) + " " + steps[i];
            // normed and the residual carry the add's rounding of h (int8 in some backends), like the matmuls.
            expect_parity(what, outs[i][0], outs[i][1], matmul_limit(type));
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, Parity, ::testing::ValuesIn(parity_backends()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace spool::testing
