// Greedy choice and the final random draw of a chain.
#include "sampling/samplers.h"

namespace spool::sampling {

int32_t pick_greedy(const Candidates& c) {
    const auto& items = c.items();
    size_t best = 0;
    for (size_t i = 1; i < items.size(); ++i) {
        if (items[i].logit > items[best].logit || (items[i].logit == items[best].logit && items[i].id < items[best].id)) {
            best = i;
        }
    }
    return items[best].id;
}

int32_t pick_random(Candidates& c, Rng& rng) {
    c.softmax();
    const double u = rng.uniform();
    double cumulative = 0.0;
    for (const Candidate& cand : c.items()) {
        cumulative += cand.p;
        if (u < cumulative) return cand.id;
    }
    return c.items().back().id;  // u fell in the float rounding gap at the top
}

}  // namespace spool::sampling
