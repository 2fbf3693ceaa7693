// A sampler chain built from user parameters, in llama.cpp's default order: logit bias, penalties, top-k,
// typical, top-p, min-p, temperature, then a draw (or greedy when temperature <= 0).
#pragma once

#include <cstdint>
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

    const SamplingParams& params() const noexcept { return params_; }

private:
    SamplingParams params_;
    Candidates candidates_;
};

}  // namespace spool::sampling
