// Mixtures: applied to tiny-F16.gguf's tensors, the rules must give the type of every tensor in llama.cpp's
// quantized tiny files; plus the rules that the 4-layer tiny model cannot show (use_more_bits on 32 layers,
// row-length fallbacks, GQA, 70B, falcon, plain targets, names).
#include "quant/mixtures.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "spool/errors.h"
#include "test_support.h"

namespace spool::quant {
namespace {

using T = GgmlType;

ModelFacts facts_of(const gguf::GgufFile& f) {
    ModelFacts m;
    m.arch = f.architecture();
    m.n_layer = static_cast<int>(f.get_u64(m.arch + ".block_count", 0));
    m.n_head = static_cast<int>(f.get_u64(m.arch + ".attention.head_count", 0));
    m.n_head_kv = static_cast<int>(f.get_u64(m.arch + ".attention.head_count_kv", m.n_head));
    m.n_expert = static_cast<int>(f.get_u64(m.arch + ".expert_count", 0));
    m.has_output = f.find_tensor("output.weight") != nullptr;
    return m;
}

class TinyMixture : public ::testing::TestWithParam<const char*> {};

TEST_P(TinyMixture, ReproducesLlamaCppTensorTypes) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F16.gguf");
    const std::string name = GetParam();
    const auto source = gguf::GgufFile::open(testing::shared_dir() / "models/tiny/tiny-F16.gguf");
    const auto reference = gguf::GgufFile::open(testing::shared_dir() / ("models/tiny/tiny-" + name + ".gguf"));
    const auto target = parse_quant_target(name);
    ASSERT_TRUE(target) << name;
    EXPECT_EQ(static_cast<uint64_t>(target->file_type), reference.get_u64("general.file_type", 999)) << name;

    const ModelFacts model = facts_of(source);
    ASSERT_EQ(source.tensors().size(), reference.tensors().size());
    int checked = 0;
    for (const gguf::TensorInfo& t : source.tensors()) {
        const gguf::TensorInfo& want = reference.tensor(t.name);
        const TensorChoice got = choose_tensor_type(*target, model, t.name, t.ne, t.type);
        EXPECT_EQ(type_name(got.type), type_name(want.type)) << name << ": tensor " << t.name;
        EXPECT_FALSE(got.fallback) << t.name;
        ++checked;
    }
    EXPECT_EQ(checked, 38);
}

INSTANTIATE_TEST_SUITE_P(LlamaCppFiles, TinyMixture,
                         ::testing::Values("Q4_K_M", "Q5_K_M", "Q2_K", "Q6_K", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"),
                         [](const auto& info) { return std::string(info.param); });

// A llama-2-7b-like model: 32 layers, no GQA, separate output.
ModelFacts llama7b() { return {"llama", 32, 32, 32, 0, true}; }

std::vector<int64_t> mat(int64_t row, int64_t rows) { return {row, rows}; }

std::string blk(int layer, const char* tensor) { return "blk." + std::to_string(layer) + "." + tensor + ".weight"; }

TEST(Mixtures, Q4KMGivesSixBitsToAttnVAndFfnDownInUseMoreBitsLayers) {
    const auto q4km = *parse_quant_target("q4_k_m");
    std::vector<int> bumped_v, bumped_down;
    for (int layer = 0; layer < 32; ++layer) {
        if (choose_tensor_type(q4km, llama7b(), blk(layer, "attn_v"), mat(4096, 4096), T::F16).type == T::Q6_K)
            bumped_v.push_back(layer);
        if (choose_tensor_type(q4km, llama7b(), blk(layer, "ffn_down"), mat(11008, 4096), T::F16).type == T::Q6_K)
            bumped_down.push_back(layer);
        EXPECT_EQ(choose_tensor_type(q4km, llama7b(), blk(layer, "attn_q"), mat(4096, 4096), T::F16).type, T::Q4_K);
    }
    // First and last eighth (0-3, 28-31) and every third layer between, starting at 6.
    const std::vector<int> expected = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
    EXPECT_EQ(bumped_v, expected);
    EXPECT_EQ(bumped_down, expected);
    // Untied: the output gets Q6_K, the embedding keeps the base type.
    EXPECT_EQ(choose_tensor_type(q4km, llama7b(), "output.weight", mat(4096, 32000), T::F16).type, T::Q6_K);
    EXPECT_EQ(choose_tensor_type(q4km, llama7b(), "token_embd.weight", mat(4096, 32000), T::F16).type, T::Q4_K);
}

TEST(Mixtures, SmallMixturesFollowLayerRules) {
    const ModelFacts m = llama7b();
    const auto q3km = *parse_quant_target("Q3_K_M");
    EXPECT_EQ(choose_tensor_type(q3km, m, blk(0, "attn_v"), mat(4096, 4096), T::F16).type, T::Q5_K);
    EXPECT_EQ(choose_tensor_type(q3km, m, blk(1, "attn_v"), mat(4096, 4096), T::F16).type, T::Q5_K);
    EXPECT_EQ(choose_tensor_type(q3km, m, blk(2, "attn_v"), mat(4096, 4096), T::F16).type, T::Q4_K);
    EXPECT_EQ(choose_tensor_type(q3km, m, blk(1, "ffn_down"), mat(11008, 4096), T::F16).type, T::Q5_K);
    EXPECT_EQ(choose_tensor_type(q3km, m, blk(2, "ffn_down"), mat(11008, 4096), T::F16).type, T::Q4_K);
    EXPECT_EQ(choose_tensor_type(q3km, m, blk(5, "attn_output"), mat(4096, 4096), T::F16).type, T::Q4_K);
    EXPECT_EQ(choose_tensor_type(q3km, m, blk(5, "ffn_up"), mat(4096, 11008), T::F16).type, T::Q3_K);

    const auto q3ks = *parse_quant_target("Q3_K_S");
    EXPECT_EQ(choose_tensor_type(q3ks, m, blk(0, "attn_v"), mat(4096, 4096), T::F16).type, T::Q3_K);
    EXPECT_EQ(choose_tensor_type(q3ks, m, blk(0, "ffn_down"), mat(11008, 4096), T::F16).type, T::Q3_K);

    const auto q4ks = *parse_quant_target("Q4_K_S");
    EXPECT_EQ(choose_tensor_type(q4ks, m, blk(3, "attn_v"), mat(4096, 4096), T::F16).type, T::Q5_K);
    EXPECT_EQ(choose_tensor_type(q4ks, m, blk(4, "attn_v"), mat(4096, 4096), T::F16).type, T::Q4_K);
    EXPECT_EQ(choose_tensor_type(q4ks, m, blk(3, "ffn_down"), mat(11008, 4096), T::F16).type, T::Q5_K);
    EXPECT_EQ(choose_tensor_type(q4ks, m, blk(4, "ffn_down"), mat(11008, 4096), T::F16).type, T::Q4_K);

    const auto q3kl = *parse_quant_target("Q3_K_L");
    EXPECT_EQ(choose_tensor_type(q3kl, m, blk(9, "attn_v"), mat(4096, 4096), T::F16).type, T::Q5_K);
    EXPECT_EQ(choose_tensor_type(q3kl, m, blk(9, "ffn_down"), mat(11008, 4096), T::F16).type, T::Q5_K);
    EXPECT_EQ(choose_tensor_type(q3kl, m, blk(9, "attn_output"), mat(4096, 4096), T::F16).type, T::Q5_K);
}

TEST(Mixtures, Q2KAttnVDependsOnGqa) {
    const auto q2k = *parse_quant_target("Q2_K");
    const ModelFacts gqa8{"llama", 32, 32, 4, 0, true};   // 8 query heads per KV head
    const ModelFacts gqa2{"llama", 32, 32, 16, 0, true};
    EXPECT_EQ(choose_tensor_type(q2k, gqa8, blk(7, "attn_v"), mat(4096, 512), T::F16).type, T::Q4_K);
    EXPECT_EQ(choose_tensor_type(q2k, gqa2, blk(7, "attn_v"), mat(4096, 2048), T::F16).type, T::Q3_K);
}

TEST(Mixtures, Llama70BAndEightExpertsBumpAttention) {
    const auto q4km = *parse_quant_target("Q4_K_M");
    const ModelFacts llama70b{"llama", 80, 64, 8, 0, true};
    EXPECT_EQ(choose_tensor_type(q4km, llama70b, blk(11, "attn_v"), mat(8192, 1024), T::F16).type, T::Q5_K);
    const ModelFacts mixtral{"llama", 32, 32, 8, 8, true};
    EXPECT_EQ(choose_tensor_type(q4km, mixtral, blk(11, "attn_v"), mat(4096, 1024), T::F16).type, T::Q8_0);
    EXPECT_EQ(choose_tensor_type(q4km, mixtral, blk(11, "attn_k"), mat(4096, 1024), T::F16).type, T::Q8_0);
    EXPECT_EQ(choose_tensor_type(q4km, mixtral, blk(11, "attn_output"), mat(4096, 4096), T::F16).type, T::Q5_K);
}

TEST(Mixtures, FalconKeepsOutputAtQ8) {
    const auto q4km = *parse_quant_target("Q4_K_M");
    const ModelFacts falcon{"falcon", 32, 71, 1, 0, true};
    EXPECT_EQ(choose_tensor_type(q4km, falcon, "output.weight", mat(4544, 65024), T::F16).type, T::Q8_0);
    EXPECT_EQ(choose_tensor_type(q4km, falcon, blk(0, "ffn_down"), mat(18176, 4544), T::F16).preferred, T::Q6_K);
    EXPECT_EQ(choose_tensor_type(q4km, falcon, blk(2, "ffn_down"), mat(18176, 4544), T::F16).preferred, T::Q5_K);
    EXPECT_EQ(choose_tensor_type(q4km, falcon, blk(5, "ffn_down"), mat(18176, 4544), T::F16).preferred, T::Q4_K);
}

TEST(Mixtures, RowsThatDoNotFitFallBackLikeLlamaCpp) {
    // Qwen2.5-0.5B: n_embd 896 = 3.5 x 256, tied embedding.
    const ModelFacts qwen{"qwen2", 24, 14, 2, 0, false};
    const auto q4km = *parse_quant_target("Q4_K_M");
    const TensorChoice q = choose_tensor_type(q4km, qwen, blk(5, "attn_q"), mat(896, 896), T::BF16);
    EXPECT_EQ(q.type, T::Q5_0);
    EXPECT_EQ(q.preferred, T::Q4_K);
    EXPECT_TRUE(q.fallback);
    EXPECT_EQ(choose_tensor_type(q4km, qwen, blk(0, "attn_v"), mat(896, 128), T::BF16).type, T::Q8_0);
    EXPECT_EQ(choose_tensor_type(q4km, qwen, blk(0, "ffn_down"), mat(4864, 896), T::BF16).type, T::Q6_K);
    // The tied embedding's rows do not fit Q4_K, so it is stored as Q8_0 (no fallback flag: a rule chose it).
    const TensorChoice embd = choose_tensor_type(q4km, qwen, "token_embd.weight", mat(896, 151936), T::BF16);
    EXPECT_EQ(embd.type, T::Q8_0);
    EXPECT_FALSE(embd.fallback);

    const auto q5km = *parse_quant_target("Q5_K_M");
    EXPECT_EQ(choose_tensor_type(q5km, qwen, blk(4, "attn_q"), mat(896, 896), T::BF16).type, T::Q5_1);
    const auto q2k = *parse_quant_target("Q2_K");
    const TensorChoice q2 = choose_tensor_type(q2k, qwen, blk(4, "attn_q"), mat(896, 896), T::BF16);
    EXPECT_TRUE(q2.type == T::IQ4_NL || q2.type == T::Q4_0) << type_name(q2.type);
    EXPECT_TRUE(q2.fallback);

    // Rows that fit no 32-block fall back to F16; legacy types have no fallback at all.
    EXPECT_EQ(choose_tensor_type(q4km, qwen, blk(0, "attn_q"), mat(100, 64), T::F32).type, T::F16);
    const auto q4_0 = *parse_quant_target("Q4_0");
    EXPECT_THROW(choose_tensor_type(q4_0, qwen, blk(0, "attn_q"), mat(100, 64), T::F32), UnsupportedError);
}

TEST(Mixtures, OnlyTwoDimensionalWeightsAreQuantized) {
    const auto q4km = *parse_quant_target("Q4_K_M");
    const ModelFacts m = llama7b();
    const std::vector<int64_t> vec = {4096};
    const TensorChoice norm = choose_tensor_type(q4km, m, blk(0, "attn_norm"), vec, T::F32);
    EXPECT_FALSE(norm.quantized);
    EXPECT_EQ(norm.type, T::F32);
    EXPECT_FALSE(choose_tensor_type(q4km, m, "blk.0.attn_q.bias", vec, T::F32).quantized);
    EXPECT_FALSE(choose_tensor_type(q4km, m, "rope_freqs.weight", std::vector<int64_t>{64}, T::F32).quantized);
    EXPECT_FALSE(choose_tensor_type(q4km, m, blk(0, "ffn_gate_inp"), mat(4096, 8), T::F32).quantized);
    // A [4096, 1] matrix is one-dimensional to ggml.
    EXPECT_FALSE(choose_tensor_type(q4km, m, blk(0, "attn_q"), mat(4096, 1), T::F32).quantized);
    // Float targets convert every 2-D weight and nothing else.
    const auto f16 = *parse_quant_target("F16");
    EXPECT_EQ(choose_tensor_type(f16, m, "output.weight", mat(4096, 32000), T::F32).type, T::F16);
    EXPECT_EQ(choose_tensor_type(f16, m, blk(0, "ffn_norm"), vec, T::F32).type, T::F32);
}

TEST(Mixtures, PlainTypesArePure) {
    const auto q4k = *parse_quant_target("q4_k");
    EXPECT_TRUE(q4k.pure);
    EXPECT_EQ(q4k.base_type, T::Q4_K);
    const ModelFacts m = llama7b();
    EXPECT_EQ(choose_tensor_type(q4k, m, "output.weight", mat(4096, 32000), T::F16).type, T::Q4_K);
    EXPECT_EQ(choose_tensor_type(q4k, m, blk(0, "attn_v"), mat(4096, 4096), T::F16).type, T::Q4_K);
    // A pure target still falls back where the rows do not fit.
    EXPECT_EQ(choose_tensor_type(q4k, m, blk(0, "attn_v"), mat(896, 128), T::F16).type, T::Q5_0);
}

TEST(Mixtures, NamesAndFileTypes) {
    EXPECT_FALSE(parse_quant_target("Q4_K_X"));
    EXPECT_FALSE(parse_quant_target(""));
    EXPECT_EQ(parse_quant_target("bf16")->file_type, FileType::MOSTLY_BF16);
    EXPECT_EQ(parse_quant_target("F32")->base_type, T::F32);
    // Every target name parses back to itself, and every mixture's file type has its own name.
    for (std::string_view name : quant_target_names()) {
        const auto t = parse_quant_target(name);
        ASSERT_TRUE(t) << name;
        EXPECT_EQ(t->name, name);
        if (!t->pure) {
            EXPECT_EQ(file_type_name(static_cast<uint32_t>(t->file_type)), name);
        }
    }
    EXPECT_EQ(file_type_name(15), "Q4_K_M");
    EXPECT_EQ(file_type_name(5), "");
    EXPECT_EQ(file_type_name(1000), "");
}

}  // namespace
}  // namespace spool::quant
