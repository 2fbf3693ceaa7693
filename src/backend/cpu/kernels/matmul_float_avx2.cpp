// AVX2 dot products of F32, F16 and BF16 weight rows with activation rows of the same type (widened to float,
// multiplied and summed in float with FMA). quant/float.cpp sums in double; the difference is float rounding.
#include "backend/cpu/kernels/kernel_decls.h"
#include "backend/cpu/kernels/prefetch.h"
#include "backend/cpu/kernels/row_groups.h"
#include "backend/cpu/kernels/simd_avx2.h"

namespace spool::cpu {
namespace {

constexpr int kRowGroup = 4;

// Element loaders: 8 elements from index i as floats, and one element.
struct F32Load {
    static constexpr size_t kElementBytes = 4;
    static __m256 load8(const void* p, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(p) + i); }
    static float load1(const void* p, int64_t i) {
        float v;
        std::memcpy(&v, static_cast<const unsigned char*>(p) + i * 4, 4);
        return v;
    }
};

inline uint16_t load_u16(const void* p, int64_t i) {
    uint16_t v;
    std::memcpy(&v, static_cast<const unsigned char*>(p) + i * 2, 2);
    return v;
}

struct F16Load {
    static constexpr size_t kElementBytes = 2;
    static __m256 load8(const void* p, int64_t i) {
        return _mm256_cvtph_ps(load_i8x16(static_cast<const unsigned char*>(p) + i * 2));
    }
    static float load1(const void* p, int64_t i) { return fp16_to_f32(load_u16(p, i)); }
};

// bf16 -> float is a 16-bit left shift of the bits: exact.
struct Bf16Load {
    static constexpr size_t kElementBytes = 2;
    static __m256 load8(const void* p, int64_t i) {
        const __m256i wide = _mm256_cvtepu16_epi32(load_i8x16(static_cast<const unsigned char*>(p) + i * 2));
        return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
    }
    static float load1(const void* p, int64_t i) {
        const uint32_t bits = static_cast<uint32_t>(load_u16(p, i)) << 16;
        float v;
        std::memcpy(&v, &bits, 4);
        return v;
    }
};

// R rows at once, each with kU independent accumulators (fewer per row when several rows already give the core
// independent FMA chains). rows: [R] rows of n elements; act: [n]; out: [R].
template <class L, int R>
void dot_rows(int64_t n, const void* const* rows, const void* act, float* out) {
    constexpr int kU = R == 1 ? 4 : (R == 2 ? 2 : 1);
    __m256 acc[R][kU];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
        for (int u = 0; u < kU; ++u) acc[r][u] = _mm256_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 8 * kU <= n; i += 8 * kU) {
#pragma GCC unroll 16
        for (int u = 0; u < kU; ++u) {
            const __m256 a = L::load8(act, i + 8 * u);
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                if (u == 0)
                    prefetch_ahead<L::kElementBytes * 8 * kU>(static_cast<const char*>(rows[r]) + L::kElementBytes * i);
                acc[r][u] = _mm256_fmadd_ps(L::load8(rows[r], i + 8 * u), a, acc[r][u]);
            }
        }
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 a = L::load8(act, i);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][0] = _mm256_fmadd_ps(L::load8(rows[r], i), a, acc[r][0]);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        for (int u = 1; u < kU; ++u) acc[r][0] = _mm256_add_ps(acc[r][0], acc[r][u]);
        float sum = hsum_f32x8(acc[r][0]);
        for (int64_t j = i; j < n; ++j) sum += L::load1(rows[r], j) * L::load1(act, j);
        out[r] = sum;
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

void vec_dot_f32_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<F32Load>(n, out, w, act); }
void vec_dot_f16_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<F16Load>(n, out, w, act); }
void vec_dot_bf16_avx2(int64_t n, float* out, const void* w, const void* act) { vec_dot<Bf16Load>(n, out, w, act); }

void vec_dot_rows_f32_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<F32Load>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_f16_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<F16Load>(n, w, s, n_rows, act, out);
}
void vec_dot_rows_bf16_avx2(int64_t n, const void* w, size_t s, int64_t n_rows, const void* act, float* out) {
    vec_dot_rows<Bf16Load>(n, w, s, n_rows, act, out);
}

}  // namespace spool::cpu
