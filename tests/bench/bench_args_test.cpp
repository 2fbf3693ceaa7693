// `spool bench` argument parsing: llama-bench's flags, comma lists and repeats, mode selection, and misuse.
#include <gtest/gtest.h>

#include "bench/bench_args.h"
#include "spool/errors.h"

namespace spool::bench {
namespace {

TEST(BenchArgs, SpoolModeDefaultsAndValues) {
    const BenchArgs a = parse_bench_args({"-m", "x.gguf", "-t", "2", "-r", "3", "-p", "64", "-n", "16",
                                          "--backend", "ref", "--title", "T", "--change", "C", "--log", "L.md",
                                          "--drop-cache", "--bandwidth-gbs=12.5", "--json"});
    EXPECT_FALSE(a.llama_mode);
    EXPECT_EQ(a.lb.models, std::vector<std::string>{"x.gguf"});
    EXPECT_EQ(a.lb.n_threads, std::vector<int>{2});
    EXPECT_EQ(a.lb.reps, 3);
    EXPECT_EQ(a.lb.n_prompt, std::vector<int>{64});
    EXPECT_EQ(a.lb.n_gen, std::vector<int>{16});
    EXPECT_TRUE(a.n_prompt_given);
    EXPECT_EQ(a.lb.backends, std::vector<std::string>{"ref"});
    EXPECT_EQ(a.title, "T");
    EXPECT_EQ(a.change, "C");
    EXPECT_EQ(a.log_file, "L.md");
    EXPECT_TRUE(a.drop_cache);
    ASSERT_TRUE(a.bandwidth_gbs);
    EXPECT_DOUBLE_EQ(*a.bandwidth_gbs, 12.5);
    EXPECT_TRUE(a.json);
    EXPECT_FALSE(a.ngl_given);
}

// -ngl splits the model in spool mode too (one value), so a partial offload can be benchmarked and logged.
TEST(BenchArgs, SpoolModeTakesOneGpuLayerCount) {
    const BenchArgs a = parse_bench_args({"-m", "x.gguf", "--backend", "cuda", "-ngl", "11"});
    EXPECT_FALSE(a.llama_mode);
    EXPECT_TRUE(a.ngl_given);
    EXPECT_EQ(a.lb.n_gpu_layers, std::vector<int>{11});
    EXPECT_THROW(parse_bench_args({"-m", "x.gguf", "-ngl", "11,22"}), UsageError);  // a list needs llama mode
    EXPECT_THROW(parse_bench_args({"-m", "x.gguf", "-ub", "256"}), UsageError);      // -ub stays llama mode
}

TEST(BenchArgs, LlamaBenchModeListsAndRepeats) {
    const BenchArgs a = parse_bench_args({"-m", "a.gguf,b.gguf", "-p", "128,512", "-p", "1024", "-n", "0", "-t", "1,2",
                                          "-pg", "512,128", "-d", "0,4096", "-ub", "256", "-ngl", "99", "-o", "csv"});
    EXPECT_TRUE(a.llama_mode);
    EXPECT_EQ(a.lb.models, (std::vector<std::string>{"a.gguf", "b.gguf"}));
    EXPECT_EQ(a.lb.n_prompt, (std::vector<int>{128, 512, 1024}));  // the default 512 is replaced, not kept
    EXPECT_EQ(a.lb.n_gen, std::vector<int>{0});
    EXPECT_EQ(a.lb.n_threads, (std::vector<int>{1, 2}));
    EXPECT_EQ(a.lb.n_pg, (std::vector<std::pair<int, int>>{{512, 128}}));
    EXPECT_EQ(a.lb.n_depth, (std::vector<int>{0, 4096}));
    EXPECT_EQ(a.lb.n_ubatch, std::vector<int>{256});
    EXPECT_EQ(a.lb.output, "csv");
    EXPECT_EQ(make_llama_bench_instances(a.lb).size(), 2u * 2u * 2u * (3u + 1u));
}

// -ctk / -ctv take the KV cache types spool keeps (spool/session.h), one value each in spool mode, equal or not.
TEST(BenchArgs, KvCacheTypes) {
    for (const std::string type : {"f32", "f16", "q8_0", "q4_0"}) {
        const BenchArgs a = parse_bench_args({"-m", "x", "-ctk", type, "-ctv", type});
        EXPECT_EQ(a.lb.type_k, std::vector<std::string>{type});
        EXPECT_EQ(a.lb.type_v, std::vector<std::string>{type});
    }
    const BenchArgs mixed = parse_bench_args({"-m", "x", "-ctk", "q8_0", "-ctv", "q4_0"});  // keys and values apart
    EXPECT_EQ(mixed.lb.type_k, std::vector<std::string>{"q8_0"});
    EXPECT_EQ(mixed.lb.type_v, std::vector<std::string>{"q4_0"});
    EXPECT_THROW(parse_bench_args({"-m", "x", "-ctk", "q8_0", "-ctv", "q4_0,f16"}), UsageError);  // llama-bench mode
    try {
        parse_bench_args({"-m", "x", "-ctk", "q4_1", "-ctv", "q4_1"});
        ADD_FAILURE() << "q4_1 accepted";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("q4_0"), std::string::npos) << e.what();
    }
}

TEST(BenchArgs, ModeTriggers) {
    EXPECT_TRUE(parse_bench_args({"-m", "x", "--llama-bench"}).llama_mode);
    EXPECT_TRUE(parse_bench_args({"-m", "x", "-pg", "1,1"}).llama_mode);
    EXPECT_TRUE(parse_bench_args({"-m", "x", "-d", "8"}).llama_mode);
    EXPECT_FALSE(parse_bench_args({"-m", "x", "-p", "8"}).llama_mode);
}

TEST(BenchArgs, CompareNeedsNoModel) {
    const BenchArgs a = parse_bench_args({"--compare", "CPU decode", "--log", "B.md"});
    EXPECT_EQ(a.compare_title, "CPU decode");
    EXPECT_EQ(a.log_file, "B.md");
}

TEST(BenchArgs, Misuse) {
    EXPECT_THROW(parse_bench_args({}), UsageError);                                   // no model
    EXPECT_THROW(parse_bench_args({"-m", "x", "-p", "1,2"}), UsageError);             // a list outside llama mode
    EXPECT_THROW(parse_bench_args({"-m", "x", "--title", "T"}), UsageError);          // --title without --change
    EXPECT_THROW(parse_bench_args({"-m", "x", "--frobnicate"}), UsageError);          // unknown flag
    EXPECT_THROW(parse_bench_args({"-m", "x", "-p", "abc"}), UsageError);             // not a number
    EXPECT_THROW(parse_bench_args({"-m", "x", "-t"}), UsageError);                    // missing value
    EXPECT_THROW(parse_bench_args({"-m", "x", "-pg", "512"}), UsageError);            // -pg needs two numbers
    EXPECT_THROW(parse_bench_args({"-m", "x", "-ctk", "q4_1"}), UsageError);          // unknown KV type
    EXPECT_THROW(parse_bench_args({"-m", "x", "-o", "md", "--title", "T", "--change", "C"}), UsageError);
    EXPECT_THROW(parse_bench_args({"--compare", "T", "--title", "T", "--change", "C"}), UsageError);
    EXPECT_THROW(parse_bench_args({"-m", "x", "--bandwidth-gbs", "0"}), UsageError);
    EXPECT_TRUE(parse_bench_args({"--help"}).help);
    EXPECT_NE(bench_usage().find("--compare"), std::string::npos);
}

}  // namespace
}  // namespace spool::bench
