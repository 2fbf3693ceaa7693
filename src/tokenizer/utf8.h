// UTF-8 helpers for the tokenizer: lenient splitting (as llama.cpp's unicode_len_utf8), strict decoding per
// Unicode 15 Table 3-7, and replacement of ill-formed bytes with U+FFFD (one per maximal subpart, Unicode 3.9).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace spool::tokenizer::utf8 {

inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Byte length implied by a lead byte, looking only at its high nibble (continuation bytes count as 1).
// This is how SPM and BPE cut text into initial symbols; it never returns 0.
inline size_t lead_length(uint8_t lead) noexcept {
    static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLengths[lead >> 4];
}

enum class Check { Valid, Invalid, Truncated };

// Examines the sequence starting at s[pos] (pos < s.size()). Valid: `length` is the sequence length and
// `codepoint` its value. Invalid: `length` is the maximal subpart to replace by one U+FFFD (at least 1).
// Truncated: the bytes up to the end are a proper prefix of a well-formed sequence (`length` of them).
struct Sequence {
    Check check;
    size_t length;
    char32_t codepoint;
};
Sequence examine(std::string_view s, size_t pos) noexcept;

bool is_valid(std::string_view s) noexcept;

// Replaces every maximal ill-formed subpart (a truncated tail included) by U+FFFD.
std::string sanitize(std::string_view s);

// Like sanitize, but one U+FFFD per ill-formed byte, as llama.cpp's unicode_cpts_from_utf8 does before
// pre-tokenizing, so BPE sees the same code points. (llama.cpp does accept overlong and surrogate forms,
// which this strict check replaces; such bytes are not UTF-8 text anyway.)
std::string sanitize_per_byte(std::string_view s);

void append(std::string& out, char32_t codepoint);

}  // namespace spool::tokenizer::utf8
