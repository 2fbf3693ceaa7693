// The perplexity arithmetic (src/bench/perplexity.h) against plain float64 formulas on random data: how a text
// is cut into chunks, -log softmax of a row, and the PPL estimate with its error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bench/perplexity.h"
#include "spool/errors.h"
#include "test_support.h"

namespace spool::bench {
namespace {

TEST(PerplexityPlan, CutsLikeLlamaPerplexity) {
    // ../shared/reference README section 5: 1,684 tokens at -c 128 -> 13 chunks, 63 scored in each, 819 in all.
    const PerplexityPlan plan = plan_perplexity(1684, 128);
    EXPECT_EQ(plan.n_chunks, 13);
    EXPECT_EQ(plan.first_scored, 64);
    EXPECT_EQ(plan.scored_per_chunk(), 63);
    EXPECT_EQ(plan_perplexity(1684, 128, 5).n_chunks, 5);
    EXPECT_EQ(plan_perplexity(1684, 128, 50).n_chunks, 13);
    // An odd context: the second half starts at n_ctx / 2 rounded down.
    const PerplexityPlan odd = plan_perplexity(30, 7);
    EXPECT_EQ(odd.n_chunks, 4);
    EXPECT_EQ(odd.first_scored, 3);
    EXPECT_EQ(odd.scored_per_chunk(), 3);
    // Exactly two chunks is enough.
    EXPECT_EQ(plan_perplexity(256, 128).n_chunks, 2);
}

void expect_usage_error(int64_t n_tokens, int64_t n_ctx, int64_t max_chunks, const std::string& needle) {
    try {
        plan_perplexity(n_tokens, n_ctx, max_chunks);
        ADD_FAILURE() << "no error for " << n_tokens << " tokens, n_ctx " << n_ctx << ", chunks " << max_chunks;
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST(PerplexityPlan, RejectsWhatCannotBeScored) {
    expect_usage_error(255, 128, -1, "needs at least 256");
    expect_usage_error(100, 3, -1, "at least 4");
    expect_usage_error(1000, 128, 0, "--chunks");
    expect_usage_error(1000, 128, -2, "--chunks");
}

double nll_float64(std::span<const float> row, int32_t token) {
    double max = -INFINITY;
    for (float v : row) max = std::max(max, static_cast<double>(v));
    double sum = 0;
    for (float v : row) sum += std::exp(static_cast<double>(v) - max);
    return max + std::log(sum) - static_cast<double>(row[static_cast<size_t>(token)]);
}

TEST(TokenNll, EqualsFloat64LogSoftmax) {
    for (const float offset : {0.0f, 80.0f, -300.0f}) {  // large logits must not overflow exp
        for (const size_t n : {size_t{1}, size_t{7}, size_t{32000}}) {
            std::vector<float> row = testing::random_floats(n, 11 + n, 6.0f, offset);
            for (const int32_t token : {0, static_cast<int32_t>(n / 2), static_cast<int32_t>(n - 1)}) {
                const double expected = nll_float64(row, token);
                EXPECT_NEAR(token_nll(row, token), expected, 1e-12 * std::max(1.0, std::fabs(expected)))
                    << "n " << n << " offset " << offset << " token " << token;
            }
        }
    }
    const std::vector<float> row = testing::random_floats(10, 3);
    EXPECT_THROW(token_nll(row, 10), UsageError);
    EXPECT_THROW(token_nll(row, -1), UsageError);
}

TEST(NllStats, MeanPplAndErrorEqualTheFormulas) {
    NllStats none;
    EXPECT_EQ(none.count(), 0);
    EXPECT_EQ(none.ppl_error(), 0.0);

    const std::vector<float> values = testing::random_floats(819, 5, 1.5f, 4.0f);
    NllStats stats;
    double sum = 0;
    for (float v : values) {
        stats.add(v);
        sum += v;
    }
    const double n = static_cast<double>(values.size());
    const double mean = sum / n;
    double squared_deviations = 0;
    for (float v : values) squared_deviations += (v - mean) * (v - mean);
    // llama-perplexity's "+/-": the standard error of the mean NLL with the population variance over n - 1,
    // carried to PPL by d exp(x) = exp(x) dx.
    const double error = std::sqrt(squared_deviations / n / (n - 1)) * std::exp(mean);
    EXPECT_EQ(stats.count(), 819);
    EXPECT_NEAR(stats.mean_nll(), mean, 1e-12);
    EXPECT_NEAR(stats.ppl(), std::exp(mean), 1e-12 * std::exp(mean));
    EXPECT_NEAR(stats.ppl_error(), error, 1e-9 * error);

    NllStats one;
    one.add(2.0);
    EXPECT_EQ(one.ppl_error(), 0.0);
    EXPECT_NEAR(one.ppl(), std::exp(2.0), 1e-12);
}

}  // namespace
}  // namespace spool::bench
