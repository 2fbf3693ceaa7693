// The attention span algorithm of attention_dispatch.h, written once over an ISA's vector operations (Ops) and the
// key and value types, and included by attention_scalar.cpp, attention_avx2.cpp and attention_avx512.cpp. Internal
// linkage throughout, so each file's copy is built with its own ISA flags (see simd_avx2.h on the ODR trap).
//
// Rows go in blocks of kBlockRows: all scores of a block first (each converted K row shared by every query head),
// then the block's max and exp (a two-pass softmax), then the V rows weighted by them. Between blocks the running
// max, sum and accumulator are rescaled as in an online softmax (Milakov & Gimelshein 2018), so the score buffer
// stays a few KiB (in L1) at any context length.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "backend/cpu/kernels/attention_dispatch.h"
#include "quant/blocks_legacy.h"

namespace spool::cpu {
namespace {

// Ops provides, for V = its vector of kLanes floats:
//   zero(), set1(f), load(p), store(p, v) (unaligned), fmadd(a, b, c) = a*b+c, mul, add, sub, max, reduce_max,
//   reduce_add, exp(v) (the ExpRowFn contract), exp_nonpositive(v) (exp for v <= 0; below ln FLT_MIN it may give
//   about FLT_MIN instead of 0), dot8(q, rows, stride, n, out): out[r] = q . rows[r * stride .. + n) for r < 8, n a
//   multiple of kLanes; dot2x4(q0, q1, rows, stride, n, out0, out1): the same for two heads and four rows;
//   f16_to_f32(src, dst, n), q8_0_to_f32(blocks, dst, n) and q4_0_to_f32(blocks, dst, n) for n a multiple of
//   kLanes (q8_0, q4_0: of 32), the quantized ones giving exactly quant/'s dequantize_row floats (fp16 d times a
//   small integer is exact in float32); f16_to_f32_one(h).

constexpr int kBlockRows = 256;    // rows whose scores are kept at once: 8 heads x 256 x 4 bytes = 8 KiB
constexpr int kTileFloats = 8192;  // cache rows converted to float32 at once: 32 KiB, L1-sized
constexpr int kMaxTileRows = 64;

constexpr int round_up(int n, int m) { return (n + m - 1) / m * m; }

template <class Ops>
void exp_row(const float* x, float* out, int64_t n) {
    constexpr int L = Ops::kLanes;
    int64_t i = 0;
    for (; i + L <= n; i += L) Ops::store(out + i, Ops::exp(Ops::load(x + i)));
    if (i < n) {
        alignas(64) float tail[L] = {};
        std::copy(x + i, x + n, tail);
        Ops::store(tail, Ops::exp(Ops::load(tail)));
        std::copy(tail, tail + (n - i), out + i);
    }
}

// A view of up to one tile of cache rows as float32: rows lie `stride` floats apart, each padded with zeros to a
// multiple of the lane count.
struct FloatRows {
    const float* data;
    size_t stride;
};

// Cache rows [row, row + n) of the span's K or V as float32. F32 rows whose width needs no padding are read in
// place; others are converted into tile ([tile_rows][padded], whose padding columns stay zero).
template <class Ops, GgmlType kType>
FloatRows load_rows(const void* first_row, size_t row_stride, int64_t row, int n, int tile_rows, int head_dim,
                    int padded, float* tile) {
    const auto* base = static_cast<const unsigned char*>(first_row) + static_cast<size_t>(row) * row_stride;
    if constexpr (kType == GgmlType::F32) {
        // In place only for whole tiles: dot8 reads 8 rows at a time, and rows past the span may not exist.
        if (head_dim == padded && row_stride % sizeof(float) == 0 && n == tile_rows) {
            return {reinterpret_cast<const float*>(base), row_stride / sizeof(float)};
        }
    }
    constexpr int L = Ops::kLanes;
    const int whole = head_dim / L * L;
    for (int r = 0; r < n; ++r) {
        const unsigned char* src = base + static_cast<size_t>(r) * row_stride;
        float* dst = tile + static_cast<size_t>(r) * static_cast<size_t>(padded);
        if constexpr (kType == GgmlType::F32) {
            std::memcpy(dst, src, static_cast<size_t>(head_dim) * sizeof(float));
        } else if constexpr (kType == GgmlType::F16) {
            Ops::f16_to_f32(reinterpret_cast<const uint16_t*>(src), dst, whole);
            for (int d = whole; d < head_dim; ++d) {
                uint16_t h;
                std::memcpy(&h, src + 2 * d, 2);
                dst[d] = Ops::f16_to_f32_one(h);
            }
        } else if constexpr (kType == GgmlType::Q8_0) {
            Ops::q8_0_to_f32(reinterpret_cast<const quant::BlockQ8_0*>(src), dst, head_dim);
        } else {
            static_assert(kType == GgmlType::Q4_0, "attention kernels exist for F32, F16, Q8_0 and Q4_0 caches");
            Ops::q4_0_to_f32(reinterpret_cast<const quant::BlockQ4_0*>(src), dst, head_dim);
        }
    }
    return {tile, static_cast<size_t>(padded)};
}

// acc[g][0, padded) += sum_r p[g][r] * rows[r] for G heads (G <= 4), over n rows: 2G accumulators of two vectors
// each span, so a V load is shared by G heads and a weight broadcast by two vectors.
template <class Ops, int G>
void accumulate_values(const float* const* p, FloatRows rows, int n, int padded, float* const* acc) {
    using V = typename Ops::V;
    constexpr int L = Ops::kLanes;
    int d = 0;
    for (; d + 2 * L <= padded; d += 2 * L) {
        V a0[G], a1[G];
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) {
            a0[g] = Ops::load(acc[g] + d);
            a1[g] = Ops::load(acc[g] + d + L);
        }
        for (int r = 0; r < n; ++r) {
            const float* row = rows.data + static_cast<size_t>(r) * rows.stride + d;
            const V v0 = Ops::load(row), v1 = Ops::load(row + L);
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g) {
                const V w = Ops::set1(p[g][r]);
                a0[g] = Ops::fmadd(w, v0, a0[g]);
                a1[g] = Ops::fmadd(w, v1, a1[g]);
            }
        }
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) {
            Ops::store(acc[g] + d, a0[g]);
            Ops::store(acc[g] + d + L, a1[g]);
        }
    }
    for (; d < padded; d += L) {
        V a[G];
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) a[g] = Ops::load(acc[g] + d);
        for (int r = 0; r < n; ++r) {
            const V v = Ops::load(rows.data + static_cast<size_t>(r) * rows.stride + d);
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g) a[g] = Ops::fmadd(Ops::set1(p[g][r]), v, a[g]);
        }
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) Ops::store(acc[g] + d, a[g]);
    }
}

template <class Ops>
void accumulate_values_group(const float* const* p, FloatRows rows, int n, int padded, float* const* acc,
                             int n_heads) {
    for (int h = 0; h < n_heads; h += 4) {
        switch (std::min(4, n_heads - h)) {
            case 1: accumulate_values<Ops, 1>(p + h, rows, n, padded, acc + h); break;
            case 2: accumulate_values<Ops, 2>(p + h, rows, n, padded, acc + h); break;
            case 3: accumulate_values<Ops, 3>(p + h, rows, n, padded, acc + h); break;
            default: accumulate_values<Ops, 4>(p + h, rows, n, padded, acc + h); break;
        }
    }
}

template <class Ops, GgmlType kKType, GgmlType kVType>
void attention_span(const AttentionSpan& span, const AttentionOut& result) {
    using V = typename Ops::V;
    constexpr int L = Ops::kLanes;
    constexpr size_t kHeadFloats = static_cast<size_t>(round_up(kAttentionMaxHeadDim, 16));
    const int n_q = span.n_q, head_dim = span.head_dim, padded = round_up(head_dim, L);

    alignas(64) float q[kAttentionMaxGroup][kHeadFloats];    // scale * q, zero-padded
    alignas(64) float acc[kAttentionMaxGroup][kHeadFloats];  // sum_j exp(s_j - max) V_j
    alignas(64) float scores[kAttentionMaxGroup][kBlockRows];
    alignas(64) float tile[kTileFloats];
    float running_max[kAttentionMaxGroup], running_sum[kAttentionMaxGroup];
    const float* p_rows[kAttentionMaxGroup];
    float* acc_rows[kAttentionMaxGroup];

    for (int h = 0; h < n_q; ++h) {
        for (int d = 0; d < padded; ++d) q[h][d] = d < head_dim ? span.scale * span.q[h * head_dim + d] : 0.0f;
        std::fill(acc[h], acc[h] + padded, 0.0f);
        running_max[h] = -INFINITY;
        running_sum[h] = 0.0f;
        acc_rows[h] = acc[h];
    }
    // As many rows per tile as fit kTileFloats (a multiple of 8, for dot8): the value pass loads and stores its
    // accumulators once per tile, so long tiles amortize that.
    const int tile_rows = std::min(kMaxTileRows, kTileFloats / padded / 8 * 8);
    // Padding columns must read as zero; rows past a partial tile's end only feed scores that are then discarded.
    const int64_t used_rows = std::min<int64_t>(tile_rows, (span.n_rows + 7) / 8 * 8);
    std::fill(tile, tile + used_rows * padded, 0.0f);

    for (int64_t block = 0; block < span.n_rows; block += kBlockRows) {
        const int n_block = static_cast<int>(std::min<int64_t>(kBlockRows, span.n_rows - block));

        // 1. Scores: each K row converted once, then dotted with every query head, eight rows at a time.
        for (int t = 0; t < n_block; t += tile_rows) {
            const int n_tile = std::min(tile_rows, n_block - t);
            const FloatRows k =
                load_rows<Ops, kKType>(span.k, span.k_stride, block + t, n_tile, tile_rows, head_dim, padded, tile);
            for (int r = 0; r < n_tile; r += 8) {
                const float* rows = k.data + static_cast<size_t>(r) * k.stride;
                int h = 0;
                for (; h + 2 <= n_q; h += 2) {
                    for (int half = 0; half < 8; half += 4) {
                        Ops::dot2x4(q[h], q[h + 1], rows + static_cast<size_t>(half) * k.stride, k.stride, padded,
                                    &scores[h][t + r + half], &scores[h + 1][t + r + half]);
                    }
                }
                if (h < n_q) Ops::dot8(q[h], rows, k.stride, padded, &scores[h][t + r]);
            }
        }

        // 2. Softmax weights: rescale what earlier blocks summed if the max grew, then exp and sum. The scores
        // past n_block (dot8 writes whole groups of 8) become -inf: weights of at most ~FLT_MIN (exp_nonpositive),
        // which vanish in a sum that holds the max's weight of 1, and the value pass never reads them.
        const int n_vec = round_up(n_block, L);
        for (int h = 0; h < n_q; ++h) {
            float* s = scores[h];
            std::fill(s + n_block, s + n_vec, -INFINITY);
            V m = Ops::set1(-INFINITY);
            for (int j = 0; j < n_vec; j += L) m = Ops::max(m, Ops::load(s + j));
            const float block_max = Ops::reduce_max(m);
            if (block_max > running_max[h]) {
                if (running_sum[h] > 0.0f) {
                    float factor = running_max[h] - block_max;
                    exp_row<Ops>(&factor, &factor, 1);
                    running_sum[h] *= factor;
                    const V f = Ops::set1(factor);
                    for (int d = 0; d < padded; d += L) Ops::store(acc[h] + d, Ops::mul(f, Ops::load(acc[h] + d)));
                }
                running_max[h] = block_max;
            }
            const V shift = Ops::set1(running_max[h]);
            V sum = Ops::zero();
            for (int j = 0; j < n_vec; j += L) {
                const V e = Ops::exp_nonpositive(Ops::sub(Ops::load(s + j), shift));
                Ops::store(s + j, e);
                sum = Ops::add(sum, e);
            }
            running_sum[h] += Ops::reduce_add(sum);
        }

        // 3. Values: each V row converted once and weighted into every head's accumulator.
        for (int t = 0; t < n_block; t += tile_rows) {
            const int n_tile = std::min(tile_rows, n_block - t);
            const FloatRows v =
                load_rows<Ops, kVType>(span.v, span.v_stride, block + t, n_tile, tile_rows, head_dim, padded, tile);
            for (int h = 0; h < n_q; ++h) p_rows[h] = scores[h] + t;
            accumulate_values_group<Ops>(p_rows, v, n_tile, padded, acc_rows, n_q);
        }
    }

    for (int h = 0; h < n_q; ++h) {
        float* out = result.out + static_cast<size_t>(h) * static_cast<size_t>(head_dim);
        if (result.max != nullptr) {
            std::copy(acc[h], acc[h] + head_dim, out);
            result.max[h] = running_max[h];
            result.sum[h] = running_sum[h];
        } else {
            const float inv = 1.0f / running_sum[h];
            for (int d = 0; d < head_dim; ++d) out[d] = acc[h][d] * inv;
        }
    }
}

// The span kernels for every pair of kAttentionCacheTypes and the vectorized expf of Ops: an ISA file's table.
template <class Ops, size_t... I>
constexpr AttentionKernels make_attention_kernels(std::index_sequence<I...>) {
    constexpr int n = kAttentionCacheTypeCount;
    AttentionKernels kernels{};
    ((kernels.span[I / n][I % n] = &attention_span<Ops, kAttentionCacheTypes[I / n], kAttentionCacheTypes[I % n]>),
     ...);
    kernels.exp_row = &exp_row<Ops>;
    return kernels;
}
template <class Ops>
constexpr AttentionKernels make_attention_kernels() {
    return make_attention_kernels<Ops>(std::make_index_sequence<kAttentionCacheTypeCount * kAttentionCacheTypeCount>());
}

}  // namespace
}  // namespace spool::cpu
