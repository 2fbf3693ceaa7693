// Round trips on seeded random Unicode text (text -> ids -> text) and the streaming decoder on random id
// sequences, for every shared vocabulary. SPM with byte fallback and byte-level BPE lose nothing; BPE
// vocabularies with clean_spaces() give the cleaned text, as llama.cpp does.
#include <gtest/gtest.h>

#include <random>

#include "tokenizer/byte_level.h"
#include "tokenizer/clean_spaces.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_files.h"

namespace spool::testing {
namespace {

using tokenizer::Tokenizer;
using tokenizer::VocabKind;

// Random text drawn from scripts and characters that stress the pre-tokenizers: ASCII (most), whitespace of
// several kinds, Latin with accents, Greek/Cyrillic, combining marks, CJK, Hangul, emoji and any scalar value.
std::string random_text(std::mt19937& rng, size_t max_chars) {
    struct Range {
        char32_t lo, hi;
        int weight;
    };
    static const Range ranges[] = {{0x20, 0x7E, 40}, {0x09, 0x0A, 4}, {0x0D, 0x0D, 1}, {0xA0, 0x24F, 8}, {0x370, 0x4FF, 6},
                                   {0x300, 0x36F, 2}, {0x4E00, 0x9FFF, 6}, {0xAC00, 0xD7A3, 3}, {0x1F300, 0x1FAFF, 4},
                                   {0x3000, 0x3002, 1}, {0x2000, 0x206F, 2}, {0x80, 0x10FFFF, 3}};
    static const std::vector<int> weights = [] {
        std::vector<int> w;
        for (const Range& r : ranges) w.push_back(r.weight);
        return w;
    }();
    std::discrete_distribution<size_t> pick_range(weights.begin(), weights.end());
    std::uniform_int_distribution<size_t> n_chars(0, max_chars);
    std::string out;
    const size_t n = n_chars(rng);
    for (size_t i = 0; i < n; ++i) {
        const Range& r = ranges[pick_range(rng)];
        char32_t cp;
        do {
            cp = std::uniform_int_distribution<uint32_t>(r.lo, r.hi)(rng);
        } while (cp >= 0xD800 && cp <= 0xDFFF);
        tokenizer::utf8::append(out, cp);
    }
    return out;
}

// SentencePiece writes spaces as U+2581, so a U+2581 in the input comes back as a space (llama.cpp, HF alike).
std::string spm_visible_space_to_space(std::string text) {
    for (size_t pos; (pos = text.find("\xE2\x96\x81")) != std::string::npos;) text.replace(pos, 3, " ");
    return text;
}

class TokenizerRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerRoundTrip, RandomUnicodeText) {
    const std::string name = GetParam();
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-" + name + ".gguf");
    const Tokenizer& tok = shared_tokenizer(vocab_path(name));
    // Bytes without a token in a byte-level vocabulary (falcon, starcoder, refact, mpt lack some lead bytes
    // of rarely used planes) are dropped, as llama.cpp drops them; every other byte must come back.
    bool missing[256] = {};
    if (tok.kind() == VocabKind::Bpe) {
        const tokenizer::ByteLevel byte_level;
        for (int b = 0; b < 256; ++b) missing[b] = tok.find_token(byte_level.encode(static_cast<uint8_t>(b))) == tokenizer::kNoToken;
    }
    std::mt19937 rng(1234);
    int failures = 0;
    for (int trial = 0; trial < 300 && failures < 5; ++trial) {
        const std::string text = random_text(rng, 40);
        const std::vector<int32_t> ids = tok.encode(text, false, false);
        const std::string back = tok.decode(ids);
        std::string expected;
        for (char c : text) {
            if (!missing[static_cast<uint8_t>(c)]) expected.push_back(c);
        }
        if (tok.clean_spaces()) expected = tokenizer::clean_spaces(expected);
        if (tok.kind() == VocabKind::Spm) expected = spm_visible_space_to_space(expected);
        if (back != expected) {
            ++failures;
            ADD_FAILURE() << name << " trial " << trial << "\n  text: " << escaped(text) << "\n  back: " << escaped(back)
                          << "\n  ids:" << ids_text(ids);
        }
    }
}

// SPM's byte fallback carries any byte string, valid UTF-8 or not.
TEST_P(TokenizerRoundTrip, RandomBytesSpm) {
    const std::string name = GetParam();
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-" + name + ".gguf");
    const Tokenizer& tok = shared_tokenizer(vocab_path(name));
    if (tok.kind() != VocabKind::Spm) GTEST_SKIP() << "byte-level BPE reads ill-formed UTF-8 as U+FFFD, as llama.cpp";
    std::mt19937 rng(99);
    for (int trial = 0; trial < 400; ++trial) {
        std::string bytes(std::uniform_int_distribution<size_t>(0, 30)(rng), '\0');
        for (char& c : bytes) c = static_cast<char>(std::uniform_int_distribution<int>(1, 255)(rng));
        // No U+2581 (see above) and no spaces: a stray lead byte such as 0xFD claims the next 3 bytes as one
        // symbol, and if those are the U+2581 of an escaped space they come back as U+2581 (llama.cpp alike).
        if (bytes.find("\xE2\x96\x81") != std::string::npos || bytes.find(' ') != std::string::npos) continue;
        ASSERT_EQ(tok.decode(tok.encode(bytes, false, false)), bytes) << name << " bytes " << escaped(bytes);
    }
}

// Ids a stream decoder finds hard: byte tokens and pieces that are not valid UTF-8 alone, spaces and
// apostrophes (the BPE clean-up), control tokens.
std::vector<int32_t> tricky_ids(const Tokenizer& tok) {
    std::vector<int32_t> ids;
    for (int32_t id = 0; id < tok.n_vocab(); ++id) {
        const std::string& piece = tok.token_to_piece(id);
        const bool ascii_tricky = piece.size() <= 3 && piece.find_first_of(" ',.?!sm") != std::string::npos;
        if (!tokenizer::utf8::is_valid(piece) || ascii_tricky || tok.is_control(id)) ids.push_back(id);
    }
    return ids;
}

TEST_P(TokenizerRoundTrip, StreamingDecoderEqualsDecode) {
    const std::string name = GetParam();
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-" + name + ".gguf");
    const Tokenizer& tok = shared_tokenizer(vocab_path(name));
    const std::vector<int32_t> tricky = tricky_ids(tok);
    ASSERT_FALSE(tricky.empty());
    std::mt19937 rng(4321);
    std::uniform_int_distribution<int32_t> any_id(0, tok.n_vocab() - 1);
    std::uniform_int_distribution<size_t> any_tricky(0, tricky.size() - 1);
    for (int trial = 0; trial < 300; ++trial) {
        std::vector<int32_t> ids;
        if (trial % 3 == 0) {
            ids = tok.encode(random_text(rng, 30), trial % 2 == 0, false);
        } else {
            const size_t n = std::uniform_int_distribution<size_t>(0, 40)(rng);
            for (size_t i = 0; i < n; ++i) ids.push_back(rng() % 2 ? tricky[any_tricky(rng)] : any_id(rng));
        }
        for (bool unparse : {false, true}) {
            tokenizer::StreamingDecoder stream(tok, unparse);
            std::string streamed;
            for (int32_t id : ids) {
                const std::string chunk = stream.push(id);
                ASSERT_TRUE(tokenizer::utf8::is_valid(chunk)) << name << " chunk " << escaped(chunk);
                streamed += chunk;
            }
            const std::string tail = stream.flush();
            ASSERT_TRUE(tokenizer::utf8::is_valid(tail)) << name << " tail " << escaped(tail);
            streamed += tail;
            ASSERT_EQ(streamed, tokenizer::utf8::sanitize(tok.decode(ids, false, unparse)))
                << name << " trial " << trial << " unparse " << unparse << " ids:" << ids_text(ids);
        }
    }
}

// Continuing after a prompt: pieces come out verbatim (the leading space of the first one is kept).
TEST_P(TokenizerRoundTrip, StreamingContinuationKeepsFirstSpace) {
    const std::string name = GetParam();
    SPOOL_REQUIRE_SHARED("reference/tokenizer/ggml-vocab-" + name + ".gguf");
    const Tokenizer& tok = shared_tokenizer(vocab_path(name));
    const std::vector<int32_t> ids = tok.encode("Hello world, it's me", false, false);
    tokenizer::StreamingDecoder stream(tok, false, /*at_text_start=*/false);
    std::string streamed, pieces;
    for (int32_t id : ids) {
        streamed += stream.push(id);
        pieces += tok.token_to_piece(id, false);
    }
    streamed += stream.flush();
    EXPECT_EQ(streamed, tok.clean_spaces() ? tokenizer::clean_spaces(pieces) : pieces);
    if (tok.add_space_prefix()) {
        EXPECT_EQ(streamed, " Hello world, it's me");
    }
}

INSTANTIATE_TEST_SUITE_P(AllVocabs, TokenizerRoundTrip, ::testing::ValuesIn(vocab_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string n = info.param;
                             for (char& c : n) {
                                 if (c == '-') c = '_';
                             }
                             return n;
                         });

}  // namespace
}  // namespace spool::testing
