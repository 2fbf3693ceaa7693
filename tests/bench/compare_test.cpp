// --compare: percent changes, the noise rule, direction of "better", and the loud hash-change warning.
#include <gtest/gtest.h>

#include "bench/bench_log.h"
#include "bench/compare.h"
#include "sample_result.h"

namespace spool::bench {
namespace {

using testing::sample_result;

TEST(Compare, ParsesLoggedValues) {
    auto v = parse_logged_value("1100.00 ± 100.00 tok/s (n=3)");
    ASSERT_TRUE(v);
    EXPECT_DOUBLE_EQ(v->mean, 1100.0);
    ASSERT_TRUE(v->sd);
    EXPECT_DOUBLE_EQ(*v->sd, 100.0);
    v = parse_logged_value("50.00 MiB (VmHWM)");
    ASSERT_TRUE(v);
    EXPECT_DOUBLE_EQ(v->mean, 50.0);
    EXPECT_FALSE(v->sd);
    EXPECT_FALSE(parse_logged_value("n/a"));
}

TEST(Compare, NoiseRule) {
    // 2 * sqrt(3^2 + 4^2) = 10.
    EXPECT_FALSE(outside_noise(100, 3, 110, 4));
    EXPECT_TRUE(outside_noise(100, 3, 110.01, 4));
    EXPECT_TRUE(outside_noise(100, 3, 89.99, 4));
    EXPECT_FALSE(outside_noise(5, 0, 5, 0));
    EXPECT_TRUE(outside_noise(5, 0, 5.001, 0));
}

std::vector<LogEntry> log_of(const std::vector<BenchResult>& results) {
    std::string text;
    for (size_t i = 0; i < results.size(); ++i) {
        text = insert_log_entry(text, "T", format_log_entry(results[i], "change " + std::to_string(i + 1)));
    }
    return parse_log_entries(text, "T");
}

const MetricChange& find_change(const EntryComparison& c, const std::string& name) {
    for (const MetricChange& m : c.changes) {
        if (m.metric == name) return m;
    }
    throw std::runtime_error("no metric " + name);
}

TEST(Compare, PercentAndSignificance) {
    // Prefill: 1100 ± 100 -> 2200 ± 200: +100%, far outside 2*sqrt(100^2+200^2) = 447.
    // Prefill x1.1: 1210 ± 110: +10%, inside 2*sqrt(100^2+110^2) = 297.
    const std::vector<LogEntry> entries = log_of({sample_result(1.0), sample_result(2.0), sample_result(1.1)});
    ASSERT_EQ(entries.size(), 3u);
    const std::vector<EntryComparison> cmp = compare_log_entries(entries);
    ASSERT_EQ(cmp.size(), 2u);
    const MetricChange& big = find_change(cmp[0], "Prefill");
    EXPECT_NEAR(big.percent, 100.0, 1e-9);
    EXPECT_TRUE(big.has_noise);
    EXPECT_TRUE(big.significant);
    EXPECT_TRUE(big.better);
    const MetricChange& small = find_change(cmp[1], "Prefill");
    EXPECT_NEAR(small.percent, 10.0, 1e-9);
    EXPECT_FALSE(small.significant);
    const MetricChange& same = find_change(cmp[0], "Generation");
    EXPECT_NEAR(same.percent, 0.0, 1e-12);
    EXPECT_FALSE(same.significant);
    const MetricChange& mem = find_change(cmp[0], "Peak memory");
    EXPECT_FALSE(mem.has_noise);  // no sd is logged for memory
    EXPECT_FALSE(cmp[0].hash_changed);
    const std::string text = format_comparison("T", entries, cmp);
    EXPECT_NE(text.find("+100.0%"), std::string::npos) << text;
    EXPECT_NE(text.find("BETTER"), std::string::npos) << text;
    EXPECT_NE(text.find("within noise"), std::string::npos) << text;
    EXPECT_EQ(text.find("QUALITY HASH CHANGED"), std::string::npos) << text;
}

TEST(Compare, LowerIsBetterForTimes) {
    BenchResult slow = sample_result();
    BenchResult fast = sample_result();
    fast.ttft_ms = {5, 5.5, 6};  // 11 ± 1 -> 5.5 ± 0.5
    const std::vector<LogEntry> entries = log_of({slow, fast});
    const std::vector<EntryComparison> cmp = compare_log_entries(entries);
    const MetricChange& t = find_change(cmp[0], "TTFT");
    EXPECT_NEAR(t.percent, -50.0, 1e-9);
    EXPECT_TRUE(t.significant);
    EXPECT_TRUE(t.better);
}

TEST(Compare, HashChangeIsLoud) {
    const std::vector<LogEntry> entries = log_of({sample_result(1.0, 16), sample_result(1.0, 999)});
    const std::vector<EntryComparison> cmp = compare_log_entries(entries);
    ASSERT_EQ(cmp.size(), 1u);
    EXPECT_TRUE(cmp[0].hash_changed);
    EXPECT_NE(cmp[0].first_hash, cmp[0].hash);
    const std::string text = format_comparison("T", entries, cmp);
    EXPECT_NE(text.find("!!! WARNING: QUALITY HASH CHANGED (" + cmp[0].first_hash + " -> " + cmp[0].hash + ")"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(std::string(100, '!')), std::string::npos);
}

TEST(Compare, SingleEntryHasNothingToCompare) {
    const std::vector<LogEntry> entries = log_of({sample_result()});
    EXPECT_TRUE(compare_log_entries(entries).empty());
    EXPECT_NE(format_comparison("T", entries, {}).find("only one entry"), std::string::npos);
}

}  // namespace
}  // namespace spool::bench
