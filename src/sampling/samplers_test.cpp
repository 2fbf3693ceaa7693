// Each sampler on a small distribution whose answer is known by hand, plus the chain's determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "sampling/chain.h"
#include "sampling/samplers.h"
#include "spool/errors.h"

namespace spool::sampling {
namespace {

std::vector<float> log_probs(const std::vector<double>& p) {
    std::vector<float> out;
    for (double v : p) out.push_back(static_cast<float>(std::log(v)));
    return out;
}

std::set<int32_t> ids(const Candidates& c) {
    std::set<int32_t> s;
    for (const Candidate& cand : c.items()) s.insert(cand.id);
    return s;
}

TEST(Sampling, GreedyPicksLargestAndBreaksTiesToLowestId) {
    Candidates c;
    const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
    c.reset(logits);
    EXPECT_EQ(pick_greedy(c), 1);
}

TEST(Sampling, TemperatureScalesLogits) {
    Candidates c;
    const std::vector<float> logits = {1.0f, 3.0f};
    c.reset(logits);
    apply_temperature(c, 2.0f);
    c.softmax();
    // softmax([0.5, 1.5]) = [1/(1+e), e/(1+e)]
    EXPECT_NEAR(c.items()[0].p, 1.0 / (1.0 + std::exp(1.0)), 1e-7);
    EXPECT_NEAR(c.items()[1].p, std::exp(1.0) / (1.0 + std::exp(1.0)), 1e-7);
}

TEST(Sampling, TopKKeepsTheKLargest) {
    Candidates c;
    const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.0f, 2.5f};
    c.reset(logits);
    apply_top_k(c, 2);
    EXPECT_EQ(ids(c), (std::set<int32_t>{1, 4}));
    apply_top_k(c, 0);  // off
    EXPECT_EQ(c.size(), 2u);
}

TEST(Sampling, TopPKeepsSmallestPrefixReachingP) {
    const auto logits = log_probs({0.05, 0.5, 0.15, 0.3});
    Candidates c;
    c.reset(logits);
    apply_top_p(c, 0.79f);  // 0.5 + 0.3 = 0.8 >= 0.79
    EXPECT_EQ(ids(c), (std::set<int32_t>{1, 3}));
    c.reset(logits);
    apply_top_p(c, 0.81f);  // needs 0.15 too
    EXPECT_EQ(ids(c), (std::set<int32_t>{1, 3, 2}));
    c.reset(logits);
    apply_top_p(c, 1.0f);  // off
    EXPECT_EQ(c.size(), 4u);
}

TEST(Sampling, MinPDropsTokensBelowFractionOfMax) {
    const auto logits = log_probs({0.5, 0.3, 0.15, 0.05});
    Candidates c;
    c.reset(logits);
    apply_min_p(c, 0.2f);  // threshold 0.1: 0.05 goes
    EXPECT_EQ(ids(c), (std::set<int32_t>{0, 1, 2}));
    c.reset(logits);
    apply_min_p(c, 0.5f);  // threshold 0.25
    EXPECT_EQ(ids(c), (std::set<int32_t>{0, 1}));
}

TEST(Sampling, TypicalKeepsTokensNearTheEntropy) {
    // H = 1.2799 nats; surprisals 0.916, 1.204, 1.609, 2.303 -> distances 0.364, 0.076, 0.330, 1.023.
    const auto logits = log_probs({0.4, 0.3, 0.2, 0.1});
    Candidates c;
    c.reset(logits);
    apply_typical(c, 0.45f);  // 0.3 (id 1), then 0.2 (id 2): 0.5 >= 0.45
    EXPECT_EQ(ids(c), (std::set<int32_t>{1, 2}));
    c.reset(logits);
    apply_typical(c, 0.55f);  // + id 0
    EXPECT_EQ(ids(c), (std::set<int32_t>{0, 1, 2}));
}

TEST(Sampling, PenaltiesFollowRepeatFrequencyPresenceRules) {
    const std::vector<float> logits = {4.0f, -1.0f, 3.0f, 2.0f};
    const std::vector<int32_t> window = {0, 1, 0, 0};
    Candidates c;
    c.reset(logits);
    apply_penalties(c, window, 2.0f, 0.0f, 0.0f);
    EXPECT_FLOAT_EQ(c.items()[0].logit, 2.0f);   // positive: divided
    EXPECT_FLOAT_EQ(c.items()[1].logit, -2.0f);  // negative: multiplied
    EXPECT_FLOAT_EQ(c.items()[2].logit, 3.0f);   // not in the window
    c.reset(logits);
    apply_penalties(c, window, 1.0f, 0.5f, 1.0f);
    EXPECT_FLOAT_EQ(c.items()[0].logit, 4.0f - 3 * 0.5f - 1.0f);
    EXPECT_FLOAT_EQ(c.items()[1].logit, -1.0f - 0.5f - 1.0f);
    EXPECT_FLOAT_EQ(c.items()[3].logit, 2.0f);
}

TEST(Sampling, LogitBiasAddsAndBans) {
    const std::vector<float> logits = {1.0f, 5.0f, 2.0f};
    Candidates c;
    c.reset(logits);
    const std::vector<std::pair<int32_t, float>> bias = {{1, -INFINITY}, {2, 0.5f}, {99, 1.0f}};
    apply_logit_bias(c, bias);
    EXPECT_EQ(pick_greedy(c), 2);
    EXPECT_FLOAT_EQ(c.items()[2].logit, 2.5f);
}

TEST(Sampling, RandomDrawMatchesTheDistribution) {
    const std::vector<double> p = {0.1, 0.6, 0.3};
    const auto logits = log_probs(p);
    Rng rng(1234);
    Candidates c;
    std::vector<int> counts(3, 0);
    constexpr int kDraws = 30000;
    for (int i = 0; i < kDraws; ++i) {
        c.reset(logits);
        ++counts[static_cast<size_t>(pick_random(c, rng))];
    }
    for (size_t i = 0; i < p.size(); ++i) {
        // 5 standard deviations of a binomial proportion.
        const double sd = std::sqrt(p[i] * (1 - p[i]) / kDraws);
        EXPECT_NEAR(counts[i] / static_cast<double>(kDraws), p[i], 5 * sd) << "token " << i;
    }
}

TEST(Sampling, ChainIsDeterministicPerSeedAndGreedyAtZeroTemperature) {
    std::vector<float> logits(50);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(std::sin(i * 1.7) * 3.0);
    const std::vector<int32_t> history = {3, 4, 5};
    SamplingParams params;
    params.temperature = 1.5f;
    params.top_k = 0;
    params.top_p = 1.0f;
    params.min_p = 0.0f;
    auto run = [&](uint64_t seed) {
        SamplerChain chain(params);
        Rng rng(seed);
        std::vector<int32_t> out;
        for (int i = 0; i < 64; ++i) out.push_back(chain.sample(logits, history, rng));
        return out;
    };
    EXPECT_EQ(run(7), run(7));
    EXPECT_NE(run(7), run(8));

    SamplerChain greedy(SamplingParams::greedy());
    Rng rng(1);
    const int32_t expected = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    EXPECT_EQ(greedy.sample(logits, history, rng), expected);
}

TEST(Sampling, ChainPenaltyWindowSeesOnlyRecentTokens) {
    const std::vector<float> logits = {5.0f, 4.0f, 0.0f};
    SamplingParams params = SamplingParams::greedy();
    params.repeat_penalty = 10.0f;
    params.penalty_last_n = 2;
    SamplerChain chain(params);
    Rng rng(1);
    const std::vector<int32_t> old_repeat = {0, 2, 2};  // token 0 is outside the window of 2
    EXPECT_EQ(chain.sample(logits, old_repeat, rng), 0);
    const std::vector<int32_t> recent_repeat = {2, 2, 0};
    EXPECT_EQ(chain.sample(logits, recent_repeat, rng), 1);
}

TEST(Sampling, ChainRejectsOutOfRangeParameters) {
    SamplingParams params;
    params.top_p = 0.0f;
    EXPECT_THROW(SamplerChain{params}, UsageError);
    params = {};
    params.temperature = -1.0f;
    EXPECT_THROW(SamplerChain{params}, UsageError);
}

}  // namespace
}  // namespace spool::sampling
