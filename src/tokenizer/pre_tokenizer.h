// Byte-level BPE pre-tokenizers: the regex splits chosen by tokenizer.ggml.pre (llama.cpp llm_tokenizer_bpe,
// unicode_regex_split). Each regex in turn cuts every piece into its matches and the gaps between them.
// The regexes run on ICU, so \p{L}, \p{N}, \p{P} and \s follow Unicode's tables for every code point.
#pragma once

#include <unicode/uversion.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

U_NAMESPACE_BEGIN
class RegexPattern;
U_NAMESPACE_END

namespace spool::tokenizer {

// Defaults that llama.cpp ties to a pre-tokenizer name.
struct PreConfig {
    std::vector<std::string_view> names;  // tokenizer.ggml.pre values
    std::vector<std::string_view> regexes;
    bool clean_spaces = true;
    bool ignore_merges = false;
    bool add_bos = false;
    bool no_bos = false;  // chatglm-bpe: no BOS token
};

// nullptr when `pre` is unknown. An absent tokenizer.ggml.pre is looked up as "default".
const PreConfig* find_pre_config(std::string_view pre) noexcept;
std::string supported_pres_text();  // "default, llama3, ..." for error messages

// A piece of the pre-tokenized text: byte range into the (sanitized) text given to split().
struct Span {
    uint32_t begin, end;
};

class PreTokenizer {
public:
    // Compiles the regexes of `config`; throws UnsupportedError if ICU rejects one (names it).
    explicit PreTokenizer(const PreConfig& config);
    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;
    ~PreTokenizer();

    // Splits valid UTF-8 `text` into pieces, in order, covering it exactly. Thread-safe.
    std::vector<Span> split(std::string_view text) const;

private:
    std::vector<std::unique_ptr<icu::RegexPattern>> patterns_;
};

}  // namespace spool::tokenizer
