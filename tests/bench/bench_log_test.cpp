// BENCHMARKS.md writer and parser: round trip, appending under an existing title, a second title, and the rest
// of the file left byte for byte as it was.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "bench/bench_log.h"
#include "bench/quality_hash.h"
#include "sample_result.h"

namespace spool::bench {
namespace {

using testing::sample_result;

TEST(BenchLog, EntryHasTheRequiredRowsAndTokens) {
    const std::string e = format_log_entry(sample_result(), "baseline\nrun");
    EXPECT_EQ(e.rfind("### 2026-01-02T03:04:05Z - baseline run\n", 0), 0u) << e;
    for (const char* row : {"| Model |", "| Architecture | llama |", "| Layers | 4 |", "| Embedding | 256 |",
                            "| Backend/Device | cpu (avx512) |", "| Threads | 4 |", "| Load Time |", "| Prefill |",
                            "| Generation |", "| TTFT |", "| Peak memory | 50.00 MiB", "| Quality Hash | 0x",
                            "| Machine |", "| Commit | spool 0.1.0 (abc1234) |"}) {
        EXPECT_NE(e.find(row), std::string::npos) << row << "\n" << e;
    }
    EXPECT_NE(e.find("<details><summary>Quality tokens</summary>"), std::string::npos);
    EXPECT_NE(e.find("</details>"), std::string::npos);
    EXPECT_NE(e.find("\" a\\|b\""), std::string::npos) << "a '|' in token text must be escaped";
}

TEST(BenchLog, RoundTrip) {
    const BenchResult r = sample_result();
    const std::string text = insert_log_entry("", "CPU decode", format_log_entry(r, "baseline"));
    const std::vector<LogEntry> entries = parse_log_entries(text, "CPU decode");
    ASSERT_EQ(entries.size(), 1u) << text;
    const LogEntry& e = entries[0];
    EXPECT_EQ(e.timestamp, "2026-01-02T03:04:05Z");
    EXPECT_EQ(e.change, "baseline");
    EXPECT_EQ(e.metrics, log_metrics(r));  // every row comes back exactly
    EXPECT_EQ(e.quality_ids, r.quality_ids);
    ASSERT_NE(e.find("Quality Hash"), nullptr);
    EXPECT_EQ(*e.find("Quality Hash"), format_hash(r.quality_hash));
    ASSERT_NE(e.find("Prefill"), nullptr);
    EXPECT_EQ(e.find("Prefill")->rfind("1100.00 ± 100.00 tok/s", 0), 0u) << *e.find("Prefill");
}

TEST(BenchLog, AppendsUnderAnExistingTitleAndLeavesTheRestAlone) {
    const std::string head = "# Log\n\nintro line\n\n## A\n\nnotes about A\n";
    const std::string tail = "\n## B\n\n### 2025-01-01T00:00:00Z - old b\n\n| Metric | Value |\n|---|---|\n| Prefill | 1 ± 0 tok/s |\n";
    const std::string text = head + tail;
    const std::string e1 = format_log_entry(sample_result(1.0, 16, "2026-01-01T00:00:00Z"), "first");
    const std::string e2 = format_log_entry(sample_result(2.0, 16, "2026-01-01T00:00:01Z"), "second");
    std::string t = insert_log_entry(text, "A", e1);
    t = insert_log_entry(t, "A", e2);
    // The text before A's end and B's section are unchanged; A's entries sit between them, in order.
    EXPECT_EQ(t.rfind(head, 0), 0u) << t;
    EXPECT_EQ(t.substr(t.size() - tail.size()), tail) << t;
    const std::vector<LogEntry> a = parse_log_entries(t, "A");
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0].change, "first");
    EXPECT_EQ(a[1].change, "second");
    const std::vector<LogEntry> b = parse_log_entries(t, "B");
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].change, "old b");
    EXPECT_EQ(log_titles(t), (std::vector<std::string>{"A", "B"}));
}

TEST(BenchLog, NewTitleGoesAtTheEnd) {
    const std::string text = "# Log\n\n## A\n\nx\n";
    const std::string t = insert_log_entry(text, "Second title", format_log_entry(sample_result(), "c"));
    EXPECT_EQ(t.rfind(text, 0), 0u);
    EXPECT_NE(t.find("\n\n## Second title\n\n### "), std::string::npos) << t;
    EXPECT_EQ(parse_log_entries(t, "Second title").size(), 1u);
    EXPECT_TRUE(parse_log_entries(t, "A").empty());
    EXPECT_TRUE(parse_log_entries(t, "Missing").empty());
}

TEST(BenchLog, HeadingsInsideCodeFencesAreNotTitles) {
    const std::string text = "# Log\n\n```\n## A\n```\n";
    const std::string t = insert_log_entry(text, "A", format_log_entry(sample_result(), "c"));
    EXPECT_EQ(t.rfind(text, 0), 0u) << "the fenced heading must not be used";
    EXPECT_EQ(parse_log_entries(t, "A").size(), 1u);
    EXPECT_EQ(log_titles(t), (std::vector<std::string>{"A"}));
}

TEST(BenchLog, AppendToFileCreatesThenAppends) {
    const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                       ("spool_bench_log_" + std::to_string(::getpid()) + ".md");
    std::filesystem::remove(path);
    append_log_entry(path, "T", format_log_entry(sample_result(), "one"));
    append_log_entry(path, "T", format_log_entry(sample_result(), "two"));
    append_log_entry(path, "U", format_log_entry(sample_result(), "three"));
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::filesystem::remove(path);
    const std::string text = ss.str();
    EXPECT_EQ(text.rfind("# spool benchmarks\n", 0), 0u);
    EXPECT_EQ(parse_log_entries(text, "T").size(), 2u);
    EXPECT_EQ(parse_log_entries(text, "U").size(), 1u);
    EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
}

}  // namespace
}  // namespace spool::bench
