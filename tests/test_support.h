// Helpers shared by the tests: where ../shared is, seeded random data (never zeros), and float64
// comparisons that report the worst index and both values there (llm.c check_tensor style).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace spool::testing {

inline std::filesystem::path shared_dir() { return std::filesystem::path(SPOOL_SHARED_DIR); }
inline std::filesystem::path source_dir() { return std::filesystem::path(SPOOL_SOURCE_DIR); }

// Skips the calling test with a message when ../shared (or a file under it) is absent.
#define SPOOL_REQUIRE_SHARED(relative)                                                               \
    do {                                                                                            \
        if (!std::filesystem::exists(::spool::testing::shared_dir() / (relative)))                  \
            GTEST_SKIP() << "needs ../shared/" << (relative) << " (not present on this machine)";    \
    } while (0)

// Normal(mean, stddev) values from a fixed seed; exact zeros are replaced so no test passes on zeros.
inline std::vector<float> random_floats(size_t n, uint64_t seed, float stddev = 1.0f, float mean = 0.0f) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(mean, stddev);
    std::vector<float> out(n);
    for (float& v : out) {
        do { v = dist(rng); } while (v == 0.0f);
    }
    return out;
}

struct Comparison {
    double max_abs = 0, max_rel = 0, rmse = 0;
    size_t worst = 0;
    double expected_at_worst = 0, actual_at_worst = 0;
    std::string report() const {
        return "max |diff| " + std::to_string(max_abs) + " (rel " + std::to_string(max_rel) + ") at index " +
               std::to_string(worst) + ": expected " + std::to_string(expected_at_worst) + ", got " +
               std::to_string(actual_at_worst) + "; rmse " + std::to_string(rmse);
    }
};

template <class A, class B>
Comparison compare(std::span<const A> expected, std::span<const B> actual) {
    Comparison c;
    double sum_sq = 0;
    for (size_t i = 0; i < expected.size() && i < actual.size(); ++i) {
        const double e = static_cast<double>(expected[i]), a = static_cast<double>(actual[i]);
        const double d = std::fabs(e - a);
        sum_sq += d * d;
        if (d > c.max_abs || std::isnan(d)) {
            c.max_abs = std::isnan(d) ? INFINITY : d;
            c.worst = i;
            c.expected_at_worst = e;
            c.actual_at_worst = a;
        }
        c.max_rel = std::max(c.max_rel, d / std::max(std::fabs(e), 1e-30));
    }
    c.rmse = expected.empty() ? 0 : std::sqrt(sum_sq / static_cast<double>(expected.size()));
    return c;
}

}  // namespace spool::testing
