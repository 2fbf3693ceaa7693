// Software prefetch of weight rows for the SIMD kernels, a little ahead of the hardware prefetchers. With the
// row order of row_groups.h (which fixed the big streaming loss) it measured +7% for Q8_0 and within noise for
// the other types (AVX2, Zen 3, from DRAM); it costs one load-port uop per 64 bytes. Internal linkage (ISA files).
#pragma once

#include <cstddef>

namespace spool::cpu {
namespace {

#ifndef SPOOL_CPU_PREFETCH_BYTES
#define SPOOL_CPU_PREFETCH_BYTES 1024
#endif
// How far ahead of the bytes being read to prefetch, per row stream. Rows of a matrix are contiguous, so
// prefetching past a row's end fetches the next rows, which are read next. Never faults.
inline constexpr size_t kPrefetchBytes = SPOOL_CPU_PREFETCH_BYTES;

// Prefetch the lines of [p + kPrefetchBytes, p + kPrefetchBytes + bytes).
template <size_t bytes>
inline void prefetch_ahead(const void* p) {
    if constexpr (kPrefetchBytes > 0) {
        const char* c = static_cast<const char*>(p) + kPrefetchBytes;
        for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 0, 3);  // prefetcht0
    }
}

}  // namespace
}  // namespace spool::cpu
