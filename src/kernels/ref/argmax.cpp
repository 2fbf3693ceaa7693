// Reference argmax per row; ties go to the lowest index (the reference greedy rule).
#include "kernels/ref/ops.h"

namespace spool::kernels::ref {

void argmax(const float* x, int64_t n_rows, int64_t n, int32_t* out) {
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* xr = x + r * n;
        int64_t best = 0;
        for (int64_t i = 1; i < n; ++i) {
            if (xr[i] > xr[best]) best = i;
        }
        out[r] = static_cast<int32_t>(best);
    }
}

}  // namespace spool::kernels::ref
