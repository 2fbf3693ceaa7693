// Number formatting and aligned text tables for the subcommands' output.
#include "tools/format.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace spool::tools {
namespace {

// Display width of UTF-8 text: counts code points, which is right for the names and values printed here.
size_t display_width(std::string_view s) {
    size_t n = 0;
    for (const char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
    return n;
}

}  // namespace

std::string with_commas(uint64_t n) {
    std::string digits = std::to_string(n);
    std::string out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string human_bytes(uint64_t bytes) {
    static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, kUnits[u]);
    return buf;
}

std::string human_count(uint64_t n) {
    static constexpr struct { double scale; const char* suffix; } kScales[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"},
                                                                              {1e3, "K"}};
    const double v = static_cast<double>(n);
    char buf[32];
    for (const auto& s : kScales) {
        if (v >= s.scale) {
            const double x = v / s.scale;
            std::snprintf(buf, sizeof buf, x >= 100 ? "%.1f %s" : "%.2f %s", x, s.suffix);
            return buf;
        }
    }
    return std::to_string(n);
}

std::string format_double(double v) {
    // Whole numbers print in full (500000, not 5e+05); others in the shortest exact form (1e-05).
    if (v == static_cast<double>(static_cast<int64_t>(v)) && v > -1e15 && v < 1e15) {
        return std::to_string(static_cast<int64_t>(v));
    }
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, res.ptr);
}

std::string format_seconds(double s) {
    char buf[32];
    if (s < 10) {
        std::snprintf(buf, sizeof buf, "%.2f s", s);
    } else if (s < 120) {
        std::snprintf(buf, sizeof buf, "%.1f s", s);
    } else {
        const auto whole = static_cast<long long>(s + 0.5);
        std::snprintf(buf, sizeof buf, "%lldm%02llds", whole / 60, whole % 60);
    }
    return buf;
}

std::string Table::render() const {
    std::vector<size_t> widths;
    for (const auto& row : rows_) {
        if (widths.size() < row.size()) widths.resize(row.size(), 0);
        for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(row[c]));
    }
    std::string out;
    for (const auto& row : rows_) {
        std::string line = indent_;
        for (size_t c = 0; c < row.size(); ++c) {
            const size_t pad = widths[c] - display_width(row[c]);
            const bool right = c < aligns_.size() && aligns_[c] == Align::right;
            if (c != 0) line += "  ";
            if (right) line.append(pad, ' ');
            line += row[c];
            if (!right) line.append(pad, ' ');
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + '\n';
    }
    return out;
}

}  // namespace spool::tools
