// `spool bench --compare T`: every entry under "## T" against the first one: each metric's change in percent,
// whether it is outside the noise, and a loud warning when the quality hash (the greedy output) changed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bench/bench_log.h"

namespace spool::bench {

// A logged value "12.3 ± 0.4 tok/s (...)" or "45.67 MiB (VmHWM)": the leading number and, when present, the sd.
struct LoggedValue {
    double mean = 0;
    std::optional<double> sd;
};
std::optional<LoggedValue> parse_logged_value(const std::string& text);

// The noise rule: a difference counts when |m2 - m1| > 2 * sqrt(sd1^2 + sd2^2).
bool outside_noise(double m1, double sd1, double m2, double sd2);

struct MetricChange {
    std::string metric;
    bool higher_is_better = true;
    std::optional<LoggedValue> first, current;  // nullopt: missing or unreadable in that entry
    double percent = 0;          // (current - first) / first * 100
    bool has_noise = false;      // both values have an sd, so the noise rule applies
    bool significant = false;    // outside the noise (only when has_noise)
    bool better = false;         // the change is an improvement (direction of the metric)
};

struct EntryComparison {
    const LogEntry* first = nullptr;
    const LogEntry* entry = nullptr;
    std::vector<MetricChange> changes;
    std::string first_hash, hash;
    bool hash_changed = false;
};

// The compared metrics: Load Time, Prefill, Generation, TTFT (with sd) and Peak memory (without).
std::vector<EntryComparison> compare_log_entries(const std::vector<LogEntry>& entries);
// The report: one block per entry after the first; hash changes get a line of "!" above and below.
std::string format_comparison(const std::string& title, const std::vector<LogEntry>& entries,
                              const std::vector<EntryComparison>& comparisons);

}  // namespace spool::bench
