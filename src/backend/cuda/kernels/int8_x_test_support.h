// The int8 rounding of activations (launch.h, quantize_x.cuh) replayed on the host in float arithmetic exactly as the
// device does it, for the tests that check x~ bit for bit or build references from it.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace spool::cuda::gpu_test {

// Rounds the n values of one group (8 in launch.h's layout; other sizes only to show that a check tells a wrong
// grouping apart) to levels[0..n) and returns their scale d: value ~ d * level.
inline float round_int8_group(const float* x, size_t n, int8_t* levels) {
    float amax = 0.0f;
    for (size_t i = 0; i < n; ++i) {
        const float a = std::fabs(x[i]);
        if (std::isnan(a) || a > amax) amax = a;  // a NaN stays: nothing compares greater than it
    }
    const float inv = amax < 1e-30f ? 0.0f : 127.0f / amax;
    for (size_t i = 0; i < n; ++i) {
        // std::fma of three floats is fmaf (libstdc++ 12 has no std::fmaf): one rounding, as on the device.
        levels[i] = static_cast<int8_t>(std::fma(x[i], inv, 12582912.0f) - 12582912.0f);
    }
    return amax * (1.0f / 127.0f);
}

}  // namespace spool::cuda::gpu_test
