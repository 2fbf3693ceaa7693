// Summary statistics on data with known answers.
#include <gtest/gtest.h>

#include <vector>

#include "bench/stats.h"

namespace spool::bench {
namespace {

TEST(Stats, KnownData) {
    // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, population sd 2, sample sd sqrt(32/7).
    const std::vector<double> v = {9, 4, 2, 4, 5, 5, 7, 4};
    const Stats s = summarize(v);
    EXPECT_EQ(s.n, 8u);
    EXPECT_DOUBLE_EQ(s.mean, 5.0);
    EXPECT_DOUBLE_EQ(s.median, 4.5);
    EXPECT_NEAR(s.sd, 2.1380899352993950, 1e-15);  // sqrt(32 / 7)
    EXPECT_DOUBLE_EQ(s.min, 2.0);
    EXPECT_DOUBLE_EQ(s.max, 9.0);
}

TEST(Stats, OddCountMedianAndSingleSample) {
    const std::vector<double> odd = {3, 1, 2};
    EXPECT_DOUBLE_EQ(summarize(odd).median, 2.0);
    EXPECT_DOUBLE_EQ(summarize(odd).sd, 1.0);
    const std::vector<double> one = {7.5};
    const Stats s = summarize(one);
    EXPECT_EQ(s.n, 1u);
    EXPECT_DOUBLE_EQ(s.mean, 7.5);
    EXPECT_DOUBLE_EQ(s.median, 7.5);
    EXPECT_DOUBLE_EQ(s.sd, 0.0);
}

TEST(Stats, EmptyIsZero) {
    const Stats s = summarize({});
    EXPECT_EQ(s.n, 0u);
    EXPECT_EQ(s.mean, 0.0);
    EXPECT_EQ(s.sd, 0.0);
}

TEST(Stats, StableForLargeOffsets) {
    // A naive sum-of-squares formula loses every digit here; the two-pass one keeps them.
    const std::vector<double> v = {1e9 + 1, 1e9 + 2, 1e9 + 3};
    EXPECT_NEAR(summarize(v).sd, 1.0, 1e-6);
}

TEST(Stats, MeanSdFormat) {
    const std::vector<double> v = {1, 2, 3};
    EXPECT_EQ(format_mean_sd(summarize(v), 2), "2.00 ± 1.00");
}

}  // namespace
}  // namespace spool::bench
