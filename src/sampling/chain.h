// A sampler chain built from user parameters, in llama.cpp's default order: logit bias, penalties, top-k,
// typical, top-p, min-p, temperature, then a draw (or greedy when temperature <= 0).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "sampling/candidates.h"
#include "sampling/rng.h"

namespace spool::sampling {

struct SamplingParams {
    float temperature = 0.8f;  // <= 0: greedy (after bias and penalties)
    int top_k = 40;            // <= 0: off
    float top_p = 0.95f;       // 1: off
    float min_p = 0.05f;       // 0: off
    float typical_p = 1.0f;    // 1: off
    float repeat_penalty = 1.0f;     // 1: off
    float frequency_penalty = 0.0f;  // 0: off
    float presence_penalty = 0.0f;   // 0: off
    int penalty_last_n = 64;         // window of recent tokens the penalties look at; 0: off, -1: whole history
    std::vector<std::pair<int32_t, float>> logit_bias;

    static SamplingParams greedy();
};

class SamplerChain {
public:
    // Throws UsageError for a value out of range (naming it, with the accepted range).
    explicit SamplerChain(SamplingParams params);

    // Picks the next token from one logit row [n_vocab]; `history` is the sequence so far (prompt included),
    // whose last penalty_last_n tokens the penalties see. Uses rng only when drawing.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history, Rng& rng);

    // --- Sampling from a row's largest entries only (a GPU keeps the row and returns these: Session::sample).
    // How many of the row's largest entries sample_top() needs, at most max_k: min(top_k, n_vocab) when top-k
    // runs, else max_k when top-p or min-p may end within them; 0 when no prefix of the sorted row decides
    // the token (greedy, logit bias, penalties, typical, a top-k above max_k, temperature alone).
    int candidates_wanted(int64_t n_vocab, int max_k) const;
    // The token sample() draws from the whole row (same rng draw, same result), computed from the row's
    // largest entries as Backend::top_k returns them (values and ids, largest first, ties to the lower id) and
    // the row's log-sum-exp. nullopt, with rng untouched, when they do not provably decide it: the row holds a
    // NaN or an infinity (lse not finite), top-p's mass is not reached within them (or lands too close to
    // top_p to be sure), min-p's threshold lies beyond them, or the chain is one candidates_wanted() refuses.
    std::optional<int32_t> sample_top(std::span<const float> values, std::span<const int32_t> ids, int64_t n_vocab,
                                      double log_sum_exp, Rng& rng);

    const SamplingParams& params() const noexcept { return params_; }

private:
    // The stages after the penalties, in their order (top-k, typical, top-p, min-p, temperature), then the draw:
    // what sample() and sample_top() share once candidates_ holds the row or its largest entries.
    int32_t draw(Rng& rng);

    SamplingParams params_;
    Candidates candidates_;
};

}  // namespace spool::sampling
