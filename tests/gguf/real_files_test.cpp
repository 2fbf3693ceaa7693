// The shared llama.cpp-made files parse, with the tensor counts, types and shapes listed in
// ../shared/reference/README.md section 2 (tiny models) and section 7 (vocabularies). Open times are
// printed (speed is measured, never asserted, in unit tests).
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "gguf_test_files.h"
#include "test_support.h"

namespace spool::gguf {
namespace {

using spool::testing::shared_dir;
using namespace spool::gguf::testing;

template <class F>
double time_ms(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct TinyFile {
    const char* file;
    uint64_t bytes;
    uint64_t file_type;
    GgmlType embd;          // token_embd.weight (tied output)
    GgmlType main;          // attn_q, attn_k, ffn_gate, ffn_up
    GgmlType attn_output;
    GgmlType v_down_early;  // attn_v and ffn_down of blocks 0, 1
    GgmlType v_down_late;   // attn_v and ffn_down of blocks 2, 3
};

using T = GgmlType;
constexpr TinyFile kTiny[] = {
    {"tiny-F32.gguf", 42940800, 0, T::F32, T::F32, T::F32, T::F32, T::F32},
    {"tiny-F16.gguf", 21838208, 1, T::F16, T::F16, T::F16, T::F16, T::F16},
    {"tiny-Q8_0.gguf", 11946400, 7, T::Q8_0, T::Q8_0, T::Q8_0, T::Q8_0, T::Q8_0},
    {"tiny-Q6_K.gguf", 9391008, 18, T::Q6_K, T::Q6_K, T::Q6_K, T::Q6_K, T::Q6_K},
    {"tiny-Q5_K_M.gguf", 9121184, 17, T::Q6_K, T::Q5_K, T::Q5_K, T::Q5_K, T::Q6_K},
    {"tiny-Q4_K_M.gguf", 8867232, 15, T::Q6_K, T::Q4_K, T::Q4_K, T::Q4_K, T::Q6_K},
    {"tiny-Q4_0.gguf", 8782752, 2, T::Q6_K, T::Q4_0, T::Q4_0, T::Q4_0, T::Q4_0},
    {"tiny-Q2_K.gguf", 8322976, 10, T::Q6_K, T::Q2_K, T::Q3_K, T::Q3_K, T::Q3_K},
    {"tiny-Q5_1.gguf", 9225120, 9, T::Q6_K, T::Q5_1, T::Q5_1, T::Q5_1, T::Q5_1},
    {"tiny-Q5_0.gguf", 9077664, 8, T::Q6_K, T::Q5_0, T::Q5_0, T::Q5_0, T::Q5_0},
    {"tiny-Q4_1.gguf", 8930208, 3, T::Q6_K, T::Q4_1, T::Q4_1, T::Q4_1, T::Q4_1},
};

void expect_tensor(const GgufFile& f, const std::string& name, GgmlType type, std::vector<int64_t> ne) {
    const TensorInfo* t = f.find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(type_name(t->type), type_name(type)) << name;
    EXPECT_EQ(t->ne, ne) << name;
    EXPECT_EQ(t->n_bytes, row_bytes(t->type, t->ne[0]) * static_cast<uint64_t>(t->n_rows())) << name;
}

TEST(GgufRealFiles, TinyModels) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    for (const TinyFile& tf : kTiny) {
        SCOPED_TRACE(tf.file);
        const auto path = shared_dir() / "models/tiny" / tf.file;
        if (!std::filesystem::exists(path)) {
            ADD_FAILURE() << "missing " << path;
            continue;
        }
        std::optional<GgufFile> opened;
        const double ms = time_ms([&] { opened.emplace(GgufFile::open(path)); });
        const GgufFile& f = *opened;
        std::cout << "open " << tf.file << ": " << ms << " ms\n";
        EXPECT_EQ(f.file_bytes(), tf.bytes);
        EXPECT_EQ(f.version(), 3u);
        EXPECT_EQ(f.alignment(), 32u);
        EXPECT_EQ(f.n_splits(), 1u);
        EXPECT_EQ(f.architecture(), "llama");
        EXPECT_EQ(f.get_string("general.name", ""), "spool-tiny-llama");
        EXPECT_EQ(f.get_u64("general.file_type", 999), tf.file_type);
        EXPECT_EQ(f.at("llama.embedding_length").as_u32(), 256u);
        EXPECT_EQ(f.at("llama.block_count").as_u32(), 4u);
        EXPECT_EQ(f.at("llama.attention.head_count_kv").as_u32(), 4u);
        EXPECT_FLOAT_EQ(static_cast<float>(f.get_f64("llama.attention.layer_norm_rms_epsilon", 0)), 1e-5f);
        EXPECT_EQ(f.at("tokenizer.ggml.tokens").as_strings().size(), 32000u);
        EXPECT_EQ(f.at("tokenizer.ggml.tokens").as_strings()[1], "<s>");
        EXPECT_TRUE(f.get_bool("tokenizer.ggml.add_bos_token", false));
        ASSERT_EQ(f.tensors().size(), 38u);  // embd, 4 blocks x 9, output_norm; output is tied
        EXPECT_EQ(f.find_tensor("output.weight"), nullptr);
        expect_tensor(f, "token_embd.weight", tf.embd, {256, 32000});
        expect_tensor(f, "output_norm.weight", T::F32, {256});
        for (int b = 0; b < 4; ++b) {
            const std::string p = "blk." + std::to_string(b) + ".";
            const GgmlType v_down = b < 2 ? tf.v_down_early : tf.v_down_late;
            expect_tensor(f, p + "attn_norm.weight", T::F32, {256});
            expect_tensor(f, p + "ffn_norm.weight", T::F32, {256});
            expect_tensor(f, p + "attn_q.weight", tf.main, {256, 256});
            expect_tensor(f, p + "attn_k.weight", tf.main, {256, 128});
            expect_tensor(f, p + "attn_v.weight", v_down, {256, 128});
            expect_tensor(f, p + "attn_output.weight", tf.attn_output, {256, 256});
            expect_tensor(f, p + "ffn_gate.weight", tf.main, {256, 512});
            expect_tensor(f, p + "ffn_up.weight", tf.main, {256, 512});
            expect_tensor(f, p + "ffn_down.weight", v_down, {512, 256});
        }
        // Every tensor's bytes lie inside the file's map, after the header.
        for (const TensorInfo& t : f.tensors()) {
            EXPECT_GE(t.data, f.tensors().front().data - f.tensors().front().offset) << t.name;
            EXPECT_LE(t.offset + t.n_bytes, tf.bytes) << t.name;
        }
    }
}

TEST(GgufRealFiles, F32WeightsAreInPlace) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    const GgufFile f = GgufFile::open(shared_dir() / "models/tiny/tiny-F32.gguf");
    const TensorInfo& norm = f.tensor("output_norm.weight");
    const auto* w = reinterpret_cast<const float*>(norm.data);
    double sum = 0;
    for (int i = 0; i < 256; ++i) sum += w[i];
    EXPECT_NEAR(sum / 256, 1.0, 0.05);  // norms = 1 + 0.1 N(0, 1)
}

struct Vocab {
    const char* file;
    const char* model;
    const char* pre;
    size_t n_tokens;
    size_t n_merges;
};

constexpr Vocab kVocabs[] = {
    {"ggml-vocab-llama-spm.gguf", "llama", "default", 32000, 0},
    {"ggml-vocab-phi-3.gguf", "llama", "default", 32064, 0},
    {"ggml-vocab-gpt-2.gguf", "gpt2", "gpt-2", 50257, 50000},
    {"ggml-vocab-deepseek-llm.gguf", "gpt2", "deepseek-llm", 102400, 99757},
    {"ggml-vocab-deepseek-coder.gguf", "gpt2", "deepseek-coder", 32256, 31757},
    {"ggml-vocab-falcon.gguf", "gpt2", "falcon", 65024, 64784},
    {"ggml-vocab-starcoder.gguf", "gpt2", "starcoder", 49152, 48872},
    {"ggml-vocab-refact.gguf", "gpt2", "refact", 49216, 48891},
    {"ggml-vocab-mpt.gguf", "gpt2", "mpt", 50432, 50009},
};

TEST(GgufRealFiles, TokenizerVocabularies) {
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-llama-spm.gguf");
    for (const Vocab& v : kVocabs) {
        SCOPED_TRACE(v.file);
        const auto path = shared_dir() / "reference/tokenizer" / v.file;
        std::optional<GgufFile> opened;
        const double ms = time_ms([&] { opened.emplace(GgufFile::open(path)); });
        const GgufFile& f = *opened;
        std::cout << "open " << v.file << ": " << ms << " ms\n";
        EXPECT_EQ(f.file_bytes(), std::filesystem::file_size(path));
        EXPECT_TRUE(f.tensors().empty());
        EXPECT_EQ(f.get_string("tokenizer.ggml.model", ""), v.model);
        EXPECT_EQ(f.get_string("tokenizer.ggml.pre", ""), v.pre);
        EXPECT_EQ(f.at("tokenizer.ggml.tokens").as_strings().size(), v.n_tokens);
        const Value* merges = f.find("tokenizer.ggml.merges");
        EXPECT_EQ(merges ? merges->as_strings().size() : 0u, v.n_merges);
    }
}

// A synthetic 150k-token vocabulary (tokens, scores, types, merges), like Qwen's, parses in a few ms.
TEST(GgufRealFiles, LargeVocabularyOpenTime) {
    constexpr size_t kTokens = 151936;
    std::vector<std::string> tokens(kTokens), merges(kTokens - 1000);
    std::vector<float> scores(kTokens);
    std::vector<int32_t> types(kTokens, 1);
    for (size_t i = 0; i < kTokens; ++i) {
        tokens[i] = "tok" + std::to_string(i * 2654435761u % 1000003);
        scores[i] = -static_cast<float>(i);
    }
    for (size_t i = 0; i < merges.size(); ++i) merges[i] = "a" + std::to_string(i) + " b" + std::to_string(i);
    GgufWriter w;
    w.set("tokenizer.ggml.model", Value("gpt2"));
    w.set("tokenizer.ggml.tokens", array_of(ValueType::STRING, tokens));
    w.set("tokenizer.ggml.scores", array_of(ValueType::FLOAT32, scores));
    w.set("tokenizer.ggml.token_type", array_of(ValueType::INT32, types));
    w.set("tokenizer.ggml.merges", array_of(ValueType::STRING, merges));
    TempDir dir;
    w.write(dir / "vocab.gguf", fill_pattern);
    std::optional<GgufFile> opened;
    double best = 1e9;
    for (int rep = 0; rep < 3; ++rep) {
        best = std::min(best, time_ms([&] { opened.emplace(GgufFile::open(dir / "vocab.gguf")); }));
    }
    std::cout << "open 150k-token vocabulary (" << opened->file_bytes() << " bytes): best of 3 " << best << " ms\n";
    EXPECT_EQ(opened->at("tokenizer.ggml.tokens").as_strings(), tokens);
    EXPECT_EQ(opened->at("tokenizer.ggml.merges").as_strings().back(), merges.back());
    EXPECT_EQ(opened->at("tokenizer.ggml.scores").as_f32s(), scores);
}

}  // namespace
}  // namespace spool::gguf
