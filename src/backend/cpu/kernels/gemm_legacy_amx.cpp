// AMX-INT8 multi-token kernels for the legacy weight types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) against Q8_0 / Q8_1
// activation rows. Per 32-element block, one tile product (tdpbssd: signed levels minus the zero point, times signed
// activations) gives a 16-token x 16-row block of the exact block integers that gemm_legacy_avx512.h reaches with
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
#include "backend/cpu/kernels/gemm_decls.h"
#include "backend/cpu/kernels/gemm_legacy_avx512.h"

namespace spool::cpu {
namespace {

constexpr int kTileTokens = kAmxTileTokens;
constexpr int kTileRows = kAmxTileRows;
constexpr int kLegacyBlock = 32;  // elements per block: the A tile's bytes per row, 4 x the B tile's rows

// One block of a tile of 16 tokens' activations.
struct AmxActs {
    alignas(64) int8_t q[kTileTokens][kLegacyBlock];  // the A tile
    alignas(64) float d[kTileTokens];           // activation scales
    alignas(64) float s[kTileTokens];           // Q8_1's d * sum(q) (Q4_1, Q5_1)
};

template <class T>
struct AmxLegacy {
    using A = typename T::A;
    using Base = LegacyKernel512<T>;
    using Panel = LegacyPanel16;  // packed with signed levels (Base::pack_levels<true>): the B tiles
    using Acts = AmxActs;
    static constexpr int64_t kBlock = kLegacyBlock;
    static constexpr int kKBytes = kLegacyBlock;
    static constexpr int kPrefetchSteps = 1;

    static size_t extra_bytes(size_t) { return 0; }

    static void pack_acts(const uint8_t* act, size_t act_row_stride, int64_t n_tokens, int64_t nb, Acts* acts, void*) {
        const float* f16 = fp16_table();
        for (int64_t t = 0; t < n_tokens; ++t) {
            Acts* tile = acts + (t / kTileTokens) * nb;
            const int m = static_cast<int>(t % kTileTokens);
            const auto* y = reinterpret_cast<const A*>(act + static_cast<size_t>(t) * act_row_stride);
            for (int64_t b = 0; b < nb; ++b) {
                std::memcpy(tile[b].q[m], y[b].qs, kBlock);
                tile[b].d[m] = f16[y[b].d];
                if constexpr (T::kHasMin) tile[b].s[m] = f16[y[b].s];
            }
        }
    }

    static void pack(const uint8_t* const* rows, int64_t nb, Panel* panel) {
        Base::template pack_levels<true>(rows, nb, panel);
    }

    // acc[m] (lanes = rows) += the block's sums c[m] scaled: the float operations of LegacyKernel512::tile.
    [[gnu::always_inline]] static void scale_add(const int32_t (*c)[kTileRows], const Panel& p, const Acts& a,
                                                 __m512* acc) {
        const __m512 d = _mm512_load_ps(p.d);
#pragma GCC unroll 16
        for (int m = 0; m < kTileTokens; ++m) {
            const __m512 scale = _mm512_mul_ps(d, _mm512_set1_ps(a.d[m]));
            acc[m] = _mm512_fmadd_ps(to_float(_mm512_load_si512(c[m])), scale, acc[m]);
            if constexpr (T::kHasMin) acc[m] = _mm512_fmadd_ps(_mm512_load_ps(p.m), _mm512_set1_ps(a.s[m]), acc[m]);
        }
    }

    // Block b's product is stored to c[b % kRing] and scaled kLag blocks later (amx_tiles.h), so products run while
    // the vector units scale earlier ones.
    static constexpr int kLag = kAmxScaleLag, kRing = kAmxResultRing;
    static_assert(kLag == 2, "the loop below takes two blocks per step and scales the two of kLag steps before");
    static void dot(const Panel* panel, const Acts* acts, int64_t nb, float (*res)[kTileRows], L2Prefetch& prefetch) {
        alignas(64) int32_t c[kRing][kTileTokens][kTileRows];
        __m512 acc[kTileTokens];
#pragma GCC unroll 16
        for (int m = 0; m < kTileTokens; ++m) acc[m] = _mm512_setzero_ps();
        int64_t b = 0;
        for (; b < nb; b += 2) {
            prefetch.step();
            prefetch.step();
            _tile_loadd(4, panel[b].q, 64);
            _tile_loadd(2, acts[b].q, kBlock);
            _tile_zero(0);
            _tile_dpbssd(0, 2, 4);
            _tile_stored(0, c[b % kRing], kTileRows * 4);
            if (b + 1 < nb) {
                _tile_loadd(5, panel[b + 1].q, 64);
                _tile_loadd(3, acts[b + 1].q, kBlock);
                _tile_zero(1);
                _tile_dpbssd(1, 3, 5);
                _tile_stored(1, c[(b + 1) % kRing], kTileRows * 4);
            }
            if (b >= kLag) {
                scale_add(c[(b - kLag) % kRing], panel[b - kLag], acts[b - kLag], acc);
                scale_add(c[(b + 1 - kLag) % kRing], panel[b + 1 - kLag], acts[b + 1 - kLag], acc);
            }
        }
        for (int64_t s = b >= kLag ? b - kLag : 0; s < nb; ++s) scale_add(c[s % kRing], panel[s], acts[s], acc);
#pragma GCC unroll 16
        for (int m = 0; m < kTileTokens; ++m) _mm512_store_ps(res[m], acc[m]);
    }
};

}  // namespace

SPOOL_AMX_GEMM(q4_0, AmxLegacy<Q4_0Type>)
SPOOL_AMX_GEMM(q4_1, AmxLegacy<Q4_1Type>)
SPOOL_AMX_GEMM(q5_0, AmxLegacy<Q5_0Type>)
SPOOL_AMX_GEMM(q5_1, AmxLegacy<Q5_1Type>)
SPOOL_AMX_GEMM(q8_0, AmxLegacy<Q8_0Type>)

}  // namespace spool::cpu
