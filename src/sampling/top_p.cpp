// Top-p (nucleus) sampling, Holtzman et al. 2019: the smallest set of most likely tokens with total mass >= p.
#include "sampling/samplers.h"

namespace spool::sampling {

void apply_top_p(Candidates& c, float p) {
    if (p >= 1.0f || c.size() <= 1) return;
    c.sort();
    c.softmax();
    double cumulative = 0.0;
    size_t keep = c.size();
    for (size_t i = 0; i < c.size(); ++i) {
        cumulative += c.items()[i].p;
        if (cumulative >= p) {
            keep = i + 1;
            break;
        }
    }
    c.keep_top(keep);
}

}  // namespace spool::sampling
