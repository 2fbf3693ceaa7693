// Repetition (CTRL, Keskar et al. 2019), frequency and presence penalties over a window of recent tokens.
#include <unordered_map>

#include "sampling/samplers.h"

namespace spool::sampling {

void apply_penalties(Candidates& c, std::span<const int32_t> window, float repeat, float frequency, float presence) {
    if (window.empty() || (repeat == 1.0f && frequency == 0.0f && presence == 0.0f)) return;
    std::unordered_map<int32_t, int> counts;
    for (int32_t id : window) ++counts[id];
    for (Candidate& cand : c.items()) {
        const auto it = counts.find(cand.id);
        if (it == counts.end()) continue;
        // Dividing a positive logit and multiplying a negative one both make the token less likely.
        cand.logit = cand.logit > 0.0f ? cand.logit / repeat : cand.logit * repeat;
        cand.logit -= static_cast<float>(it->second) * frequency + presence;
    }
    c.invalidate_order();
}

}  // namespace spool::sampling
