// The loop around a tiled multi-token kernel (dispatch.h GemmFn): pack kRows weight rows into a panel once, then
// dot the panel with every token, kTile tokens at a time. ISA-neutral; internal linkage, so each ISA's file that
// includes it gets its own copy (the ODR trap of templates compiled with different ISA flags).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace spool::cpu {
namespace {

// A kernel policy K provides:
//   kRows (rows per panel = SIMD lanes), kTile (tokens per tile), kBlock (elements per weight block);
//   Panel: kRows rows of one weight block, packed (its members aligned to at most 64 bytes);
//   kActSums: whether tiles need kSumsPerBlock int32 per (token, block) from act_sums(act_row, nb, sums);
//   pack(rows, nb, panel): rows[kRows] weight rows (past the matrix's last row, copies of its first: lanes are
//     independent, and the driver never stores those results);
//   tile<C>(panel, nb, act, sums, res): res[c][r] = dot(row r, token c) for C tokens (act[C], sums[C]).
inline constexpr size_t kGemmScratchAlign = 64;

// std::min would be a library template instantiated with this file's ISA flags; a local one has internal linkage.
inline int64_t smaller(int64_t a, int64_t b) { return a < b ? a : b; }

template <class K>
size_t gemm_scratch(int64_t n, int64_t n_tokens) {
    const size_t nb = static_cast<size_t>(n / K::kBlock);
    size_t bytes = kGemmScratchAlign + sizeof(typename K::Panel) * nb;
    if constexpr (K::kActSums) bytes += sizeof(int32_t) * K::kSumsPerBlock * nb * static_cast<size_t>(n_tokens);
    return bytes;
}

// Runs K::tile<c> for the runtime count c in [1, K::kTile].
template <class K, int... Cs>
void run_tile(int c, std::integer_sequence<int, Cs...>, const typename K::Panel* panel, int64_t nb,
              const uint8_t* const* act, const int32_t* const* sums, float (*res)[K::kRows]) {
    ((c == Cs + 1 ? (K::template tile<Cs + 1>(panel, nb, act, sums, res), true) : false) || ...);
}

template <class K>
void gemm(int64_t n, const void* w, size_t w_row_stride, int64_t n_rows, const void* act, size_t act_row_stride,
          int64_t n_tokens, float* out, int64_t out_stride, void* scratch) {
    using Panel = typename K::Panel;
    constexpr int kRows = K::kRows, kTile = K::kTile;
    const int64_t nb = n / K::kBlock;
    const int64_t sums_stride = nb * K::kSumsPerBlock;
    const auto space = reinterpret_cast<uintptr_t>(scratch);
    auto* panel = reinterpret_cast<Panel*>((space + kGemmScratchAlign - 1) & ~uintptr_t{kGemmScratchAlign - 1});
    auto* sums = reinterpret_cast<int32_t*>(panel + nb);
    const auto* w_bytes = static_cast<const uint8_t*>(w);
    const auto* a_bytes = static_cast<const uint8_t*>(act);
    if constexpr (K::kActSums) {
        for (int64_t t = 0; t < n_tokens; ++t) K::act_sums(a_bytes + t * act_row_stride, nb, sums + t * sums_stride);
    }
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRows) {
        const int valid = static_cast<int>(smaller(kRows, n_rows - r0));
        const uint8_t* rows[kRows];
        for (int r = 0; r < kRows; ++r) rows[r] = w_bytes + (r0 + (r < valid ? r : 0)) * w_row_stride;
        K::pack(rows, nb, panel);
        // Tokens in tiles of kTile: the panel (up to ~200 KiB for n = 5632) stays in L2 while every token's
        // activation row streams past it once. The last two tiles split evenly (3 + 2 rather than 4 + 1): a tile of
        // one token reads the whole panel for it alone. A token's results do not depend on its tile.
        int c_count = 0;
        for (int64_t t0 = 0; t0 < n_tokens; t0 += c_count) {
            const int64_t left = n_tokens - t0;
            c_count = static_cast<int>(left > kTile && left < 2 * kTile ? (left + 1) / 2 : smaller(kTile, left));
            const uint8_t* a[kTile];
            const int32_t* s[kTile];
            for (int c = 0; c < c_count; ++c) {
                a[c] = a_bytes + (t0 + c) * act_row_stride;
                s[c] = sums + (t0 + c) * sums_stride;
            }
            alignas(64) float res[kTile][kRows];
            run_tile<K>(c_count, std::make_integer_sequence<int, kTile>{}, panel, nb, a, s, res);
            for (int c = 0; c < c_count; ++c) {
                std::memcpy(out + (t0 + c) * out_stride + r0, res[c], sizeof(float) * static_cast<size_t>(valid));
            }
        }
    }
}

}  // namespace
}  // namespace spool::cpu
