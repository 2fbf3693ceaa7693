// Logit bias: fixed additive offsets per token id (OpenAI's logit_bias; -inf bans a token).
#include "sampling/samplers.h"

namespace spool::sampling {

void apply_logit_bias(Candidates& c, std::span<const std::pair<int32_t, float>> biases) {
    if (biases.empty()) return;
    auto& items = c.items();
    for (const auto& [id, bias] : biases) {
        // Before any filter the candidates are the whole vocabulary in id order, so index == id.
        if (id >= 0 && static_cast<size_t>(id) < items.size() && items[static_cast<size_t>(id)].id == id) {
            items[static_cast<size_t>(id)].logit += bias;
        } else {
            for (Candidate& cand : items) {
                if (cand.id == id) cand.logit += bias;
            }
        }
    }
    c.invalidate_order();
}

}  // namespace spool::sampling
