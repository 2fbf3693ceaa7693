// The one copy a model split between two backends (-ngl) makes per forward pass: the residual stream
// [n_tokens, n_embd] from the last layer of one stage to the first of the next, through host memory.
#pragma once

#include <cstddef>
#include <vector>

#include "backend/backend.h"

namespace spool::runtime {

class ResidualHandoff {
public:
    // Copies n_floats from `src` (memory of `from`) to `dst` (memory of `to`) once `from` has finished writing
    // them; returns when `dst` is written (a plain upload, never inside a decode-step bracket). A host backend's
    // memory is host memory already, so at most one of the two backends copies, except device to device, which
    // goes through a host staging buffer kept here. Throws what the backends' download/upload throw.
    void copy(Backend& from, const float* src, Backend& to, float* dst, size_t n_floats);

private:
    std::vector<float> staging_;  // device-to-device only
};

}  // namespace spool::runtime
