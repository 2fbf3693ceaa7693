// The sampler chain: validates parameters once, then runs the samplers in a fixed order per token.
#include "sampling/chain.h"

#include <algorithm>
#include <string>

#include "sampling/samplers.h"
#include "spool/errors.h"

namespace spool::sampling {
namespace {

void require(bool ok, const std::string& name, float value, const char* accepted) {
    if (!ok) throw UsageError("sampling parameter " + name + " = " + std::to_string(value) + " is out of range; " + accepted);
}

}  // namespace

SamplingParams SamplingParams::greedy() {
    SamplingParams p;
    p.temperature = 0.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

SamplerChain::SamplerChain(SamplingParams params) : params_(std::move(params)) {
    const SamplingParams& p = params_;
    require(p.temperature >= 0.0f, "temperature", p.temperature, "expected >= 0 (0 = greedy)");
    require(p.top_p > 0.0f && p.top_p <= 1.0f, "top_p", p.top_p, "expected (0, 1]");
    require(p.min_p >= 0.0f && p.min_p <= 1.0f, "min_p", p.min_p, "expected [0, 1]");
    require(p.typical_p > 0.0f && p.typical_p <= 1.0f, "typical_p", p.typical_p, "expected (0, 1]");
    require(p.repeat_penalty > 0.0f, "repeat_penalty", p.repeat_penalty, "expected > 0 (1 = off)");
    require(p.penalty_last_n >= -1, "penalty_last_n", static_cast<float>(p.penalty_last_n),
            "expected >= -1 (-1 = whole history, 0 = off)");
}

int32_t SamplerChain::sample(std::span<const float> logits, std::span<const int32_t> history, Rng& rng) {
    const SamplingParams& p = params_;
    Candidates& c = candidates_;
    c.reset(logits);
    apply_logit_bias(c, p.logit_bias);
    if (p.penalty_last_n != 0) {
        const size_t n = p.penalty_last_n < 0 ? history.size()
                                              : std::min(history.size(), static_cast<size_t>(p.penalty_last_n));
        apply_penalties(c, history.subspan(history.size() - n), p.repeat_penalty, p.frequency_penalty,
                        p.presence_penalty);
    }
    if (p.temperature <= 0.0f) return pick_greedy(c);
    return draw(rng);
}

int32_t SamplerChain::draw(Rng& rng) {
    const SamplingParams& p = params_;
    Candidates& c = candidates_;
    apply_top_k(c, p.top_k);
    apply_typical(c, p.typical_p);
    apply_top_p(c, p.top_p);
    apply_min_p(c, p.min_p);
    apply_temperature(c, p.temperature);
    return pick_random(c, rng);
}

}  // namespace spool::sampling
