// UTF-8 text helpers with Python's str semantics (see text.h). Case mapping uses ICU so that non-ASCII text
// is cased as Python cases it.
#include "tokenizer/jinja/text.h"

#include "tokenizer/jinja/value.h"
#include "tokenizer/utf8.h"

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>

namespace spool::jinja {

std::u32string utf8_to_u32(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        int n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
        if (n == 0 || i + n > s.size()) {
            out.push_back(0xFFFD);
            ++i;
            continue;
        }
        char32_t c = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
        bool ok = true;
        for (int k = 1; k < n; ++k) {
            const auto cont = static_cast<unsigned char>(s[i + k]);
            if ((cont & 0xC0) != 0x80) {
                ok = false;
                break;
            }
            c = (c << 6) | (cont & 0x3F);
        }
        if (!ok) {
            out.push_back(0xFFFD);
            ++i;
            continue;
        }
        out.push_back(c);
        i += n;
    }
    return out;
}

std::string u32_to_utf8(std::u32string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s) tokenizer::utf8::append(out, c);
    return out;
}

size_t utf8_length(std::string_view s) {
    size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

bool is_py_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string py_strip(std::string_view s, bool left, bool right, bool use_chars, std::string_view chars) {
    const std::u32string u = utf8_to_u32(s);
    const std::u32string set = utf8_to_u32(chars);
    auto strip_it = [&](char32_t c) { return use_chars ? set.find(c) != std::u32string::npos : is_py_space(c); };
    size_t begin = 0, end = u.size();
    if (left)
        while (begin < end && strip_it(u[begin])) ++begin;
    if (right)
        while (end > begin && strip_it(u[end - 1])) --end;
    return u32_to_utf8(std::u32string_view(u).substr(begin, end - begin));
}

std::vector<std::string> py_split(std::string_view s, bool has_sep, std::string_view sep, int64_t maxsplit) {
    std::vector<std::string> out;
    if (has_sep) {
        if (sep.empty()) throw EvalError("split(): empty separator");
        size_t pos = 0;
        while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
            const size_t hit = s.find(sep, pos);
            if (hit == std::string_view::npos) break;
            out.emplace_back(s.substr(pos, hit - pos));
            pos = hit + sep.size();
        }
        out.emplace_back(s.substr(pos));
        return out;
    }
    const std::u32string u = utf8_to_u32(s);
    size_t i = 0;
    while (true) {
        while (i < u.size() && is_py_space(u[i])) ++i;
        if (i == u.size()) break;
        if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
            // The remainder keeps its inner and trailing whitespace, as in Python.
            size_t end = u.size();
            while (end > i && is_py_space(u[end - 1])) --end;
            out.push_back(u32_to_utf8(std::u32string_view(u).substr(i, end - i)));
            break;
        }
        size_t j = i;
        while (j < u.size() && !is_py_space(u[j])) ++j;
        out.push_back(u32_to_utf8(std::u32string_view(u).substr(i, j - i)));
        i = j;
    }
    return out;
}

std::vector<std::string> py_rsplit(std::string_view s, bool has_sep, std::string_view sep, int64_t maxsplit) {
    if (maxsplit < 0) return py_split(s, has_sep, sep, maxsplit);
    std::vector<std::string> out;
    if (has_sep) {
        if (sep.empty()) throw EvalError("rsplit(): empty separator");
        size_t end = s.size();
        while (static_cast<int64_t>(out.size()) < maxsplit) {
            if (end < sep.size()) break;
            const size_t hit = s.rfind(sep, end - sep.size());
            if (hit == std::string_view::npos) break;
            out.emplace_back(s.substr(hit + sep.size(), end - hit - sep.size()));
            end = hit;
        }
        out.emplace_back(s.substr(0, end));
    } else {
        const std::u32string u = utf8_to_u32(s);
        size_t j = u.size();
        while (true) {
            while (j > 0 && is_py_space(u[j - 1])) --j;
            if (j == 0) break;
            if (static_cast<int64_t>(out.size()) == maxsplit) {
                size_t begin = 0;
                while (begin < j && is_py_space(u[begin])) ++begin;
                out.push_back(u32_to_utf8(std::u32string_view(u).substr(begin, j - begin)));
                break;
            }
            size_t i = j;
            while (i > 0 && !is_py_space(u[i - 1])) --i;
            out.push_back(u32_to_utf8(std::u32string_view(u).substr(i, j - i)));
            j = i;
        }
    }
    std::reverse(out.begin(), out.end());
    return out;
}

std::string py_replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count) {
    std::string out;
    if (old.empty()) {
        // Python inserts the replacement before every code point and at the end.
        const std::u32string u = utf8_to_u32(s);
        int64_t done = 0;
        for (char32_t c : u) {
            if (count < 0 || done < count) {
                out += repl;
                ++done;
            }
            out += u32_to_utf8(std::u32string_view(&c, 1));
        }
        if (count < 0 || done < count) out += repl;
        return out;
    }
    size_t pos = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        const size_t hit = s.find(old, pos);
        if (hit == std::string_view::npos) break;
        out.append(s.substr(pos, hit - pos));
        out.append(repl);
        pos = hit + old.size();
        ++done;
    }
    out.append(s.substr(pos));
    return out;
}

std::vector<std::string> py_splitlines(std::string_view s) {
    const std::u32string u = utf8_to_u32(s);
    std::vector<std::string> out;
    size_t start = 0, i = 0;
    while (i < u.size()) {
        const char32_t c = u[i];
        const bool boundary = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D ||
                              c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
        if (!boundary) {
            ++i;
            continue;
        }
        out.push_back(u32_to_utf8(std::u32string_view(u).substr(start, i - start)));
        i += (c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') ? 2 : 1;
        start = i;
    }
    if (start < u.size()) out.push_back(u32_to_utf8(std::u32string_view(u).substr(start)));
    return out;
}

namespace {

std::string from_icu(const icu::UnicodeString& u) {
    std::string out;
    u.toUTF8String(out);
    return out;
}

icu::UnicodeString to_icu(std::string_view s) {
    return icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
}

// Full case mapping of one code point (Python maps 'ß'.upper() to "SS").
std::string map_char(char32_t c, int mode) {
    icu::UnicodeString u(static_cast<UChar32>(c));
    if (mode == 0) u.toUpper(icu::Locale::getRoot());
    if (mode == 1) u.toLower(icu::Locale::getRoot());
    if (mode == 2) {
        const UChar32 t = u_totitle(static_cast<UChar32>(c));
        u = icu::UnicodeString(t);
    }
    return from_icu(u);
}

bool is_cased(char32_t c) { return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_CASED); }

}  // namespace

std::string py_upper(std::string_view s) { return from_icu(to_icu(s).toUpper(icu::Locale::getRoot())); }
std::string py_lower(std::string_view s) { return from_icu(to_icu(s).toLower(icu::Locale::getRoot())); }

std::string py_title(std::string_view s) {
    std::string out;
    bool previous_cased = false;
    for (char32_t c : utf8_to_u32(s)) {
        out += map_char(c, previous_cased ? 1 : 2);
        previous_cased = is_cased(c);
    }
    return out;
}

std::string py_capitalize(std::string_view s) {
    const std::u32string u = utf8_to_u32(s);
    if (u.empty()) return {};
    return map_char(u[0], 2) + py_lower(u32_to_utf8(std::u32string_view(u).substr(1)));
}

std::string jinja_title(std::string_view s) {
    // Jinja splits on runs of [-\s({[<] and upper-cases the first character of every piece.
    const std::u32string u = utf8_to_u32(s);
    auto separator = [](char32_t c) { return is_py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<'; };
    std::string out;
    size_t i = 0;
    while (i < u.size()) {
        size_t j = i;
        const bool sep = separator(u[i]);
        while (j < u.size() && separator(u[j]) == sep) ++j;
        const std::u32string_view piece = std::u32string_view(u).substr(i, j - i);
        if (sep) {
            out += u32_to_utf8(piece);
        } else {
            out += py_upper(u32_to_utf8(piece.substr(0, 1))) + py_lower(u32_to_utf8(piece.substr(1)));
        }
        i = j;
    }
    return out;
}

bool py_islower(std::string_view s) {
    bool any_cased = false;
    for (char32_t c : utf8_to_u32(s)) {
        if (u_isupper(static_cast<UChar32>(c)) || u_istitle(static_cast<UChar32>(c))) return false;
        if (u_islower(static_cast<UChar32>(c))) any_cased = true;
    }
    return any_cased;
}

bool py_isupper(std::string_view s) {
    bool any_cased = false;
    for (char32_t c : utf8_to_u32(s)) {
        if (u_islower(static_cast<UChar32>(c)) || u_istitle(static_cast<UChar32>(c))) return false;
        if (u_isupper(static_cast<UChar32>(c))) any_cased = true;
    }
    return any_cased;
}

}  // namespace spool::jinja
