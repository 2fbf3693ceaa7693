// `spool synth`: the test shapes load with llama.cpp's tensor list and metadata, hold non-zero values with the
// intended scale, are reproducible from the seed whatever the thread count, and errors are clear.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

#include "cli_run.h"
#include "gguf/file.h"
#include "model/shapes.h"
#include "quant/mixtures.h"
#include "test_support.h"

namespace spool::testing {
namespace {

std::string spm_vocab() { return (shared_dir() / "reference/tokenizer/ggml-vocab-llama-spm.gguf").string(); }

struct Stats {
    double mean = 0, std_dev = 0, zero_fraction = 0;
};
Stats stats_of(const std::vector<float>& v) {
    double sum = 0, sum_sq = 0;
    size_t zeros = 0;
    for (float x : v) {
        sum += x;
        sum_sq += double(x) * x;
        zeros += x == 0.0f;
    }
    const double n = static_cast<double>(v.size());
    Stats s;
    s.mean = sum / n;
    s.std_dev = std::sqrt(std::max(0.0, sum_sq / n - s.mean * s.mean));
    s.zero_fraction = zeros / n;
    return s;
}

TEST(CliSynth, TestTinyHasTheShapesTensorsAndValues) {
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-llama-spm.gguf");
    ScratchDir dir;
    const std::string out = dir / "tiny.gguf";
    const CliResult r = run_spool({"synth", "--shape", "test-tiny", "--vocab", spm_vocab(), "-o", out, "--seed", "7"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find("wrote"), std::string::npos) << describe(r);

    const auto f = gguf::GgufFile::open(out);
    const model::ModelShape& shape = *model::find_shape("test-tiny");
    const auto specs = model::tensor_specs(shape, 32000);
    ASSERT_EQ(f.tensors().size(), specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
        const gguf::TensorInfo& t = f.tensors()[i];
        EXPECT_EQ(t.name, specs[i].name);
        EXPECT_EQ(t.ne, specs[i].ne) << t.name;
        EXPECT_EQ(type_name(t.type), specs[i].ne.size() == 1 ? "F32" : "F16") << t.name;
    }
    EXPECT_EQ(f.architecture(), "llama");
    EXPECT_EQ(f.get_u64("llama.embedding_length", 0), 256u);
    EXPECT_EQ(f.get_u64("llama.block_count", 0), 2u);
    EXPECT_EQ(f.get_u64("llama.attention.head_count_kv", 0), 2u);
    EXPECT_EQ(f.get_u64("llama.rope.dimension_count", 0), 64u);
    EXPECT_EQ(f.get_f64("llama.rope.freq_base", 0), 500000.0);
    EXPECT_EQ(f.get_u64("llama.vocab_size", 0), 32000u);
    EXPECT_EQ(f.get_u64("general.file_type", 0), 1u);
    // Every tokenizer key of the vocab file, unchanged.
    const auto vocab = gguf::GgufFile::open(spm_vocab());
    int tokenizer_keys = 0;
    for (const auto& [key, value] : vocab.metadata()) {
        if (key.rfind("tokenizer.", 0) != 0) continue;
        ++tokenizer_keys;
        ASSERT_NE(f.find(key), nullptr) << key;
        EXPECT_EQ(f.find(key)->to_display(1u << 20), value.to_display(1u << 20)) << key;
    }
    EXPECT_EQ(tokenizer_keys, 10);

    // Values: non-zero, with the intended mean and spread.
    for (const gguf::TensorInfo& t : f.tensors()) {
        const std::vector<float> v = tensor_floats(t);
        const Stats s = stats_of(v);
        SCOPED_TRACE(t.name);
        if (t.name == "rope_freqs.weight") {
            EXPECT_EQ(v, model::llama3_rope_factors(shape));
            continue;
        }
        double want_mean = 0, want_std = 1.0 / std::sqrt(double(t.ne[0]));
        if (t.name == "token_embd.weight") want_std = 0.02;
        if (t.name.find("norm") != std::string::npos) want_mean = 1, want_std = 0.1;
        const double n = static_cast<double>(v.size());
        EXPECT_LT(s.zero_fraction, 1e-3);
        EXPECT_NEAR(s.mean, want_mean, 5 * want_std / std::sqrt(n) + 1e-6);
        EXPECT_NEAR(s.std_dev, want_std, want_std * (n > 10000 ? 0.02 : 0.2));
    }

    // inspect reads it like any other model.
    const CliResult inspect = run_spool({"inspect", "--json", out});
    ASSERT_EQ(inspect.exit_code, 0) << describe(inspect);
    const auto j = nlohmann::json::parse(inspect.out);
    EXPECT_EQ(j["tensors"].size(), specs.size());
    EXPECT_EQ(j["totals"]["n_params"].get<int64_t>(), model::parameter_count(shape, 32000));
}

TEST(CliSynth, SameSeedSameBytesForAnyThreadCount) {
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-llama-spm.gguf");
    ScratchDir dir;
    auto synth = [&](const std::string& name, const std::string& seed, const std::string& threads) {
        const CliResult r = run_spool({"synth", "-q", "--shape", "test-tiny", "--vocab", spm_vocab(), "-o",
                                       dir / name, "--seed", seed, "-t", threads});
        EXPECT_EQ(r.exit_code, 0) << describe(r);
        return read_text(dir / name);
    };
    const std::string a = synth("a.gguf", "3", "1");
    const std::string b = synth("b.gguf", "3", "3");
    const std::string c = synth("c.gguf", "4", "2");
    EXPECT_TRUE(a == b) << "-t changed the bytes";
    ASSERT_EQ(a.size(), c.size());
    EXPECT_FALSE(a == c) << "--seed changed nothing";
}

// A qwen2 shape with rows of 192 as Q4_K_M: biases, a tied embedding and llama.cpp's fallbacks; and the same
// seed gives the same underlying weights as the F16 model.
TEST(CliSynth, QuantizedQwen2ShapeUsesMixtureAndSameWeights) {
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-llama-spm.gguf");
    ScratchDir dir;
    for (const char* type : {"Q4_K_M", "F16"}) {
        const CliResult r = run_spool({"synth", "--shape", "test-tiny-qwen2", "--type", type, "--vocab", spm_vocab(),
                                       "-o", dir / (std::string(type) + ".gguf"), "-t", "2"});
        ASSERT_EQ(r.exit_code, 0) << describe(r);
        if (std::string(type) == "Q4_K_M") EXPECT_NE(r.out.find("compatible types"), std::string::npos) << r.out;
    }
    const auto q = gguf::GgufFile::open(dir / "Q4_K_M.gguf");
    const auto f16 = gguf::GgufFile::open(dir / "F16.gguf");
    EXPECT_EQ(q.architecture(), "qwen2");
    EXPECT_EQ(q.get_u64("general.file_type", 0), 15u);
    EXPECT_EQ(q.find_tensor("output.weight"), nullptr) << "tied";
    EXPECT_EQ(type_name(q.tensor("token_embd.weight").type), "Q8_0");
    EXPECT_EQ(type_name(q.tensor("blk.0.attn_q.weight").type), "Q5_0");
    EXPECT_EQ(type_name(q.tensor("blk.1.attn_v.weight").type), "Q8_0");
    EXPECT_EQ(type_name(q.tensor("blk.0.ffn_down.weight").type), "Q4_K");
    EXPECT_EQ(type_name(q.tensor("blk.1.ffn_down.weight").type), "Q6_K");
    EXPECT_EQ(type_name(q.tensor("blk.0.attn_k.bias").type), "F32");
    for (const char* name : {"blk.0.attn_q.weight", "blk.1.ffn_down.weight", "token_embd.weight"}) {
        const std::vector<float> a = tensor_floats(q.tensor(name));
        const std::vector<float> b = tensor_floats(f16.tensor(name));
        const Comparison c = compare(std::span<const float>(b), std::span<const float>(a));
        const Stats s = stats_of(b);
        EXPECT_LT(c.rmse, 0.1 * s.std_dev) << name << ": " << c.report();
    }
}

TEST(CliSynth, NVocabPadsTheVocabulary) {
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-llama-spm.gguf");
    ScratchDir dir;
    const CliResult r = run_spool({"synth", "--shape", "test-tiny", "--vocab", spm_vocab(), "-o", dir / "p.gguf",
                                   "--n-vocab", "32016"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find("note: n_vocab is 32016"), std::string::npos) << r.out;
    const auto f = gguf::GgufFile::open(dir / "p.gguf");
    const auto& tokens = f.at("tokenizer.ggml.tokens").as_strings();
    ASSERT_EQ(tokens.size(), 32016u);
    EXPECT_EQ(tokens.back(), "[PAD32015]");
    EXPECT_EQ(f.at("tokenizer.ggml.scores").as_f32s().size(), 32016u);
    EXPECT_EQ(f.at("tokenizer.ggml.token_type").as_i64s().back(), 5);
    EXPECT_EQ(f.tensor("token_embd.weight").ne[1], 32016);
    EXPECT_EQ(f.get_u64("llama.vocab_size", 0), 32016u);

    const CliResult smaller = run_spool({"synth", "--shape", "test-tiny", "--vocab", spm_vocab(), "-o",
                                         dir / "s.gguf", "--n-vocab", "1000"});
    EXPECT_EQ(smaller.exit_code, 2) << describe(smaller);
    EXPECT_NE(smaller.err.find("never cuts"), std::string::npos) << describe(smaller);
}

TEST(CliSynth, ListsShapesAndRejectsBadArguments) {
    const CliResult list = run_spool({"synth", "--list-shapes"});
    ASSERT_EQ(list.exit_code, 0) << describe(list);
    for (const model::ModelShape& s : model::all_shapes()) {
        EXPECT_NE(list.out.find(std::string(s.name)), std::string::npos) << s.name;
    }
    ScratchDir dir;
    const std::string vocab = spm_vocab();
    const CliResult shape = run_spool({"synth", "--shape", "llama9-1t", "--vocab", vocab, "-o", dir / "x.gguf"});
    EXPECT_EQ(shape.exit_code, 2) << describe(shape);
    EXPECT_NE(shape.err.find("llama2-7b"), std::string::npos) << "lists the known shapes: " << describe(shape);

    const CliResult type = run_spool({"synth", "--shape", "test-tiny", "--type", "Q9", "--vocab", vocab, "-o",
                                      dir / "x.gguf"});
    EXPECT_EQ(type.exit_code, 2) << describe(type);
    EXPECT_NE(type.err.find("Q4_K_M"), std::string::npos) << describe(type);

    const CliResult no_vocab = run_spool({"synth", "--shape", "test-tiny", "-o", dir / "x.gguf"});
    EXPECT_EQ(no_vocab.exit_code, 2) << describe(no_vocab);
    EXPECT_NE(no_vocab.err.find("--vocab"), std::string::npos) << describe(no_vocab);
    EXPECT_FALSE(std::filesystem::exists(dir / "x.gguf"));
}

}  // namespace
}  // namespace spool::testing
