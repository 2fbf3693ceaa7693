// SamplerChain::sample_top against sample() on the whole row: whenever it decides, the token and the rng state
// after it are the same; it refuses (rng untouched) when the candidates given cannot decide; and
// candidates_wanted asks for the right number per chain.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "sampling/chain.h"

namespace spool::sampling {
namespace {

constexpr int kMaxK = 256;  // Backend::kMaxTopK's value; sampling does not depend on the backend module

struct Top {
    std::vector<float> values;
    std::vector<int32_t> ids;
    double lse = 0;
};

// What Backend::top_k returns for a finite row: the first k of a full sort (ties to the lower id), and the row's
// log-sum-exp.
Top top_of(const std::vector<float>& row, int k) {
    std::vector<int32_t> order(row.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return row[static_cast<size_t>(a)] > row[static_cast<size_t>(b)]; });
    Top t;
    for (int j = 0; j < k; ++j) {
        t.ids.push_back(order[static_cast<size_t>(j)]);
        t.values.push_back(row[static_cast<size_t>(order[static_cast<size_t>(j)])]);
    }
    const double max = *std::max_element(row.begin(), row.end());
    double sum = 0;
    for (float v : row) sum += std::exp(static_cast<double>(v) - max);
    t.lse = max + std::log(sum);
    return t;
}

std::vector<float> normal_row(size_t n, uint64_t seed, float scale) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> row(n);
    for (float& v : row) v = dist(rng);
    return row;
}

SamplingParams params(float temperature, int top_k, float top_p, float min_p) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    return p;
}

TEST(SampleTop, CandidatesWantedPerChain) {
    EXPECT_EQ(SamplerChain(SamplingParams{}).candidates_wanted(32000, kMaxK), 40);  // the defaults: top-k 40
    EXPECT_EQ(SamplerChain(params(0.8f, 300, 0.9f, 0.0f)).candidates_wanted(32000, kMaxK), 0);
    EXPECT_EQ(SamplerChain(params(0.8f, 0, 0.9f, 0.0f)).candidates_wanted(32000, kMaxK), kMaxK);
    EXPECT_EQ(SamplerChain(params(0.8f, 0, 1.0f, 0.05f)).candidates_wanted(32000, kMaxK), kMaxK);
    EXPECT_EQ(SamplerChain(params(0.8f, 0, 0.9f, 0.0f)).candidates_wanted(100, kMaxK), 100);
    EXPECT_EQ(SamplerChain(params(0.8f, 32000, 0.9f, 0.0f)).candidates_wanted(32000, kMaxK), kMaxK);  // k >= n: off
    EXPECT_EQ(SamplerChain(params(0.8f, 0, 1.0f, 0.0f)).candidates_wanted(32000, kMaxK), 0);  // temperature alone
    EXPECT_EQ(SamplerChain(SamplingParams::greedy()).candidates_wanted(32000, kMaxK), 0);
    SamplingParams typical = params(0.8f, 0, 0.9f, 0.0f);
    typical.typical_p = 0.9f;
    EXPECT_EQ(SamplerChain(typical).candidates_wanted(32000, kMaxK), 0);
    typical.top_k = 20;  // typical then sees only the 20 survivors
    EXPECT_EQ(SamplerChain(typical).candidates_wanted(32000, kMaxK), 20);
    SamplingParams biased;
    biased.logit_bias = {{5, 1.0f}};
    EXPECT_EQ(SamplerChain(biased).candidates_wanted(32000, kMaxK), 0);
    SamplingParams penalized;
    penalized.repeat_penalty = 1.1f;
    EXPECT_EQ(SamplerChain(penalized).candidates_wanted(32000, kMaxK), 0);
    penalized.penalty_last_n = 0;  // penalties off
    EXPECT_EQ(SamplerChain(penalized).candidates_wanted(32000, kMaxK), 40);
}

// For many chains and rows: sample_top, when it decides, equals sample() on the whole row, token and rng alike.
TEST(SampleTop, DecidesExactlyAsTheFullRow) {
    std::vector<SamplingParams> chains = {
        params(0.8f, 40, 0.9f, 0.0f),  params(0.8f, 40, 0.95f, 0.05f), params(1.5f, 1, 1.0f, 0.0f),
        params(1.0f, 256, 1.0f, 0.0f), params(0.7f, 0, 0.9f, 0.0f),    params(1.2f, 0, 0.5f, 0.1f),
        params(1.0f, 0, 1.0f, 0.05f),  params(2.0f, 0, 1.0f, 0.3f),    params(0.9f, 0, 0.99f, 0.0f),
    };
    SamplingParams typical = params(1.0f, 30, 0.9f, 0.0f);
    typical.typical_p = 0.8f;
    chains.push_back(typical);
    const std::vector<int32_t> history = {1, 2, 3};
    for (size_t c = 0; c < chains.size(); ++c) {
        int decided = 0, tried = 0, top_k_decided = 0, top_k_tried = 0;
        for (const size_t n : {size_t{7}, size_t{300}, size_t{5000}}) {
            const bool top_k_runs = chains[c].top_k > 0 && static_cast<size_t>(chains[c].top_k) < n;
            for (const float scale : {0.5f, 2.0f, 5.0f}) {
                for (uint64_t seed = 1; seed <= 8; ++seed) {
                    const std::vector<float> row = normal_row(n, seed * 1000 + n, scale);
                    SamplerChain full(chains[c]), top(chains[c]);
                    const int k = top.candidates_wanted(static_cast<int64_t>(n), kMaxK);
                    if (k == 0) continue;  // e.g. typical once top-k (30 > n = 7) is off
                    const Top t = top_of(row, k);
                    Rng rng_full(seed), rng_top(seed);
                    const int32_t want = full.sample(row, history, rng_full);
                    const std::optional<int32_t> got =
                        top.sample_top(t.values, t.ids, static_cast<int64_t>(n), t.lse, rng_top);
                    ++tried;
                    top_k_tried += top_k_runs ? 1 : 0;
                    if (!got) {
                        EXPECT_EQ(rng_top.uniform(), Rng(seed).uniform()) << "an undecided call drew from the rng";
                        continue;
                    }
                    ++decided;
                    top_k_decided += top_k_runs ? 1 : 0;
                    EXPECT_EQ(*got, want) << "chain " << c << " n=" << n << " scale=" << scale << " seed=" << seed;
                    EXPECT_EQ(rng_top.uniform(), rng_full.uniform()) << "chain " << c;
                }
            }
        }
        // Where top-k runs the candidates always decide; otherwise the peaked rows at least must.
        EXPECT_EQ(top_k_decided, top_k_tried) << "chain " << c;
        EXPECT_GT(tried, 0) << "chain " << c;
        EXPECT_GT(decided, tried / 4) << "chain " << c;
    }
}

// A nucleus inside the candidates decides; one reaching past them, or ending within the margin of top_p, does not.
TEST(SampleTop, TopPDecidesOnlyWhenTheNucleusIsInside) {
    // Three tokens with 0.5, 0.3, 0.1 of the mass; 0.1 spread evenly over 9997 more.
    constexpr size_t n = 10000;
    std::vector<float> row(n, static_cast<float>(std::log(0.1 / 9997)));
    row[4321] = static_cast<float>(std::log(0.5));
    row[17] = static_cast<float>(std::log(0.3));
    row[9000] = static_cast<float>(std::log(0.1));
    const Top t = top_of(row, 16);
    ASSERT_EQ(t.ids[0], 4321);
    for (const float top_p : {0.4f, 0.7f, 0.85f}) {
        SamplerChain chain(params(1.0f, 0, top_p, 0.0f));
        for (uint64_t seed = 1; seed <= 20; ++seed) {
            Rng a(seed), b(seed);
            const std::optional<int32_t> got = chain.sample_top(t.values, t.ids, n, t.lse, a);
            ASSERT_TRUE(got.has_value()) << "top_p " << top_p;
            EXPECT_EQ(*got, SamplerChain(params(1.0f, 0, top_p, 0.0f)).sample(row, {}, b));
        }
    }
    Rng rng(5);
    EXPECT_FALSE(SamplerChain(params(1.0f, 0, 0.95f, 0.0f)).sample_top(t.values, t.ids, n, t.lse, rng));
    // Cumulative mass after three tokens is 0.9 (in float64 from float logits): a top_p within 1e-5 of it is
    // too close to call.
    double mass3 = 0;
    for (int j = 0; j < 3; ++j) mass3 += std::exp(static_cast<double>(t.values[static_cast<size_t>(j)]) - t.lse);
    EXPECT_FALSE(SamplerChain(params(1.0f, 0, static_cast<float>(mass3), 0.0f)).sample_top(t.values, t.ids, n, t.lse, rng));
    EXPECT_EQ(rng.uniform(), Rng(5).uniform()) << "an undecided call drew from the rng";
}

TEST(SampleTop, MinPDecidesOnlyWhenTheThresholdIsCrossed) {
    const std::vector<float> row = normal_row(2000, 3, 1.0f);
    const Top t = top_of(row, 32);
    // The 32nd largest of 2000 normal values is about 2 below the largest: min_p 0.5 (ln = -0.69) ends inside,
    // min_p 0.01 (ln = -4.6) does not.
    SamplerChain inside(params(1.0f, 0, 1.0f, 0.5f)), outside(params(1.0f, 0, 1.0f, 0.01f));
    ASSERT_LT(t.values.back(), t.values[0] + std::log(0.5f));
    ASSERT_GE(t.values.back(), t.values[0] + std::log(0.01f));
    for (uint64_t seed = 1; seed <= 50; ++seed) {
        Rng a(seed), b(seed);
        const std::optional<int32_t> got = inside.sample_top(t.values, t.ids, 2000, t.lse, a);
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(*got, SamplerChain(params(1.0f, 0, 1.0f, 0.5f)).sample(row, {}, b)) << "seed " << seed;
    }
    Rng rng(1);
    EXPECT_FALSE(outside.sample_top(t.values, t.ids, 2000, t.lse, rng));
}

TEST(SampleTop, RefusesWhatItCannotTrust) {
    const std::vector<float> row = normal_row(500, 9, 3.0f);
    Top t = top_of(row, 40);
    SamplerChain chain(params(0.8f, 40, 0.9f, 0.0f));
    Rng rng(1);
    EXPECT_TRUE(chain.sample_top(t.values, t.ids, 500, t.lse, rng));
    EXPECT_FALSE(chain.sample_top(t.values, t.ids, 500, std::numeric_limits<double>::quiet_NaN(), rng));  // NaN row
    EXPECT_FALSE(chain.sample_top(t.values, t.ids, 500, INFINITY, rng));
    EXPECT_FALSE(chain.sample_top(std::span(t.values).first(39), std::span(t.ids).first(39), 500, t.lse, rng));
    Top swapped = t;
    std::swap(swapped.values[3], swapped.values[4]);
    std::swap(swapped.ids[3], swapped.ids[4]);
    EXPECT_FALSE(chain.sample_top(swapped.values, swapped.ids, 500, t.lse, rng));  // not in top_k's order
    Top bad_id = t;
    bad_id.ids[5] = 500;
    EXPECT_FALSE(chain.sample_top(bad_id.values, bad_id.ids, 500, t.lse, rng));
    EXPECT_FALSE(SamplerChain(SamplingParams::greedy()).sample_top(t.values, t.ids, 500, t.lse, rng));
}

}  // namespace
}  // namespace spool::sampling
