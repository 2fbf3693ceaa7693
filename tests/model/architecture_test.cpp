// The qwen2 and qwen3 forward passes, checked through exact equivalences on synthetic models (there is no
// llama.cpp reference for them here): qwen2's NEOX rope equals llama's NORM rope once q/k rows are permuted,
// qwen3's per-head q/k norms cancel any per-head scale of wq/wk, and the cpu backend agrees with ref on all three.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/backend_cpu.h"
#include "backend/ref/backend_ref.h"
#include "model/synthetic_model.h"

namespace spool::testing {
namespace {

// Equal up to float32 rounding through one small layer (logits here are O(10)).
constexpr double kEquivalentMaxAbs = 1e-4;

const std::vector<int32_t> kTokens = {1, 7, 23, 5, 39, 11, 2, 30, 17};

// NEOX rotates (i, i + half) where NORM rotates (2i, 2i + 1): moving row 2i to i and 2i + 1 to i + half in each
// head of wq and wk makes a NEOX model compute what the NORM model computes (dot products are invariant when q
// and k are permuted alike).
void permute_rows_norm_to_neox(SyntheticTensor& t, int64_t n_heads, int64_t head_dim) {
    const int64_t n_in = t.ne[0];
    std::vector<float> out(t.values.size());
    for (int64_t h = 0; h < n_heads; ++h) {
        for (int64_t i = 0; i < head_dim / 2; ++i) {
            for (int64_t part = 0; part < 2; ++part) {
                const int64_t from = h * head_dim + 2 * i + part;
                const int64_t to = h * head_dim + i + part * (head_dim / 2);
                std::copy_n(t.values.begin() + from * n_in, n_in, out.begin() + to * n_in);
            }
        }
    }
    t.values = out;
}

void scale_head_rows(SyntheticTensor& t, int64_t head_dim, const std::vector<float>& scales) {
    const int64_t n_in = t.ne[0];
    for (size_t h = 0; h < scales.size(); ++h) {
        for (int64_t i = 0; i < head_dim * n_in; ++i) t.values[h * head_dim * n_in + i] *= scales[h];
    }
}

TEST(Architectures, Qwen2EqualsLlamaWithPermutedQK) {
    SyntheticModel llama;
    llama.add_llama_tensors(10);
    SyntheticModel qwen2 = llama;
    qwen2.arch = "qwen2";
    const int64_t hd = llama.head_dim();
    permute_rows_norm_to_neox(qwen2.tensors["blk.0.attn_q.weight"], llama.n_head, hd);
    permute_rows_norm_to_neox(qwen2.tensors["blk.0.attn_k.weight"], llama.n_head_kv, hd);
    qwen2.tensors["blk.0.attn_q.bias"] = {{llama.n_head * hd}, std::vector<float>(llama.n_head * hd, 0.0f)};
    qwen2.tensors["blk.0.attn_k.bias"] = {{llama.n_head_kv * hd}, std::vector<float>(llama.n_head_kv * hd, 0.0f)};
    qwen2.tensors["blk.0.attn_v.bias"] = {{llama.n_head_kv * hd}, std::vector<float>(llama.n_head_kv * hd, 0.0f)};
    RefBackend backend;
    const std::vector<float> a = run_all_logits(llama.write("eq_llama"), backend, kTokens);
    const std::vector<float> b = run_all_logits(qwen2.write("eq_qwen2"), backend, kTokens);
    const Comparison c = compare(std::span<const float>(a), std::span<const float>(b));
    EXPECT_LT(c.max_abs, kEquivalentMaxAbs) << c.report();

    // The biases are used: a value bias b adds wo·b to every position's residual, so the logits move.
    qwen2.tensors["blk.0.attn_v.bias"].values = random_floats(static_cast<size_t>(llama.n_head_kv * hd), 5);
    const std::vector<float> biased = run_all_logits(qwen2.write("eq_qwen2_bias"), backend, kTokens);
    EXPECT_GT(compare(std::span<const float>(a), std::span<const float>(biased)).max_abs, 0.01);
}

TEST(Architectures, Qwen3QkNormsCancelPerHeadScales) {
    SyntheticModel base;
    base.arch = "qwen3";
    // A negligible eps: with 1e-5 the norm's eps term itself shifts by up to 4e-5 relative when q is halved.
    base.extra_keys["qwen3.attention.layer_norm_rms_epsilon"] = gguf::Value(1e-12f);
    base.add_llama_tensors(20);
    const int64_t hd = base.head_dim();
    base.tensors["blk.0.attn_q_norm.weight"] = {{hd}, random_floats(static_cast<size_t>(hd), 21, 0.1f, 1.0f)};
    base.tensors["blk.0.attn_k_norm.weight"] = {{hd}, random_floats(static_cast<size_t>(hd), 22, 0.1f, 1.0f)};
    SyntheticModel scaled = base;
    scale_head_rows(scaled.tensors["blk.0.attn_q.weight"], hd, {3.0f, 0.5f});
    scale_head_rows(scaled.tensors["blk.0.attn_k.weight"], hd, {2.0f});
    RefBackend backend;
    const std::vector<float> a = run_all_logits(base.write("qwen3_base"), backend, kTokens);
    const std::vector<float> b = run_all_logits(scaled.write("qwen3_scaled"), backend, kTokens);
    const Comparison c = compare(std::span<const float>(a), std::span<const float>(b));
    EXPECT_LT(c.max_abs, kEquivalentMaxAbs) << c.report();

    // Without the norms (llama) the same scaling changes the attention pattern, so the test can fail.
    SyntheticModel llama = base, llama_scaled = scaled;
    llama.arch = llama_scaled.arch = "llama";
    llama.extra_keys.clear();
    llama_scaled.extra_keys.clear();
    const std::vector<float> la = run_all_logits(llama.write("qwen3_llama"), backend, kTokens);
    const std::vector<float> lb = run_all_logits(llama_scaled.write("qwen3_llama_scaled"), backend, kTokens);
    EXPECT_GT(compare(std::span<const float>(la), std::span<const float>(lb)).max_abs, 0.01);
}

TEST(Architectures, CpuBackendMatchesRefOnEveryArchitecture) {
    for (const std::string arch : {"llama", "qwen2", "qwen3"}) {
        SyntheticModel m;
        m.arch = arch;
        m.n_layer = 2;
        m.n_head = 4;
        m.n_head_kv = 2;
        m.add_llama_tensors(30);
        const int64_t hd = m.head_dim();
        for (int64_t l = 0; l < m.n_layer; ++l) {
            const std::string p = "blk." + std::to_string(l) + ".";
            if (arch == "qwen2") {
                m.tensors[p + "attn_q.bias"] = {{m.n_head * hd}, random_floats(static_cast<size_t>(m.n_head * hd), 31)};
                m.tensors[p + "attn_k.bias"] = {{m.n_head_kv * hd}, random_floats(static_cast<size_t>(m.n_head_kv * hd), 32)};
                m.tensors[p + "attn_v.bias"] = {{m.n_head_kv * hd}, random_floats(static_cast<size_t>(m.n_head_kv * hd), 33)};
            }
            if (arch == "qwen3") {
                m.tensors[p + "attn_q_norm.weight"] = {{hd}, random_floats(static_cast<size_t>(hd), 34, 0.1f, 1.0f)};
                m.tensors[p + "attn_k_norm.weight"] = {{hd}, random_floats(static_cast<size_t>(hd), 35, 0.1f, 1.0f)};
            }
        }
        const gguf::GgufFile file = m.write("parity_" + arch);
        RefBackend ref;
        CpuBackend cpu;
        const std::vector<float> a = run_all_logits(file, ref, kTokens);
        const std::vector<float> b = run_all_logits(file, cpu, kTokens);
        const Comparison c = compare(std::span<const float>(a), std::span<const float>(b));
        EXPECT_LT(c.max_abs, kEquivalentMaxAbs) << arch << ": " << c.report();
    }
}

}  // namespace
}  // namespace spool::testing
