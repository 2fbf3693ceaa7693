// Model facts from a real GGUF (the tiny model in ../shared) and the llama.cpp naming rules.
#include <gtest/gtest.h>

#include "bench/model_info.h"
#include "bench/report.h"
#include "gguf/file.h"
#include "sample_result.h"
#include "test_support.h"

namespace spool::bench {
namespace {

TEST(ModelInfo, LlamaNames) {
    EXPECT_EQ(llama_ftype_description(15), "Q4_K - Medium");
    EXPECT_EQ(llama_ftype_description(7), "Q8_0");
    EXPECT_EQ(llama_ftype_description(0), "all F32");
    EXPECT_EQ(llama_ftype_description(999), "unknown, may not work");
    EXPECT_EQ(llama_size_label("llama", 22, 2048, 32000, 32, 4), "1B");   // TinyLlama 1.1B
    EXPECT_EQ(llama_size_label("llama", 32, 4096, 32000, 32, 32), "7B");
    EXPECT_EQ(llama_size_label("llama", 32, 4096, 128256, 32, 8), "8B");
    EXPECT_EQ(llama_size_label("llama", 80, 8192, 32000, 64, 8), "70B");
    EXPECT_EQ(llama_size_label("llama", 4, 256, 32000, 8, 4), "?B");
    EXPECT_EQ(llama_size_label("qwen2", 24, 896, 151936, 14, 2), "1B");
    EXPECT_EQ(llama_size_label("rwkv7", 24, 2048, 65536, 0, 0), "?B");
}

TEST(ModelInfo, TinyModel) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-Q8_0.gguf");
    const auto path = ::spool::testing::shared_dir() / "models/tiny/tiny-Q8_0.gguf";
    const gguf::GgufFile f = gguf::GgufFile::open(path);
    const ModelInfo m = describe_model(f);
    EXPECT_EQ(m.file_name, "tiny-Q8_0.gguf");
    EXPECT_EQ(m.file_type, "Q8_0");
    EXPECT_EQ(m.architecture, "llama");
    EXPECT_EQ(m.n_layer, 4);
    EXPECT_EQ(m.n_embd, 256);
    EXPECT_EQ(m.n_vocab, 32000);
    EXPECT_EQ(m.file_bytes, std::filesystem::file_size(path));
    EXPECT_EQ(m.llama_model_type, "llama ?B Q8_0");
    // Parameters: embedding 256x32000, 4 layers of (2 norms 256 + q 256x256 + k,v 256x128 + o 256x256 +
    // gate, up 256x512 + down 512x256), output norm 256.
    const uint64_t per_layer = 2 * 256 + 2 * 256 * 256 + 2 * 256 * 128 + 3 * 256 * 512;
    EXPECT_EQ(m.n_params, 256ull * 32000 + 4 * per_layer + 256);
    // Tied output: the embedding is read whole for the logits, so every weight byte counts per token.
    EXPECT_EQ(m.weight_bytes_per_token, m.weight_bytes);
    EXPECT_LT(m.weight_bytes, m.file_bytes);
}

TEST(Roofline, BytesAndFractions) {
    BenchResult r = testing::sample_result();  // forward-only decode 420 tok/s mean, 2e6 weight bytes per token
    Roofline f = roofline(r);
    EXPECT_NEAR(f.decode_gb_s, 420 * 2e6 / 1e9, 1e-12);
    EXPECT_FALSE(f.decode_fraction);
    r.bandwidth = Bandwidth{1.0, "user"};  // 1 GB/s -> roofline 500 tok/s
    f = roofline(r);
    ASSERT_TRUE(f.decode_roofline_tok_s);
    EXPECT_NEAR(*f.decode_roofline_tok_s, 500.0, 1e-9);
    EXPECT_NEAR(*f.decode_fraction, 420.0 / 500.0, 1e-12);
    // Prefill: one chunk of weights (64 tokens <= batch 512) per mean prefill time of 58.333 ms.
    EXPECT_NEAR(f.prefill_gb_s, 2e6 / (175.0 / 3 / 1000.0) / 1e9, 1e-9);
    EXPECT_NE(format_report(r).find("roofline"), std::string::npos);
}

}  // namespace
}  // namespace spool::bench
