// `spool perplexity`'s computation (bench::run_perplexity) on every tiny model file against llama-perplexity's
// result for the same file and text (../shared/reference/tiny/perplexity.json, README section 5): ln PPL, the
// running value after each chunk, the "+/-" and the number of scored tokens. On the cpu backend, on cuda where this
// build has it and a GPU exists, and on the ref backend (float64 oracle) over the first two chunks.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "backend/registry.h"
#include "bench/perplexity.h"
#include "model/reference.h"
#include "spool/engine.h"
#include "spool/session.h"
#include "tokenizer/tokenizer.h"

namespace spool::testing {
namespace {

double ln_ppl_tolerance(const std::string& type) {
    if (type == "F32") return tolerance::kLnPplF32;
    if (type == "F16") return tolerance::kLnPplF16;
    return tolerance::kLnPplQuantized;
}

std::string ppl_text() {
    std::ifstream in(shared_dir() / "reference/ppl.txt", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// "cpu", and "cuda" twice where this build has it and a GPU exists: scored by prefill batches and by decode steps
// (the decode kernels; on the cpu backend a decode row equals the prefill row, see BatchSizeDoesNotChangeTheResult).
std::vector<std::string> tested_backends() {
    std::vector<std::string> out{"cpu"};
    for (const std::string& name : available_backends()) {
        if (name == "cuda") {
            out.push_back(name);
            out.push_back(name + "_decode");
        }
    }
    return out;
}

using PerplexityCase = std::tuple<std::string, std::string>;
class TinyPerplexity : public ::testing::TestWithParam<PerplexityCase> {};

TEST_P(TinyPerplexity, MatchesLlamaPerplexity) {
    const std::string type = std::get<0>(GetParam());
    const std::string variant = std::get<1>(GetParam());
    const bool decode = variant.ends_with("_decode");
    const std::string backend = decode ? variant.substr(0, variant.size() - 7) : variant;
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-" + type + ".gguf");
    SPOOL_REQUIRE_SHARED("reference/tiny/perplexity.json");
    SPOOL_REQUIRE_SHARED("reference/ppl.txt");
    const PerplexityReference ref = load_perplexity_reference(type);
    EngineOptions engine_options;
    engine_options.backend = backend;
    Engine engine(tiny_model_path(type), engine_options);
    const std::vector<int32_t> tokens = engine.tokenizer().encode(ppl_text(), true, false);
    ASSERT_EQ(tokens.size(), 1684u) << "README section 5: the text is 1,684 tokens with BOS";

    bench::PerplexityOptions options;
    options.n_ctx = ref.n_ctx;
    options.batch_size = ref.n_ctx;
    options.kv_type = parse_kv_cache_type(ref.kv_cache_type);
    options.score_by_decode = decode;
    const bench::PerplexityResult r = bench::run_perplexity(engine, tokens, options);

    const double tol = ln_ppl_tolerance(type);
    EXPECT_EQ(r.plan.n_chunks, ref.n_chunks);
    EXPECT_EQ(r.stats.count(), ref.tokens_scored);
    EXPECT_NEAR(r.stats.mean_nll(), ref.ln_ppl, tol);
    ASSERT_EQ(r.running_ppl.size(), ref.running_ppl.size());
    double running_worst = 0;  // the largest running difference, scaled back to the final value's
    for (size_t c = 0; c < r.running_ppl.size(); ++c) {
        // Early chunks average fewer tokens: allow the tolerance times sqrt(all chunks / chunks so far).
        const double scale = std::sqrt(static_cast<double>(ref.n_chunks) / static_cast<double>(c + 1));
        const double diff = std::log(r.running_ppl[c]) - std::log(ref.running_ppl[c]);
        running_worst = std::max(running_worst, std::fabs(diff) / scale);
        EXPECT_LE(std::fabs(diff), tol * scale) << "after chunk " << c + 1;
    }
    // The "+/-" relative to PPL is the standard error of the mean NLL: the spread of per-token NLLs, ~60 nats here.
    EXPECT_NEAR(r.stats.ppl_error() / r.stats.ppl(), ref.ppl_pm_over_ppl, 0.01 * ref.ppl_pm_over_ppl);
    std::printf("[ tiny-%-6s %-11s ] ln PPL %.6f, llama-perplexity %.6f (diff %.2e, running %.2e, tol %.1e)\n",
                type.c_str(), variant.c_str(), r.stats.mean_nll(), ref.ln_ppl, r.stats.mean_nll() - ref.ln_ppl,
                running_worst, tol);
}

INSTANTIATE_TEST_SUITE_P(AllFiles, TinyPerplexity,
                         ::testing::Combine(::testing::ValuesIn(tiny_types()),
                                            ::testing::ValuesIn(tested_backends())),
                         [](const ::testing::TestParamInfo<PerplexityCase>& info) {
                             return std::get<0>(info.param) + "_" + std::get<1>(info.param);
                         });

// The float64 oracle over the first two chunks, against llama-perplexity's running value after chunk 2.
TEST(TinyPerplexityRefBackend, FirstTwoChunksMatchLlamaPerplexity) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    SPOOL_REQUIRE_SHARED("reference/tiny/perplexity.json");
    SPOOL_REQUIRE_SHARED("reference/ppl.txt");
    const PerplexityReference ref = load_perplexity_reference("F32");
    EngineOptions engine_options;
    engine_options.backend = "ref";
    Engine engine(tiny_model_path("F32"), engine_options);
    const std::vector<int32_t> tokens = engine.tokenizer().encode(ppl_text(), true, false);
    bench::PerplexityOptions options;
    options.n_ctx = ref.n_ctx;
    options.max_chunks = 2;
    options.kv_type = KvCacheType::f32;
    const bench::PerplexityResult r = bench::run_perplexity(engine, tokens, options);
    ASSERT_EQ(r.running_ppl.size(), 2u);
    EXPECT_EQ(r.stats.count(), 2 * 63);
    EXPECT_NEAR(std::log(r.running_ppl[1]), std::log(ref.running_ppl[1]), tolerance::kLnPplF32 * 3);
}

// The scored rows do not depend on how the chunk is batched: batches of 5 (uneven, many prefill calls per
// chunk) and one decode step per token give the cpu backend's result for one batch per half chunk exactly.
TEST(TinyPerplexity, BatchSizeDoesNotChangeTheResult) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-Q4_K_M.gguf");
    SPOOL_REQUIRE_SHARED("reference/ppl.txt");
    Engine engine(tiny_model_path("Q4_K_M"));
    const std::vector<int32_t> tokens = engine.tokenizer().encode(ppl_text(), true, false);
    bench::PerplexityOptions options;
    options.n_ctx = 128;
    options.max_chunks = 3;
    const bench::PerplexityResult whole = bench::run_perplexity(engine, tokens, options);
    options.batch_size = 5;
    const bench::PerplexityResult small = bench::run_perplexity(engine, tokens, options);
    EXPECT_EQ(small.stats.count(), whole.stats.count());
    EXPECT_EQ(small.stats.mean_nll(), whole.stats.mean_nll());
    options.score_by_decode = true;
    const bench::PerplexityResult decoded = bench::run_perplexity(engine, tokens, options);
    EXPECT_EQ(decoded.stats.count(), whole.stats.count());
    EXPECT_EQ(decoded.stats.mean_nll(), whole.stats.mean_nll());
}

}  // namespace
}  // namespace spool::testing
