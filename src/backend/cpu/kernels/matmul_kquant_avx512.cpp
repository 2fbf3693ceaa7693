// AVX-512 dot products of K-quant weight rows (Q2_K ... Q6_K) with Q8_K activation rows, 64 elements per vector:
// maddubs (unsigned weight quants x activation bytes) then vpdpwssd (int16 pairs x sub-block scales, accumulated).
// Exact integer sums per super-block as quant/kquants_dot.cpp; zero points and mins go through Q8_K's bsums.
#include "backend/cpu/kernels/fp16_table.h"
#include "backend/cpu/kernels/kernel_decls.h"
#include "backend/cpu/kernels/prefetch.h"
#include "backend/cpu/kernels/row_groups.h"
#include "backend/cpu/kernels/simd_avx512.h"
#include "quant/blocks_k.h"

namespace spool::cpu {
namespace {

using quant::BlockQ2_K;
using quant::BlockQ3_K;
using quant::BlockQ4_K;
using quant::BlockQ5_K;
using quant::BlockQ6_K;
using quant::BlockQ8_K;
using quant::kQK_K;

constexpr int kRowGroup = 4;

// ---- Scale vectors. `scales` holds 8 int16 sub-block scales in every 128-bit lane; the result holds, per lane L,
// scales[idx[L]] in all 8 int16 slots (one byte shuffle, no lane crossing).
inline __m512i pick_scales(__m512i scales, int i0, int i1, int i2, int i3) {
    auto ctrl = [](int i) { return static_cast<int32_t>(0x01000100u + 0x02020202u * static_cast<uint32_t>(i)); };
    return _mm512_shuffle_epi8(
        scales, _mm512_setr_epi32(ctrl(i0), ctrl(i0), ctrl(i0), ctrl(i0), ctrl(i1), ctrl(i1), ctrl(i1), ctrl(i1),
                                  ctrl(i2), ctrl(i2), ctrl(i2), ctrl(i2), ctrl(i3), ctrl(i3), ctrl(i3), ctrl(i3)));
}

// 8 signed scale bytes -> 8 int16 in every 128-bit lane.
inline __m512i scales_i8(__m128i v8) { return _mm512_broadcast_i32x4(_mm_cvtepi8_epi16(v8)); }

// A 32-byte piece in both halves of a vector.
inline __m512i twice(const void* p) { return _mm512_broadcast_i64x4(load_i8x32(p)); }

// Per-16-bit-lane shift counts: a in the low 256 bits, b in the high.
inline __m512i counts(int a, int b) {
    return _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(a)), _mm256_set1_epi16(static_cast<int16_t>(b)),
                              1);
}

// Per-byte bit patterns: 1 << a in the low 32 bytes, 1 << b in the high.
inline __m512i bit_pattern(int a, int b) {
    return _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << a)), _mm256_set1_epi8(static_cast<char>(1 << b)),
                              1);
}

inline __m512i maddubs(__m512i u, const int8_t* y) { return _mm512_maddubs_epi16(u, load_i8x64(y)); }

// sum_s scales16[s] * bsums[s] over the 16 groups of 16, as 8 int32 (the zero-point term of Q3_K and Q6_K).
inline __m256i scaled_bsums(__m128i scales8x16, const BlockQ8_K& y) {
    return _mm256_madd_epi16(_mm256_cvtepi8_epi16(scales8x16), load_i8x32(y.bsums));
}

// y.d * fp16 scale, in every lane (the fp16 through the table: a broadcast load, no vector convert).
inline __m512 scale_f32x16(const BlockQ8_K& y, const float* f16, uint16_t d) {
    return _mm512_mul_ps(_mm512_set1_ps(y.d), _mm512_set1_ps(f16[d]));
}
inline __m256 scale_f32x8(const BlockQ8_K& y, const float* f16, uint16_t d) {
    return _mm256_mul_ps(_mm256_set1_ps(y.d), _mm256_set1_ps(f16[d]));
}

// ---- One super-block of each type: adds d * (integer dot) to acc and dmin * (min sums) to acc_min.

struct Q2K {
    using W = BlockQ2_K;
    [[gnu::always_inline]] static void block(const W& x, const BlockQ8_K& y, const float* f16, __m512& acc,
                                             __m256& acc_min) {
        const __m128i packed = load_i8x16(x.scales);
        const __m128i low4 = _mm_set1_epi8(0x0f);
        const __m128i sc8 = _mm_and_si128(packed, low4);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low4));
        __m512i sum = _mm512_setzero_si512();
        const __m512i three = _mm512_set1_epi8(3);
#pragma GCC unroll 16
        for (int h = 0; h < 2; ++h) {
            const __m512i q = twice(x.qs + 32 * h);
            const __m512i sc = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(h == 0 ? sc8 : _mm_srli_si128(sc8, 8)));
            const __m512i u0 = _mm512_and_si512(_mm512_srlv_epi16(q, counts(0, 2)), three);
            const __m512i u1 = _mm512_and_si512(_mm512_srlv_epi16(q, counts(4, 6)), three);
            sum = _mm512_dpwssd_epi32(sum, maddubs(u0, y.qs + 128 * h), pick_scales(sc, 0, 1, 2, 3));
            sum = _mm512_dpwssd_epi32(sum, maddubs(u1, y.qs + 128 * h + 64), pick_scales(sc, 4, 5, 6, 7));
        }
        acc = _mm512_fmadd_ps(scale_f32x16(y, f16, x.d), _mm512_cvtepi32_ps(sum), acc);
        const __m256i min_sums = _mm256_madd_epi16(mins, load_i8x32(y.bsums));
        acc_min = _mm256_fmadd_ps(scale_f32x8(y, f16, x.dmin), _mm256_cvtepi32_ps(min_sums), acc_min);
    }
};

// Q3_K: q = (2 low bits | high bit << 2) - 4; the -4 goes through bsums.
struct Q3K {
    using W = BlockQ3_K;
    // 16 six-bit scales minus 32 (layout: blocks_k.h q3_k_scale), as bytes.
    static __m128i scales8(const uint8_t* packed) {
        uint32_t a[3];
        std::memcpy(a, packed, 12);
        const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
        const __m128i s = _mm_setr_epi32(static_cast<int32_t>((a[0] & m4) | ((a[2] & m2) << 4)),
                                         static_cast<int32_t>((a[1] & m4) | (((a[2] >> 2) & m2) << 4)),
                                         static_cast<int32_t>(((a[0] >> 4) & m4) | (((a[2] >> 4) & m2) << 4)),
                                         static_cast<int32_t>(((a[1] >> 4) & m4) | (((a[2] >> 6) & m2) << 4)));
        return _mm_sub_epi8(s, _mm_set1_epi8(32));
    }
    [[gnu::always_inline]] static void block(const W& x, const BlockQ8_K& y, const float* f16, __m512& acc, __m256&) {
        const __m128i sc8 = scales8(x.scales);
        __m512i sum = _mm512_zextsi256_si512(
            _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(scaled_bsums(sc8, y), 2)));
        const __m512i hmask = twice(x.hmask);
        const __m512i three = _mm512_set1_epi8(3), four = _mm512_set1_epi8(4);
#pragma GCC unroll 16
        for (int h = 0; h < 2; ++h) {
            const __m512i q = twice(x.qs + 32 * h);
            const __m512i sc = scales_i8(h == 0 ? sc8 : _mm_srli_si128(sc8, 8));
            __m512i u0 = _mm512_and_si512(_mm512_srlv_epi16(q, counts(0, 2)), three);
            __m512i u1 = _mm512_and_si512(_mm512_srlv_epi16(q, counts(4, 6)), three);
            u0 = _mm512_mask_add_epi8(u0, _mm512_test_epi8_mask(hmask, bit_pattern(4 * h, 4 * h + 1)), u0, four);
            u1 = _mm512_mask_add_epi8(u1, _mm512_test_epi8_mask(hmask, bit_pattern(4 * h + 2, 4 * h + 3)), u1, four);
            sum = _mm512_dpwssd_epi32(sum, maddubs(u0, y.qs + 128 * h), pick_scales(sc, 0, 1, 2, 3));
            sum = _mm512_dpwssd_epi32(sum, maddubs(u1, y.qs + 128 * h + 64), pick_scales(sc, 4, 5, 6, 7));
        }
        acc = _mm512_fmadd_ps(scale_f32x16(y, f16, x.d), _mm512_cvtepi32_ps(sum), acc);
    }
};

// Q4_K / Q5_K: chunk c (64 elements) = low nibbles of qs[32c..] (sub-block 2c) then high nibbles (2c+1).
// Packed scales and mins as in matmul_kquant_avx2.cpp unpack_k4_scales.
template <bool kFifthBit, class W>
[[gnu::always_inline]] inline void block_k4(const W& x, const BlockQ8_K& y, const float* f16, __m512& acc,
                                            __m256& acc_min) {
    uint32_t u[3];
    std::memcpy(u, x.scales, 12);
    const uint64_t sc = (u[0] & 0x3f3f3f3fu) | static_cast<uint64_t>((u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u))
                                                   << 32;
    const uint64_t mn =
        (u[1] & 0x3f3f3f3fu) | static_cast<uint64_t>(((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u)) << 32;
    const __m512i scales = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(sc))));
    // mins[s] * (bsums[2s] + bsums[2s+1]): widen the mins to 16 int16, each repeated for its two bsums groups.
    const __m128i mins8 = _mm_cvtsi64_si128(static_cast<int64_t>(mn));
    const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins8, mins8));
    const __m256i min_sums = _mm256_madd_epi16(mins16, load_i8x32(y.bsums));
    __m512i qh = _mm512_setzero_si512();
    if constexpr (kFifthBit) qh = twice(x.qh);
    __m512i sum = _mm512_setzero_si512();
    const __m512i low4 = _mm512_set1_epi8(0x0f);
#pragma GCC unroll 16
    for (int c = 0; c < 4; ++c) {
        const __m256i q = load_i8x32(x.qs + 32 * c);
        __m512i v = _mm512_and_si512(join_i8x32(q, _mm256_srli_epi16(q, 4)), low4);
        if constexpr (kFifthBit) {
            v = _mm512_mask_add_epi8(v, _mm512_test_epi8_mask(qh, bit_pattern(2 * c, 2 * c + 1)), v,
                                     _mm512_set1_epi8(0x10));
        }
        sum = _mm512_dpwssd_epi32(sum, maddubs(v, y.qs + 64 * c),
                                  pick_scales(scales, 2 * c, 2 * c, 2 * c + 1, 2 * c + 1));
    }
    acc = _mm512_fmadd_ps(scale_f32x16(y, f16, x.d), _mm512_cvtepi32_ps(sum), acc);
    acc_min = _mm256_fmadd_ps(scale_f32x8(y, f16, x.dmin), _mm256_cvtepi32_ps(min_sums), acc_min);
}

struct Q4K {
    using W = BlockQ4_K;
    [[gnu::always_inline]] static void block(const W& x, const BlockQ8_K& y, const float* f16, __m512& acc,
                                             __m256& acc_min) {
        block_k4<false>(x, y, f16, acc, acc_min);
    }
};

struct Q5K {
    using W = BlockQ5_K;
    [[gnu::always_inline]] static void block(const W& x, const BlockQ8_K& y, const float* f16, __m512& acc,
                                             __m256& acc_min) {
        block_k4<true>(x, y, f16, acc, acc_min);
    }
};

// Q6_K: q = (4 low bits | 2 high bits << 4) - 32; the -32 goes through bsums. Per half h, ql[64h..64h+63] gives
// elements 0-63 (low nibbles) and 64-127 (high nibbles); qh[32h + l] bits 2k are the high bits of l + 32k.
struct Q6K {
    using W = BlockQ6_K;
    [[gnu::always_inline]] static void block(const W& x, const BlockQ8_K& y, const float* f16, __m512& acc, __m256&) {
        const __m128i sc8 = load_i8x16(x.scales);
        __m512i sum = _mm512_zextsi256_si512(
            _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(scaled_bsums(sc8, y), 5)));
        const __m512i low4 = _mm512_set1_epi8(0x0f), high2 = _mm512_set1_epi8(0x30);
#pragma GCC unroll 16
        for (int h = 0; h < 2; ++h) {
            const __m512i ql = load_i8x64(x.ql + 64 * h);
            const __m512i qh = twice(x.qh + 32 * h);
            const __m512i sc = scales_i8(h == 0 ? sc8 : _mm_srli_si128(sc8, 8));
            const __m512i u0 = _mm512_or_si512(_mm512_and_si512(ql, low4),
                                               _mm512_and_si512(_mm512_sllv_epi16(qh, counts(4, 2)), high2));
            const __m512i u1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                                               _mm512_and_si512(_mm512_srlv_epi16(qh, counts(0, 2)), high2));
            sum = _mm512_dpwssd_epi32(sum, maddubs(u0, y.qs + 128 * h), pick_scales(sc, 0, 1, 2, 3));
            sum = _mm512_dpwssd_epi32(sum, maddubs(u1, y.qs + 128 * h + 64), pick_scales(sc, 4, 5, 6, 7));
        }
        acc = _mm512_fmadd_ps(scale_f32x16(y, f16, x.d), _mm512_cvtepi32_ps(sum), acc);
    }
};

// R rows at once over nb super-blocks. rows: [R] weight rows; act: [nb] BlockQ8_K; out: [R].
template <class K, int R>
void dot_rows(int64_t nb, const void* const* rows, const void* act, float* out) {
    const auto* y = static_cast<const BlockQ8_K*>(act);
    const float* f16 = fp16_table();  // block scales by table lookup: a broadcast load instead of a vector convert
    __m512 acc[R];
    __m256 acc_min[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        acc[r] = _mm512_setzero_ps();
        acc_min[r] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < nb; ++i) {
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const auto& x = static_cast<const typename K::W*>(rows[r])[i];
            prefetch_ahead<sizeof(x)>(&x);
            K::block(x, y[i], f16, acc[r], acc_min[r]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        acc[r] = _mm512_sub_ps(acc[r], _mm512_zextps256_ps512(acc_min[r]));
    }
    if constexpr (R == 4) {
        _mm_storeu_ps(out, hsum4_f32x16(acc[0], acc[1], acc[2], acc[3]));
    } else {
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
    }
}

template <class K>
void vec_dot(int64_t n, float* out, const void* w, const void* act) {
    const void* rows[1] = {w};
    dot_rows<K, 1>(n / kQK_K, rows, act, out);
}

template <class K>
void vec_dot_rows(int64_t n, const void* w, size_t stride, int64_t n_rows, const void* act, float* out) {
    dot_all_rows<kRowGroup>(w, stride, n_rows, out, [&]<int R>(const void* const* rows, float* sums) {
        dot_rows<K, R>(n / kQK_K, rows, act, sums);
    });
}

}  // namespace

void vec_dot_q2_k_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q2K>(n, out, w, act); }
void vec_dot_q3_k_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q3K>(n, out, w, act); }
void vec_dot_q4_k_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q4K>(n, out, w, act); }
void vec_dot_q5_k_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q5K>(n, out, w, act); }
void vec_dot_q6_k_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q6K>(n, out, w, act); }

void vec_dot_rows_q2_k_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q2K>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q3_k_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q3K>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q4_k_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q4K>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q5_k_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q5K>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q6_k_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q6K>(n, w, s, n_rows, act, out);
}

}  // namespace spool::cpu
