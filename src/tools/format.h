// Text helpers shared by the spool subcommands: number formatting and aligned tables, so every tool's
// output reads the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spool::tools {

std::string with_commas(uint64_t n);      // 8867232 -> "8,867,232"
std::string human_bytes(uint64_t bytes);  // 8867232 -> "8.46 MiB"
std::string human_count(uint64_t n);      // 6738415616 -> "6.74 B", 494032768 -> "494.0 M"
std::string format_double(double v);      // shortest form that reads back exactly: 1e-05, 10000, 0.5
std::string format_seconds(double s);     // "0.84 s", "12.3 s", "2m05s"

// Columns padded to their widest cell, separated by two spaces; numbers right-aligned.
class Table {
public:
    enum class Align { left, right };
    explicit Table(std::vector<Align> aligns, std::string indent = "  ") : aligns_(std::move(aligns)),
                                                                            indent_(std::move(indent)) {}
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    bool empty() const noexcept { return rows_.empty(); }
    std::string render() const;  // one line per row, each ending in '\n'; trailing spaces trimmed

private:
    std::vector<Align> aligns_;
    std::string indent_;
    std::vector<std::vector<std::string>> rows_;
};

}  // namespace spool::tools
