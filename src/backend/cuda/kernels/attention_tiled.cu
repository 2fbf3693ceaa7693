// Prefill attention: one block per (tile of query rows, KV head), where a query row is one (token, head of the
// GQA group), so each K/V tile in shared memory serves the whole group. Online softmax over K/V tiles
// (FlashAttention, Dao et al. 2022) in float32 on CUDA cores: the cache values are used exactly as stored.
// Each query row masks keys by its own position, so any positions work; consecutive ones waste least.
#include <cfloat>
#include <climits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/launch.h"

namespace spool::cuda::attn {
namespace {

constexpr int kTiledThreads = 128;  // 16 row slots (ty) x 8 key/dim slots (tx)

// Query rows and keys per tile, sized so the block's shared memory stays under the 48 KB static limit.
template <int D_MAX>
struct TileShape;
template <>
struct TileShape<64> {
    static constexpr int kQueries = 64, kKeys = 32;
};
template <>
struct TileShape<128> {
    static constexpr int kQueries = 32, kKeys = 32;
};
template <>
struct TileShape<256> {
    static constexpr int kQueries = 16, kKeys = 16;
};

template <GgmlType K, GgmlType V, int D_MAX>
__global__ void __launch_bounds__(kTiledThreads)
    attention_tiled_kernel(const float* __restrict__ q,            // [n_tokens, n_head, head_dim]
                           const uint8_t* __restrict__ k_cache,    // [n_ctx][row_bytes]
                           const uint8_t* __restrict__ v_cache,    // [n_ctx][v_row_bytes]
                           const int32_t* __restrict__ positions,  // [n_tokens]
                           Shape s, int64_t n_tokens,
                           float* __restrict__ out) {              // [n_tokens, n_head, head_dim]
    constexpr int kQueries = TileShape<D_MAX>::kQueries, kKeys = TileShape<D_MAX>::kKeys;
    constexpr int kRowsPerThread = kQueries / 16, kKeysPerThread = kKeys / 8, kVecsPerThread = D_MAX / 32;
    constexpr int kStride = D_MAX + 4;  // +4 floats: the 8 rows a quarter-warp reads as float4 hit distinct banks
    __shared__ __align__(16) float q_s[kQueries][kStride];  // scaled queries
    __shared__ __align__(16) float kv_s[kKeys][kStride];    // K tile, then V tile
    __shared__ float p_s[kQueries][kKeys + 1];              // exp(score - running max)
    __shared__ int first_s[kQueries], last_s[kQueries];     // attended rows per query row; empty for padding
    __shared__ int range_s[2];

    const int D = s.head_dim;
    const int kv_head = blockIdx.y;
    const int64_t n_query_rows = n_tokens * s.group;
    const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kQueries;
    const int tid = threadIdx.x, ty = tid >> 3, tx = tid & 7;

    for (int i = tid; i < kQueries * D_MAX; i += kTiledThreads) {
        const int r = i / D_MAX, d = i - r * D_MAX;
        const int64_t row = row0 + r;
        float value = 0.0f;
        if (row < n_query_rows && d < D) {
            const int64_t t = row / s.group;
            const int h = kv_head * s.group + static_cast<int>(row - t * s.group);
            value = q[(t * s.n_head + h) * D + d] * s.scale;
        }
        q_s[r][d] = value;
    }
    block_attended_rows(positions, s, row0, n_query_rows, kQueries, first_s, last_s, range_s);
    const int lo = range_s[0], hi = range_s[1];  // every block has at least one real query row, so lo <= hi

    float o[kRowsPerThread][kVecsPerThread][4] = {};
    float m[kRowsPerThread], l[kRowsPerThread];
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) m[i] = -INFINITY, l[i] = 0.0f;
    const int64_t col0 = static_cast<int64_t>(kv_head) * D;

    // K/V tiles go through registers one stage ahead: the next tile's loads are in flight while this one computes.
    // Item i of a tile is row (tid + i * threads) / (D_MAX / 8), dims 8 * ((tid + i * threads) % (D_MAX / 8)).
    constexpr int kItems = kKeys * (D_MAX / 8) / kTiledThreads;
    static_assert(kItems * kTiledThreads == kKeys * (D_MAX / 8), "tile loads must divide evenly");
    Raw8<K> k_raw[kItems];
    Raw8<V> v_raw[kItems];
    auto item_row = [&](int i) { return (tid + i * kTiledThreads) / (D_MAX / 8); };
    auto item_dim = [&](int i) { return ((tid + i * kTiledThreads) % (D_MAX / 8)) * 8; };
    auto item_loaded = [&](int tile, int i) { return tile + item_row(i) <= hi && item_dim(i) < D; };
    auto load = [&](auto& raw, const uint8_t* cache, size_t row_bytes, int tile) {
#pragma unroll
        for (int i = 0; i < kItems; ++i) {
            if (item_loaded(tile, i))
                raw[i].load(cache + static_cast<int64_t>(tile + item_row(i)) * row_bytes, col0 + item_dim(i));
        }
    };
    // Rows past hi and dims past D are stored as 0.
    auto store = [&](const auto& raw, int tile) {
#pragma unroll
        for (int i = 0; i < kItems; ++i) {
            float v[8] = {};
            if (item_loaded(tile, i)) raw[i].to_float(v);
            float* dst = &kv_s[item_row(i)][item_dim(i)];
            *reinterpret_cast<float4*>(dst) = make_float4(v[0], v[1], v[2], v[3]);
            *reinterpret_cast<float4*>(dst + 4) = make_float4(v[4], v[5], v[6], v[7]);
        }
    };
    load(k_raw, k_cache, s.row_bytes, lo);
    load(v_raw, v_cache, s.v_row_bytes, lo);

    for (int tile = lo; tile <= hi; tile += kKeys) {
        const bool has_next = tile + kKeys <= hi;
        store(k_raw, tile);
        __syncthreads();
        if (has_next) load(k_raw, k_cache, s.row_bytes, tile + kKeys);

        // Scores of query rows ty + 16 i against keys tx + 8 j.
        float score[kRowsPerThread][kKeysPerThread] = {};
#pragma unroll 4
        for (int d = 0; d < D; d += 4) {
            float4 qv[kRowsPerThread], kv[kKeysPerThread];
#pragma unroll
            for (int i = 0; i < kRowsPerThread; ++i) qv[i] = *reinterpret_cast<const float4*>(&q_s[ty + 16 * i][d]);
#pragma unroll
            for (int j = 0; j < kKeysPerThread; ++j) kv[j] = *reinterpret_cast<const float4*>(&kv_s[tx + 8 * j][d]);
#pragma unroll
            for (int i = 0; i < kRowsPerThread; ++i)
#pragma unroll
                for (int j = 0; j < kKeysPerThread; ++j) {
                    score[i][j] = fmaf(qv[i].x, kv[j].x, score[i][j]);
                    score[i][j] = fmaf(qv[i].y, kv[j].y, score[i][j]);
                    score[i][j] = fmaf(qv[i].z, kv[j].z, score[i][j]);
                    score[i][j] = fmaf(qv[i].w, kv[j].w, score[i][j]);
                }
        }

        // Online softmax: the 8 threads of a row (tx = 0..7, adjacent lanes) share its max and sum by shuffles.
#pragma unroll
        for (int i = 0; i < kRowsPerThread; ++i) {
            const int r = ty + 16 * i;
            const int first = first_s[r], last = last_s[r];
            bool valid[kKeysPerThread];
            float tile_max = -INFINITY;
#pragma unroll
            for (int j = 0; j < kKeysPerThread; ++j) {
                const int key = tile + tx + 8 * j;
                valid[j] = key >= first && key <= last;
                if (valid[j]) tile_max = fmaxf(tile_max, score[i][j]);
            }
#pragma unroll
            for (int offset = 4; offset > 0; offset >>= 1)
                tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, offset));
            const float m_new = fmaxf(m[i], tile_max);
            const float alpha = m_new == -INFINITY ? 1.0f : expf(m[i] - m_new);  // expf(-inf) = 0 on a first hit
            float row_sum = 0.0f;
#pragma unroll
            for (int j = 0; j < kKeysPerThread; ++j) {
                const float p = valid[j] ? expf(score[i][j] - m_new) : 0.0f;
                p_s[r][tx + 8 * j] = p;
                row_sum += p;
            }
#pragma unroll
            for (int offset = 4; offset > 0; offset >>= 1) row_sum += __shfl_xor_sync(0xffffffffu, row_sum, offset);
            l[i] = l[i] * alpha + row_sum;
            m[i] = m_new;
#pragma unroll
            for (int c = 0; c < kVecsPerThread; ++c)
#pragma unroll
                for (int k = 0; k < 4; ++k) o[i][c][k] *= alpha;
        }
        __syncthreads();  // K fully read and p_s written before V replaces K

        store(v_raw, tile);
        __syncthreads();
        if (has_next) load(v_raw, v_cache, s.v_row_bytes, tile + kKeys);
#pragma unroll 4
        for (int key = 0; key < kKeys; ++key) {
            float p[kRowsPerThread];
#pragma unroll
            for (int i = 0; i < kRowsPerThread; ++i) p[i] = p_s[ty + 16 * i][key];
#pragma unroll
            for (int c = 0; c < kVecsPerThread; ++c) {
                const float4 v = *reinterpret_cast<const float4*>(&kv_s[key][tx * 4 + 32 * c]);
#pragma unroll
                for (int i = 0; i < kRowsPerThread; ++i) {
                    o[i][c][0] = fmaf(p[i], v.x, o[i][c][0]);
                    o[i][c][1] = fmaf(p[i], v.y, o[i][c][1]);
                    o[i][c][2] = fmaf(p[i], v.z, o[i][c][2]);
                    o[i][c][3] = fmaf(p[i], v.w, o[i][c][3]);
                }
            }
        }
        __syncthreads();  // V and p_s fully read before the next tile overwrites them
    }

#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) {
        const int64_t row = row0 + ty + 16 * i;
        if (row >= n_query_rows) continue;
        const int64_t t = row / s.group;
        const int h = kv_head * s.group + static_cast<int>(row - t * s.group);
        float* dst = out + (t * s.n_head + h) * D;
        const float inv_l = 1.0f / l[i];
#pragma unroll
        for (int c = 0; c < kVecsPerThread; ++c) {
            const int d = tx * 4 + 32 * c;
            if (d < D) {
#pragma unroll
                for (int k = 0; k < 4; ++k) dst[d + k] = o[i][c][k] * inv_l;
            }
        }
    }
}

template <GgmlType K, GgmlType V, int D_MAX>
void launch_tiled_kernel(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions,
                         int64_t n_tokens, float* out, cudaStream_t stream) {
    constexpr int kQueries = TileShape<D_MAX>::kQueries;
    const int64_t rows = n_tokens * plan.shape.group;
    const dim3 grid(static_cast<unsigned>((rows + kQueries - 1) / kQueries), static_cast<unsigned>(plan.shape.n_head_kv));
    attention_tiled_kernel<K, V, D_MAX><<<grid, kTiledThreads, 0, stream>>>(
        q, static_cast<const uint8_t*>(cache.k), static_cast<const uint8_t*>(cache.v), positions, plan.shape, n_tokens,
        out);
}

template <GgmlType K, GgmlType V>
void launch_tiled_for_types(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions,
                            int64_t n_tokens, float* out, cudaStream_t stream) {
    switch (plan.d_max) {
        case 64: return launch_tiled_kernel<K, V, 64>(plan, q, cache, positions, n_tokens, out, stream);
        case 128: return launch_tiled_kernel<K, V, 128>(plan, q, cache, positions, n_tokens, out, stream);
        default: return launch_tiled_kernel<K, V, 256>(plan, q, cache, positions, n_tokens, out, stream);
    }
}

}  // namespace

void launch_tiled(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                  float* out, cudaStream_t stream) {
    with_kv_cache_types(plan.type, plan.v_type, [&](auto k, auto v) {
        launch_tiled_for_types<decltype(k)::value, decltype(v)::value>(plan, q, cache, positions, n_tokens, out,
                                                                       stream);
    });
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace spool::cuda::attn
