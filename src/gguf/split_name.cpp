// Split-model file names: parse and format NAME-0000i-of-0000N.gguf.
#include "gguf/split_name.h"

#include <cstdio>

namespace spool::gguf {
namespace {

// Parses a run of at least five decimal digits that fits uint32.
std::optional<uint32_t> parse_number(std::string_view s) {
    if (s.size() < 5 || s.size() > 10) return std::nullopt;
    uint64_t v = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v > UINT32_MAX) return std::nullopt;
    return static_cast<uint32_t>(v);
}

}  // namespace

std::optional<SplitName> parse_split_name(std::string_view filename) {
    constexpr std::string_view kExt = ".gguf";
    constexpr std::string_view kOf = "-of-";
    if (filename.size() <= kExt.size() || !filename.ends_with(kExt)) return std::nullopt;
    const std::string_view stem = filename.substr(0, filename.size() - kExt.size());
    const size_t of = stem.rfind(kOf);
    if (of == std::string_view::npos) return std::nullopt;
    const auto count = parse_number(stem.substr(of + kOf.size()));
    const size_t dash = stem.rfind('-', of == 0 ? 0 : of - 1);
    if (!count || of == 0 || dash == std::string_view::npos || dash == 0 || dash >= of) return std::nullopt;
    const auto part = parse_number(stem.substr(dash + 1, of - dash - 1));
    if (!part || *part == 0 || *count == 0 || *part > *count) return std::nullopt;
    return SplitName{std::string(stem.substr(0, dash)), *part, *count};
}

std::string split_file_name(std::string_view prefix, uint32_t part, uint32_t count) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "-%05u-of-%05u.gguf", part, count);
    return std::string(prefix) + buf;
}

}  // namespace spool::gguf
