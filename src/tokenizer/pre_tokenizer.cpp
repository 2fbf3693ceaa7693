// The pre-tokenizer table (names, regexes and llama.cpp's per-name defaults, from llama-vocab.cpp of the
// 2025-02-20 snapshot) and the split itself on ICU regexes over UTF-16. llama.cpp runs these through
// std::regex on text with each non-ASCII code point collapsed to a category byte; ICU gives the regexes their
// Hugging Face (Unicode) meaning directly. The two agree on all test vectors; they can differ where
// llama.cpp's collapse loses information, e.g. U+3000 inside DeepSeek's explicit punctuation class.
#include "tokenizer/pre_tokenizer.h"

#include <unicode/regex.h>
#include <unicode/unistr.h>

#include "spool/errors.h"
#include "tokenizer/utf8.h"

namespace spool::tokenizer {

namespace {

// GPT-2's split (also MPT, OLMo, ...): contractions, letters, digits, other runs, and whitespace that
// leaves its last character to the next piece.
constexpr std::string_view kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
// Llama 3's split, with (?i:'s|...) written out case by case as llama.cpp does (so 's and 'S, nothing more).
constexpr std::string_view kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen 2: as Llama 3 but one digit per piece.
constexpr std::string_view kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// DeepSeek LLM's cased-letter class, code point for code point as in its tokenizer.json (written as escapes
// so that no editor can normalize U+2126, U+212A, U+1FBE, ... into other characters).
constexpr std::string_view kDeepseekLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF})"
    R"(\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1})"
    R"(\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5})"
    R"(\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A})"
    R"(\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B})"
    R"(\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC})"
    R"(\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107})"
    R"(\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134})"
    R"(\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
    R"(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787})"
    R"(\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A})"
    R"(\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2})"
    R"(\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)";
// CJK ideographs (U+4E00..U+9FA5), U+0800..U+4E00 and Hangul syllables/jamo, as DeepSeek writes them.
constexpr std::string_view kDeepseekCjk = R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
constexpr std::string_view kPoro = R"( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+)";

std::vector<PreConfig> make_configs() {
    std::vector<PreConfig> c;
    // Missing tokenizer.ggml.pre falls back to "default" (llama.cpp warns that quality may suffer).
    c.push_back({{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", R"([0-9][0-9][0-9])"}});
    c.push_back({{"llama3", "llama-v3", "llama-bpe", "falcon3"}, {kLlama3}, true, true, true});
    c.push_back({{"dbrx", "smaug-bpe"}, {kLlama3}});
    c.push_back({{"deepseek-llm"},
                 {R"([\r\n])", kDeepseekLetters, R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)",
                  R"(\s+$)", kDeepseekCjk, R"(\p{N}+)"},
                 false});
    c.push_back({{"deepseek-coder"}, {R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepseekCjk, R"(\p{N})"}, false});
    c.push_back({{"deepseek-v3"},
                 {R"(\p{N}{1,3})", R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)",
                  R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
                 false});
    c.push_back({{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, R"([0-9][0-9][0-9])"}});
    c.push_back({{"starcoder", "refact", "codeshell", "exaone", "minerva-7b"}, {R"(\p{N})", kGpt2}});
    c.push_back({{"command-r", "smollm"}, {R"(\p{N})", kGpt2}, false});
    c.push_back({{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de",
                  "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais"},
                 {kGpt2}});
    c.push_back({{"qwen2"}, {kQwen2}, false});
    c.push_back({{"stablelm2", "megrez"}, {kQwen2}});
    c.push_back({{"poro-chat"}, {kPoro}, false});
    c.push_back({{"bloom", "gpt3-finnish"}, {kPoro}});
    c.push_back({{"chatglm-bpe"}, {kLlama3}, true, false, false, true});
    c.push_back({{"viking"}, {kPoro, R"(\p{N})"}, false});
    // Tekken (Mistral Nemo): the tokenizer.json regex itself; ICU has the \p{Lu}/\p{Lt}/... classes that
    // llama.cpp's std::regex lacks and works around.
    c.push_back({{"tekken"},
                 {R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
                 false, true, true});
    c.push_back({{"chameleon"},
                 {R"(<sentinel:[0-9]+>)", R"((IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z)", R"(([\t\n]|    |  ))", R"(\p{N})",
                  R"([\p{P}!-/:-@\[-`{-~])", kGpt2},
                 false, false, true});
    return c;
}

const std::vector<PreConfig>& configs() {
    static const std::vector<PreConfig> table = make_configs();
    return table;
}

}  // namespace

const PreConfig* find_pre_config(std::string_view pre) noexcept {
    if (pre.empty()) pre = "default";
    for (const PreConfig& config : configs()) {
        for (std::string_view name : config.names) {
            if (name == pre) return &config;
        }
    }
    return nullptr;
}

std::string supported_pres_text() {
    std::string out;
    for (const PreConfig& config : configs()) {
        for (std::string_view name : config.names) {
            if (!out.empty()) out += ", ";
            out += name;
        }
    }
    return out;
}

PreTokenizer::PreTokenizer(const PreConfig& config) {
    for (std::string_view regex : config.regexes) {
        UErrorCode status = U_ZERO_ERROR;
        UParseError where{};
        const icu::UnicodeString pattern = icu::UnicodeString::fromUTF8(icu::StringPiece(regex.data(), static_cast<int32_t>(regex.size())));
        std::unique_ptr<icu::RegexPattern> compiled(icu::RegexPattern::compile(pattern, 0, where, status));
        if (U_FAILURE(status) || !compiled) {
            throw UnsupportedError("pre-tokenizer '" + std::string(config.names.front()) + "': ICU cannot compile regex '" +
                                   std::string(regex) + "' (" + u_errorName(status) + " at offset " +
                                   std::to_string(where.offset) + ")");
        }
        patterns_.push_back(std::move(compiled));
    }
}

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

std::vector<Span> PreTokenizer::split(std::string_view text) const {
    // ICU matches on UTF-16; byte_at[i] is the byte offset of UTF-16 unit i (both halves of a surrogate pair
    // get the offset of their code point; matches never end between them).
    if (text.empty()) return {};
    std::vector<char16_t> units;
    std::vector<uint32_t> byte_at;
    units.reserve(text.size());
    byte_at.reserve(text.size() + 1);
    for (size_t pos = 0; pos < text.size();) {
        const auto b = static_cast<uint8_t>(text[pos]);
        if (b < 0x80) {  // ASCII fast path
            units.push_back(b);
            byte_at.push_back(static_cast<uint32_t>(pos++));
            continue;
        }
        const utf8::Sequence seq = utf8::examine(text, pos);
        const char32_t cp = seq.check == utf8::Check::Valid ? seq.codepoint : 0xFFFD;  // callers sanitize first
        if (cp > 0xFFFF) {
            units.push_back(static_cast<char16_t>(0xD7C0 + (cp >> 10)));
            units.push_back(static_cast<char16_t>(0xDC00 | (cp & 0x3FF)));
            byte_at.push_back(static_cast<uint32_t>(pos));
        } else {
            units.push_back(static_cast<char16_t>(cp));
        }
        byte_at.push_back(static_cast<uint32_t>(pos));
        pos += seq.length;
    }
    byte_at.push_back(static_cast<uint32_t>(text.size()));
    const icu::UnicodeString u16(false, units.data(), static_cast<int32_t>(units.size()));  // read-only alias

    std::vector<Span> pieces{{0, static_cast<uint32_t>(u16.length())}}, next;
    for (const auto& pattern : patterns_) {
        UErrorCode status = U_ZERO_ERROR;
        std::unique_ptr<icu::RegexMatcher> matcher(pattern->matcher(u16, status));
        if (U_FAILURE(status)) throw Error(std::string("ICU regex matcher: ") + u_errorName(status));
        next.clear();
        for (const Span piece : pieces) {
            // A region bounds both the search and the lookahead of (?!\S) and $, as a regex run on the piece alone.
            matcher->region(piece.begin, piece.end, status);
            uint32_t cursor = piece.begin;
            while (matcher->find()) {
                const auto start = static_cast<uint32_t>(matcher->start(status));
                const auto end = static_cast<uint32_t>(matcher->end(status));
                if (end == start) continue;
                if (start > cursor) next.push_back({cursor, start});
                next.push_back({start, end});
                cursor = end;
            }
            if (cursor < piece.end) next.push_back({cursor, piece.end});
        }
        if (U_FAILURE(status)) throw Error(std::string("ICU regex split: ") + u_errorName(status));
        pieces.swap(next);
    }
    for (Span& piece : pieces) piece = {byte_at[piece.begin], byte_at[piece.end]};
    return pieces;
}

}  // namespace spool::tokenizer
