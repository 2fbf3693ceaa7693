// Prefill attention on the tensor cores, for an F16 cache and head_dim 64 or 128: one block per (64 query rows, KV
// head), a query row being one (token, head of the GQA group) as in attention_tiled.cu. Q is scaled and rounded to
// fp16 (as llama.cpp does with an F16 cache), K and V are used as stored, scores and outputs accumulate in float32
// (WMMA 16x16x16). Two passes over the key tiles: the first finds each row's maximum score, the second adds
// exp(score - max) in fp16 times V to accumulators that never need rescaling, so they stay in registers; the
// second product of Q K^T costs less than rescaling the outputs through shared memory would.
#include <mma.h>

#include <cfloat>
#include <climits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/launch.h"

namespace spool::cuda::attn {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kTcWarps = 4;
constexpr int kTcThreads = 32 * kTcWarps;
constexpr int kTcQueries = 16 * kTcWarps;  // 16 query rows per warp
constexpr int kTcKeys = 64;                // keys per tile
constexpr int kHalfPad = 8;                // +16 bytes per fp16 row: rows start on different banks
constexpr int kFloatPad = 4;

template <int D>
struct TcLayout {
    static constexpr int kHalfLd = D + kHalfPad;         // q_s, k_s, v_s rows (halves)
    static constexpr int kScoreLd = kTcKeys + kFloatPad;  // s_s rows (floats)
    static constexpr int kProbLd = kTcKeys + kHalfPad;    // p_s rows (halves)
    static constexpr size_t kQ = size_t{kTcQueries} * kHalfLd * 2;
    static constexpr size_t kKv = size_t{kTcKeys} * kHalfLd * 2;
    static constexpr size_t kScores = size_t{kTcQueries} * kScoreLd * 4;
    static constexpr size_t kProbs = size_t{kTcQueries} * kProbLd * 2;
    static constexpr size_t kBytes = kQ + 2 * kKv + kScores + kProbs + 3 * kTcQueries * 4;
};

// Rows [tile, tile + kTcKeys) of one KV head (dims col0 ..) into dst as fp16, zeros past `hi`.
template <int D>
__device__ __forceinline__ void load_tile(__half* dst, const uint8_t* cache, size_t row_bytes, int64_t col0, int tile,
                                          int hi, int tid) {
    constexpr int kVecs = D / 8;  // 16-byte pieces per row
    for (int i = tid; i < kTcKeys * kVecs; i += kTcThreads) {
        const int r = i / kVecs, c = (i - r * kVecs) * 8;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (tile + r <= hi) {
            v = *reinterpret_cast<const uint4*>(cache + static_cast<size_t>(tile + r) * row_bytes +
                                                static_cast<size_t>(col0 + c) * 2);
        }
        *reinterpret_cast<uint4*>(dst + r * TcLayout<D>::kHalfLd + c) = v;
    }
}

// acc[n] += A (16 x 16 K, row-major at a) times B (16 K x 16 N): the 16 x 16 block (k, n) of B starts at
// b + 16 * (k * b_k + n * b_n), rows ldb apart in BLayout.
template <int K, int N, class BLayout>
__device__ __forceinline__ void warp_mma(wmma::fragment<wmma::accumulator, 16, 16, 16, float> (&acc)[N],
                                         const __half* a, int lda, const __half* b, int b_k, int b_n, int ldb) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> af;
        wmma::load_matrix_sync(af, a + 16 * k, lda);
#pragma unroll
        for (int n = 0; n < N; ++n) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, BLayout> bf;
            wmma::load_matrix_sync(bf, b + 16 * (k * b_k + n * b_n), ldb);
            wmma::mma_sync(acc[n], af, bf, acc[n]);
        }
    }
}

// The warp's 16 x kTcKeys scores of this tile into its rows of s_s.
template <int D>
__device__ __forceinline__ void warp_scores(const __half* q_s, const __half* k_s, float* s_s, int warp) {
    using L = TcLayout<D>;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kTcKeys / 16];
#pragma unroll
    for (int n = 0; n < kTcKeys / 16; ++n) wmma::fill_fragment(acc[n], 0.0f);
    // B (d x key) = K^T: K rows [key][d] read column-major.
    warp_mma<D / 16, kTcKeys / 16, wmma::col_major>(acc, q_s + 16 * warp * L::kHalfLd, L::kHalfLd, k_s, 1, L::kHalfLd,
                                                     L::kHalfLd);
#pragma unroll
    for (int n = 0; n < kTcKeys / 16; ++n) {
        wmma::store_matrix_sync(s_s + 16 * warp * L::kScoreLd + 16 * n, acc[n], L::kScoreLd, wmma::mem_row_major);
    }
    __syncwarp();
}

template <int D>
__global__ void __launch_bounds__(kTcThreads)
    attention_tiled_tc_kernel(const float* __restrict__ q,            // [n_tokens, n_head, head_dim]
                              const uint8_t* __restrict__ k_cache,    // [n_ctx][row_bytes], F16
                              const uint8_t* __restrict__ v_cache,    // [n_ctx][row_bytes], F16
                              const int32_t* __restrict__ positions,  // [n_tokens]
                              Shape s, int64_t n_tokens,
                              float* __restrict__ out) {              // [n_tokens, n_head, head_dim]
    using L = TcLayout<D>;
    extern __shared__ __align__(128) uint8_t smem[];
    auto* q_s = reinterpret_cast<__half*>(smem);
    auto* k_s = reinterpret_cast<__half*>(smem + L::kQ);
    auto* v_s = reinterpret_cast<__half*>(smem + L::kQ + L::kKv);
    auto* s_s = reinterpret_cast<float*>(smem + L::kQ + 2 * L::kKv);
    auto* p_s = reinterpret_cast<__half*>(smem + L::kQ + 2 * L::kKv + L::kScores);
    auto* first_s = reinterpret_cast<int*>(smem + L::kQ + 2 * L::kKv + L::kScores + L::kProbs);
    int* last_s = first_s + kTcQueries;
    int* range_s = last_s + kTcQueries;  // [0] lowest first, [1] highest last

    const int kv_head = blockIdx.y;
    const int64_t n_query_rows = n_tokens * s.group;
    const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kTcQueries;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;

    for (int i = tid; i < kTcQueries * (D / 2); i += kTcThreads) {
        const int r = i / (D / 2), d = 2 * (i - r * (D / 2));
        const int64_t row = row0 + r;
        float2 value = make_float2(0.0f, 0.0f);
        if (row < n_query_rows) {
            const int64_t t = row / s.group;
            const int h = kv_head * s.group + static_cast<int>(row - t * s.group);
            value = *reinterpret_cast<const float2*>(q + (t * s.n_head + h) * D + d);
            value.x *= s.scale, value.y *= s.scale;
        }
        *reinterpret_cast<__half2*>(q_s + r * L::kHalfLd + d) = __float22half2_rn(value);
    }
    block_attended_rows(positions, s, row0, n_query_rows, kTcQueries, first_s, last_s, range_s);
    const int lo = range_s[0], hi = range_s[1];  // every block has at least one real query row, so lo <= hi
    const int64_t col0 = static_cast<int64_t>(kv_head) * D;

    // Each lane owns half of one of the warp's 16 rows: row 16 * warp + lane / 2, keys (lane % 2) * 32 ...
    const int my_row = 16 * warp + (lane >> 1), my_key0 = (lane & 1) * (kTcKeys / 2);
    const int my_first = first_s[my_row], my_last = last_s[my_row];

    // Pass 1: the row maxima.
    float row_max = -INFINITY;
    for (int tile = lo; tile <= hi; tile += kTcKeys) {
        load_tile<D>(k_s, k_cache, s.row_bytes, col0, tile, hi, tid);
        __syncthreads();
        warp_scores<D>(q_s, k_s, s_s, warp);
        const float* srow = s_s + my_row * L::kScoreLd;
#pragma unroll 8
        for (int j = 0; j < kTcKeys / 2; ++j) {
            const int key = tile + my_key0 + j;
            if (key >= my_first && key <= my_last) row_max = fmaxf(row_max, srow[my_key0 + j]);
        }
        __syncthreads();  // k_s is reloaded next
    }
    row_max = fmaxf(row_max, __shfl_xor_sync(0xffffffffu, row_max, 1));

    // Pass 2: O = sum exp(score - max) V, l = sum exp(score - max).
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> o[D / 16];
#pragma unroll
    for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(o[n], 0.0f);
    float row_sum = 0.0f;
    for (int tile = lo; tile <= hi; tile += kTcKeys) {
        load_tile<D>(k_s, k_cache, s.row_bytes, col0, tile, hi, tid);
        load_tile<D>(v_s, v_cache, s.row_bytes, col0, tile, hi, tid);
        __syncthreads();
        warp_scores<D>(q_s, k_s, s_s, warp);
        const float* srow = s_s + my_row * L::kScoreLd;
        __half* prow = p_s + my_row * L::kProbLd;
#pragma unroll 8
        for (int j = 0; j < kTcKeys / 2; ++j) {
            const int key = tile + my_key0 + j;
            const float p = key >= my_first && key <= my_last ? __expf(srow[my_key0 + j] - row_max) : 0.0f;
            const __half ph = __float2half_rn(p);
            prow[my_key0 + j] = ph;
            row_sum += __half2float(ph);  // the sum of what multiplies V
        }
        __syncwarp();
        warp_mma<kTcKeys / 16, D / 16, wmma::row_major>(o, p_s + 16 * warp * L::kProbLd, L::kProbLd, v_s, L::kHalfLd, 1,
                                                        L::kHalfLd);
        __syncthreads();  // k_s, v_s and p_s are rewritten next
    }
    row_sum += __shfl_xor_sync(0xffffffffu, row_sum, 1);

    // The warp's outputs through its score rows (16 x D floats fit in 16 x kScoreLd only for D = 64: two halves).
    float* stage = s_s + 16 * warp * L::kScoreLd;
#pragma unroll
    for (int half = 0; half < D / 64; ++half) {
#pragma unroll
        for (int n = 0; n < 4; ++n) {
            wmma::store_matrix_sync(stage + 16 * n, o[4 * half + n], L::kScoreLd, wmma::mem_row_major);
        }
        __syncwarp();
        const int64_t row = row0 + my_row;
        if (row < n_query_rows) {
            const int64_t t = row / s.group;
            const int h = kv_head * s.group + static_cast<int>(row - t * s.group);
            float* dst = out + (t * s.n_head + h) * D + 64 * half;
            const float inv = 1.0f / row_sum;
            const float* src = stage + (lane >> 1) * L::kScoreLd;
#pragma unroll 8
            for (int j = 0; j < 32; ++j) dst[my_key0 + j] = src[my_key0 + j] * inv;
        }
        __syncwarp();
    }
}

template <int D>
void launch_tc(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
               float* out, cudaStream_t stream) {
    constexpr size_t bytes = TcLayout<D>::kBytes;  // above the 48 KB default for D = 128: opt in (per device)
    SPOOL_CUDA_CHECK(cudaFuncSetAttribute(attention_tiled_tc_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(bytes)));
    const int64_t rows = n_tokens * plan.shape.group;
    const dim3 grid(static_cast<unsigned>((rows + kTcQueries - 1) / kTcQueries),
                    static_cast<unsigned>(plan.shape.n_head_kv));
    attention_tiled_tc_kernel<D><<<grid, kTcThreads, bytes, stream>>>(
        q, static_cast<const uint8_t*>(cache.k), static_cast<const uint8_t*>(cache.v), positions, plan.shape, n_tokens,
        out);
}

}  // namespace

bool launch_tiled_tc(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions,
                     int64_t n_tokens, float* out, cudaStream_t stream) {
    if (!attention_tiled_uses_half_products(plan.type, plan.shape.head_dim)) return false;
    if (plan.shape.head_dim == 64) {
        launch_tc<64>(plan, q, cache, positions, n_tokens, out, stream);
    } else {
        launch_tc<128>(plan, q, cache, positions, n_tokens, out, stream);
    }
    SPOOL_CUDA_CHECK(cudaGetLastError());
    return true;
}

}  // namespace spool::cuda::attn

namespace spool::cuda {

bool attention_tiled_uses_half_products(GgmlType cache_type, int head_dim) {
    return cache_type == GgmlType::F16 && (head_dim == 64 || head_dim == 128);
}

}  // namespace spool::cuda
