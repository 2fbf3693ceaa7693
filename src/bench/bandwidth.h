// A quick memory-read bandwidth probe, for the roofline: decode speed is bounded by bandwidth / weight bytes
// read per token. It reads a buffer much larger than the caches with n threads and keeps the best pass.
#pragma once

#include <cstddef>
#include <cstdint>

namespace spool::bench {

struct BandwidthResult {
    double gb_per_s = 0;  // 1e9 bytes per second, best pass
    double mean_gb_per_s = 0;
    uint64_t bytes = 0;   // buffer size
    int passes = 0;
    size_t n_threads = 0;
};

// Reads `bytes` (rounded down to whole 64-byte lines, at least 1 MiB) `passes` times with `n_threads` threads
// (0 = one per logical CPU). Throws ResourceError when the buffer cannot be allocated, UsageError for passes < 1.
BandwidthResult measure_read_bandwidth(uint64_t bytes = 512ull << 20, int passes = 5, size_t n_threads = 0);

}  // namespace spool::bench
