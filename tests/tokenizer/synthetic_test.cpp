// Small vocabularies written with GgufWriter: merge order by score (SPM) and by rank (BPE), byte fallback,
// special-token matching, end-of-generation detection, and the errors for vocabularies spool rejects.
#include <gtest/gtest.h>

#include "gguf/file.h"
#include "gguf/writer.h"
#include "spool/errors.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace spool::tokenizer {
namespace {

using gguf::Array;
using gguf::Value;
using gguf::ValueType;

const std::string kSp = "\xE2\x96\x81";  // U+2581
const std::string kG = "\xC4\xA0";       // GPT-2's stand-in for a space

struct VocabSpec {
    std::string model = "llama";
    std::string pre;
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;
    std::vector<std::string> merges;
    std::vector<std::pair<std::string, Value>> extra;
};

// Builds the GGUF in memory and the tokenizer from it (the file may go away afterwards).
Tokenizer build(const VocabSpec& spec) {
    gguf::GgufWriter writer;
    writer.set("general.architecture", Value(std::string("llama")));
    writer.set("tokenizer.ggml.model", Value(spec.model));
    if (!spec.pre.empty()) writer.set("tokenizer.ggml.pre", Value(spec.pre));
    if (!spec.tokens.empty()) writer.set("tokenizer.ggml.tokens", Value(Array{ValueType::STRING, spec.tokens}));
    if (!spec.scores.empty()) writer.set("tokenizer.ggml.scores", Value(Array{ValueType::FLOAT32, spec.scores}));
    if (!spec.types.empty()) writer.set("tokenizer.ggml.token_type", Value(Array{ValueType::INT32, spec.types}));
    if (!spec.merges.empty()) writer.set("tokenizer.ggml.merges", Value(Array{ValueType::STRING, spec.merges}));
    for (const auto& [key, value] : spec.extra) writer.set(key, value);
    const std::vector<uint8_t> bytes = writer.to_bytes([](size_t, uint8_t*, size_t) {});
    const gguf::GgufFile file = gguf::GgufFile::parse(bytes.data(), bytes.size(), "synthetic.gguf");
    return Tokenizer(file);
}

// <unk> <s> </s> ▁ a b c ab bc ▁a ; scores decide which pair merges first.
VocabSpec spm_spec(float ab, float bc, float sp_a) {
    VocabSpec s;
    s.tokens = {"<unk>", "<s>", "</s>", kSp, "a", "b", "c", "ab", "bc", kSp + "a", "<0xC3>", "<0xA9>", "<|x|>"};
    s.scores = {0, 0, 0, -1, -1, -1, -1, ab, bc, sp_a, 0, 0, 0};
    s.types = {2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 6, 6, 3};
    return s;
}

TEST(SyntheticSpm, HighestScoreMergesFirst) {
    // "abc" is "▁abc": bc beats ab, so a stays free to join ▁.
    EXPECT_EQ(build(spm_spec(-5, -2, -3)).encode("abc", false), (std::vector<int32_t>{9, 8}));
    // ab beats bc and ▁a: ▁ and c stay alone.
    EXPECT_EQ(build(spm_spec(-1, -2, -3)).encode("abc", false), (std::vector<int32_t>{3, 7, 6}));
    // Equal scores: the leftmost pair first (▁a), then bc.
    EXPECT_EQ(build(spm_spec(-2, -2, -2)).encode("abc", false), (std::vector<int32_t>{9, 8}));
}

TEST(SyntheticSpm, BosSpacePrefixByteFallbackAndDecode) {
    const Tokenizer tok = build(spm_spec(-5, -2, -3));
    EXPECT_EQ(tok.encode("", true), (std::vector<int32_t>{1}));
    EXPECT_EQ(tok.encode("", false), (std::vector<int32_t>{}));
    EXPECT_EQ(tok.encode("a\xC3\xA9", true), (std::vector<int32_t>{1, 9, 10, 11}));  // é through <0xC3><0xA9>
    EXPECT_EQ(tok.encode("d", false), (std::vector<int32_t>{3, 0}));  // no token, no byte token: <unk>
    EXPECT_EQ(tok.decode(std::vector<int32_t>{9, 8}), "abc");         // leading space of the first piece dropped
    EXPECT_EQ(tok.decode(std::vector<int32_t>{1, 9, 8}, true), " abc");  // ... unless a BOS was removed
    EXPECT_EQ(tok.decode(std::vector<int32_t>{1, 9, 8}), " abc");        // BOS's empty piece used up the strip
    EXPECT_EQ(tok.decode(std::vector<int32_t>{1, 9, 8}, false, true), "<s> abc");
    EXPECT_EQ(tok.decode(std::vector<int32_t>{9, 10, 11}), "a\xC3\xA9");
}

TEST(SyntheticSpm, SpecialTokensOnlyWithParseSpecial) {
    const Tokenizer tok = build(spm_spec(-5, -2, -3));
    // Parsed: <|x|> is one token and the text after it gets the space prefix again.
    EXPECT_EQ(tok.encode("a<|x|>a", false, true), (std::vector<int32_t>{9, 12, 9}));
    EXPECT_EQ(tok.encode("<s>a", false, true), (std::vector<int32_t>{1, 9}));
    // Not parsed: plain text (here mostly <unk> for the characters this vocabulary lacks).
    const std::vector<int32_t> plain = tok.encode("a<|x|>a", false, false);
    EXPECT_EQ(std::count(plain.begin(), plain.end(), 12), 0);
}

VocabSpec bpe_spec(std::vector<std::string> merges) {
    VocabSpec s;
    s.model = "gpt2";
    s.pre = "gpt-2";
    s.tokens = {"a", "b", "c", kG, "ab", "bc", "abc", kG + "a", "<|endoftext|>", "<|im_end|>"};
    s.types = {1, 1, 1, 1, 1, 1, 1, 1, 3, 1};
    s.merges = std::move(merges);
    return s;
}

TEST(SyntheticBpe, LowestRankMergesFirst) {
    EXPECT_EQ(build(bpe_spec({"a b", "ab c", "b c"})).encode("abc", false), (std::vector<int32_t>{6}));
    EXPECT_EQ(build(bpe_spec({"b c", "a b", "ab c"})).encode("abc", false), (std::vector<int32_t>{0, 5}));
    // GPT-2 split: "abc", " ab". In " ab" a+b (rank 0) goes first and Ġ stays alone; with Ġ+a first, b does.
    EXPECT_EQ(build(bpe_spec({"a b", "ab c", kG + " a"})).encode("abc ab", false), (std::vector<int32_t>{6, 3, 4}));
    EXPECT_EQ(build(bpe_spec({kG + " a", "a b", "ab c"})).encode("abc ab", false), (std::vector<int32_t>{6, 7, 1}));
    EXPECT_EQ(build(bpe_spec({"a b"})).decode(std::vector<int32_t>{7, 1, 3, 4}), " ab ab");
}

TEST(SyntheticBpe, SpecialTokensAndEndOfGeneration) {
    const Tokenizer tok = build(bpe_spec({"a b"}));
    EXPECT_EQ(tok.encode("a<|endoftext|>", false, true), (std::vector<int32_t>{0, 8}));
    EXPECT_EQ(tok.bos(), tokenizer::kNoToken);  // gpt2's default 11 does not exist in this vocabulary
    EXPECT_FALSE(tok.add_bos());
    // <|im_end|> is stored as normal but looks like control: it becomes control and ends generation.
    EXPECT_TRUE(tok.is_control(9));
    EXPECT_TRUE(tok.is_eog(9));
    EXPECT_TRUE(tok.is_eog(8));
    EXPECT_EQ(tok.eot(), 9);  // first match in llama.cpp's list: <|im_end|> before <|endoftext|>
    EXPECT_EQ(tok.token_to_piece(8, false), "");
    EXPECT_EQ(tok.token_to_piece(8), "<|endoftext|>");
}

TEST(SyntheticErrors, UnsupportedModelsNameThemselvesAndTheSupportedOnes) {
    for (const char* model : {"rwkv", "bert", "t5", "no_vocab", "mystery"}) {
        VocabSpec s = spm_spec(-1, -1, -1);
        s.model = model;
        try {
            build(s);
            ADD_FAILURE() << model << " was accepted";
        } catch (const UnsupportedError& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find(std::string("'") + model), std::string::npos) << what;
            EXPECT_NE(what.find("supported: llama"), std::string::npos) << what;
        }
    }
    VocabSpec s = bpe_spec({"a b"});
    s.pre = "not-a-pre";
    try {
        build(s);
        ADD_FAILURE() << "unknown pre accepted";
    } catch (const UnsupportedError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("'not-a-pre'"), std::string::npos) << what;
        EXPECT_NE(what.find("deepseek-coder"), std::string::npos) << what;
        EXPECT_NE(what.find("qwen2"), std::string::npos) << what;
    }
}

TEST(SyntheticErrors, InconsistentMetadataIsAFormatError) {
    VocabSpec no_tokens = spm_spec(-1, -1, -1);
    no_tokens.tokens.clear();
    no_tokens.scores.clear();
    no_tokens.types.clear();
    EXPECT_THROW(build(no_tokens), FormatError);
    VocabSpec short_scores = spm_spec(-1, -1, -1);
    short_scores.scores.pop_back();
    EXPECT_THROW(build(short_scores), FormatError);
    VocabSpec bad_bos = spm_spec(-1, -1, -1);
    bad_bos.extra.push_back({"tokenizer.ggml.bos_token_id", Value(uint32_t{1000})});
    EXPECT_THROW(build(bad_bos), FormatError);
    VocabSpec no_merges = bpe_spec({});
    EXPECT_THROW(build(no_merges), FormatError);
    VocabSpec bad_merge = bpe_spec({"ab"});
    EXPECT_THROW(build(bad_merge), FormatError);
    VocabSpec bos_needed = bpe_spec({"a b"});
    bos_needed.extra.push_back({"tokenizer.ggml.add_bos_token", Value(true)});
    EXPECT_THROW(build(bos_needed), FormatError);
}

// Every pre-tokenizer in the table compiles on ICU and its pieces cover the text exactly.
TEST(SyntheticBpe, EveryPreTokenizerCompilesAndCovers) {
    const std::string text = "Hello, world! It's 2025: caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87  \t\n x=1+2; <sentinel:3> IMGIMGAZ \xF0\x9F\x98\x8A";
    int n = 0;
    for (const char* pre : {"default", "llama3", "llama-bpe", "dbrx", "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon",
                            "starcoder", "refact", "command-r", "smollm", "gpt-2", "mpt", "qwen2", "stablelm2", "poro-chat",
                            "bloom", "chatglm-bpe", "viking", "tekken", "chameleon", "codeshell", "exaone", "minerva-7b", "megrez"}) {
        VocabSpec s = bpe_spec({"a b"});
        s.pre = pre;
        s.extra.push_back({"tokenizer.ggml.bos_token_id", Value(uint32_t{8})});  // llama3 & co. add a BOS
        const Tokenizer tok = build(s);
        // Encoding does not throw; bytes this toy vocabulary lacks are dropped.
        EXPECT_NO_THROW(tok.encode(text, true)) << pre;
        const std::vector<Span> spans = PreTokenizer(*find_pre_config(pre)).split(text);
        uint32_t at = 0;
        for (const Span& span : spans) {
            EXPECT_EQ(span.begin, at) << pre;
            EXPECT_LT(span.begin, span.end) << pre;
            at = span.end;
        }
        EXPECT_EQ(at, text.size()) << pre;
        ++n;
    }
    EXPECT_EQ(n, 26);
}

std::vector<std::string> pieces(std::string_view pre, std::string_view text) {
    std::vector<std::string> out;
    for (const Span& span : PreTokenizer(*find_pre_config(pre)).split(text)) out.emplace_back(text.substr(span.begin, span.end - span.begin));
    return out;
}

// Splits worked out by hand from each regex (leftmost alternative first, as Perl/ECMAScript regexes match).
TEST(PreTokenizerSplit, KnownSplits) {
    using V = std::vector<std::string>;
    EXPECT_EQ(pieces("gpt-2", "Hello world's  x"), (V{"Hello", " world", "'s", " ", " x"}));
    EXPECT_EQ(pieces("gpt-2", "a\nb 12!?"), (V{"a", "\n", "b", " 12", "!?"}));
    EXPECT_EQ(pieces("llama3", "Hello\n\n  world 12345"), (V{"Hello", "\n\n", " ", " world", " ", "123", "45"}));
    EXPECT_EQ(pieces("llama3", "I'M\tok"), (V{"I", "'M", "\tok"}));
    EXPECT_EQ(pieces("qwen2", "x 123"), (V{"x", " ", "1", "2", "3"}));
    EXPECT_EQ(pieces("starcoder", "ab12 c"), (V{"ab", "1", "2", " c"}));
    EXPECT_EQ(pieces("deepseek-coder", "ab 12\n"), (V{"ab", " ", "1", "2", "\n"}));
    // Non-ASCII letters and punctuation by Unicode category (ICU): Greek letters, an ideographic full stop.
    EXPECT_EQ(pieces("gpt-2", "\xCE\xB1\xCE\xB2 \xE3\x80\x82"), (V{"\xCE\xB1\xCE\xB2", " \xE3\x80\x82"}));
    EXPECT_EQ(pieces("default", "a+=b, 1234"), (V{"a", "+=", "b", ",", " ", "123", "4"}));
}

}  // namespace
}  // namespace spool::tokenizer
