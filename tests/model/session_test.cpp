// Session behaviour on the tiny models: rows do not depend on how a sequence is batched (prefill, chunks or
// decode steps), truncate rewinds exactly, errors leave the session usable, every KV cache type runs, and the
// same seed gives the same sampled text.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "backend/registry.h"
#include "model/reference.h"
#include "sampling/chain.h"
#include "spool/engine.h"
#include "spool/errors.h"
#include "spool/session.h"
#include "tokenizer/tokenizer.h"

namespace spool::testing {
namespace {

std::vector<int32_t> prompt_tokens() {
    // A prompt of 20 ids (BOS first), from the tiny models' vocabulary.
    return {1, 450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366, 11203, 29889, 13, 1576, 338, 263, 1243,
            310, 29871};
}

class SessionOnTiny : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        SPOOL_REQUIRE_SHARED("models/tiny/tiny-" + GetParam() + ".gguf");
        engine_ = std::make_unique<Engine>(tiny_model_path(GetParam()));
    }
    std::unique_ptr<Engine> engine_;
};

// The property the model tests rely on: a row computed in a batch of 20, in chunks of 7, or by decode steps
// is the same bits, so teacher-forced rows equal free-running ones.
TEST_P(SessionOnTiny, DecodeRowsEqualPrefillRows) {
    const std::vector<int32_t> tokens = prompt_tokens();
    Session whole(*engine_);
    whole.prefill(tokens, Logits::all);

    SessionOptions chunked_options;
    chunked_options.batch_size = 7;
    Session chunked(*engine_, chunked_options);
    chunked.prefill(tokens, Logits::all);
    ASSERT_EQ(chunked.n_logit_rows(), static_cast<int64_t>(tokens.size()));

    Session stepwise(*engine_);
    stepwise.prefill(std::span<const int32_t>(tokens).first(5), Logits::all);
    for (size_t i = 0; i < 5; ++i) {
        const auto a = whole.logits_row(static_cast<int64_t>(i)), b = stepwise.logits_row(static_cast<int64_t>(i));
        ASSERT_TRUE(std::equal(a.begin(), a.end(), b.begin())) << "row " << i << " of a shorter prefill";
    }
    for (size_t i = 5; i < tokens.size(); ++i) {
        stepwise.decode(tokens[i]);
        const auto a = whole.logits_row(static_cast<int64_t>(i)), b = stepwise.last_logits();
        ASSERT_TRUE(std::equal(a.begin(), a.end(), b.begin())) << "decode step at position " << i;
        const auto c = chunked.logits_row(static_cast<int64_t>(i));
        ASSERT_TRUE(std::equal(a.begin(), a.end(), c.begin())) << "chunked prefill row " << i;
    }
    EXPECT_EQ(stepwise.n_past(), static_cast<int64_t>(tokens.size()));
}

TEST_P(SessionOnTiny, TruncateRewindsExactly) {
    const std::vector<int32_t> tokens = prompt_tokens();
    Session session(*engine_);
    session.prefill(tokens);
    const std::vector<float> first(session.last_logits().begin(), session.last_logits().end());
    session.decode(42);
    session.decode(43);
    session.truncate(static_cast<int64_t>(tokens.size()) - 1);
    EXPECT_EQ(session.n_logit_rows(), 0);
    EXPECT_THROW(session.last_logits(), UsageError);
    session.decode(tokens.back());
    const auto again = session.last_logits();
    EXPECT_TRUE(std::equal(first.begin(), first.end(), again.begin()));
    EXPECT_THROW(session.truncate(session.n_past() + 1), UsageError);
}

TEST_P(SessionOnTiny, ErrorsLeaveTheSessionUsable) {
    SessionOptions options;
    options.n_ctx = 24;
    Session session(*engine_, options);
    const std::vector<int32_t> tokens = prompt_tokens();
    session.prefill(tokens);
    const std::vector<int32_t> too_many(5, 100);
    try {
        session.prefill(too_many);
        ADD_FAILURE() << "a context overflow did not throw";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("context overflow"), std::string::npos) << e.what();
    }
    EXPECT_THROW(session.decode(-1), UsageError);
    EXPECT_THROW(session.decode(static_cast<int32_t>(session.n_vocab())), UsageError);
    EXPECT_THROW(session.prefill({}), UsageError);
    EXPECT_EQ(session.n_past(), static_cast<int64_t>(tokens.size()));
    session.decode(100);  // still fits: 21 of 24
    EXPECT_EQ(session.n_past(), 21);
}

// Each KV cache type runs and stays close to the f32 cache. On the F32 file the rounding of f16 / q8_0 keys and
// values moves the last row by less than the F16 / Q8_0 file tolerances; on a quantized file the 8-bit rounding
// of activations amplifies it (../shared/reference/README.md §6), so that file's own tolerance applies. A q4_0
// cache (16 levels per block of 32) moves it most: its own limit on either file (tolerances.h kLogitsQ4_0Cache).
TEST_P(SessionOnTiny, EveryKvCacheTypeRuns) {
    const std::vector<int32_t> tokens = prompt_tokens();
    std::vector<std::vector<float>> rows;
    for (const KvCacheType type : {KvCacheType::f32, KvCacheType::f16, KvCacheType::q8_0, KvCacheType::q4_0}) {
        SessionOptions options;
        options.kv_type = type;
        Session session(*engine_, options);
        session.prefill(tokens);
        rows.emplace_back(session.last_logits().begin(), session.last_logits().end());
    }
    const Comparison f16 = compare(std::span<const float>(rows[0]), std::span<const float>(rows[1]));
    const Comparison q8 = compare(std::span<const float>(rows[0]), std::span<const float>(rows[2]));
    const Comparison q4 = compare(std::span<const float>(rows[0]), std::span<const float>(rows[3]));
    const bool float_file = GetParam() == "F32";
    const double f16_limit = float_file ? tolerance::kLogitsF16.max_abs : tiny_tolerance(GetParam()).max_abs;
    const double q8_limit = float_file ? tolerance::kLogitsQ8_0.max_abs : tiny_tolerance(GetParam()).max_abs;
    EXPECT_LT(f16.max_abs, f16_limit) << "f16 cache vs f32: " << f16.report();
    EXPECT_LT(q8.max_abs, q8_limit) << "q8_0 cache vs f32: " << q8.report();
    EXPECT_GT(q8.max_abs, 0.0) << "a q8_0 cache that changes nothing was not used";
    EXPECT_LT(q4.max_abs, tolerance::kLogitsQ4_0Cache) << "q4_0 cache vs f32: " << q4.report();
    EXPECT_GT(q4.max_abs, 0.0) << "a q4_0 cache that changes nothing was not used";
    std::printf("[ tiny-%s ] last row vs the f32 cache: f16 max_abs %.4g, q8_0 %.4g, q4_0 %.4g (limit %.3g)\n",
                GetParam().c_str(), f16.max_abs, q8.max_abs, q4.max_abs, tolerance::kLogitsQ4_0Cache);
}

// The last logits row after a 12-token prefill and decode steps over the rest of prompt_tokens() (decode steps read
// the cache), with keys of type k and values of v (k's without one).
std::vector<float> last_row_with_cache(const Engine& engine, KvCacheType k, std::optional<KvCacheType> v) {
    const std::vector<int32_t> tokens = prompt_tokens();
    SessionOptions options;
    options.kv_type = k;
    options.kv_type_v = v;
    Session session(engine, options);
    session.prefill(std::span<const int32_t>(tokens).first(12));
    for (size_t i = 12; i < tokens.size(); ++i) session.decode(tokens[i]);
    return std::vector<float>(session.last_logits().begin(), session.last_logits().end());
}

// Keys and values of different types (-ctk q8_0 -ctv q4_0): the cpu backend reads each half by its own type and
// row size, and so does the float64 ref backend on its own code path. On the F32 file both give the same last row
// within the F16 logit tolerance (measured: 3e-5 to 6e-4; a half read by the other half's type or row size gives
// garbage); on quantized weights the cpu backend's int8 activations already put it further from the ref than that, so
// there only the second check runs: a pair differs from either type alone (each half's type was used).
TEST_P(SessionOnTiny, MixedKvCacheTypesMatchTheReference) {
    EngineOptions ref_options;
    ref_options.backend = "ref";
    const Engine ref_engine(tiny_model_path(GetParam()), ref_options);
    struct Pair {
        KvCacheType k, v;
    };
    for (const Pair pair : {Pair{KvCacheType::q8_0, KvCacheType::q4_0}, Pair{KvCacheType::q4_0, KvCacheType::f32},
                            Pair{KvCacheType::f16, KvCacheType::q8_0}}) {
        const std::vector<float> cpu = last_row_with_cache(*engine_, pair.k, pair.v);
        if (GetParam() == "F32") {
            const std::vector<float> ref = last_row_with_cache(ref_engine, pair.k, pair.v);
            const Comparison c = compare(std::span<const float>(ref), std::span<const float>(cpu));
            EXPECT_LT(c.max_abs, tolerance::kLogitsF16.max_abs) << "cpu vs ref: " << c.report();
        }
        for (const KvCacheType alone : {pair.k, pair.v}) {
            const std::vector<float> one_type = last_row_with_cache(*engine_, alone, std::nullopt);
            EXPECT_GT(compare(std::span<const float>(one_type), std::span<const float>(cpu)).max_abs, 1e-4)
                << "the pair gave what one type alone gives";
        }
    }
}

TEST_P(SessionOnTiny, SameSeedSameText) {
    auto generate = [&](uint64_t seed) {
        SessionOptions options;
        options.seed = seed;
        Session session(*engine_, options);
        sampling::SamplingParams params;
        params.temperature = 20.0f;  // the random tiny model's logits spread about 16, so flatten them
        params.top_k = 0;
        params.top_p = 1.0f;
        params.min_p = 0.0f;
        sampling::SamplerChain chain(params);
        session.prefill(engine_->tokenizer().encode("Once upon a time", true));
        std::vector<int32_t> out;
        for (int i = 0; i < 12; ++i) {
            out.push_back(session.sample(chain));
            session.decode(out.back());
        }
        return engine_->tokenizer().decode(out);
    };
    const std::string a = generate(11);
    EXPECT_EQ(a, generate(11));
    EXPECT_NE(a, generate(12));
}

struct Generated {
    std::vector<int32_t> tokens;
    SampleCounts counts;
};

Generated generate_with(const Engine& engine, const sampling::SamplingParams& params, SamplingPath path,
                        uint64_t seed, int n_tokens) {
    SessionOptions options;
    options.seed = seed;
    options.sampling_path = path;
    Session session(engine, options);
    sampling::SamplerChain chain(params);
    session.prefill(engine.tokenizer().encode("Once upon a time", true));
    Generated out;
    for (int i = 0; i < n_tokens; ++i) {
        out.tokens.push_back(session.sample(chain));
        session.decode(out.tokens.back());
    }
    out.counts = session.sample_counts();
    return out;
}

sampling::SamplingParams chain_params(float temperature, int top_k, float top_p, float min_p) {
    sampling::SamplingParams p;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    return p;
}

// The candidate path (Backend::top_k, then SamplerChain::sample_top) draws the full row's tokens, seed for seed.
// The tiny model's logits are far apart (the first and tenth largest differ by 5 to 13), so top-p and min-p are
// set wide and the temperatures high enough that the draws differ between seeds.
void expect_candidate_path_matches(const Engine& engine, SamplingPath candidate_path) {
    constexpr int kTokens = 16;
    const std::vector<sampling::SamplingParams> chains = {
        chain_params(0.8f, 40, 0.9f, 0.0f),      // the chain: top-k decides alone
        chain_params(8.0f, 40, 1.0f, 0.0f),      // top-k alone, flattened
        chain_params(3.0f, 40, 0.999f, 0.001f),  // all four stages
        chain_params(3.0f, 0, 0.999f, 0.0f),     // top-p over the whole row: needs the row's log-sum-exp
        chain_params(4.0f, 0, 1.0f, 0.001f),     // min-p alone: survivors drawn in id order
    };
    int seeds_differ = 0;  // the draws must matter, or equal tokens would prove nothing
    for (size_t c = 0; c < chains.size(); ++c) {
        std::vector<std::vector<int32_t>> per_seed;
        for (const uint64_t seed : {3u, 4u}) {
            SCOPED_TRACE("chain " + std::to_string(c) + " seed " + std::to_string(seed));
            const Generated full = generate_with(engine, chains[c], SamplingPath::full_row, seed, kTokens);
            const Generated top = generate_with(engine, chains[c], candidate_path, seed, kTokens);
            per_seed.push_back(full.tokens);
            EXPECT_EQ(full.tokens, top.tokens);
            EXPECT_EQ(full.counts.full_row, kTokens);
            EXPECT_EQ(full.counts.top_candidates + full.counts.argmax, 0);
            EXPECT_EQ(top.counts.top_candidates + top.counts.full_row, kTokens);
            EXPECT_EQ(top.counts.undecided, top.counts.full_row);
            if (chains[c].top_k > 0) {
                EXPECT_EQ(top.counts.top_candidates, kTokens);
            }
            // Every chain here decides from the candidates on most steps of this peaked model.
            EXPECT_GT(top.counts.top_candidates, kTokens / 2);
        }
        seeds_differ += per_seed[0] != per_seed[1] ? 1 : 0;
    }
    EXPECT_GE(seeds_differ, 3);
}

TEST_P(SessionOnTiny, TopCandidatesGiveTheFullRowsTokens) {
    expect_candidate_path_matches(*engine_, SamplingPath::top_candidates);
}

TEST_P(SessionOnTiny, HostBackendsReadTheRowAutomatically) {
    const Generated g = generate_with(*engine_, sampling::SamplingParams{}, SamplingPath::automatic, 1, 4);
    EXPECT_EQ(g.counts.full_row, 4);
    EXPECT_EQ(g.counts.top_candidates, 0);
}

bool cuda_available() {
    const std::vector<std::string> backends = available_backends();
    return std::find(backends.begin(), backends.end(), "cuda") != backends.end();
}

EngineOptions cuda_options() {
    EngineOptions options;
    options.backend = "cuda";
    return options;
}

// On a GPU the automatic path keeps the row there (skipped without a CUDA build and a GPU).
TEST_P(SessionOnTiny, CudaCandidatePathGivesTheFullRowsTokens) {
    if (!cuda_available()) GTEST_SKIP() << "needs a CUDA build and a GPU";
    const EngineOptions options = cuda_options();
    const Engine engine(tiny_model_path(GetParam()), options);
    expect_candidate_path_matches(engine, SamplingPath::automatic);
    const Generated greedy = generate_with(engine, sampling::SamplingParams::greedy(), SamplingPath::automatic, 1, 12);
    EXPECT_EQ(greedy.counts.argmax, 12);
    EXPECT_EQ(greedy.tokens,
              generate_with(engine, sampling::SamplingParams::greedy(), SamplingPath::full_row, 1, 12).tokens);
    // After a greedy sample, decode steps compute their argmax inside the step: a chain that changes between steps
    // must still get its own tokens.
    auto mixed = [&](SamplingPath path) {
        SessionOptions o;
        o.seed = 5;
        o.sampling_path = path;
        Session s(engine, o);
        sampling::SamplerChain greedy_chain(sampling::SamplingParams::greedy());
        sampling::SamplerChain warm_chain(chain_params(3.0f, 40, 1.0f, 0.0f));
        s.prefill(engine.tokenizer().encode("Once upon a time", true));
        std::vector<int32_t> out;
        for (int i = 0; i < 12; ++i) {
            out.push_back(s.sample(i % 3 == 2 ? warm_chain : greedy_chain));
            s.decode(out.back());
        }
        return out;
    };
    EXPECT_EQ(mixed(SamplingPath::automatic), mixed(SamplingPath::full_row));
}

// Q8_0 keys with Q4_0 values on a GPU: the CUDA kernels read each half by its own type and row size. On the F32 file
// the last row is the cpu backend's within the Q8_0 logit tolerance. On quantized weights the two backends' K and V
// differ by their int8 activations, and the coarse steps of a 4-bit cache amplify that on the random tiny model, so
// there the bound is a Q4_0 cache's (kLogitsQ4_0Cache), which reading a half by the other half's type or row size
// exceeds (inf or NaN). H100, cuda against cpu, max_abs with the pair / Q8_0 for both / Q4_0 for both: tiny-Q4_K_M
// 7.02 / 2.75 / 7.77; an F32 file made from tiny-F16 by spool quantize 0.26 / 0.09 / 3e-5. Either way the pair differs
// from a Q8_0 and a Q4_0 cache on the same backend (both halves were read as stored). Skipped without a CUDA build and
// a GPU.
TEST_P(SessionOnTiny, CudaMixedKvCacheMatchesTheCpu) {
    if (!cuda_available()) GTEST_SKIP() << "needs a CUDA build and a GPU";
    const Engine cuda_engine(tiny_model_path(GetParam()), cuda_options());
    const std::vector<float> cuda = last_row_with_cache(cuda_engine, KvCacheType::q8_0, KvCacheType::q4_0);
    const std::vector<float> cpu = last_row_with_cache(*engine_, KvCacheType::q8_0, KvCacheType::q4_0);
    const Comparison c = compare(std::span<const float>(cpu), std::span<const float>(cuda));
    const double limit = GetParam() == "F32" ? tolerance::kLogitsQ8_0.max_abs : tolerance::kLogitsQ4_0Cache;
    EXPECT_LT(c.max_abs, limit) << "cuda vs cpu, K q8_0 V q4_0: " << c.report();
    double alone_max_abs[2] = {};
    for (int i = 0; i < 2; ++i) {
        const KvCacheType alone = i == 0 ? KvCacheType::q8_0 : KvCacheType::q4_0;
        const std::vector<float> one_type = last_row_with_cache(cuda_engine, alone, std::nullopt);
        const std::vector<float> one_type_cpu = last_row_with_cache(*engine_, alone, std::nullopt);
        EXPECT_GT(compare(std::span<const float>(one_type), std::span<const float>(cuda)).max_abs, 1e-4)
            << "the pair gave what one type alone gives";
        alone_max_abs[i] = compare(std::span<const float>(one_type_cpu), std::span<const float>(one_type)).max_abs;
    }
    std::printf("[ tiny-%s ] cuda vs cpu: K q8_0 V q4_0 max_abs %.4g (limit %.3g); q8_0 for both %.4g, q4_0 %.4g\n",
                GetParam().c_str(), c.max_abs, limit, alone_max_abs[0], alone_max_abs[1]);
}

// A CUDA backend repeats a session's decode steps without recording them (StepGraph repeat keys). Two sessions
// decoding in turn on one engine, with a prefill and a truncation between their steps, must each give the rows they
// give alone, bit for bit: a step repeated under the wrong session's key would write that session's cache.
TEST_P(SessionOnTiny, CudaInterleavedSessionsDecodeAsAlone) {
    if (!cuda_available()) GTEST_SKIP() << "needs a CUDA build and a GPU";
    const EngineOptions options = cuda_options();
    const Engine engine(tiny_model_path(GetParam()), options);
    const std::vector<int32_t> tokens = prompt_tokens();
    std::vector<int32_t> other(tokens.rbegin(), tokens.rend() - 1);  // no BOS at the end
    other.insert(other.begin(), tokens.front());
    auto decode_rows = [](Session& s, std::span<const int32_t> steps) {
        std::vector<std::vector<float>> rows;
        for (const int32_t t : steps) {
            s.decode(t);
            rows.emplace_back(s.last_logits().begin(), s.last_logits().end());
        }
        return rows;
    };
    const std::span<const int32_t> all(tokens), all_other(other);
    Session alone_a(engine), alone_b(engine);
    alone_a.prefill(all.first(4));
    alone_b.prefill(all_other.first(6));
    const auto expect_a = decode_rows(alone_a, all.subspan(4));
    const auto expect_b = decode_rows(alone_b, all_other.subspan(6));
    alone_a.truncate(10);
    const auto expect_a_again = decode_rows(alone_a, all_other.subspan(10, 4));
    {  // and the rows of steps all recorded (the backend reads its switch when constructed)
        setenv("SPOOL_CUDA_REPEAT_STEPS", "0", 1);
        const Engine recording(tiny_model_path(GetParam()), options);
        unsetenv("SPOOL_CUDA_REPEAT_STEPS");
        Session r(recording);
        r.prefill(all.first(4));
        EXPECT_EQ(decode_rows(r, all.subspan(4)), expect_a) << "repeated steps differ from recorded ones";
    }

    Session a(engine), b(engine);
    a.prefill(all.first(4));
    size_t ia = 4, ib = 0;
    for (int round = 0; ia < tokens.size() || ib < other.size(); ++round) {
        if (ia < tokens.size()) {
            a.decode(tokens[ia]);
            ASSERT_TRUE(std::ranges::equal(a.last_logits(), expect_a[ia - 4])) << "session a, position " << ia;
            ++ia;
        }
        if (ib == 0) {
            b.prefill(all_other.first(6));  // a prefill between a's steps
            ib = 6;
        } else if (ib < other.size()) {
            b.decode(other[ib]);
            ASSERT_TRUE(std::ranges::equal(b.last_logits(), expect_b[ib - 6])) << "session b, position " << ib;
            ++ib;
        }
    }
    a.truncate(10);
    for (size_t i = 0; i < 4; ++i) {
        a.decode(other[10 + i]);
        ASSERT_TRUE(std::ranges::equal(a.last_logits(), expect_a_again[i])) << "after truncate, step " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(Files, SessionOnTiny, ::testing::Values("F32", "Q4_K_M"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(SessionOptions, KvCacheTypeNames) {
    EXPECT_EQ(parse_kv_cache_type("F16"), KvCacheType::f16);
    EXPECT_EQ(parse_kv_cache_type("q8_0"), KvCacheType::q8_0);
    EXPECT_EQ(parse_kv_cache_type("f32"), KvCacheType::f32);
    EXPECT_EQ(parse_kv_cache_type("q4_0"), KvCacheType::q4_0);
    EXPECT_EQ(parse_kv_cache_type("Q4_0"), KvCacheType::q4_0);
    try {
        parse_kv_cache_type("q4_1");
        ADD_FAILURE() << "q4_1 accepted";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("f32, f16, q8_0, q4_0"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace spool::testing
