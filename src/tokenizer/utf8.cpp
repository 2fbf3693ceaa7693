// UTF-8 well-formedness per Unicode 15 Table 3-7 and U+FFFD substitution of maximal subparts.
#include "tokenizer/utf8.h"

namespace spool::tokenizer::utf8 {

namespace {

// Valid range of the second byte for each lead byte (Table 3-7); the later bytes are always 80..BF.
struct LeadInfo {
    uint8_t length, second_lo, second_hi;
};

LeadInfo lead_info(uint8_t b) noexcept {
    if (b < 0x80) return {1, 0, 0};
    if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
    if (b == 0xE0) return {3, 0xA0, 0xBF};
    if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return {3, 0x80, 0xBF};
    if (b == 0xED) return {3, 0x80, 0x9F};  // excludes surrogates
    if (b == 0xF0) return {4, 0x90, 0xBF};  // excludes overlongs
    if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
    if (b == 0xF4) return {4, 0x80, 0x8F};  // excludes > U+10FFFF
    return {0, 0, 0};                        // 80..C1, F5..FF never start a sequence
}

}  // namespace

Sequence examine(std::string_view s, size_t pos) noexcept {
    const auto b0 = static_cast<uint8_t>(s[pos]);
    const LeadInfo info = lead_info(b0);
    if (info.length == 0) return {Check::Invalid, 1, 0};
    if (info.length == 1) return {Check::Valid, 1, b0};
    char32_t cp = b0 & (0x7F >> info.length);
    for (size_t k = 1; k < info.length; ++k) {
        if (pos + k >= s.size()) return {Check::Truncated, k, 0};
        const auto b = static_cast<uint8_t>(s[pos + k]);
        const uint8_t lo = k == 1 ? info.second_lo : 0x80, hi = k == 1 ? info.second_hi : 0xBF;
        if (b < lo || b > hi) return {Check::Invalid, k, 0};
        cp = (cp << 6) | (b & 0x3F);
    }
    return {Check::Valid, info.length, cp};
}

bool is_valid(std::string_view s) noexcept {
    for (size_t pos = 0; pos < s.size();) {
        const auto b = static_cast<uint8_t>(s[pos]);
        if (b < 0x80) {
            ++pos;
            continue;
        }
        const Sequence seq = examine(s, pos);
        if (seq.check != Check::Valid) return false;
        pos += seq.length;
    }
    return true;
}

std::string sanitize(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t pos = 0; pos < s.size();) {
        const Sequence seq = examine(s, pos);
        if (seq.check == Check::Valid) {
            out.append(s.substr(pos, seq.length));
        } else {
            out.append(kReplacement);
        }
        pos += seq.length;
    }
    return out;
}

std::string sanitize_per_byte(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 8);
    for (size_t pos = 0; pos < s.size();) {
        const Sequence seq = examine(s, pos);
        if (seq.check == Check::Valid) {
            out.append(s.substr(pos, seq.length));
            pos += seq.length;
        } else {
            out.append(kReplacement);
            pos += 1;
        }
    }
    return out;
}

void append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

}  // namespace spool::tokenizer::utf8
