// The GPU's measured memory bandwidth, for rooflines: a large device-to-device copy timed with CUDA events,
// counting bytes read plus bytes written (../shared/anchors.md and the device notes measure it the same way).
#pragma once

#include <cstdint>

namespace spool::cuda {

struct CopyBandwidth {
    double gb_per_s = 0;   // (read + written bytes) / best pass time, 1e9 bytes per GB
    uint64_t bytes = 0;    // size of one buffer
    int passes = 0;
};

// Throws spool::Error on any CUDA failure (no device, not enough memory for two buffers).
CopyBandwidth measure_copy_bandwidth(int device, uint64_t bytes = uint64_t{1} << 30, int passes = 10);

}  // namespace spool::cuda
