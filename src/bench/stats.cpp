// Summary statistics: two-pass mean and variance (stable for the tightly clustered timings benchmarks give).
#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace spool::bench {

Stats summarize(std::span<const double> samples) {
    Stats s;
    s.n = samples.size();
    if (s.n == 0) return s;
    std::vector<double> sorted(samples.begin(), samples.end());
    std::sort(sorted.begin(), sorted.end());
    s.min = sorted.front();
    s.max = sorted.back();
    const size_t mid = s.n / 2;
    s.median = s.n % 2 == 1 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
    double sum = 0;
    for (const double v : sorted) sum += v;
    s.mean = sum / static_cast<double>(s.n);
    if (s.n >= 2) {
        double sq = 0;
        for (const double v : sorted) sq += (v - s.mean) * (v - s.mean);
        s.sd = std::sqrt(sq / static_cast<double>(s.n - 1));
    }
    return s;
}

std::string format_mean_sd(const Stats& s, int decimals) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.*f ± %.*f", decimals, s.mean, decimals, s.sd);
    return buf;
}

}  // namespace spool::bench
