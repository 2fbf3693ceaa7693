// The working set a sampler chain narrows down: candidate tokens with their logits and, once softmax() has
// run, their probabilities. Samplers filter or rescale it in place.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace spool::sampling {

struct Candidate {
    int32_t id;
    float logit;
    float p;  // valid after softmax()
};

class Candidates {
public:
    // Every token of a logit row; reuses this object's storage.
    void reset(std::span<const float> logits);
    // Given tokens only (logits[i] of id ids[i], same sizes), in the order given; `sorted` says that order is
    // already sort()'s, so later samplers skip the sort.
    void reset(std::span<const float> logits, std::span<const int32_t> ids, bool sorted);

    std::vector<Candidate>& items() noexcept { return items_; }
    const std::vector<Candidate>& items() const noexcept { return items_; }
    size_t size() const noexcept { return items_.size(); }

    // Orders by logit, largest first; ties by lower id (so every sampler is deterministic). Cheap if already sorted.
    void sort();
    bool sorted() const noexcept { return sorted_; }
    // Keeps the first n of the sorted order (n >= 1). Sorts first.
    void keep_top(size_t n);
    // p = softmax(logit) over the current candidates, computed in float64 from the largest logit.
    void softmax();
    // Logits changed (a sampler rescaled them): order must be rechecked.
    void invalidate_order() noexcept { sorted_ = false; }

private:
    std::vector<Candidate> items_;
    bool sorted_ = false;
};

}  // namespace spool::sampling
