// `spool inspect`: text and JSON on every tiny model, every vocabulary-only file and a split model; the JSON
// agrees with the GGUF reader; errors are one clear line with a non-zero exit code.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <string>

#include "cli_run.h"
#include "gguf/file.h"
#include "gguf/writer.h"
#include "test_support.h"

namespace spool::testing {
namespace {

using nlohmann::json;

const char* kTinyTypes[] = {"F32", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_1", "Q5_0", "Q4_K_M", "Q4_1", "Q4_0", "Q2_K"};

std::string tiny(const std::string& type) { return (shared_dir() / ("models/tiny/tiny-" + type + ".gguf")).string(); }

TEST(CliInspect, TextOnEveryTinyModel) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F16.gguf");
    for (const char* type : kTinyTypes) {
        const CliResult r = run_spool({"inspect", tiny(type)});
        ASSERT_EQ(r.exit_code, 0) << type << "\n" << describe(r);
        EXPECT_TRUE(r.err.empty()) << type << "\n" << describe(r);
        for (const char* part : {"architecture  llama", "n_embd", "n_head_kv", "norm_rms_eps", "tensors (38)",
                                 "token_embd.weight", "256 x 32000", "bits per weight", "bos / eos      1 \"<s>\""}) {
            EXPECT_NE(r.out.find(part), std::string::npos) << type << ": no '" << part << "'\n" << r.out;
        }
        const std::string file_type = std::string("file type     ") + (std::string(type) == "F32" ? "F32 (0)" : type);
        EXPECT_NE(r.out.find(file_type), std::string::npos) << type << "\n" << r.out.substr(0, 600);
    }
}

TEST(CliInspect, JsonAgreesWithTheReader) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F16.gguf");
    for (const char* type : kTinyTypes) {
        const CliResult r = run_spool({"inspect", "--json", tiny(type)});
        ASSERT_EQ(r.exit_code, 0) << describe(r);
        const json j = json::parse(r.out);
        const auto file = gguf::GgufFile::open(tiny(type));
        EXPECT_EQ(j["file_bytes"].get<uint64_t>(), file.file_bytes());
        EXPECT_EQ(j["architecture"], "llama");
        EXPECT_EQ(j["hparams"]["n_embd"], 256);
        EXPECT_EQ(j["hparams"]["n_layer"], 4);
        EXPECT_EQ(j["hparams"]["norm_rms_eps"].get<double>(), 1e-5) << "float32 values print in their shortest form";
        EXPECT_EQ(j["tokenizer"]["n_tokens"], 32000);
        ASSERT_EQ(j["tensors"].size(), file.tensors().size());
        uint64_t params = 0, bytes = 0;
        std::map<std::string, int> per_type;
        for (size_t i = 0; i < file.tensors().size(); ++i) {
            const gguf::TensorInfo& t = file.tensors()[i];
            EXPECT_EQ(j["tensors"][i]["name"], t.name);
            EXPECT_EQ(j["tensors"][i]["type"], std::string(type_name(t.type)));
            EXPECT_EQ(j["tensors"][i]["shape"].get<std::vector<int64_t>>(), t.ne);
            EXPECT_EQ(j["tensors"][i]["n_bytes"].get<uint64_t>(), t.n_bytes);
            params += t.n_elements;
            bytes += t.n_bytes;
            per_type[std::string(type_name(t.type))]++;
        }
        EXPECT_EQ(j["totals"]["n_params"].get<uint64_t>(), params);
        EXPECT_EQ(j["totals"]["tensor_bytes"].get<uint64_t>(), bytes);
        EXPECT_DOUBLE_EQ(j["totals"]["bits_per_weight"].get<double>(), 8.0 * bytes / params);
        for (const auto& [name, count] : per_type) EXPECT_EQ(j["totals"]["by_type"][name]["n_tensors"], count);
        EXPECT_EQ(j["metadata"]["general.file_type"]["value"].get<uint64_t>(), file.get_u64("general.file_type", 99));
    }
    // The table in ../shared/reference/README.md section 2.
    const json q4 = json::parse(run_spool({"inspect", "--json", tiny("Q4_K_M")}).out);
    EXPECT_EQ(q4["file_type"]["name"], "Q4_K_M");
    EXPECT_EQ(q4["totals"]["by_type"]["Q4_K"]["n_tensors"], 24);
    EXPECT_EQ(q4["totals"]["by_type"]["Q6_K"]["n_tensors"], 5);
    EXPECT_EQ(q4["totals"]["by_type"]["F32"]["n_tensors"], 9);
}

TEST(CliInspect, ArraysAreAbbreviatedUnlessAllMetadata) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-Q8_0.gguf");
    const json short_j = json::parse(run_spool({"inspect", "--json", tiny("Q8_0")}).out);
    const json& tokens = short_j["metadata"]["tokenizer.ggml.tokens"];
    EXPECT_EQ(tokens["type"], "array");
    EXPECT_EQ(tokens["element_type"], "string");
    EXPECT_EQ(tokens["length"], 32000);
    EXPECT_EQ(tokens["items"].size(), 8u);
    EXPECT_EQ(tokens["items"][1], "<s>");
    EXPECT_TRUE(tokens["abbreviated"].get<bool>());

    const json full = json::parse(run_spool({"inspect", "--json", "--all-metadata", tiny("Q8_0")}).out);
    EXPECT_EQ(full["metadata"]["tokenizer.ggml.tokens"]["items"].size(), 32000u);
    EXPECT_EQ(full["metadata"]["tokenizer.ggml.scores"]["items"].size(), 32000u);
    EXPECT_FALSE(full["metadata"]["tokenizer.ggml.tokens"]["abbreviated"].get<bool>());

    const CliResult text = run_spool({"inspect", tiny("Q8_0")});
    EXPECT_NE(text.out.find("array[string; 32000]"), std::string::npos);
    EXPECT_NE(text.out.find("... 32000 items]"), std::string::npos);
}

TEST(CliInspect, EveryVocabularyOnlyFile) {
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-llama-spm.gguf");
    // Token and merge counts from ../shared/reference/README.md section 7.
    struct Vocab { const char* name; uint64_t tokens, merges; const char* model; };
    for (const Vocab& v : {Vocab{"llama-spm", 32000, 0, "llama"}, Vocab{"phi-3", 32064, 0, "llama"},
                           Vocab{"gpt-2", 50257, 50000, "gpt2"}, Vocab{"deepseek-llm", 102400, 99757, "gpt2"},
                           Vocab{"deepseek-coder", 32256, 31757, "gpt2"}, Vocab{"falcon", 65024, 64784, "gpt2"},
                           Vocab{"starcoder", 49152, 48872, "gpt2"}, Vocab{"refact", 49216, 48891, "gpt2"},
                           Vocab{"mpt", 50432, 50009, "gpt2"}}) {
        const std::string path =
            (shared_dir() / ("reference/tokenizer/ggml-vocab-" + std::string(v.name) + ".gguf")).string();
        const CliResult text = run_spool({"inspect", path});
        ASSERT_EQ(text.exit_code, 0) << v.name << "\n" << describe(text);
        EXPECT_NE(text.out.find("none: a vocabulary-only file"), std::string::npos) << v.name;
        const CliResult r = run_spool({"inspect", "--json", path});
        ASSERT_EQ(r.exit_code, 0) << v.name << "\n" << describe(r);
        const json j = json::parse(r.out);
        EXPECT_EQ(j["tokenizer"]["n_tokens"].get<uint64_t>(), v.tokens) << v.name;
        EXPECT_EQ(j["tokenizer"]["n_merges"].get<uint64_t>(), v.merges) << v.name;
        EXPECT_EQ(j["tokenizer"]["model"], v.model) << v.name;
        EXPECT_EQ(j["hparams"]["n_vocab"].get<uint64_t>(), v.tokens) << v.name;
        EXPECT_TRUE(j["tensors"].empty());
        EXPECT_TRUE(j["totals"]["bits_per_weight"].is_null());
    }
}

// Writes tiny-F16 as a 2-part split model (llama.cpp's gguf-split layout: all metadata in part 1,
// split.* keys in both parts) and checks inspect shows one model of both parts.
TEST(CliInspect, SplitModel) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F16.gguf");
    const auto source = gguf::GgufFile::open(tiny("F16"));
    ScratchDir dir;
    const size_t n = source.tensors().size(), first_half = n / 2;
    for (uint16_t part = 0; part < 2; ++part) {
        gguf::GgufWriter w;
        if (part == 0) {
            for (const auto& [key, value] : source.metadata()) w.set(key, value);
        }
        w.set("split.no", gguf::Value(part));
        w.set("split.count", gguf::Value(uint16_t{2}));
        w.set("split.tensors.count", gguf::Value(static_cast<int32_t>(n)));
        std::vector<const gguf::TensorInfo*> mine;
        for (size_t i = part == 0 ? 0 : first_half; i < (part == 0 ? first_half : n); ++i) {
            mine.push_back(&source.tensors()[i]);
            w.add_tensor(mine.back()->name, mine.back()->type, mine.back()->ne);
        }
        w.write(dir / ("split-0000" + std::to_string(part + 1) + "-of-00002.gguf"),
                [&](size_t i, uint8_t* dst, size_t bytes) { std::memcpy(dst, mine[i]->data, bytes); });
    }
    const std::string first = dir / "split-00001-of-00002.gguf";
    const CliResult text = run_spool({"inspect", first});
    ASSERT_EQ(text.exit_code, 0) << describe(text);
    EXPECT_NE(text.out.find("2 split parts"), std::string::npos) << text.out.substr(0, 500);
    EXPECT_NE(text.out.find("tensors (38)"), std::string::npos);
    EXPECT_NE(text.out.find("part"), std::string::npos);

    const json j = json::parse(run_spool({"inspect", "--json", first}).out);
    const json whole = json::parse(run_spool({"inspect", "--json", tiny("F16")}).out);
    EXPECT_EQ(j["n_splits"], 2);
    EXPECT_EQ(j["tensors"].size(), 38u);
    EXPECT_EQ(j["tensors"][0]["split"], 0);
    EXPECT_EQ(j["tensors"][37]["split"], 1);
    EXPECT_EQ(j["totals"]["n_params"], whole["totals"]["n_params"]);
    EXPECT_EQ(j["totals"]["tensor_bytes"], whole["totals"]["tensor_bytes"]);

    // Asking for the second part points at the first.
    const CliResult second = run_spool({"inspect", dir / "split-00002-of-00002.gguf"});
    EXPECT_NE(second.exit_code, 0);
    EXPECT_NE(second.err.find("split-00001-of-00002.gguf"), std::string::npos) << describe(second);
}

TEST(CliInspect, ErrorsAreOneClearLine) {
    ScratchDir dir;
    const CliResult missing = run_spool({"inspect", dir / "no-such-model.gguf"});
    EXPECT_EQ(missing.exit_code, 1) << describe(missing);
    EXPECT_NE(missing.err.find("no-such-model.gguf"), std::string::npos) << describe(missing);
    EXPECT_TRUE(missing.out.empty());

    const std::string garbage = dir / "garbage.gguf";
    std::ofstream(garbage) << "this is not a GGUF file at all, just text";
    const CliResult bad = run_spool({"inspect", garbage});
    EXPECT_EQ(bad.exit_code, 1) << describe(bad);
    EXPECT_NE(bad.err.find("garbage.gguf"), std::string::npos) << describe(bad);
    EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << describe(bad);

    const CliResult usage = run_spool({"inspect"});
    EXPECT_NE(usage.exit_code, 0);
    EXPECT_NE(usage.err.find("FILE"), std::string::npos) << describe(usage);
}

}  // namespace
}  // namespace spool::testing
