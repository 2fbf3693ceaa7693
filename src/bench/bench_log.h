// BENCHMARKS.md: the benchmark log. `spool bench --title T --change C` appends one entry under "## T" (the heading
// is created when absent; the rest of the file is left as it was), and --compare reads the entries back.
// An entry is "### <UTC ISO 8601> - <change>", a Metric | Value table, and a collapsible block of quality tokens.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/result.h"

namespace spool::bench {

struct LogEntry {
    std::string timestamp;
    std::string change;
    std::vector<std::pair<std::string, std::string>> metrics;  // table rows in order, cells unescaped
    std::vector<int32_t> quality_ids;
    const std::string* find(std::string_view metric) const noexcept;
};

// The markdown of one entry (ends with a newline). `change` is kept on one line.
std::string format_log_entry(const BenchResult& r, std::string_view change);
// The rows format_log_entry writes, in order (the table's Metric column).
std::vector<std::pair<std::string, std::string>> log_metrics(const BenchResult& r);

// `text` with `entry` added at the end of the "## title" section, or with a new "## title" section at the end.
// Nothing else in `text` changes; blank lines are added around the entry only where needed.
std::string insert_log_entry(std::string_view text, std::string_view title, std::string_view entry);
// Reads `path` (a missing file counts as a new log with a short header), inserts, and replaces the file
// atomically (write to a temporary file, then rename). Throws SystemError when it cannot read or write.
void append_log_entry(const std::filesystem::path& path, std::string_view title, std::string_view entry);

// The entries under "## title" in file order; empty when the title is absent. Headings inside ``` fences are ignored.
std::vector<LogEntry> parse_log_entries(std::string_view text, std::string_view title);
std::vector<std::string> log_titles(std::string_view text);  // every "## " heading, in order

}  // namespace spool::bench
