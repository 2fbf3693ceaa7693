// AVX-512 dot products of F32, F16 and BF16 weight rows with activation rows of the same type (widened to float,
// FMA in float, 16 lanes; masked loads take the tail). quant/float.cpp sums in double: float rounding differs.
#include "backend/cpu/kernels/kernel_decls.h"
#include "backend/cpu/kernels/prefetch.h"
#include "backend/cpu/kernels/row_groups.h"
#include "backend/cpu/kernels/simd_avx512.h"

namespace spool::cpu {
namespace {

constexpr int kRowGroup = 4;

// Element loaders: 16 elements from index i as floats; the masked form reads only the lanes in mask.
struct F32Load {
    static constexpr size_t kElementBytes = 4;
    static __m512 load16(const void* p, int64_t i) { return _mm512_loadu_ps(static_cast<const float*>(p) + i); }
    static __m512 load_masked(const void* p, int64_t i, __mmask16 m) {
        return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
    }
};

struct F16Load {
    static constexpr size_t kElementBytes = 2;
    static __m512 load16(const void* p, int64_t i) {
        return _mm512_cvtph_ps(load_i8x32(static_cast<const uint16_t*>(p) + i));
    }
    static __m512 load_masked(const void* p, int64_t i, __mmask16 m) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
    }
};

// bf16 -> float is a 16-bit left shift of the bits: exact.
struct Bf16Load {
    static constexpr size_t kElementBytes = 2;
    static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
    static __m512 load16(const void* p, int64_t i) { return widen(load_i8x32(static_cast<const uint16_t*>(p) + i)); }
    static __m512 load_masked(const void* p, int64_t i, __mmask16 m) {
        return widen(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
    }
};

// R rows at once, kU accumulators per row. rows: [R] rows of n elements; act: [n]; out: [R].
template <class L, int R>
void dot_rows(int64_t n, const void* const* rows, const void* act, float* out) {
    constexpr int kU = R == 1 ? 4 : (R == 2 ? 2 : 1);
    __m512 acc[R][kU];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
        for (int u = 0; u < kU; ++u) acc[r][u] = _mm512_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 16 * kU <= n; i += 16 * kU) {
#pragma GCC unroll 16
        for (int u = 0; u < kU; ++u) {
            const __m512 a = L::load16(act, i + 16 * u);
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                if (u == 0)
                    prefetch_ahead<L::kElementBytes * 16 * kU>(static_cast<const char*>(rows[r]) +
                                                               L::kElementBytes * i);
                acc[r][u] = _mm512_fmadd_ps(L::load16(rows[r], i + 16 * u), a, acc[r][u]);
            }
        }
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (n - i)) - 1u);
        const __m512 a = L::load_masked(act, i, m);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][0] = _mm512_fmadd_ps(L::load_masked(rows[r], i, m), a, acc[r][0]);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        for (int u = 1; u < kU; ++u) acc[r][0] = _mm512_add_ps(acc[r][0], acc[r][u]);
    }
    if constexpr (R == 4) {
        _mm_storeu_ps(out, hsum4_f32x16(acc[0][0], acc[1][0], acc[2][0], acc[3][0]));
    } else {
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r][0]);
    }
}

template <class L>
void vec_dot(int64_t n, float* out, const void* w, const void* act) {
    const void* rows[1] = {w};
    dot_rows<L, 1>(n, rows, act, out);
}

template <class L>
void vec_dot_rows(int64_t n, const void* w, size_t stride, int64_t n_rows, const void* act, float* out) {
    dot_all_rows<kRowGroup>(w, stride, n_rows, out, [&]<int R>(const void* const* rows, float* sums) {
        dot_rows<L, R>(n, rows, act, sums);
    });
}

}  // namespace

void vec_dot_f32_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<F32Load>(n, out, w, act); }
void vec_dot_f16_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<F16Load>(n, out, w, act); }
void vec_dot_bf16_avx512(int64_t n, float* out, const void* w, const void* act) { vec_dot<Bf16Load>(n, out, w, act); }

void vec_dot_rows_f32_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<F32Load>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_f16_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<F16Load>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_bf16_avx512(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Bf16Load>(n, w, s, n_rows, act, out);
}

}  // namespace spool::cpu
