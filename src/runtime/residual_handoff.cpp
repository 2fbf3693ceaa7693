// Residual handoff between two stages: one host-side copy, whichever side is host memory.
#include "runtime/residual_handoff.h"

namespace spool::runtime {

void ResidualHandoff::copy(Backend& from, const float* src, Backend& to, float* dst, size_t n_floats) {
    const size_t bytes = n_floats * sizeof(float);
    if (from.uses_host_memory()) {
        from.synchronize();  // its queued ops may still be writing src
        to.upload(dst, src, bytes);
    } else if (to.uses_host_memory()) {
        from.download(dst, src, bytes);
    } else {
        staging_.resize(n_floats);
        from.download(staging_.data(), src, bytes);
        to.upload(dst, staging_.data(), bytes);
    }
}

}  // namespace spool::runtime
