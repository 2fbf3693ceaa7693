// Temperature: logits / t flattens (t > 1) or sharpens (t < 1) the distribution.
#include "sampling/samplers.h"

namespace spool::sampling {

void apply_temperature(Candidates& c, float t) {
    for (Candidate& cand : c.items()) cand.logit /= t;
}

}  // namespace spool::sampling
