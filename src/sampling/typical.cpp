// Locally typical sampling, Meister et al. 2022: rank tokens by |surprisal - entropy| and keep the closest
// until their probability mass reaches p.
#include <algorithm>
#include <cmath>
#include <vector>

#include "sampling/samplers.h"

namespace spool::sampling {

void apply_typical(Candidates& c, float p) {
    if (p >= 1.0f || c.size() <= 1) return;
    c.softmax();
    auto& items = c.items();
    double entropy = 0.0;
    for (const Candidate& cand : items) {
        if (cand.p > 0.0f) entropy -= static_cast<double>(cand.p) * std::log(static_cast<double>(cand.p));
    }
    auto distance = [&](const Candidate& cand) {
        return cand.p > 0.0f ? std::fabs(-std::log(static_cast<double>(cand.p)) - entropy) : INFINITY;
    };
    std::stable_sort(items.begin(), items.end(),
                     [&](const Candidate& a, const Candidate& b) { return distance(a) < distance(b); });
    double cumulative = 0.0;
    size_t keep = items.size();
    for (size_t i = 0; i < items.size(); ++i) {
        cumulative += items[i].p;
        if (cumulative >= p) {
            keep = i + 1;
            break;
        }
    }
    items.resize(keep);
    c.invalidate_order();
}

}  // namespace spool::sampling
