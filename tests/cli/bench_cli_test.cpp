// `spool bench` and `spool sweep` end to end on the tiny model: the record's fields, the BENCHMARKS.md entry and
// --compare, llama-bench's CSV columns, and the sweep's files. Small sizes keep each test to seconds.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>

#include "cli_run.h"
#include "test_support.h"

namespace spool::testing {
namespace {

const char* kTiny = "models/tiny/tiny-Q8_0.gguf";

std::string tiny() { return (shared_dir() / kTiny).string(); }

TEST(BenchCli, SpoolModeJsonHasEveryField) {
    SPOOL_REQUIRE_SHARED(kTiny);
    const CliResult r = run_spool({"bench", "-m", tiny(), "-r", "2", "-p", "16", "-n", "8", "-t", "1", "--json", "-q"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    const nlohmann::json j = nlohmann::json::parse(r.out);
    for (const char* k : {"timestamp", "build", "machine", "model", "device", "settings", "load", "prefill",
                          "generation", "ttft_ms", "peak_rss_bytes", "quality", "roofline"}) {
        EXPECT_TRUE(j.contains(k)) << k;
    }
    EXPECT_EQ(j["model"]["architecture"], "llama");
    EXPECT_EQ(j["model"]["n_layer"], 4);
    EXPECT_EQ(j["model"]["n_embd"], 256);
    EXPECT_EQ(j["model"]["file_type"], "Q8_0");
    EXPECT_EQ(j["device"]["backend"], "cpu");
    EXPECT_EQ(j["device"]["n_threads"], 1);
    EXPECT_EQ(j["prefill"]["tok_s"]["n"], 2);
    EXPECT_EQ(j["generation"]["samples_tok_s"].size(), 2u);
    EXPECT_GT(j["prefill"]["tok_s"]["mean"].get<double>(), 0.0);
    EXPECT_GT(j["generation"]["tok_s"]["mean"].get<double>(), 0.0);
    EXPECT_GT(j["peak_rss_bytes"].get<uint64_t>(), 0u);
    EXPECT_EQ(j["quality"]["ids"].size(), 16u);
    EXPECT_EQ(j["quality"]["hash"].get<std::string>().size(), 18u);
    EXPECT_GT(j["load"]["pages"].get<uint64_t>(), 0u);
}

TEST(BenchCli, LogEntryThenCompare) {
    SPOOL_REQUIRE_SHARED(kTiny);
    ScratchDir dir;
    const std::string log = dir / "B.md";
    for (const char* change : {"first", "second"}) {
        const CliResult r = run_spool({"bench", "-m", tiny(), "-r", "2", "-p", "8", "-n", "4", "-t", "1", "-q",
                                       "--no-reload", "--title", "Tiny CPU", "--change", change, "--log", log});
        ASSERT_EQ(r.exit_code, 0) << describe(r);
        EXPECT_NE(r.out.find("quality hash:"), std::string::npos) << r.out;
    }
    const std::string text = read_text(log);
    EXPECT_NE(text.find("## Tiny CPU\n"), std::string::npos) << text;
    EXPECT_NE(text.find(" - second\n"), std::string::npos) << text;
    EXPECT_NE(text.find("<details><summary>Quality tokens</summary>"), std::string::npos);
    const CliResult c = run_spool({"bench", "--compare", "Tiny CPU", "--log", log});
    ASSERT_EQ(c.exit_code, 0) << describe(c);
    EXPECT_NE(c.out.find("2 entries"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("Generation"), std::string::npos) << c.out;
    // Same model, same greedy run: the hash must not change between the two entries.
    EXPECT_EQ(c.out.find("QUALITY HASH CHANGED"), std::string::npos) << c.out;
    const CliResult missing = run_spool({"bench", "--compare", "Nope", "--log", log});
    EXPECT_EQ(missing.exit_code, 2) << describe(missing);
    EXPECT_NE(missing.err.find("Tiny CPU"), std::string::npos) << missing.err;
}

TEST(BenchCli, LlamaBenchCsv) {
    SPOOL_REQUIRE_SHARED(kTiny);
    const CliResult r = run_spool({"bench", "-m", tiny(), "-p", "8", "-n", "4", "-t", "1", "-r", "2", "-o", "csv"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    std::istringstream in(r.out);
    std::string header, row1, row2;
    std::getline(in, header);
    std::getline(in, row1);
    std::getline(in, row2);
    EXPECT_EQ(header.rfind("build_commit,build_number,cpu_info,gpu_info,backends,model_filename,", 0), 0u) << header;
    EXPECT_NE(row1.find(",\"8\",\"0\","), std::string::npos) << row1;  // pp8: n_prompt 8, n_gen 0
    EXPECT_NE(row2.find(",\"0\",\"4\","), std::string::npos) << row2;  // tg4
}

TEST(BenchCli, UsageErrors) {
    EXPECT_EQ(run_spool({"bench"}).exit_code, 2);
    EXPECT_EQ(run_spool({"bench", "-m", "x.gguf", "-p", "1,2"}).exit_code, 2);
    const CliResult help = run_spool({"bench", "--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.out.find("llama-bench mode"), std::string::npos);
}

TEST(SweepCli, WritesTablesAndReport) {
    SPOOL_REQUIRE_SHARED(kTiny);
    ScratchDir dir;
    const std::string out = dir / "sweep";
    const CliResult r = run_spool({"sweep", "-m", tiny(), "--max-tokens", "2,4", "--temps", "0,0.7", "--runs", "2",
                                   "-t", "1", "-o", out, "--no-plot", "-q"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    for (const char* f : {"runs.csv", "runs.json", "summary.json", "summary.md", "report.md"}) {
        EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(out) / f)) << f;
    }
    const nlohmann::json runs = nlohmann::json::parse(read_text(std::filesystem::path(out) / "runs.json"));
    EXPECT_EQ(runs.size(), 3u * 2u * 2u * 2u);  // 3 built-in prompts x 2 lengths x 2 temperatures x 2 runs
    const nlohmann::json summary = nlohmann::json::parse(read_text(std::filesystem::path(out) / "summary.json"));
    EXPECT_EQ(summary["n_runs"], 24);
    EXPECT_TRUE(summary["by_max_tokens"].contains("4"));
    EXPECT_NE(read_text(std::filesystem::path(out) / "report.md").find("No figures (--no-plot)"), std::string::npos);
}

}  // namespace
}  // namespace spool::testing
