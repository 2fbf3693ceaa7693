// AMX-INT8 multi-token kernels for the legacy weight types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) against Q8_0 / Q8_1
// activation rows. Per 32-element block, one tile product (tdpbssd: signed levels minus the zero point, times signed
// activations) gives a 16-token x 16-row block of the exact block integers that gemm_legacy_avx512.cpp reaches with
// dpbusd and its zero-point sums; AVX-512 then scales and adds each of them with the same float operations in the
// same order, so every (row, token) is the same bits as on avx512 and avx2 (and the one-token AVX2 kernel serves).
//
// Tile products run on the AMX unit while the vector units scale the previous block, so the int8 multiply-adds stop
// being the bound: the scaling (3 vector operations per 16 outputs per block) is. Few tokens leave most of a
// 16-token tile empty, so below kAmxMinTokens the AVX-512 kernel runs instead (same bits). On the device's Xeon
// (2 cores) TinyLlama pp128 went 190 -> 259 tok/s for Q8_0 and 251 -> 302 for Q4_0 (BENCHMARKS.md).
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/kernels/amx_tiles.h"
#include "backend/cpu/kernels/fp16_table.h"
#include "backend/cpu/kernels/gemm_avx512.h"
#include "backend/cpu/kernels/gemm_decls.h"
#include "backend/cpu/kernels/gemm_legacy_types.h"
#include "backend/cpu/kernels/prefetch.h"

namespace spool::cpu {
namespace {

constexpr int kTileTokens = kAmxTileTokens;
constexpr int kTileRows = kAmxTileRows;
constexpr int kBlock = 32;  // elements per legacy block: the A tile's bytes per row, 4 x the B tile's rows

// One block of a panel of 16 weight rows.
struct AmxPanel {
    alignas(64) int8_t q[kBlock / 4][64];  // the B tile
    alignas(64) float d[16];               // row scales
    alignas(64) float m[16];               // row mins (Q4_1, Q5_1)
};

// One block of a tile of 16 tokens' activations.
struct AmxActs {
    alignas(64) int8_t q[kTileTokens][kBlock];  // the A tile
    alignas(64) float d[kTileTokens];           // activation scales
    alignas(64) float s[kTileTokens];           // Q8_1's d * sum(q) (Q4_1, Q5_1)
};

template <class T>
struct AmxLegacy {
    using W = typename T::W;
    using A = typename T::A;
    // Q8_0's levels are signed already; the others lose their zero point (Q4_1 / Q5_1: 0) to become signed.
    static constexpr int kZero = T::kSigned ? 0 : T::kOffset;

    static int64_t token_tiles(int64_t n_tokens) { return (n_tokens + kTileTokens - 1) / kTileTokens; }

    static size_t scratch_bytes(int64_t n, int64_t n_tokens) {
        const auto nb = static_cast<size_t>(n / kBlock);
        return 64 + sizeof(AmxPanel) * nb + sizeof(AmxActs) * nb * static_cast<size_t>(token_tiles(n_tokens));
    }

    // Tile tt's block b is acts[tt * nb + b]; tokens past n_tokens are zeros.
    static void pack_acts(const uint8_t* act, size_t act_row_stride, int64_t n_tokens, int64_t nb, AmxActs* acts) {
        const float* f16 = fp16_table();
        const int64_t padded = token_tiles(n_tokens) * kTileTokens;
        for (int64_t t = 0; t < padded; ++t) {
            AmxActs* tile = acts + (t / kTileTokens) * nb;
            const int m = static_cast<int>(t % kTileTokens);
            if (t >= n_tokens) {
                for (int64_t b = 0; b < nb; ++b) {
                    std::memset(tile[b].q[m], 0, kBlock);
                    tile[b].d[m] = 0.0f;
                    tile[b].s[m] = 0.0f;
                }
                continue;
            }
            const auto* y = reinterpret_cast<const A*>(act + static_cast<size_t>(t) * act_row_stride);
            for (int64_t b = 0; b < nb; ++b) {
                std::memcpy(tile[b].q[m], y[b].qs, kBlock);
                tile[b].d[m] = f16[y[b].d];
                if constexpr (T::kHasMin) tile[b].s[m] = f16[y[b].s];
            }
        }
    }

    static void pack_panel(const uint8_t* const* rows, int64_t nb, AmxPanel* panel) {
        const float* f16 = fp16_table();
        const __m256i zero_point = _mm256_set1_epi8(static_cast<char>(kZero));
        for (int64_t b = 0; b < nb; ++b) {
            AmxPanel& p = panel[b];
#pragma GCC unroll 2
            for (int h = 0; h < 2; ++h) {
                __m256i v[kPanelRows];
#pragma GCC unroll 8
                for (int r = 0; r < kPanelRows; ++r) {
                    const W& x = reinterpret_cast<const W*>(rows[kPanelRows * h + r])[b];
                    prefetch_ahead<sizeof(W)>(&x);
                    v[r] = _mm256_sub_epi8(T::levels(x), zero_point);
                    p.d[kPanelRows * h + r] = f16[x.d];
                    p.m[kPanelRows * h + r] = row_min<T>(x, f16);
                }
                transpose_8x8_dwords(v);
#pragma GCC unroll 8
                for (int j = 0; j < 8; ++j) _mm256_store_si256(reinterpret_cast<__m256i*>(p.q[j] + 32 * h), v[j]);
            }
        }
    }

    // acc[m] (lanes = rows) += the block's sums c[m] scaled: the float operations of LegacyKernel512::tile.
    [[gnu::always_inline]] static void scale_add(const int32_t (*c)[kTileRows], const AmxPanel& p, const AmxActs& a,
                                                 __m512* acc) {
        const __m512 d = _mm512_load_ps(p.d);
#pragma GCC unroll 16
        for (int m = 0; m < kTileTokens; ++m) {
            const __m512 scale = _mm512_mul_ps(d, _mm512_set1_ps(a.d[m]));
            acc[m] = _mm512_fmadd_ps(to_float(_mm512_load_si512(c[m])), scale, acc[m]);
            if constexpr (T::kHasMin) acc[m] = _mm512_fmadd_ps(_mm512_load_ps(p.m), _mm512_set1_ps(a.s[m]), acc[m]);
        }
    }

    // acc[m][r] += dot(panel row r, token m of the tile) over nb blocks, for the tile's 16 tokens.
    static void tile(const AmxPanel* panel, const AmxActs* acts, int64_t nb, __m512* acc) {
        alignas(64) int32_t c0[kTileTokens][kTileRows];
        alignas(64) int32_t c1[kTileTokens][kTileRows];
        int64_t b = 0;
        for (; b + 2 <= nb; b += 2) {
            _tile_loadd(4, panel[b].q, 64);
            _tile_loadd(2, acts[b].q, kBlock);
            _tile_zero(0);
            _tile_dpbssd(0, 2, 4);
            _tile_loadd(5, panel[b + 1].q, 64);
            _tile_loadd(3, acts[b + 1].q, kBlock);
            _tile_zero(1);
            _tile_dpbssd(1, 3, 5);
            _tile_stored(0, c0, kTileRows * 4);
            scale_add(c0, panel[b], acts[b], acc);
            _tile_stored(1, c1, kTileRows * 4);
            scale_add(c1, panel[b + 1], acts[b + 1], acc);
        }
        if (b < nb) {
            _tile_loadd(4, panel[b].q, 64);
            _tile_loadd(2, acts[b].q, kBlock);
            _tile_zero(0);
            _tile_dpbssd(0, 2, 4);
            _tile_stored(0, c0, kTileRows * 4);
            scale_add(c0, panel[b], acts[b], acc);
        }
    }

    static void gemm(int64_t n, const void* w, size_t w_row_stride, int64_t n_rows, const void* act,
                     size_t act_row_stride, int64_t n_tokens, float* out, int64_t out_stride, void* scratch) {
        const int64_t nb = n / kBlock;
        auto* panel = reinterpret_cast<AmxPanel*>(align_64(reinterpret_cast<uintptr_t>(scratch)));
        auto* acts = reinterpret_cast<AmxActs*>(panel + nb);
        const auto* w_bytes = static_cast<const uint8_t*>(w);
        pack_acts(static_cast<const uint8_t*>(act), act_row_stride, n_tokens, nb, acts);
        configure_amx_tiles(kBlock);
        for (int64_t r0 = 0; r0 < n_rows; r0 += kTileRows) {
            const int valid = static_cast<int>(n_rows - r0 < kTileRows ? n_rows - r0 : kTileRows);
            const uint8_t* rows[kTileRows];
            for (int r = 0; r < kTileRows; ++r) rows[r] = w_bytes + (r0 + (r < valid ? r : 0)) * w_row_stride;
            pack_panel(rows, nb, panel);
            // The tile loads are asm the compiler does not see read memory: the packed bytes must be stored first.
            asm volatile("" : : : "memory");
            const auto lanes = static_cast<__mmask16>((1u << valid) - 1);
            for (int64_t t0 = 0; t0 < n_tokens; t0 += kTileTokens) {
                __m512 acc[kTileTokens];
#pragma GCC unroll 16
                for (int m = 0; m < kTileTokens; ++m) acc[m] = _mm512_setzero_ps();
                tile(panel, acts + (t0 / kTileTokens) * nb, nb, acc);
                const int64_t count = n_tokens - t0 < kTileTokens ? n_tokens - t0 : kTileTokens;
                for (int64_t m = 0; m < count; ++m) _mm512_mask_storeu_ps(out + (t0 + m) * out_stride + r0, lanes, acc[m]);
            }
        }
        _tile_release();
    }
};

}  // namespace

// Fewer than kAmxMinTokens tokens: the AVX-512 kernel (same results), whose scratch fits in this one's.
#define SPOOL_GEMM_LEGACY_AMX(t, Type)                                                                              \
    void gemm_##t##_amx(int64_t n, const void* w, size_t ws, int64_t n_rows, const void* act, size_t as,           \
                        int64_t n_tokens, float* out, int64_t os, void* scratch) {                                  \
        if (n_tokens < kAmxMinTokens) {                                                                             \
            gemm_##t##_avx512(n, w, ws, n_rows, act, as, n_tokens, out, os, scratch);                               \
        } else {                                                                                                    \
            AmxLegacy<Type>::gemm(n, w, ws, n_rows, act, as, n_tokens, out, os, scratch);                           \
        }                                                                                                           \
    }                                                                                                               \
    size_t gemm_scratch_##t##_amx(int64_t n, int64_t n_tokens) {                                                   \
        const size_t avx512 = gemm_scratch_##t##_avx512(n, n_tokens);                                             \
        const size_t amx = AmxLegacy<Type>::scratch_bytes(n, n_tokens);                                             \
        return avx512 > amx ? avx512 : amx;                                                                         \
    }

SPOOL_GEMM_LEGACY_AMX(q4_0, Q4_0Type)
SPOOL_GEMM_LEGACY_AMX(q4_1, Q4_1Type)
SPOOL_GEMM_LEGACY_AMX(q5_0, Q5_0Type)
SPOOL_GEMM_LEGACY_AMX(q5_1, Q5_1Type)
SPOOL_GEMM_LEGACY_AMX(q8_0, Q8_0Type)

#undef SPOOL_GEMM_LEGACY_AMX

}  // namespace spool::cpu
