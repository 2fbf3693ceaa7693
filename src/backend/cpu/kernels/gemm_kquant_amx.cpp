// AMX-INT8 multi-token kernels for the K-quant weight types (Q2_K..Q6_K) against Q8_K activation rows. Per
// sub-block, one tile product (tdpbsud: signed activations times unsigned levels) gives 16 tokens x 16 rows of the
// exact sub-block sums that gemm_kquant_avx512.h's dpbusd loop reaches; the vector units then weight them by the
// sub-block scales (integer multiply, exact) and finish each super-block with that kernel's min term and float
// operations in the same order, so every (row, token) is the same bits as on avx512 and avx2 (and the one-token
// AVX2 kernel serves). The panels are the AVX-512 kernel's.
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/kernels/amx_tiles.h"
#include "backend/cpu/kernels/gemm_decls.h"
#include "backend/cpu/kernels/gemm_kquant_avx512.h"

namespace spool::cpu {
namespace {

template <class T>
struct AmxKQuant {
    using Base = KQuantKernel512<T>;
    using Panel = typename Base::Panel;
    static constexpr int kSubBytes = static_cast<int>(kQK_K) / T::kSub;  // 32 or 16: the A tile's bytes per row
    static constexpr int kSteps = kSubBytes / 4;                           // the B tile's rows
    static constexpr int kMinSums = 2 * T::kPairs;                         // int16 activation sums per super-block

    // One super-block of a tile of 16 tokens.
    struct Acts {
        alignas(64) int8_t q[kAmxTileTokens][kQK_K];  // A tiles: sub-block s at byte kSubBytes * s of each row
        alignas(64) float d[kAmxTileTokens];
        alignas(64) int16_t sums[kAmxTileTokens][kMinSums];  // what Base::min_sums gives the token
    };

    static constexpr int64_t kBlock = kQK_K;
    static constexpr int kPrefetchSteps = T::kSub / 2;  // one per pair of sub-blocks
    static constexpr int kKBytes = kSubBytes;

    // Room for one token's Base::act_sums.
    static size_t extra_bytes(size_t nb) { return sizeof(int32_t) * Base::kSumsPerBlock * nb; }

    static void pack_acts(const uint8_t* act, size_t act_row_stride, int64_t n_tokens, int64_t nb, Acts* acts,
                          void* extra) {
        auto* pair_sums = static_cast<int32_t*>(extra);
        for (int64_t t = 0; t < n_tokens; ++t) {
            Acts* tile = acts + (t / kAmxTileTokens) * nb;
            const int m = static_cast<int>(t % kAmxTileTokens);
            const uint8_t* row = act + static_cast<size_t>(t) * act_row_stride;
            const auto* y = reinterpret_cast<const BlockQ8_K*>(row);
            if constexpr (Base::kActSums) Base::act_sums(row, nb, pair_sums);
            for (int64_t b = 0; b < nb; ++b) {
                std::memcpy(tile[b].q[m], y[b].qs, kQK_K);
                tile[b].d[m] = y[b].d;
                std::memcpy(tile[b].sums[m], Base::min_sums(y[b], pair_sums, b), sizeof(tile[b].sums[m]));
            }
        }
    }

    // isum[m] += c[m] * sc (lanes = rows): one sub-block's sums weighted by its scales, exactly.
    [[gnu::always_inline]] static void add_scaled(const int32_t (*c)[kAmxTileRows], const int32_t* sc, __m512i* isum) {
        const __m512i scale = load_512(sc);
#pragma GCC unroll 16
        for (int m = 0; m < kAmxTileTokens; ++m) {
            isum[m] = _mm512_add_epi32(isum[m], _mm512_mullo_epi32(_mm512_load_si512(c[m]), scale));
        }
    }

    // res[m][r] += dot(panel row r, token m) over super-block p / a: Base::tile's operations for one block.
    static void super_block(const Panel& p, const Acts& a, float (*res)[kAmxTileRows], L2Prefetch& prefetch) {
        // Sub-block s's product is stored to c[s % kAmxResultRing] and weighted kAmxScaleLag sub-blocks later
        // (amx_tiles.h).
        constexpr int kRing = kAmxResultRing;
        static_assert(kAmxScaleLag == 2, "the loop below takes two sub-blocks per step and weights the previous two");
        alignas(64) int32_t c[kRing][kAmxTileTokens][kAmxTileRows];
        __m512i isum[kAmxTileTokens];
#pragma GCC unroll 16
        for (int m = 0; m < kAmxTileTokens; ++m) isum[m] = _mm512_setzero_si512();
        static_assert(T::kSub % 2 == 0 && T::kSub >= 4);
#pragma GCC unroll 4
        for (int s = 0; s < T::kSub; s += 2) {
            prefetch.step();
            _tile_loadd(4, p.q[kSteps * s], 64);
            _tile_loadd(2, a.q[0] + kSubBytes * s, kQK_K);
            _tile_zero(0);
            _tile_dpbsud(0, 2, 4);
            _tile_stored(0, c[s % kRing], kAmxTileRows * 4);
            _tile_loadd(5, p.q[kSteps * (s + 1)], 64);
            _tile_loadd(3, a.q[0] + kSubBytes * (s + 1), kQK_K);
            _tile_zero(1);
            _tile_dpbsud(1, 3, 5);
            _tile_stored(1, c[(s + 1) % kRing], kAmxTileRows * 4);
            if (s >= 2) {
                add_scaled(c[(s - 2) % kRing], p.sc[s - 2], isum);
                add_scaled(c[(s - 1) % kRing], p.sc[s - 1], isum);
            }
        }
        add_scaled(c[(T::kSub - 2) % kRing], p.sc[T::kSub - 2], isum);
        add_scaled(c[(T::kSub - 1) % kRing], p.sc[T::kSub - 1], isum);
        const __m512 d = _mm512_load_ps(p.d);
#pragma GCC unroll 16
        for (int m = 0; m < kAmxTileTokens; ++m) {
            __m512i mins = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int k = 0; k < T::kPairs; ++k) {
                mins = _mm512_dpwssd_epi32(mins, load_512(p.mp[k]), broadcast_4_512(a.sums[m] + 2 * k));
            }
            const __m512 yd = _mm512_set1_ps(a.d[m]);
            __m512 acc = _mm512_load_ps(res[m]);
            if constexpr (T::kFoldMin) {
                const __m512i total = _mm512_sub_epi32(isum[m], mins);
                acc = _mm512_fmadd_ps(to_float(total), _mm512_mul_ps(d, yd), acc);
            } else {
                acc = _mm512_fmadd_ps(to_float(isum[m]), _mm512_mul_ps(d, yd), acc);
                const __m512 dmin = _mm512_mul_ps(_mm512_load_ps(p.dmin), yd);
                acc = _mm512_fnmadd_ps(to_float(mins), dmin, acc);
            }
            _mm512_store_ps(res[m], acc);
        }
    }

    static void pack(const uint8_t* const* rows, int64_t nb, Panel* panel) { Base::pack(rows, nb, panel); }

    static void dot(const Panel* panel, const Acts* acts, int64_t nb, float (*res)[kAmxTileRows],
                    L2Prefetch& prefetch) {
        for (int m = 0; m < kAmxTileTokens; ++m) _mm512_store_ps(res[m], _mm512_setzero_ps());
        for (int64_t b = 0; b < nb; ++b) super_block(panel[b], acts[b], res, prefetch);
    }
};

}  // namespace

SPOOL_AMX_GEMM(q2_k, AmxKQuant<Q2KType>)
SPOOL_AMX_GEMM(q3_k, AmxKQuant<Q3KType>)
SPOOL_AMX_GEMM(q4_k, AmxKQuant<Q4KType>)
SPOOL_AMX_GEMM(q5_k, AmxKQuant<Q5KType>)
SPOOL_AMX_GEMM(q6_k, AmxKQuant<Q6KType>)

}  // namespace spool::cpu
