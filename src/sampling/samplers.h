// The individual samplers, one small file each. Each transforms a Candidates set in place (filters keep at
// least one candidate); pick_* functions choose the final token.
#pragma once

#include <cstdint>
#include <span>
#include <utility>

#include "sampling/candidates.h"
#include "sampling/rng.h"

namespace spool::sampling {

// logit[id] += bias for each (id, bias); -inf bans a token. Ids outside the candidates are ignored.
void apply_logit_bias(Candidates& c, std::span<const std::pair<int32_t, float>> biases);

// Penalties on tokens in `window` (the last penalty_last_n tokens of the history), as in CTRL (Keskar et al.
// 2019) and the OpenAI API: a repeated token's logit is divided by `repeat` when positive and multiplied when
// negative, then reduced by count * frequency + presence.
void apply_penalties(Candidates& c, std::span<const int32_t> window, float repeat, float frequency, float presence);

// Keeps the k largest logits (k <= 0: no-op).
void apply_top_k(Candidates& c, int k);
// Nucleus sampling (Holtzman et al. 2019): keeps the smallest prefix of the sorted candidates whose total
// probability reaches p (p >= 1: no-op).
void apply_top_p(Candidates& c, float p);
// Keeps candidates whose probability is at least p times the largest one (p <= 0: no-op).
void apply_min_p(Candidates& c, float p);
// Locally typical sampling (Meister et al. 2022): keeps the candidates whose surprisal is closest to the
// entropy, until their total probability reaches p (p >= 1: no-op).
void apply_typical(Candidates& c, float p);
// Divides every logit by t (t > 0).
void apply_temperature(Candidates& c, float t);

// The largest logit; ties go to the lowest id.
int32_t pick_greedy(const Candidates& c);
// A draw from softmax(logits) with one uniform number from rng.
int32_t pick_random(Candidates& c, Rng& rng);

}  // namespace spool::sampling
