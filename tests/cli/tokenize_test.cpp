// `spool tokenize`: ids, pieces and JSON output on a vocabulary-only GGUF, BOS control, -f reads bytes exactly,
// and clear usage errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "cli_run.h"
#include "test_support.h"

namespace spool::testing {
namespace {

std::string llama_vocab() { return (shared_dir() / "reference/tokenizer/ggml-vocab-llama-spm.gguf").string(); }

TEST(CliTokenize, IdsMatchTheReferenceVocabulary) {
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-llama-spm.gguf");
    // "Hello world" -> 15043 3186 for llama-spm (../shared/reference/README.md section 7), BOS 1 first.
    CliResult r = run_spool({"tokenize", "-m", llama_vocab(), "-p", "Hello world", "--ids"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out, "[1, 15043, 3186]\n");
    r = run_spool({"tokenize", "-m", llama_vocab(), "-p", "Hello world", "--ids", "--no-bos"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out, "[15043, 3186]\n");
}

TEST(CliTokenize, JsonAndFileInputAgree) {
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-llama-spm.gguf");
    ScratchDir dir;
    const std::string text = "The quick brown fox jumps over the lazy dog.";
    std::ofstream(dir / "prompt.txt", std::ios::binary) << text;
    const CliResult from_file = run_spool({"tokenize", "-m", llama_vocab(), "-f", dir / "prompt.txt", "--json"});
    ASSERT_EQ(from_file.exit_code, 0) << describe(from_file);
    const auto j = nlohmann::json::parse(from_file.out);
    // Prompt 0 of ../shared/reference/prompts.json.
    const std::vector<int> expected = {1, 450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366, 11203, 29889};
    EXPECT_EQ(j.at("ids").get<std::vector<int>>(), expected);
    EXPECT_EQ(j.at("pieces").size(), expected.size());
    const CliResult from_text = run_spool({"tokenize", "-m", llama_vocab(), "-p", text, "--json"});
    EXPECT_EQ(from_text.out, from_file.out);
}

TEST(CliTokenize, UsageErrorsAreClear) {
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-llama-spm.gguf");
    CliResult r = run_spool({"tokenize", "-m", llama_vocab()});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("-p"), std::string::npos) << describe(r);
    r = run_spool({"tokenize", "-m", "/nonexistent/model.gguf", "-p", "x"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("/nonexistent/model.gguf"), std::string::npos) << describe(r);
}

}  // namespace
}  // namespace spool::testing
