// UTF-8 text helpers with Python's str semantics: code-point indexing, str.isspace(), strip/split, and case
// mapping (upper/lower/title/capitalize) through ICU, which matches Python's Unicode case tables.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spool::jinja {

std::u32string utf8_to_u32(std::string_view s);  // invalid bytes become U+FFFD
std::string u32_to_utf8(std::u32string_view s);
size_t utf8_length(std::string_view s);          // code points

bool is_py_space(char32_t c);  // Python str.isspace()

// str.strip/lstrip/rstrip: with chars empty and use_chars false, strips whitespace.
std::string py_strip(std::string_view s, bool left, bool right, bool use_chars = false, std::string_view chars = {});
// str.split(sep, maxsplit): without sep, splits on whitespace runs and drops empty parts.
std::vector<std::string> py_split(std::string_view s, bool has_sep, std::string_view sep, int64_t maxsplit);
std::vector<std::string> py_rsplit(std::string_view s, bool has_sep, std::string_view sep, int64_t maxsplit);
// str.replace(old, new, count); count < 0 replaces all.
std::string py_replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count);
std::vector<std::string> py_splitlines(std::string_view s);

std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_title(std::string_view s);       // str.title()
std::string py_capitalize(std::string_view s);  // str.capitalize()
std::string jinja_title(std::string_view s);    // the `title` filter, which splits words differently
bool py_islower(std::string_view s);
bool py_isupper(std::string_view s);

}  // namespace spool::jinja
