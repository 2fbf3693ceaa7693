// Top-k: keep the k most likely tokens (Fan et al. 2018).
#include "sampling/samplers.h"

namespace spool::sampling {

void apply_top_k(Candidates& c, int k) {
    if (k <= 0) return;
    c.keep_top(static_cast<size_t>(k));
}

}  // namespace spool::sampling
