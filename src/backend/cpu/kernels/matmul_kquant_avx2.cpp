// AVX2 dot products of K-quant weight rows (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) with Q8_K activation rows.
// Per super-block the integer sums are exact, as quant/kquants_dot.cpp; zero points and mins go through Q8_K's
// bsums (sums of 16 activation quants), so the weight quants enter maddubs unsigned. Only float rounding differs.
#include "backend/cpu/kernels/fp16_table.h"
#include "backend/cpu/kernels/kernel_decls.h"
#include "backend/cpu/kernels/prefetch.h"
#include "backend/cpu/kernels/row_groups.h"
#include "backend/cpu/kernels/simd_avx2.h"
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

// ---- Scale helpers. Sub-block scales live as int16 in both 128-bit halves of a vector, so one byte shuffle
// gives the per-half scale vector that madd needs: 16 products of 16-element sub-block a in the low half,
// sub-block b in the high half.

// scales: 8 int16 in each 128-bit half; returns [scales[a] x 8 | scales[b] x 8].
inline __m256i pick_scales(__m256i scales, int a, int b) {
    const __m256i control = _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * b)),
                                             _mm_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * a)));
    return _mm256_shuffle_epi8(scales, control);
}

// 16 int16 in the order of the vector (low half: elements 0-7, high: 8-15) -> both halves hold 8h .. 8h+7.
inline __m256i half_of(__m256i v16, int h) {
    return h == 0 ? _mm256_permute2x128_si256(v16, v16, 0x00) : _mm256_permute2x128_si256(v16, v16, 0x11);
}

// v holds only bit `from` of each byte; move it to bit `to` (16-bit shifts are safe: nothing crosses a byte).
inline __m256i move_bit(__m256i v, int from, int to) {
    return from > to ? _mm256_srli_epi16(v, from - to) : _mm256_slli_epi16(v, to - from);
}

inline __m256i load_bsums(const BlockQ8_K& y) { return load_i8x32(y.bsums); }

// Q4_K / Q5_K packed 6-bit scales and mins (blocks_k.h k4_scale_min) as two 8-byte vectors, with 32-bit masks:
// scale s < 4 = byte s & 63, min s < 4 = byte s+4 & 63; s >= 4 take the low/high nibble of byte s+4 and the
// top 2 bits of byte s-4 (scale) or byte s (min).
inline void unpack_k4_scales(const uint8_t* packed, __m128i* scales8, __m128i* mins8) {
    uint32_t u[3];
    std::memcpy(u, packed, 12);
    const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u);
    const uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u);
    *scales8 = _mm_set_epi32(0, 0, static_cast<int32_t>(sc_hi), static_cast<int32_t>(u[0] & 0x3f3f3f3fu));
    *mins8 = _mm_set_epi32(0, 0, static_cast<int32_t>(mn_hi), static_cast<int32_t>(u[1] & 0x3f3f3f3fu));
}

// sum over sub-blocks of 32 of mins[s] * (bsums[2s] + bsums[2s+1]), as 4 int32 partial sums.
inline __m128i k4_min_sums(__m128i mins8, const BlockQ8_K& y) {
    const __m256i b = load_bsums(y);
    const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
    return _mm_madd_epi16(_mm_cvtepu8_epi16(mins8), pairs);
}

// y.d * fp16 scale, in every lane (the fp16 through the table: a broadcast load, no vector convert).
inline __m256 scale_f32x8(const BlockQ8_K& y, const float* f16, uint16_t d) {
    return _mm256_mul_ps(_mm256_set1_ps(y.d), _mm256_set1_ps(f16[d]));
}
inline __m128 scale_f32x4(const BlockQ8_K& y, const float* f16, uint16_t d) {
    return _mm_mul_ps(_mm_set1_ps(y.d), _mm_set1_ps(f16[d]));
}

// ---- One super-block of each type: adds d * (integer dot) to acc and dmin * (min sum) to acc_min.

struct Q2K {
    using W = BlockQ2_K;
    [[gnu::always_inline]] static void block(const W& x, const BlockQ8_K& y, const float* f16, __m256& acc,
                                             __m128& acc_min) {
        const __m128i packed = load_i8x16(x.scales);
        const __m128i low4 = _mm_set1_epi8(0x0f);
        const __m256i scales = _mm256_cvtepu8_epi16(_mm_and_si128(packed, low4));
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low4));
        const __m256i min_sums = _mm256_madd_epi16(mins, load_bsums(y));
        __m256i sum = _mm256_setzero_si256();
#pragma GCC unroll 16
        for (int h = 0; h < 2; ++h) {
            const __m256i q = load_i8x32(x.qs + 32 * h);
            const __m256i sc = half_of(scales, h);
#pragma GCC unroll 16
            for (int k = 0; k < 4; ++k) {
                const __m256i u = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), _mm256_set1_epi8(3));
                const __m256i p = _mm256_maddubs_epi16(u, load_i8x32(y.qs + 128 * h + 32 * k));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, pick_scales(sc, 2 * k, 2 * k + 1)));
            }
        }
        acc = _mm256_fmadd_ps(scale_f32x8(y, f16, x.d), _mm256_cvtepi32_ps(sum), acc);
        const __m128i m4 = _mm_add_epi32(_mm256_castsi256_si128(min_sums), _mm256_extracti128_si256(min_sums, 1));
        acc_min = _mm_fmadd_ps(scale_f32x4(y, f16, x.dmin), _mm_cvtepi32_ps(m4), acc_min);
    }
};

// Q3_K: q = (2 low bits | high bit << 2) - 4; the -4 goes through bsums: sum -= 4 * sum(scale * bsum).
struct Q3K {
    using W = BlockQ3_K;
    // 16 six-bit scales minus 32: low 4 bits from the nibbles of bytes 0-7 (0-7 low, 8-15 high nibble),
    // high 2 bits of scale s from bits 2*(s/4) of byte 8 + s%4.
    static __m256i scales16(const uint8_t* packed) {
        uint32_t a[3];
        std::memcpy(a, packed, 12);
        const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
        const uint32_t s0 = (a[0] & m4) | ((a[2] & m2) << 4);
        const uint32_t s1 = (a[1] & m4) | (((a[2] >> 2) & m2) << 4);
        const uint32_t s2 = ((a[0] >> 4) & m4) | (((a[2] >> 4) & m2) << 4);
        const uint32_t s3 = ((a[1] >> 4) & m4) | (((a[2] >> 6) & m2) << 4);
        const __m128i s = _mm_set_epi32(static_cast<int32_t>(s3), static_cast<int32_t>(s2), static_cast<int32_t>(s1),
                                        static_cast<int32_t>(s0));
        return _mm256_cvtepi8_epi16(_mm_sub_epi8(s, _mm_set1_epi8(32)));
    }
    [[gnu::always_inline]] static void block(const W& x, const BlockQ8_K& y, const float* f16, __m256& acc, __m128&) {
        const __m256i scales = scales16(x.scales);
        __m256i sum = _mm256_slli_epi32(_mm256_madd_epi16(scales, load_bsums(y)), 2);
        sum = _mm256_sub_epi32(_mm256_setzero_si256(), sum);
        const __m256i hmask = load_i8x32(x.hmask);
#pragma GCC unroll 16
        for (int h = 0; h < 2; ++h) {
            const __m256i q = load_i8x32(x.qs + 32 * h);
            const __m256i sc = half_of(scales, h);
#pragma GCC unroll 16
            for (int k = 0; k < 4; ++k) {
                const int bit = 4 * h + k;
                const __m256i high =
                    move_bit(_mm256_and_si256(hmask, _mm256_set1_epi8(static_cast<char>(1 << bit))), bit, 2);
                const __m256i u =
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * k), _mm256_set1_epi8(3)), high);
                const __m256i p = _mm256_maddubs_epi16(u, load_i8x32(y.qs + 128 * h + 32 * k));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, pick_scales(sc, 2 * k, 2 * k + 1)));
            }
        }
        acc = _mm256_fmadd_ps(scale_f32x8(y, f16, x.d), _mm256_cvtepi32_ps(sum), acc);
    }
};

// Q4_K and Q5_K share the chunk loop: chunk c (64 elements) = sub-blocks 2c (low nibbles) and 2c+1 (high).
template <bool kFifthBit, class W>
[[gnu::always_inline]] inline void block_k4(const W& x, const BlockQ8_K& y, const float* f16, __m256& acc,
                                            __m128& acc_min) {
    __m128i scales8, mins8;
    unpack_k4_scales(x.scales, &scales8, &mins8);
    const __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scales8));
    const __m128i min_sums = k4_min_sums(mins8, y);
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kFifthBit) qh = load_i8x32(x.qh);
    __m256i sum = _mm256_setzero_si256();
#pragma GCC unroll 16
    for (int c = 0; c < 4; ++c) {
        const __m256i q = load_i8x32(x.qs + 32 * c);
        __m256i lo = _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0f));
        if constexpr (kFifthBit) {
            const int b0 = 2 * c, b1 = 2 * c + 1;
            lo = _mm256_or_si256(lo,
                                 move_bit(_mm256_and_si256(qh, _mm256_set1_epi8(static_cast<char>(1 << b0))), b0, 4));
            hi = _mm256_or_si256(hi,
                                 move_bit(_mm256_and_si256(qh, _mm256_set1_epi8(static_cast<char>(1 << b1))), b1, 4));
        }
        const __m256i p0 = _mm256_maddubs_epi16(lo, load_i8x32(y.qs + 64 * c));
        const __m256i p1 = _mm256_maddubs_epi16(hi, load_i8x32(y.qs + 64 * c + 32));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p0, pick_scales(scales, 2 * c, 2 * c)));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p1, pick_scales(scales, 2 * c + 1, 2 * c + 1)));
    }
    acc = _mm256_fmadd_ps(scale_f32x8(y, f16, x.d), _mm256_cvtepi32_ps(sum), acc);
    acc_min = _mm_fmadd_ps(scale_f32x4(y, f16, x.dmin), _mm_cvtepi32_ps(min_sums), acc_min);
}

struct Q4K {
    using W = BlockQ4_K;
    [[gnu::always_inline]] static void block(const W& x, const BlockQ8_K& y, const float* f16, __m256& acc,
                                             __m128& acc_min) {
        block_k4<false>(x, y, f16, acc, acc_min);
    }
};

struct Q5K {
    using W = BlockQ5_K;
    [[gnu::always_inline]] static void block(const W& x, const BlockQ8_K& y, const float* f16, __m256& acc,
                                             __m128& acc_min) {
        block_k4<true>(x, y, f16, acc, acc_min);
    }
};

// Q6_K: q = (4 low bits | 2 high bits << 4) - 32; the -32 goes through bsums.
struct Q6K {
    using W = BlockQ6_K;
    [[gnu::always_inline]] static void block(const W& x, const BlockQ8_K& y, const float* f16, __m256& acc, __m128&) {
        const __m256i scales = _mm256_cvtepi8_epi16(load_i8x16(x.scales));
        __m256i sum = _mm256_slli_epi32(_mm256_madd_epi16(scales, load_bsums(y)), 5);
        sum = _mm256_sub_epi32(_mm256_setzero_si256(), sum);
        const __m256i low4 = _mm256_set1_epi8(0x0f), high2 = _mm256_set1_epi8(0x30);
#pragma GCC unroll 16
        for (int h = 0; h < 2; ++h) {
            const __m256i qa = load_i8x32(x.ql + 64 * h);
            const __m256i qb = load_i8x32(x.ql + 64 * h + 32);
            const __m256i qh = load_i8x32(x.qh + 32 * h);
            const __m256i sc = half_of(scales, h);
            // group k (32 elements): low nibbles of qa, qb, then high nibbles; high bits 2k of qh, moved to bit 4.
            const __m256i u[4] = {
                _mm256_or_si256(_mm256_and_si256(qa, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), high2)),
                _mm256_or_si256(_mm256_and_si256(qb, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), high2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), low4), _mm256_and_si256(qh, high2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), low4),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), high2)),
            };
#pragma GCC unroll 16
            for (int k = 0; k < 4; ++k) {
                const __m256i p = _mm256_maddubs_epi16(u[k], load_i8x32(y.qs + 128 * h + 32 * k));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, pick_scales(sc, 2 * k, 2 * k + 1)));
            }
        }
        acc = _mm256_fmadd_ps(scale_f32x8(y, f16, x.d), _mm256_cvtepi32_ps(sum), acc);
    }
};

// R rows at once over nb super-blocks. rows: [R] weight rows; act: [nb] BlockQ8_K; out: [R].
template <class K, int R>
void dot_rows(int64_t nb, const void* const* rows, const void* act, float* out) {
    const auto* y = static_cast<const BlockQ8_K*>(act);
    const float* f16 = fp16_table();  // block scales by table lookup: a broadcast load instead of a vector convert
    __m256 acc[R];
    __m128 acc_min[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        acc[r] = _mm256_setzero_ps();
        acc_min[r] = _mm_setzero_ps();
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
        __m128 m = _mm_add_ps(acc_min[r], _mm_movehl_ps(acc_min[r], acc_min[r]));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        out[r] = hsum_f32x8(acc[r]) - _mm_cvtss_f32(m);
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

void vec_dot_q2_k_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q2K>(n, out, w, act); }
void vec_dot_q3_k_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q3K>(n, out, w, act); }
void vec_dot_q4_k_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q4K>(n, out, w, act); }
void vec_dot_q5_k_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q5K>(n, out, w, act); }
void vec_dot_q6_k_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q6K>(n, out, w, act); }

void vec_dot_rows_q2_k_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q2K>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q3_k_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q3K>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q4_k_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q4K>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q5_k_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q5K>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q6_k_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q6K>(n, w, s, n_rows, act, out);
}

}  // namespace spool::cpu
