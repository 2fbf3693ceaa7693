// Reference top-k per row (Backend::top_k): a bounded heap of the k best entries seen so far, then a sort of the
// heap; and the row's log-sum-exp in float64. No allocation: the heap lives on the stack (k <= kMaxTopK).
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "kernels/ref/ops.h"

namespace spool::kernels::ref {
namespace {

struct Entry {
    float value;
    int32_t id;
};

// Whether a ranks before b: a number before a NaN, a larger value first (-0.0 == 0.0), then the lower id.
bool before(const Entry& a, const Entry& b) {
    const bool a_nan = std::isnan(a.value), b_nan = std::isnan(b.value);
    if (a_nan != b_nan) return b_nan;
    if (!a_nan && a.value != b.value) return a.value > b.value;
    return a.id < b.id;
}

double log_sum_exp(const float* x, int64_t n) {
    float max = -INFINITY;
    bool nan = false;
    for (int64_t i = 0; i < n; ++i) {
        if (std::isnan(x[i])) {
            nan = true;
        } else {
            max = std::max(max, x[i]);
        }
    }
    if (nan) return std::numeric_limits<double>::quiet_NaN();
    if (std::isinf(max)) return max;  // +inf somewhere, or every entry -inf
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - max);
    return max + std::log(sum);
}

}  // namespace

void top_k(const float* x, int64_t n_rows, int64_t n, int k, float* values, int32_t* ids, double* lse) {
    std::array<Entry, kMaxTopK> heap;
    // A std heap keeps its largest element under `comp` at the front; with comp = before, the largest is the entry
    // that ranks last: the worst kept so far, which every newcomer must beat.
    const auto worse_first = [](const Entry& a, const Entry& b) { return before(a, b); };
    const size_t kk = static_cast<size_t>(k);
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* xr = x + r * n;
        size_t size = 0;
        for (int64_t i = 0; i < n; ++i) {
            const Entry e{xr[i], static_cast<int32_t>(i)};
            if (size < kk) {
                heap[size++] = e;
                std::push_heap(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(size), worse_first);
            } else if (before(e, heap[0])) {
                std::pop_heap(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(size), worse_first);
                heap[size - 1] = e;
                std::push_heap(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(size), worse_first);
            }
        }
        std::sort(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(size), before);
        for (size_t j = 0; j < size; ++j) {
            values[r * k + static_cast<int64_t>(j)] = heap[j].value;
            ids[r * k + static_cast<int64_t>(j)] = heap[j].id;
        }
        if (lse != nullptr) lse[r] = log_sum_exp(xr, n);
    }
}

}  // namespace spool::kernels::ref
