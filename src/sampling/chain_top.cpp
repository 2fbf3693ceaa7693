// The sampler chain run from a row's largest entries instead of the whole row, for backends that keep logits on
// a GPU. It must give the token sample() gives, bit for bit and with the same rng draw, so every path below
// either proves that the entries it was given are all that sample() would still hold when it draws, in the
// order it would hold them, or gives up (nullopt) and leaves the row to sample().
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "sampling/chain.h"
#include "sampling/samplers.h"

namespace spool::sampling {
namespace {

// top-p's cut is decided here with the row's float64 log-sum-exp, and in sample() with float probabilities
// summed in float64: they differ by far less than 1e-6 (float rounding of each p, about 6e-8 of the mass), so a
// cumulative mass within this margin of top_p is too close to call and goes to the full row.
constexpr double kTopPMargin = 1e-5;

bool penalties_active(const SamplingParams& p) {
    return p.penalty_last_n != 0 &&
           (p.repeat_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f);
}

// Backend::top_k's order, strictly: larger value first, ties to the lower id (a NaN fails every comparison).
bool strictly_ordered(std::span<const float> values, std::span<const int32_t> ids) {
    for (size_t i = 1; i < values.size(); ++i) {
        if (!(values[i - 1] > values[i] || (values[i - 1] == values[i] && ids[i - 1] < ids[i]))) return false;
    }
    return true;
}

}  // namespace

int SamplerChain::candidates_wanted(int64_t n_vocab, int max_k) const {
    const SamplingParams& p = params_;
    if (n_vocab < 1 || max_k < 1) return 0;
    // Bias and penalties move single ids anywhere in the row; greedy has its own argmax path.
    if (p.temperature <= 0.0f || !p.logit_bias.empty() || penalties_active(p)) return 0;
    // After top-k every later sampler sees only its k survivors: exact whenever k entries come back.
    if (p.top_k > 0 && p.top_k < n_vocab) return p.top_k <= max_k ? p.top_k : 0;
    if (p.typical_p < 1.0f) return 0;  // the entropy of the whole row
    if (p.top_p < 1.0f || p.min_p > 0.0f) return static_cast<int>(std::min<int64_t>(max_k, n_vocab));
    return 0;  // temperature alone draws from the whole row
}

std::optional<int32_t> SamplerChain::sample_top(std::span<const float> values, std::span<const int32_t> ids,
                                                int64_t n_vocab, double log_sum_exp, Rng& rng) {
    const SamplingParams& p = params_;
    const size_t m = values.size();
    if (m == 0 || ids.size() != m || static_cast<int64_t>(m) > n_vocab || !std::isfinite(log_sum_exp)) {
        return std::nullopt;
    }
    if (candidates_wanted(n_vocab, static_cast<int>(std::min<size_t>(m, INT32_MAX))) == 0) {
        return std::nullopt;  // includes a top-k larger than the entries given
    }
    for (const int32_t id : ids) {
        if (id < 0 || id >= n_vocab) return std::nullopt;
    }
    if (!strictly_ordered(values, ids)) return std::nullopt;

    Candidates& c = candidates_;
    if (p.top_k > 0 && p.top_k < n_vocab) {
        // sample() keeps the k largest, sorted: exactly the first k given. Every later sampler then runs on the
        // same set in the same order.
        c.reset(values, ids, true);
        return draw(rng);
    }

    // No top-k: sample()'s top-p or min-p sees the whole row (typical is off: candidates_wanted).
    size_t keep = m;
    bool sorted_order = false;
    if (p.top_p < 1.0f && n_vocab > 1) {
        // apply_top_p: probabilities over the whole row, cut after the first prefix whose mass reaches top_p.
        double cumulative = 0.0;
        bool cut = false;
        for (size_t i = 0; i < m && !cut; ++i) {
            const double before = cumulative;
            cumulative += std::exp(static_cast<double>(values[i]) - log_sum_exp);
            if (cumulative >= p.top_p) {
                if (cumulative < p.top_p + kTopPMargin || before >= p.top_p - kTopPMargin) return std::nullopt;
                keep = i + 1;
                cut = true;
            }
        }
        if (!cut) return std::nullopt;  // the nucleus reaches past the entries given
        sorted_order = true;            // apply_top_p sorted the row
    } else if (p.min_p > 0.0f && n_vocab > 1) {
        // apply_min_p keeps logit >= max + ln(min_p); the entries not given are <= the last one given.
        const float threshold = values[0] + std::log(p.min_p);
        if (static_cast<int64_t>(m) < n_vocab && !(values[m - 1] < threshold)) return std::nullopt;
    } else if (static_cast<int64_t>(m) < n_vocab) {
        return std::nullopt;
    }
    c.reset(values.first(keep), ids.first(keep), sorted_order);
    if (!sorted_order) {
        // Nothing sorted the row in sample(): its survivors reach the draw in id order, and the draw walks them
        // in that order.
        std::sort(c.items().begin(), c.items().end(), [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
    }
    apply_min_p(c, p.min_p);
    apply_temperature(c, p.temperature);
    return pick_random(c, rng);
}

}  // namespace spool::sampling
