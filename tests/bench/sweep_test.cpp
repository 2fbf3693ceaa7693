// The sweep: the run grid on a fake target, end-of-generation stops, and the CSV / JSON / summary writers.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "bench/prompts.h"
#include "bench/sweep.h"
#include "bench/sweep_report.h"
#include "fake_target.h"
#include "spool/errors.h"

namespace spool::bench {
namespace {

SweepConfig small_config() {
    SweepConfig c;
    c.models = {"/models/a.gguf", "/models/b.gguf"};
    c.prompts = {{"p1", "hi"}, {"p2", "hello there"}};
    c.max_tokens = {3, 5};
    c.temperatures = {0.0f, 0.7f};
    c.runs = 2;
    c.progress = false;
    return c;
}

SweepRow row(const std::string& model, int max_tokens, float temp, double latency, int tokens) {
    SweepRow r;
    r.model = model;
    r.backend = "cpu";
    r.prompt_id = "p,1";  // a comma forces CSV quoting
    r.prompt_tokens = 4;
    r.max_tokens = max_tokens;
    r.temperature = temp;
    r.run = 1;
    r.latency_s = latency;
    r.ttft_s = latency / 4;
    r.tokens_out = tokens;
    r.tok_s = tokens / latency;
    r.decode_tok_s = (tokens - 1) / (latency - r.ttft_s);
    r.stop = "length";
    return r;
}

TEST(Sweep, RunsTheWholeGrid) {
    testing::FakeCounters counters;
    const SweepConfig c = small_config();
    std::vector<std::string> devices;
    const std::vector<SweepRow> rows = run_sweep(c, [&](const std::string&, const std::string&) {
        return std::make_unique<testing::FakeTarget>(&counters);
    }, &devices);
    EXPECT_EQ(devices, (std::vector<std::string>{"a.gguf / cpu: cpu (avx2), 3 threads", "b.gguf / cpu: cpu (avx2), 3 threads"}));
    ASSERT_EQ(rows.size(), sweep_size(c));
    EXPECT_EQ(rows.size(), 2u * 2u * 2u * 2u * 2u);
    EXPECT_EQ(counters.loads, 2);
    EXPECT_EQ(rows.front().model, "a.gguf");
    EXPECT_EQ(rows.back().model, "b.gguf");
    // Run-major order: all of run 1 before run 2, within one model.
    EXPECT_EQ(rows[0].run, 1);
    EXPECT_EQ(rows[7].run, 1);
    EXPECT_EQ(rows[8].run, 2);
    for (const SweepRow& r : rows) {
        EXPECT_EQ(r.tokens_out, r.max_tokens);  // the fake never ends generation
        EXPECT_EQ(r.stop, "length");
        EXPECT_GE(r.latency_s, r.ttft_s);
        EXPECT_GT(r.tok_s, 0);
    }
    EXPECT_EQ(rows[0].prompt_tokens, 3);  // BOS + "hi"
    // Seeds: run r uses seed + r, at the row's temperature.
    bool saw_hot = false;
    for (const SequenceOptions& o : counters.reset_options) saw_hot = saw_hot || o.temperature > 0.5f;
    EXPECT_TRUE(saw_hot);
}

TEST(Sweep, StopsAtEndOfGenerationUnlessIgnored) {
    // The fake samples (sum of history) % 1000; with prompt "hi" (1 + 104 + 105 = 210) the first token is 210.
    testing::FakeCounters counters;
    SweepConfig c = small_config();
    c.models = {"m.gguf"};
    c.prompts = {{"p1", "hi"}};
    c.max_tokens = {4};
    c.temperatures = {0.0f};
    c.runs = 1;
    auto load = [&](const std::string&, const std::string&) { return std::make_unique<testing::FakeTarget>(&counters, 210); };
    std::vector<SweepRow> rows = run_sweep(c, load);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].tokens_out, 1);
    EXPECT_EQ(rows[0].stop, "eog");
    EXPECT_EQ(rows[0].decode_tok_s, 0.0);
    c.ignore_eos = true;
    rows = run_sweep(c, load);
    EXPECT_EQ(rows[0].tokens_out, 4);
    EXPECT_EQ(rows[0].stop, "length");
}

TEST(Sweep, RejectsEmptyAxes) {
    SweepConfig c = small_config();
    c.runs = 0;
    EXPECT_THROW(run_sweep(c, nullptr), UsageError);
    c = small_config();
    c.max_tokens = {0};
    EXPECT_THROW(run_sweep(c, nullptr), UsageError);
    c = small_config();
    c.temperatures = {};
    EXPECT_THROW(run_sweep(c, nullptr), UsageError);
}

TEST(SweepReport, CsvHasHeaderAndQuotedFields) {
    const std::vector<SweepRow> rows = {row("a.gguf", 32, 0.0f, 2.0, 32), row("a.gguf", 64, 0.7f, 4.0, 64)};
    const std::string csv = sweep_csv(rows);
    std::istringstream in(csv);
    std::string header, line1, line2, extra;
    std::getline(in, header);
    std::getline(in, line1);
    std::getline(in, line2);
    EXPECT_FALSE(std::getline(in, extra));
    EXPECT_EQ(header, "model,backend,prompt_id,prompt_tokens,max_tokens,temperature,run,latency_s,ttft_s,tokens_out,"
                      "tok_s,decode_tok_s,stop");
    EXPECT_EQ(line1, "a.gguf,cpu,\"p,1\",4,32,0,1,2.000000,0.500000,32,16.000,20.667,length");
    EXPECT_EQ(line2.substr(0, 27), "a.gguf,cpu,\"p,1\",4,64,0.7,1");
}

TEST(SweepReport, JsonRowsAndSummaryStats) {
    const std::vector<SweepRow> rows = {row("a.gguf", 32, 0.0f, 1.0, 32), row("a.gguf", 32, 0.7f, 3.0, 32),
                                        row("b.gguf", 64, 0.0f, 5.0, 64)};
    const nlohmann::json j = sweep_rows_json(rows);
    ASSERT_EQ(j.size(), 3u);
    EXPECT_EQ(j[2]["model"], "b.gguf");
    EXPECT_DOUBLE_EQ(j[1]["latency_s"].get<double>(), 3.0);

    SweepConfig c = small_config();
    const nlohmann::json s = sweep_summary_json(c, rows, SweepContext{"2026-01-01T00:00:00Z", {}, {}, {"a.gguf / cpu: cpu (avx2), 2 threads"}, {}, ""});
    EXPECT_EQ(s["n_runs"], 3);
    EXPECT_DOUBLE_EQ(s["overall"]["latency_s"]["mean"].get<double>(), 3.0);
    EXPECT_DOUBLE_EQ(s["overall"]["latency_s"]["sd"].get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(s["overall"]["latency_s"]["min"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(s["overall"]["latency_s"]["max"].get<double>(), 5.0);
    EXPECT_DOUBLE_EQ(s["by_max_tokens"]["32"]["latency_s"]["mean"].get<double>(), 2.0);
    EXPECT_EQ(s["by_max_tokens"]["64"]["latency_s"]["n"], 1);
    EXPECT_DOUBLE_EQ(s["by_temperature"]["0"]["latency_s"]["mean"].get<double>(), 3.0);
    EXPECT_DOUBLE_EQ(s["by_temperature"]["0.7"]["latency_s"]["mean"].get<double>(), 3.0);
    EXPECT_EQ(s["by_model"]["a.gguf/cpu"]["latency_s"]["n"], 2);
    EXPECT_EQ(s["by_prompt"]["p,1"]["latency_s"]["n"], 3);
    EXPECT_EQ(s["devices"][0], "a.gguf / cpu: cpu (avx2), 2 threads");

    const std::string md = sweep_summary_md(rows);
    EXPECT_NE(md.find("## By output length"), std::string::npos);
    EXPECT_NE(md.find("| 32 | 2 | 2.0000 ± 1.4142 |"), std::string::npos) << md;
}

TEST(SweepReport, WritesFilesAndReport) {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                      ("spool_sweep_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    const std::vector<SweepRow> rows = {row("a.gguf", 32, 0.0f, 1.0, 32)};
    SweepConfig c = small_config();
    SweepContext ctx{"2026-01-01T00:00:00Z", {"0.1.0", "abc"}, {"CPU", 2, "Linux"}, {}, {"fig_latency_hist.png"}, ""};
    write_sweep_data(dir, c, rows, ctx);
    write_sweep_report(dir, c, rows, ctx);
    for (const char* f : {"runs.csv", "runs.json", "summary.json", "summary.md", "report.md"}) {
        EXPECT_TRUE(std::filesystem::exists(dir / f)) << f;
    }
    std::ifstream in(dir / "report.md");
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_NE(ss.str().find("![fig_latency_hist.png](fig_latency_hist.png)"), std::string::npos);
    EXPECT_NE(ss.str().find("Left to the reader"), std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST(Prompts, BuiltinAndFiles) {
    EXPECT_EQ(builtin_prompts().size(), 3u);
    EXPECT_EQ(load_prompts("builtin").size(), 3u);
    const auto lines = parse_prompts("# comment\nfirst\n\nsecond\r\n", false, "x.txt");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[1].id, "p2");
    EXPECT_EQ(lines[1].text, "second");
    const auto json = parse_prompts(R"(["a", {"id": "q", "text": "b"}])", true, "x.json");
    ASSERT_EQ(json.size(), 2u);
    EXPECT_EQ(json[1].id, "q");
    EXPECT_THROW(parse_prompts("{}", true, "x.json"), FormatError);
    EXPECT_THROW(parse_prompts("# only a comment\n", false, "x.txt"), UsageError);
    EXPECT_THROW(load_prompts("/nonexistent/prompts.txt"), SystemError);
}

}  // namespace
}  // namespace spool::bench
