// The bench harness on a fake target: warm-up excluded, one sample per repetition, the quality run, reloads,
// and the prompt tokens it times.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bench/bench_log.h"
#include "bench/harness.h"
#include "bench/report.h"
#include "bench/quality_hash.h"
#include "fake_target.h"
#include "spool/errors.h"

namespace spool::bench {
namespace {

// Settings of a short run without a progress bar.
BenchSettings quiet_settings(int n_prompt, int n_gen, int reps) {
    BenchSettings s;
    s.n_prompt = n_prompt;
    s.n_gen = n_gen;
    s.reps = reps;
    s.progress = false;
    return s;
}

TEST(Harness, CountsSamplesAndCalls) {
    testing::FakeCounters c;
    BenchSettings s = quiet_settings(20, 7, 4);
    s.batch_size = 8;
    const BenchResult r =
        run_bench([&] { return std::make_unique<testing::FakeTarget>(&c); }, {}, s, BuildInfo{"v", "c"});
    EXPECT_EQ(c.loads, 1 + 4);  // first load + warm reloads
    EXPECT_EQ(r.reload_ms.size(), 4u);
    EXPECT_EQ(r.prefill_tok_s.size(), 4u);
    EXPECT_EQ(r.decode_tok_s.size(), 4u);
    EXPECT_EQ(r.ttft_ms.size(), 4u);
    // Warm-up: 2 decodes; reps: 4 * 7; quality: 15.
    EXPECT_EQ(c.decodes, 2 + 4 * 7 + kQualityTokens - 1);
    EXPECT_EQ(c.prefills, 1 + 4 + 1);
    for (size_t i = 0; i < r.ttft_ms.size(); ++i) {
        EXPECT_GE(r.ttft_ms[i], r.prefill_ms[i]);
        EXPECT_GT(r.prefill_tok_s[i], 0);
    }
    EXPECT_EQ(r.quality_ids.size(), static_cast<size_t>(kQualityTokens));
    EXPECT_EQ(r.quality_hash, quality_hash(r.quality_ids));
    EXPECT_EQ(r.quality_pieces.front(), "<" + std::to_string(r.quality_ids.front()) + ">");
    EXPECT_EQ(r.device.n_threads, 3u);
    EXPECT_EQ(r.build.commit, "c");
    EXPECT_EQ(r.prefill_chunks(), 3);  // ceil(20 / 8)
    EXPECT_GT(r.peak_rss_bytes, 0u);
    // Every sequence is sized for the longer of the timing run and the quality run.
    for (const SequenceOptions& o : c.reset_options) {
        EXPECT_EQ(o.n_ctx, std::max<int64_t>(20 + 7 + 1, static_cast<int64_t>(std::string(kQualityPrompt).size()) + 1 + 16));
        EXPECT_EQ(o.batch_size, 8);
        EXPECT_LE(o.temperature, 0.0f);
    }
}

// A GPU target's decode steps are timed on the device once per repetition (not the warm-up's), and the report,
// the JSON and the log entry show that time and the host time per token beyond it; a host target shows neither.
TEST(Harness, ReportsDeviceTimePerDecodeStep) {
    testing::FakeCounters c;
    BenchSettings s = quiet_settings(4, 5, 3);
    s.reload = false;
    const BenchResult gpu =
        run_bench([&] { return std::make_unique<testing::FakeTarget>(&c, -1, 0.25); }, {}, s, BuildInfo{"v", "c"});
    ASSERT_EQ(gpu.step_device_ms, std::vector<double>(3, 0.25));
    ASSERT_EQ(gpu.step_host_us().size(), 3u);
    for (size_t i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(gpu.step_host_us()[i], 1e6 / gpu.forward_tok_s[i] - 250.0);
    const std::string report = format_report(gpu), entry = format_log_entry(gpu, "x");
    EXPECT_NE(report.find("on the GPU:   250.0 ± 0.0 us per step"), std::string::npos) << report;
    EXPECT_DOUBLE_EQ(to_json(gpu)["generation"]["step_device_us"]["mean"].get<double>(), 250.0);
    EXPECT_NE(entry.find("| Decode step | 250.0"), std::string::npos) << entry;

    const BenchResult host =
        run_bench([&] { return std::make_unique<testing::FakeTarget>(&c); }, {}, s, BuildInfo{"v", "c"});
    EXPECT_TRUE(host.step_device_ms.empty());
    EXPECT_EQ(format_report(host).find("on the GPU"), std::string::npos);
    EXPECT_TRUE(to_json(host)["generation"]["step_device_us"].is_null());
    EXPECT_EQ(format_log_entry(host, "x").find("Decode step"), std::string::npos);
}

TEST(Harness, QualityHashIsReproducible) {
    testing::FakeCounters c1, c2;
    BenchSettings s;
    s.n_prompt = 4;
    s.n_gen = 2;
    s.reps = 1;
    s.reload = false;
    s.progress = false;
    const BenchResult a = run_bench([&] { return std::make_unique<testing::FakeTarget>(&c1); }, {}, s, {});
    s.n_prompt = 9;  // timing settings do not touch the quality run
    const BenchResult b = run_bench([&] { return std::make_unique<testing::FakeTarget>(&c2); }, {}, s, {});
    EXPECT_EQ(a.quality_ids, b.quality_ids);
    EXPECT_EQ(a.quality_hash, b.quality_hash);
    EXPECT_TRUE(a.reload_ms.empty());
}

TEST(Harness, RejectsEmptyRuns) {
    testing::FakeCounters c;
    BenchSettings s;
    s.progress = false;
    s.reps = 0;
    EXPECT_THROW(run_bench([&] { return std::make_unique<testing::FakeTarget>(&c); }, {}, s, {}), UsageError);
    EXPECT_EQ(c.loads, 0);
}

TEST(Harness, TimingPromptIsFixedAndInRange) {
    const std::vector<int32_t> a = timing_prompt(32000, 1, 50);
    ASSERT_EQ(a.size(), 50u);
    EXPECT_EQ(a[0], 1);
    EXPECT_EQ(a, timing_prompt(32000, 1, 50));
    for (const int32_t id : a) {
        EXPECT_GE(id, 0);
        EXPECT_LT(id, 32000);
    }
    const std::vector<int32_t> no_bos = timing_prompt(10, -1, 5);
    EXPECT_EQ(no_bos.size(), 5u);
    EXPECT_TRUE(timing_prompt(100, 1, 0).empty());
}

}  // namespace
}  // namespace spool::bench
