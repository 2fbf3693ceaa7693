// Splits n_rows weight rows into groups of kGroup rows (then single rows) for kernels that dot several rows with
// one activation row at a time. ISA-neutral; internal linkage so each ISA's file gets its own copy.
#pragma once

#include <cstddef>
#include <cstdint>

namespace spool::cpu {
namespace {

// kernel.template operator()<R>(const int64_t* rows) computes the R rows listed (R is kGroup or 1).
// A group takes one row from each of kGroup contiguous slices of the matrix (rows i, i + q, i + 2q, ... with
// q = n_rows / kGroup), so each of its row streams runs on through memory into the next row it will read: long
// sequential streams that the hardware prefetchers follow. Groups of adjacent rows restart a short stream at every
// row: from DRAM that measured 2-3x slower for the quantized types (Q4_0 AVX-512 on a Sapphire Rapids VM:
// 5-6 GB/s adjacent, 16 GB/s sliced; Q4_0 AVX2 on Zen 3: 7.9 -> 13.0 GB/s), while F32 lost little.
template <int kGroup, class Kernel>
inline void for_row_groups(int64_t n_rows, Kernel&& kernel) {
    const int64_t q = n_rows / kGroup;
    for (int64_t i = 0; i < q; ++i) {
        int64_t rows[kGroup];
        for (int g = 0; g < kGroup; ++g) rows[g] = i + g * q;
        kernel.template operator()<kGroup>(rows);
    }
    for (int64_t r = kGroup * q; r < n_rows; ++r) kernel.template operator()<1>(&r);
}

inline const void* row_at(const void* w, size_t stride, int64_t r) {
    return static_cast<const unsigned char*>(w) + static_cast<size_t>(r) * stride;
}

// Dots every row of a matrix (rows `stride` bytes apart) with one activation row, in the groups above:
// dot.template operator()<R>(rows, sums) fills sums[0..R) for the R row pointers given; sums land in out[row].
template <int kGroup, class DotRows>
inline void dot_all_rows(const void* w, size_t stride, int64_t n_rows, float* out, DotRows&& dot) {
    for_row_groups<kGroup>(n_rows, [&]<int R>(const int64_t* idx) {
        const void* rows[R];
        float sums[R];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) rows[r] = row_at(w, stride, idx[r]);
        dot.template operator()<R>(rows, sums);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) out[idx[r]] = sums[r];
    });
}

}  // namespace
}  // namespace spool::cpu
