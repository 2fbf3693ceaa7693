// llama.cpp's tokenizer test vectors (test-tokenizer-0): 46 texts per vocabulary, expected ids from the
// Hugging Face tokenizers, compared with encode(text, add_special = false, parse_special = false).
#include <gtest/gtest.h>

#include "tokenizer/vocab_files.h"

namespace spool::testing {
namespace {

constexpr std::string_view kSeparator = "\n__ggml_vocab_test__\n";

std::vector<std::string> split_cases(const std::string& inp) {
    std::vector<std::string> cases;
    size_t pos = 0;
    for (;;) {
        const size_t hit = inp.find(kSeparator, pos);
        if (hit == std::string::npos) break;
        cases.push_back(inp.substr(pos, hit - pos));
        pos = hit + kSeparator.size();
    }
    return cases;  // the remainder after the last separator is not a case
}

std::vector<std::vector<int32_t>> parse_expected(const std::string& out) {
    std::vector<std::vector<int32_t>> all;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream ids(line);
        std::vector<int32_t> row;
        int32_t id;
        while (ids >> id) row.push_back(id);
        all.push_back(std::move(row));
    }
    return all;
}

class TokenizerVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerVectors, MatchLlamaCppExactly) {
    const std::string name = GetParam();
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-" + name + ".gguf");
    const std::filesystem::path path = vocab_path(name);
    const tokenizer::Tokenizer& tok = shared_tokenizer(path);
    const std::vector<std::string> cases = split_cases(read_bytes(path.string() + ".inp"));
    const std::vector<std::vector<int32_t>> expected = parse_expected(read_bytes(path.string() + ".out"));
    ASSERT_EQ(cases.size(), 46u) << name;
    ASSERT_EQ(expected.size(), cases.size()) << name;
    int failures = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
        const std::vector<int32_t> got = tok.encode(cases[i], false, false);
        if (got != expected[i]) {
            ++failures;
            ADD_FAILURE() << name << " case " << i << " text \"" << escaped(cases[i]) << "\"\n  expected:" << ids_text(expected[i])
                          << "\n  got:     " << ids_text(got);
        }
    }
    EXPECT_EQ(failures, 0) << name << ": " << failures << " of " << cases.size() << " cases differ";
}

INSTANTIATE_TEST_SUITE_P(AllVocabs, TokenizerVectors, ::testing::ValuesIn(vocab_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string n = info.param;
                             for (char& c : n) {
                                 if (c == '-') c = '_';
                             }
                             return n;
                         });

}  // namespace
}  // namespace spool::testing
