// The prompts and greedy continuations of ../shared/reference (README sections 3 and 4): prompt token ids
// with add_special = true, llama_detokenize(remove_special = true) of them, and the greedy tokens' pieces
// (llama_token_to_piece, special = true) and text (llama_detokenize, remove_special = false).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "spool/errors.h"
#include "tokenizer/vocab_files.h"

namespace spool::testing {
namespace {

using Json = nlohmann::json;

Json read_json(const std::filesystem::path& path) { return Json::parse(read_bytes(path)); }

std::string to_hex(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

const tokenizer::Tokenizer& tiny_tokenizer() { return shared_tokenizer(shared_dir() / "models/tiny/tiny-F32.gguf"); }

TEST(TokenizerReference, PromptsJsonTokensWithBos) {
    SPOOL_REQUIRE_SHARED("reference/prompts.json");
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    const Json prompts = read_json(shared_dir() / "reference/prompts.json");
    ASSERT_TRUE(prompts.at("add_bos").get<bool>());
    ASSERT_FALSE(prompts.at("parse_special").get<bool>());
    const tokenizer::Tokenizer& tok = tiny_tokenizer();
    ASSERT_EQ(prompts.at("prompts").size(), 8u);
    for (const Json& p : prompts.at("prompts")) {
        const std::string text = p.at("text");
        const auto expected = p.at("tokens").get<std::vector<int32_t>>();
        EXPECT_EQ(expected.size(), p.at("n_tokens").get<size_t>());
        EXPECT_EQ(tok.encode(text, true, false), expected) << "prompt " << p.at("index") << " (" << p.at("name") << ")";
    }
}

// Every tiny-<TYPE>.json: same prompt tokens, detokenized text, greedy pieces and greedy text.
TEST(TokenizerReference, TinyModelJsonFiles) {
    SPOOL_REQUIRE_SHARED("reference/tiny/tiny-F32.json");
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    const tokenizer::Tokenizer& tok = tiny_tokenizer();
    int files = 0, greedy_tokens = 0;
    for (const auto& entry : std::filesystem::directory_iterator(shared_dir() / "reference/tiny")) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("tiny-", 0) != 0 || entry.path().extension() != ".json") continue;
        ++files;
        const Json ref = read_json(entry.path());
        for (const Json& p : ref.at("prompts")) {
            const std::string where = name + " prompt " + std::to_string(p.at("index").get<int>());
            const auto tokens = p.at("tokens").get<std::vector<int32_t>>();
            EXPECT_EQ(tok.encode(p.at("text").get<std::string>(), true, false), tokens) << where;
            EXPECT_EQ(tok.decode(tokens, true, false), p.at("detok_remove_special").get<std::string>()) << where;

            const Json& greedy = p.at("greedy");
            const auto greedy_ids = greedy.at("tokens").get<std::vector<int32_t>>();
            const auto pieces_hex = greedy.at("pieces_hex").get<std::vector<std::string>>();
            ASSERT_EQ(greedy_ids.size(), pieces_hex.size()) << where;
            for (size_t s = 0; s < greedy_ids.size(); ++s) {
                EXPECT_EQ(to_hex(tok.token_to_piece(greedy_ids[s])), pieces_hex[s]) << where << " greedy step " << s;
                ++greedy_tokens;
            }
            EXPECT_EQ(to_hex(tok.decode(greedy_ids, false, false)), greedy.at("text_hex").get<std::string>()) << where;
            // No end-of-generation token came up in the references (first_eog_index is -1 everywhere).
            for (int32_t id : greedy_ids) EXPECT_FALSE(tok.is_eog(id)) << where;
        }
    }
    EXPECT_GE(files, 1);
    std::printf("checked %d reference files, %d greedy pieces\n", files, greedy_tokens);
}

TEST(TokenizerReference, TinyModelSpecialTokens) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    const tokenizer::Tokenizer& tok = tiny_tokenizer();
    EXPECT_EQ(tok.n_vocab(), 32000);
    EXPECT_EQ(tok.bos(), 1);
    EXPECT_EQ(tok.eos(), 2);
    EXPECT_EQ(tok.unk(), 0);
    EXPECT_EQ(tok.eot(), tokenizer::kNoToken);
    EXPECT_TRUE(tok.add_bos());
    EXPECT_FALSE(tok.add_eos());
    EXPECT_TRUE(tok.is_eog(2));
    EXPECT_FALSE(tok.is_eog(1));
    EXPECT_EQ(tok.eog_ids(), std::vector<int32_t>{2});
    EXPECT_TRUE(tok.is_control(1));
    EXPECT_FALSE(tok.is_control(450));
    EXPECT_EQ(tok.token_type(0), tokenizer::TokenType::Unknown);
    EXPECT_EQ(tok.token_type(3), tokenizer::TokenType::Byte);
    // Pieces: control text with special = true, nothing without.
    EXPECT_EQ(tok.token_to_piece(1), "<s>");
    EXPECT_EQ(tok.token_to_piece(1, false), "");
    EXPECT_EQ(tok.token_to_piece(0, false), "");
    EXPECT_EQ(tok.token_to_piece(3 + 0x41), "A");  // <0x41>
    EXPECT_THROW(tok.token_to_piece(32000), UsageError);
    EXPECT_THROW(tok.token_to_piece(-1), UsageError);
}

}  // namespace
}  // namespace spool::testing
