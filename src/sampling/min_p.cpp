// Min-p sampling (Nguyen et al. 2024): drop tokens less likely than p times the most likely one.
// p_i >= p * p_max  <=>  logit_i >= logit_max + ln p, so no softmax is needed.
#include <algorithm>
#include <cmath>

#include "sampling/samplers.h"

namespace spool::sampling {

void apply_min_p(Candidates& c, float p) {
    if (p <= 0.0f || c.size() <= 1) return;
    auto& items = c.items();
    float max_logit = -INFINITY;
    for (const Candidate& cand : items) max_logit = std::max(max_logit, cand.logit);
    const float threshold = max_logit + std::log(p);
    // stable_partition keeps the survivors' relative order, so a sorted set stays sorted.
    const auto end = std::stable_partition(items.begin(), items.end(),
                                           [&](const Candidate& cand) { return cand.logit >= threshold; });
    items.erase(end, items.end());
}

}  // namespace spool::sampling
