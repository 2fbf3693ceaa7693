// llama-bench compatibility: the CSV header is llama-bench's exact column list (c392e50), the cross product of
// flag values, test names, and the value formats of each printer.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <sstream>

#include "bench/llama_bench.h"
#include "bench/llama_bench_run.h"
#include "fake_target.h"

namespace spool::bench {
namespace {

// llama-bench's CSV header at c392e50, written out by hand from test::get_fields().
constexpr const char* kLlamaBenchHeader =
    "build_commit,build_number,cpu_info,gpu_info,backends,model_filename,model_type,model_size,model_n_params,"
    "n_batch,n_ubatch,n_threads,cpu_mask,cpu_strict,poll,type_k,type_v,n_gpu_layers,split_mode,main_gpu,"
    "no_kv_offload,flash_attn,tensor_split,use_mmap,embeddings,n_prompt,n_gen,test_time,avg_ns,stddev_ns,avg_ts,"
    "stddev_ts\n";

LlamaBenchTest sample_test(int n_prompt, int n_gen, int n_depth = 0) {
    LlamaBenchTest t;
    t.inst = {"models/tiny.gguf", "cpu", n_prompt, n_gen, n_depth, 2048, 512, "f16", "f16", 4, 99};
    t.build_commit = "abc1234";
    t.cpu_info = "Test CPU, \"quoted\"";
    t.model_type = "llama ?B Q8_0";
    t.model_size = 9000000;
    t.model_n_params = 8000000;
    t.test_time = "2026-01-02T03:04:05Z";
    t.samples_ns = {1000000000, 2000000000};  // 1 s and 2 s
    return t;
}

TEST(LlamaBench, CsvHeaderIsLlamaBenchsColumnList) {
    LlamaBenchParams p;
    auto csv = make_llama_bench_printer("csv", p, false);
    EXPECT_EQ(csv->header(), kLlamaBenchHeader);
    EXPECT_EQ(llama_bench_fields().size(), 32u);
    auto with_depth = make_llama_bench_printer("csv", p, true);
    std::string h = kLlamaBenchHeader;
    h.replace(h.find(",n_gen,"), 7, ",n_gen,n_depth,");
    EXPECT_EQ(with_depth->header(), h);
}

TEST(LlamaBench, TestNames) {
    EXPECT_EQ(llama_bench_test_name(512, 0, 0), "pp512");
    EXPECT_EQ(llama_bench_test_name(0, 128, 0), "tg128");
    EXPECT_EQ(llama_bench_test_name(512, 128, 0), "pp512+tg128");
    EXPECT_EQ(llama_bench_test_name(512, 0, 4096), "pp512 @ d4096");
    EXPECT_EQ(llama_bench_test_name(0, 32, 128), "tg32 @ d128");
}

TEST(LlamaBench, CrossProductOfFlagValues) {
    LlamaBenchParams p;
    p.models = {"a.gguf", "b.gguf"};
    p.n_prompt = {128, 512};
    p.n_gen = {0};
    p.n_threads = {1, 2};
    const std::vector<LlamaBenchInstance> v = make_llama_bench_instances(p);
    ASSERT_EQ(v.size(), 8u);  // 2 models x 2 threads x 2 prompts
    std::set<std::tuple<std::string, int, int>> seen;
    for (const auto& i : v) {
        EXPECT_EQ(i.n_gen, 0);
        seen.insert({i.model, i.n_threads, i.n_prompt});
    }
    EXPECT_EQ(seen.size(), 8u);
    // llama-bench's order: model outermost, then threads, then the tests.
    EXPECT_EQ(v[0].model, "a.gguf");
    EXPECT_EQ(v[0].n_threads, 1);
    EXPECT_EQ(v[0].n_prompt, 128);
    EXPECT_EQ(v[1].n_prompt, 512);
    EXPECT_EQ(v[2].n_threads, 2);
    EXPECT_EQ(v[4].model, "b.gguf");
}

TEST(LlamaBench, DefaultTestsAndPgAndDepth) {
    LlamaBenchParams p;
    p.models = {"m.gguf"};
    p.n_pg = {{512, 128}, {0, 0}};
    p.n_depth = {0, 4096};
    const std::vector<LlamaBenchInstance> v = make_llama_bench_instances(p);
    ASSERT_EQ(v.size(), 6u);  // (pp512, tg128, pp512+tg128) x 2 depths; the 0,0 pair is skipped
    EXPECT_EQ(llama_bench_test_name(v[0].n_prompt, v[0].n_gen, v[0].n_depth), "pp512");
    EXPECT_EQ(llama_bench_test_name(v[1].n_prompt, v[1].n_gen, v[1].n_depth), "tg128");
    EXPECT_EQ(llama_bench_test_name(v[2].n_prompt, v[2].n_gen, v[2].n_depth), "pp512+tg128");
    EXPECT_EQ(llama_bench_test_name(v[5].n_prompt, v[5].n_gen, v[5].n_depth), "pp512+tg128 @ d4096");
}

TEST(LlamaBench, SampleStatistics) {
    const LlamaBenchTest t = sample_test(100, 0);
    EXPECT_EQ(t.avg_ns(), 1500000000u);
    EXPECT_EQ(t.stddev_ns(), 707106781u);  // sqrt(0.5e18), truncated
    EXPECT_DOUBLE_EQ(t.avg_ts(), 75.0);    // (100 + 50) / 2
    EXPECT_NEAR(t.stddev_ts(), 35.35533905932738, 1e-12);
}

TEST(LlamaBench, CsvRowQuotesEveryValue) {
    LlamaBenchParams p;
    auto csv = make_llama_bench_printer("csv", p, false);
    const std::string row = csv->test(sample_test(512, 0));
    EXPECT_EQ(row.rfind("\"abc1234\",\"0\",\"Test CPU, \"\"quoted\"\"\",\"\",\"CPU\",\"models/tiny.gguf\",", 0), 0u)
        << row;
    EXPECT_NE(row.find(",\"0x0\",\"0\",\"50\",\"f16\",\"f16\",\"99\",\"layer\",\"0\",\"0\",\"0\",\"0.00\",\"1\",\"0\","
                       "\"512\",\"0\",\"2026-01-02T03:04:05Z\",\"1500000000\",\"707106781\","),
              std::string::npos)
        << row;
}

TEST(LlamaBench, JsonAndJsonlAreValidWithLlamaBenchTypes) {
    LlamaBenchParams p;
    auto json = make_llama_bench_printer("json", p, false);
    std::string text = json->header();  // one statement per call: the printer's state depends on the order
    text += json->test(sample_test(512, 0));
    text += json->test(sample_test(0, 128));
    text += json->footer();
    const nlohmann::json j = nlohmann::json::parse(text);
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(j.size(), 2u);
    std::vector<std::string> keys;
    for (auto it = j[0].begin(); it != j[0].end(); ++it) keys.push_back(it.key());
    EXPECT_EQ(keys.size(), 34u);  // 32 fields + samples_ns + samples_ts
    EXPECT_TRUE(j[0]["build_number"].is_number_integer());
    EXPECT_TRUE(j[0]["use_mmap"].is_boolean());
    EXPECT_TRUE(j[0]["use_mmap"].get<bool>());
    EXPECT_FALSE(j[0]["flash_attn"].get<bool>());
    EXPECT_TRUE(j[0]["avg_ts"].is_number_float());
    EXPECT_TRUE(j[0]["cpu_info"].is_string());
    EXPECT_EQ(j[1]["n_gen"], 128);
    EXPECT_EQ(j[0]["samples_ns"].size(), 2u);
    // The field order is llama-bench's (nlohmann keeps sorted keys, so check the raw text).
    EXPECT_LT(text.find("\"build_commit\""), text.find("\"build_number\""));
    EXPECT_LT(text.find("\"avg_ts\""), text.find("\"stddev_ts\""));

    auto jsonl = make_llama_bench_printer("jsonl", p, false);
    EXPECT_EQ(jsonl->header(), "");
    const std::string line = jsonl->test(sample_test(512, 0));
    ASSERT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    EXPECT_EQ(nlohmann::json::parse(line)["n_prompt"], 512);
}

TEST(LlamaBench, MarkdownTableLikeLlamaBench) {
    LlamaBenchParams p;
    auto md = make_llama_bench_printer("md", p, false);
    const std::string header = md->header();
    EXPECT_EQ(header,
              "| model                          |       size |     params | backend    | threads |          test |"
              "                  t/s |\n"
              "| ------------------------------ | ---------: | ---------: | ---------- | ------: | ------------: |"
              " -------------------: |\n");
    const std::string row = md->test(sample_test(512, 0));
    EXPECT_EQ(row,
              "| llama ?B Q8_0                  |   8.58 MiB |     8.00 M | CPU        |       4 |         pp512 |"
              "      384.00 ± 181.02 |\n");
    EXPECT_EQ(md->footer(), "\nbuild: abc1234 (0)\n");
    EXPECT_THROW(make_llama_bench_printer("sql", p, false), Error);
}

TEST(LlamaBench, RunnerTimesEachTestAndReloadsOnlyWhenNeeded) {
    testing::FakeCounters counters;
    LlamaBenchParams p;
    p.models = {"m.gguf"};
    p.n_prompt = {16};
    p.n_gen = {8};
    p.n_pg = {{4, 2}};
    p.n_depth = {0, 5};
    p.n_threads = {3};
    p.reps = 2;
    p.output = "csv";
    auto printer = make_llama_bench_printer("csv", p, true);
    std::string out;
    run_llama_bench(p, [&](const LlamaBenchInstance&) { return std::make_unique<testing::FakeTarget>(&counters); },
                    BuildInfo{"0.1.0", "abc"}, *printer, [&](const std::string& s) { out += s; }, false);
    EXPECT_EQ(counters.loads, 1);
    // 6 tests, each 1 warm-up + 2 reps.
    EXPECT_EQ(counters.resets, 18);
    std::istringstream in(out);
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(in, line)) lines.push_back(line);
    ASSERT_EQ(lines.size(), 7u) << out;
    EXPECT_NE(lines[6].find("\"4\",\"2\",\"5\""), std::string::npos) << lines[6];  // n_prompt, n_gen, n_depth
    // Decodes: tg8 -> 1 + 2*8, pp4+tg2 -> 1 + 2*2, per depth: 2 * (17 + 5) = 44.
    EXPECT_EQ(counters.decodes, 44);
}

// -ctk and -ctv apart reach each sequence as they were given (whether a backend keeps the pair is the session's
// question: it throws UnsupportedError on cuda), in llama-bench's cross-product order, and the table shows both.
TEST(LlamaBench, KeyAndValueTypesReachTheSequence) {
    LlamaBenchParams p;
    p.models = {"m.gguf"};
    p.n_prompt = {4};
    p.n_gen = {0};
    p.reps = 1;
    p.type_k = {"q8_0"};
    p.type_v = {"q4_0", "f16"};
    auto printer = make_llama_bench_printer("md", p, false);
    testing::FakeCounters counters;
    std::string out;
    run_llama_bench(p, [&](const LlamaBenchInstance&) { return std::make_unique<testing::FakeTarget>(&counters); },
                    BuildInfo{}, *printer, [&](const std::string& s) { out += s; }, false);
    ASSERT_FALSE(counters.reset_options.empty());
    EXPECT_EQ(counters.reset_options.front().kv_type, "q8_0");
    EXPECT_EQ(counters.reset_options.front().kv_type_v, "q4_0");
    EXPECT_EQ(counters.reset_options.back().kv_type_v, "f16");
    EXPECT_NE(out.find("q4_0"), std::string::npos) << out;
}

}  // namespace
}  // namespace spool::bench
