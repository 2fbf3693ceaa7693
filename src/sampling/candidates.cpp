// Candidate set bookkeeping: reset from logits, deterministic sort, softmax in float64.
#include "sampling/candidates.h"

#include <algorithm>
#include <cmath>

namespace spool::sampling {

void Candidates::reset(std::span<const float> logits) {
    items_.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) items_[i] = {static_cast<int32_t>(i), logits[i], 0.0f};
    sorted_ = false;
}

void Candidates::reset(std::span<const float> logits, std::span<const int32_t> ids, bool sorted) {
    items_.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) items_[i] = {ids[i], logits[i], 0.0f};
    sorted_ = sorted;
}

void Candidates::sort() {
    if (sorted_) return;
    std::sort(items_.begin(), items_.end(), [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    });
    sorted_ = true;
}

void Candidates::keep_top(size_t n) {
    if (n >= items_.size()) return;
    if (!sorted_) {
        // Partial selection first: a 150k vocabulary cut to 40 needs no full sort.
        std::partial_sort(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(n), items_.end(),
                          [](const Candidate& a, const Candidate& b) {
                              return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
                          });
        sorted_ = true;
    }
    items_.resize(std::max<size_t>(n, 1));
}

void Candidates::softmax() {
    if (items_.empty()) return;
    float max_logit = -INFINITY;
    for (const Candidate& c : items_) max_logit = std::max(max_logit, c.logit);
    double sum = 0.0;
    for (const Candidate& c : items_) sum += std::exp(static_cast<double>(c.logit) - max_logit);
    for (Candidate& c : items_) c.p = static_cast<float>(std::exp(static_cast<double>(c.logit) - max_logit) / sum);
}

}  // namespace spool::sampling
