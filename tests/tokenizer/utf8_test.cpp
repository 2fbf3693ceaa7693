// UTF-8 checks, the GPT-2 byte alphabet and the BPE space clean-up, on cases with known answers
// (Python's bytes.decode('utf-8', 'replace') for the U+FFFD substitutions).
#include <gtest/gtest.h>

#include <random>

#include "tokenizer/byte_level.h"
#include "tokenizer/clean_spaces.h"
#include "tokenizer/utf8.h"

namespace spool::tokenizer {
namespace {

const std::string kR = "\xEF\xBF\xBD";

TEST(Utf8, SanitizeReplacesMaximalSubparts) {
    EXPECT_EQ(utf8::sanitize("\xE2\x82"), kR);                    // truncated 3-byte sequence: one U+FFFD
    EXPECT_EQ(utf8::sanitize("\xED\xA0\x80"), kR + kR + kR);      // surrogate: each byte
    EXPECT_EQ(utf8::sanitize("\xF0\x80\x80"), kR + kR + kR);      // overlong
    EXPECT_EQ(utf8::sanitize("\xC0\x80"), kR + kR);
    EXPECT_EQ(utf8::sanitize("a\xE2\x82" "b"), "a" + kR + "b");
    EXPECT_EQ(utf8::sanitize("\xF4\x90\x80\x80"), kR + kR + kR + kR);  // above U+10FFFF
    EXPECT_EQ(utf8::sanitize("\xF0\x9F\x98"), kR);
    EXPECT_EQ(utf8::sanitize("\xE2\x82\xAC"), "\xE2\x82\xAC");
    EXPECT_EQ(utf8::sanitize("\xFF\xFE"), kR + kR);
    EXPECT_EQ(utf8::sanitize_per_byte("\xE2\x82" "b"), kR + kR + "b");
}

TEST(Utf8, ExamineReportsTruncation) {
    const utf8::Sequence s = utf8::examine("\xF0\x9F\x98", 0);
    EXPECT_EQ(s.check, utf8::Check::Truncated);
    EXPECT_EQ(s.length, 3u);
    const utf8::Sequence v = utf8::examine("\xF0\x9F\x98\x8A", 0);
    EXPECT_EQ(v.check, utf8::Check::Valid);
    EXPECT_EQ(v.codepoint, 0x1F60Au);
    EXPECT_TRUE(utf8::is_valid("h\xC3\xA9llo \xE4\xB8\x96"));
    EXPECT_FALSE(utf8::is_valid("\x80"));
}

TEST(Utf8, AppendRoundTripsEveryScalarValue) {
    for (char32_t cp = 1; cp <= 0x10FFFF; cp += (cp < 0x800 ? 1 : 37)) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        std::string s;
        utf8::append(s, cp);
        const utf8::Sequence seq = utf8::examine(s, 0);
        ASSERT_EQ(seq.check, utf8::Check::Valid) << std::hex << static_cast<uint32_t>(cp);
        ASSERT_EQ(seq.codepoint, cp);
        ASSERT_EQ(seq.length, s.size());
    }
}

TEST(ByteLevel, Gpt2Alphabet) {
    const ByteLevel bl;
    EXPECT_EQ(bl.encode(' '), "\xC4\xA0");   // U+0120 'Ġ'
    EXPECT_EQ(bl.encode('\n'), "\xC4\x8A");  // U+010A 'Ċ'
    EXPECT_EQ(bl.encode('A'), "A");
    EXPECT_EQ(bl.encode(0xE9), "\xC3\xA9");  // 'é' maps to itself
    EXPECT_EQ(bl.encode(0xAD), "\xC5\x83");  // soft hyphen is the last of the 68 moved bytes: U+0143
    EXPECT_EQ(bl.encode(0x00), "\xC4\x80");  // U+0100
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    std::string encoded;
    bl.encode(all, encoded);
    EXPECT_EQ(bl.decode(encoded), all);
    EXPECT_EQ(bl.decode("\xE2\x82\xAC"), "\xE2\x82\xAC");  // outside the alphabet: passed through
}

TEST(CleanSpaces, KnownCases) {
    EXPECT_EQ(clean_spaces("Hello , world !"), "Hello, world!");
    EXPECT_EQ(clean_spaces("a . b ? c"), "a. b? c");
    EXPECT_EQ(clean_spaces("it 's"), "it's");
    EXPECT_EQ(clean_spaces("I 'm you 're we 've"), "I'm you're we've");
    EXPECT_EQ(clean_spaces("don 't I 'd we 'll"), "don 't I 'd we 'll");
    EXPECT_EQ(clean_spaces("a ' b"), "a'b");
    EXPECT_EQ(clean_spaces("a ' ' b"), "a'' b");  // the second apostrophe sees the skipped byte, not a space
    EXPECT_EQ(clean_spaces(" ,x"), ",x");
    EXPECT_EQ(clean_spaces("  ,"), " ,");
    EXPECT_EQ(clean_spaces("'s"), "'s");
    EXPECT_EQ(clean_spaces(""), "");
}

// Cutting at clean_spaces_stable_prefix never changes the result, whatever follows.
TEST(CleanSpaces, StablePrefixIsSafeForAnyContinuation) {
    // Spaces and apostrophes weigh most: the rules need runs like "  ' re" to span the cut.
    const std::string alphabet = "   '''smrevtld,.?!a";
    std::mt19937 rng(20250220);
    std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1), len(0, 14);
    auto random_text = [&] {
        std::string s(len(rng), ' ');
        for (char& c : s) c = alphabet[pick(rng)];
        return s;
    };
    for (int trial = 0; trial < 30000; ++trial) {
        const std::string head = random_text(), tail = random_text();
        const size_t cut = clean_spaces_stable_prefix(head);
        ASSERT_LE(cut, head.size());
        const std::string joined = clean_spaces(head.substr(0, cut)) + clean_spaces(head.substr(cut) + tail);
        ASSERT_EQ(joined, clean_spaces(head + tail)) << "head \"" << head << "\" cut " << cut << " tail \"" << tail << "\"";
    }
}

// Every head of up to 5 bytes over the bytes the rules care about, with every tail of up to 2.
TEST(CleanSpaces, StablePrefixExhaustiveSmall) {
    const std::string alphabet = " 'res,";
    std::vector<std::string> heads{""}, tails{""};
    for (size_t n = 0, begin = 0; n < 5; ++n) {
        const size_t end = heads.size();
        for (size_t i = begin; i < end; ++i) {
            for (char c : alphabet) heads.push_back(heads[i] + c);
        }
        begin = end;
        if (n < 2) tails.assign(heads.begin(), heads.end());
    }
    EXPECT_EQ(clean_spaces("a  ' re"), "a're");
    for (const std::string& head : heads) {
        const size_t cut = clean_spaces_stable_prefix(head);
        const std::string left = clean_spaces(head.substr(0, cut));
        for (const std::string& tail : tails) {
            ASSERT_EQ(left + clean_spaces(head.substr(cut) + tail), clean_spaces(head + tail))
                << "head \"" << head << "\" cut " << cut << " tail \"" << tail << "\"";
        }
    }
}

}  // namespace
}  // namespace spool::tokenizer
