// Summary statistics of repeated measurements: mean, median, sample standard deviation, min, max.
// Every benchmark number spool prints is one of these over its repetitions (warm-up excluded).
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace spool::bench {

struct Stats {
    size_t n = 0;
    double mean = 0, median = 0;
    double sd = 0;  // sample standard deviation (divides by n - 1); 0 when n < 2
    double min = 0, max = 0;
};

// Stats of `samples` (any order). An empty span gives all zeros with n = 0.
Stats summarize(std::span<const double> samples);

// "12.34 ± 0.56" with `decimals` digits after the point (the notation BENCHMARKS.md and --compare read).
std::string format_mean_sd(const Stats& s, int decimals);

}  // namespace spool::bench
