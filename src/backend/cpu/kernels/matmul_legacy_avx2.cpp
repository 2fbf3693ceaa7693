// AVX2 dot products of legacy weight rows (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) with Q8_0 / Q8_1 activation rows.
// Per block the integer sum is exact (as quant/legacy_vec_dot.cpp); only the float summation order differs.
#include "backend/cpu/kernels/fp16_table.h"
#include "backend/cpu/kernels/kernel_decls.h"
#include "backend/cpu/kernels/prefetch.h"
#include "backend/cpu/kernels/row_groups.h"
#include "backend/cpu/kernels/simd_avx2.h"
#include "quant/blocks_legacy.h"

namespace spool::cpu {
namespace {

using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ5_0;
using quant::BlockQ5_1;
using quant::BlockQ8_0;
using quant::BlockQ8_1;

constexpr int64_t kBlock = quant::kLegacyBlockSize;
constexpr int kRowGroup = 4;  // rows per pass in vec_dot_rows: 4 independent FMA chains and 4 memory streams

// Bit 4 of the 32 quants of a 5-bit block, as 0x10 bytes.
inline __m256i high_bits_5(const uint8_t* qh) {
    uint32_t bits;
    std::memcpy(&bits, qh, 4);
    return _mm256_and_si256(expand_bits_32(bits), _mm256_set1_epi8(0x10));
}

// Each policy turns one weight block and the activation quants into 8 int32 partial sums of q_w * q_a (its zero
// point removed). `shared` is computed once per activation block and reused for every row.
struct Q4_0Policy {
    using W = BlockQ4_0;
    using A = BlockQ8_0;
    static constexpr bool kHasMin = false;
    // Unsigned quants u = q + 8 let maddubs run without sign tricks; 8 * sum(q_a) is subtracted back.
    static __m256i shared(__m256i qa) { return dot_u8_i8(_mm256_set1_epi8(8), qa); }
    static __m256i dot(const W& x, __m256i qa, __m256i zero) {
        return _mm256_sub_epi32(dot_u8_i8(unpack_nibbles_16(x.qs), qa), zero);
    }
};

struct Q4_1Policy {
    using W = BlockQ4_1;
    using A = BlockQ8_1;
    static constexpr bool kHasMin = true;
    static __m256i shared(__m256i) { return _mm256_setzero_si256(); }
    static __m256i dot(const W& x, __m256i qa, __m256i) { return dot_u8_i8(unpack_nibbles_16(x.qs), qa); }
};

struct Q5_0Policy {
    using W = BlockQ5_0;
    using A = BlockQ8_0;
    static constexpr bool kHasMin = false;
    static __m256i shared(__m256i qa) { return dot_u8_i8(_mm256_set1_epi8(16), qa); }
    static __m256i dot(const W& x, __m256i qa, __m256i zero) {
        const __m256i u = _mm256_or_si256(unpack_nibbles_16(x.qs), high_bits_5(x.qh));
        return _mm256_sub_epi32(dot_u8_i8(u, qa), zero);
    }
};

struct Q5_1Policy {
    using W = BlockQ5_1;
    using A = BlockQ8_1;
    static constexpr bool kHasMin = true;
    static __m256i shared(__m256i) { return _mm256_setzero_si256(); }
    static __m256i dot(const W& x, __m256i qa, __m256i) {
        return dot_u8_i8(_mm256_or_si256(unpack_nibbles_16(x.qs), high_bits_5(x.qh)), qa);
    }
};

struct Q8_0Policy {
    using W = BlockQ8_0;
    using A = BlockQ8_0;
    static constexpr bool kHasMin = false;
    static __m256i shared(__m256i) { return _mm256_setzero_si256(); }
    static __m256i dot(const W& x, __m256i qa, __m256i) { return dot_i8_i8(load_i8x32(x.qs), qa); }
};

template <class P>
float min_term(const typename P::W& x, const typename P::A& a) {
    if constexpr (P::kHasMin) {
        return fp16_to_f32(x.m) * fp16_to_f32(a.s);
    } else {
        return 0.0f;
    }
}

// R rows at once. A single row gets two accumulators (even and odd blocks) to hide the FMA latency; several
// rows are independent chains already, and one accumulator each keeps them all in registers.
// rows: [R] weight rows of nb blocks; act: [nb] blocks; out: [R].
template <class P, int R>
void dot_rows(int64_t nb, const void* const* rows, const void* act, float* out) {
    using W = typename P::W;
    constexpr int kOdd = R == 1 ? 1 : 0;  // accumulator of odd blocks
    const auto* y = static_cast<const typename P::A*>(act);
    const float* f16 = fp16_table();
    __m256 acc[R][2];
    float min_sum[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        min_sum[r] = 0.0f;
    }
    auto step = [&](int64_t i, int k) {
        const __m256i qa = load_i8x32(y[i].qs);
        const __m256i shared = P::shared(qa);
        const __m256 da = _mm256_broadcast_ss(f16 + y[i].d);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const W& x = static_cast<const W*>(rows[r])[i];
            prefetch_ahead<sizeof(W)>(&x);
            const __m256 p = _mm256_cvtepi32_ps(P::dot(x, qa, shared));
            acc[r][k] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_broadcast_ss(f16 + x.d), da), p, acc[r][k]);
            if constexpr (P::kHasMin) min_sum[r] += min_term<P>(x, y[i]);
        }
    };
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        step(i, 0);
        step(i + 1, kOdd);
    }
    if (i < nb) step(i, 0);
    if constexpr (R == 4) {
        const __m128 sums = hsum4_f32x8(_mm256_add_ps(acc[0][0], acc[0][1]), _mm256_add_ps(acc[1][0], acc[1][1]),
                                        _mm256_add_ps(acc[2][0], acc[2][1]), _mm256_add_ps(acc[3][0], acc[3][1]));
        _mm_storeu_ps(out, _mm_add_ps(sums, _mm_loadu_ps(min_sum)));
    } else {
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) out[r] = hsum_f32x8(_mm256_add_ps(acc[r][0], acc[r][1])) + min_sum[r];
    }
}

template <class P>
void vec_dot(int64_t n, float* out, const void* w, const void* act) {
    const void* rows[1] = {w};
    dot_rows<P, 1>(n / kBlock, rows, act, out);
}

template <class P>
void vec_dot_rows(int64_t n, const void* w, size_t stride, int64_t n_rows, const void* act, float* out) {
    dot_all_rows<kRowGroup>(w, stride, n_rows, out, [&]<int R>(const void* const* rows, float* sums) {
        dot_rows<P, R>(n / kBlock, rows, act, sums);
    });
}

}  // namespace

void vec_dot_q4_0_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q4_0Policy>(n, out, w, act); }
void vec_dot_q4_1_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q4_1Policy>(n, out, w, act); }
void vec_dot_q5_0_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q5_0Policy>(n, out, w, act); }
void vec_dot_q5_1_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q5_1Policy>(n, out, w, act); }
void vec_dot_q8_0_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<Q8_0Policy>(n, out, w, act); }

void vec_dot_rows_q4_0_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q4_0Policy>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q4_1_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q4_1Policy>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q5_0_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q5_0Policy>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q5_1_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q5_1Policy>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_q8_0_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Q8_0Policy>(n, w, s, n_rows, act, out);
}

}  // namespace spool::cpu
