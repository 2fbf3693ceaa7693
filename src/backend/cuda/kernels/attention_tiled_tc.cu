// Prefill attention on the tensor cores, for an F16, Q8_0 or Q4_0 cache and head_dim 64 or 128, in the FlashAttention-2
// form: one block per (16 x WARPS query rows, KV head), a query row being one (token, head of the GQA group) as in
// attention_tiled.cu. Q is scaled and rounded to fp16 (as llama.cpp does with an F16 cache); K and V are used as stored
// (F16) or dequantized and rounded to fp16 (Q8_0, Q4_0). Each warp keeps its 16 rows' scores, probabilities and outputs
// in mma.sync fragments (m16n8k16, float32 accumulation) and rescales its outputs as the row maxima grow (online
// softmax), so each key tile is read and multiplied once; the probabilities are rounded to fp16 for the product with V,
// and the row sums add exactly the rounded values. K/V tiles are double-buffered in shared memory: cp.async fetches the
// next tile while the current one is multiplied (a quantized tile raw, converted when its turn comes).
#include <cuda_fp16.h>

#include <cfloat>
#include <climits>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention_common.cuh"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/mma_sm80.cuh"

namespace spool::cuda::attn {
namespace {

constexpr int kTileKeys = 64;  // keys per K/V tile
constexpr int kRowPad = 8;     // halves after each shared row: ldmatrix's 8 rows of a matrix land on distinct banks

// A Q8_0 or Q4_0 cache row's blocks of one KV head, as stored (4-byte aligned: launch_flash checks), and a tile of
// them.
template <int D, GgmlType CACHE>
struct RawRows {
    static constexpr uint32_t kBlockBytes = CACHE == GgmlType::Q4_0 ? 18 : 34;
    static constexpr uint32_t kRow = D / 32 * kBlockBytes;
    static constexpr uint32_t kTile = kTileKeys * kRow;
};

// K of type K_TYPE, V of V_TYPE: both F16, or both quantized (kv_cache_pair_supported).
template <int D, int WARPS, GgmlType K_TYPE, GgmlType V_TYPE>
struct FlashLayout {
    static constexpr int kThreads = 32 * WARPS;
    static constexpr int kQueries = 16 * WARPS;  // 16 query rows per warp
    static constexpr int kLd = D + kRowPad;      // halves per shared row
    static constexpr uint32_t kQ = uint32_t{kQueries} * kLd * 2;
    static constexpr uint32_t kTile = uint32_t{kTileKeys} * kLd * 2;  // one K or V tile in fp16
    static constexpr bool kRaw = K_TYPE != GgmlType::F16;  // tiles arrive raw and are converted to fp16 in place
    static_assert(kRaw == (V_TYPE != GgmlType::F16), "F16 for both halves or for neither");
    using KRaw = RawRows<D, K_TYPE>;
    using VRaw = RawRows<D, V_TYPE>;
    // F16: Q, then K[2], V[2] in fp16. Q8_0 / Q4_0: Q, K, V in fp16, then raw K[2], V[2]. Then each query row's first
    // and last attended cache row and the block's range.
    static constexpr uint32_t kRows = kRaw ? kQ + 2 * kTile + 2 * KRaw::kTile + 2 * VRaw::kTile : kQ + 4 * kTile;
    static constexpr size_t kBytes = kRows + (2 * kQueries + 2) * sizeof(int);
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800  // cp.async and mma.sync m16n8k16; launch_flash checks
constexpr float kLog2e = 1.4426950408889634f;

using tc::commit_copies;
using tc::copy_async;
using tc::half2_bits;
using tc::load_matrices;
using tc::mma_16x8x16;
using tc::shared_address;
using tc::wait_all_copies;

__device__ __forceinline__ void load_matrices_transposed(uint32_t (&r)[4], uint32_t address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address)
                 : "memory");
}

__device__ __forceinline__ float exp2_approx(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

// Calls f(r, c) for this thread's 8-element pieces of a tile: row r < kTileKeys, first element c (a multiple of 8).
template <int D, int THREADS, class F>
__device__ __forceinline__ void for_each_tile_piece(int tid, F&& f) {
    constexpr int kPieces = D / 8;
    static_assert(kTileKeys * kPieces % THREADS == 0, "every thread takes the same number of pieces");
#pragma unroll
    for (int step = 0; step < kTileKeys * kPieces / THREADS; ++step) {
        const int i = tid + step * THREADS;
        f(i / kPieces, (i % kPieces) * 8);
    }
}

// The cache rows [tile, tile + kTileKeys) of one KV head into shared memory at `dst` by cp.async, zeros past `hi`:
// F16 rows (dims col0 ..) as the fp16 tile itself, Q8_0 / Q4_0 rows as their raw blocks (from byte `head0` of the
// row), which convert_tile then turns into fp16.
template <int D, int THREADS, GgmlType CACHE>
__device__ __forceinline__ void copy_tile(uint32_t dst, const uint8_t* cache, size_t row_bytes, int64_t col0,
                                          int tile, int hi, int tid) {
    if constexpr (CACHE == GgmlType::F16) {
        for_each_tile_piece<D, THREADS>(tid, [&](int r, int c) {  // 16 bytes each
            const bool valid = tile + r <= hi;
            const uint8_t* row = cache + static_cast<size_t>(valid ? tile + r : hi) * row_bytes;
            copy_async<16>(dst + static_cast<uint32_t>(r * (D + kRowPad) + c) * 2, row + (col0 + c) * 2, valid);
        });
    } else {
        using Raw = RawRows<D, CACHE>;
        constexpr int kWords = Raw::kRow / 4;  // 4-byte pieces per row
        const int64_t head0 = col0 / 32 * Raw::kBlockBytes;
        for (int i = tid; i < kTileKeys * kWords; i += THREADS) {
            const int r = i / kWords, w = i % kWords;
            const bool valid = tile + r <= hi;
            const uint8_t* row = cache + static_cast<size_t>(valid ? tile + r : hi) * row_bytes;
            copy_async<4>(dst + r * Raw::kRow + 4 * w, row + head0 + 4 * w, valid);
        }
    }
}

// A raw Q8_0 or Q4_0 tile (at byte `raw` of smem) as fp16 into the tile at byte `tile`: each element dequantized
// exactly and rounded to fp16, as llama.cpp converts a quantized cache for its tensor-core attention.
template <int D, int THREADS, GgmlType CACHE>
__device__ __forceinline__ void convert_tile(uint8_t* smem, uint32_t raw, uint32_t tile, int tid) {
    using Raw = RawRows<D, CACHE>;
    for_each_tile_piece<D, THREADS>(tid, [&](int r, int c) {
        const uint8_t* block = smem + raw + r * Raw::kRow + (c / 32) * Raw::kBlockBytes;  // 2-byte aligned
        const float d = __half2float(__ushort_as_half(*reinterpret_cast<const uint16_t*>(block)));
        uint32_t h[4];
        if constexpr (CACHE == GgmlType::Q8_0) {
            const auto* q = reinterpret_cast<const uint16_t*>(block + 2 + c % 32);
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const uint16_t pair = q[j];
                h[j] = half2_bits(__floats2half2_rn(static_cast<float>(static_cast<int8_t>(pair & 0xffu)) * d,
                                                    static_cast<float>(static_cast<int8_t>(pair >> 8)) * d));
            }
        } else {  // Q4_0: elements c % 32 .. + 7 are the low (c % 32 < 16) or high nibbles of bytes c % 16 .. + 7
            const auto* q = reinterpret_cast<const uint16_t*>(block + 2 + c % 16);
            const int shift = c % 32 < 16 ? 0 : 4;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const uint32_t pair = q[j] >> shift;
                h[j] = half2_bits(__floats2half2_rn(static_cast<float>(static_cast<int>(pair & 0xfu) - 8) * d,
                                                    static_cast<float>(static_cast<int>((pair >> 8) & 0xfu) - 8) * d));
            }
        }
        *reinterpret_cast<uint4*>(smem + tile + static_cast<uint32_t>(r * (D + kRowPad) + c) * 2) =
            make_uint4(h[0], h[1], h[2], h[3]);
    });
}

#endif

template <int D, int WARPS, GgmlType K_TYPE, GgmlType V_TYPE>
__global__ void __launch_bounds__(32 * WARPS, WARPS == 8 ? 2 : 1)  // 8 warps: two blocks per SM (128 registers)
    attention_flash_kernel(const float* __restrict__ q,            // [n_tokens, n_head, head_dim]
                           const uint8_t* __restrict__ k_cache,    // [n_ctx][row_bytes], F16, Q8_0 or Q4_0
                           const uint8_t* __restrict__ v_cache,    // [n_ctx][v_row_bytes], F16, Q8_0 or Q4_0
                           const int32_t* __restrict__ positions,  // [n_tokens]
                           Shape s, int64_t n_tokens,
                           float* __restrict__ out) {              // [n_tokens, n_head, head_dim]
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    using L = FlashLayout<D, WARPS, K_TYPE, V_TYPE>;
    constexpr bool kRaw = L::kRaw;
    constexpr int kThreads = L::kThreads;
    extern __shared__ __align__(128) uint8_t smem[];
    auto* q_s = reinterpret_cast<__half*>(smem);
    const uint32_t q_address = shared_address(smem);
    auto* first_s = reinterpret_cast<int*>(smem + L::kRows);
    int* last_s = first_s + L::kQueries;
    int* range_s = last_s + L::kQueries;  // [0] lowest first, [1] highest last

    const int kv_head = blockIdx.x;
    // The last query rows first: with causal masks they attend to the most keys, and blocks start in index order.
    const int64_t row0 = static_cast<int64_t>(gridDim.y - 1 - blockIdx.y) * L::kQueries;
    const int64_t n_query_rows = n_tokens * s.group;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int64_t col0 = static_cast<int64_t>(kv_head) * D;

    for (int i = tid; i < L::kQueries * (D / 2); i += L::kThreads) {
        const int r = i / (D / 2), d = 2 * (i - r * (D / 2));
        const int64_t row = row0 + r;
        float2 value = make_float2(0.0f, 0.0f);
        if (row < n_query_rows) {
            const int64_t t = row / s.group;
            const int h = kv_head * s.group + static_cast<int>(row - t * s.group);
            value = *reinterpret_cast<const float2*>(q + (t * s.n_head + h) * D + d);
            value.x *= s.scale, value.y *= s.scale;
        }
        *reinterpret_cast<__half2*>(q_s + r * L::kLd + d) = __float22half2_rn(value);
    }
    block_attended_rows(positions, s, row0, n_query_rows, L::kQueries, first_s, last_s, range_s);
    const int lo = range_s[0], hi = range_s[1];  // every block has at least one real query row, so lo <= hi
    const int n_tiles = (hi - lo) / kTileKeys + 1;

    // F16: buffer b of the K tile at byte k_offset + b * kTile of smem, of V at v_offset + b * kTile, filled by
    // cp.async. Q8_0 / Q4_0: one fp16 K and V tile at k_offset / v_offset; buffer b of the raw tiles at
    // raw_k + b * KRaw::kTile, raw_v + b * VRaw::kTile, filled by cp.async and converted when their turn comes.
    constexpr uint32_t k_offset = L::kQ, v_offset = L::kQ + (kRaw ? 1 : 2) * L::kTile;
    constexpr uint32_t k_raw_tile = L::KRaw::kTile, v_raw_tile = L::VRaw::kTile;
    constexpr uint32_t raw_k = L::kQ + 2 * L::kTile, raw_v = raw_k + 2 * k_raw_tile;
    const uint32_t k_address = q_address + k_offset, v_address = q_address + v_offset;
    copy_tile<D, kThreads, K_TYPE>(q_address + (kRaw ? raw_k : k_offset), k_cache, s.row_bytes, col0, lo, hi, tid);
    copy_tile<D, kThreads, V_TYPE>(q_address + (kRaw ? raw_v : v_offset), v_cache, s.v_row_bytes, col0, lo, hi, tid);
    commit_copies();

    // Fragment coordinates: this thread holds rows g and g + 8 of its warp's 16, columns 2 * c4 and 2 * c4 + 1 of
    // every 8-wide column block.
    const int g = lane >> 2, c4 = lane & 3;
    const int row_a = 16 * warp + g, row_b = row_a + 8;
    const int first_a = first_s[row_a], last_a = last_s[row_a];
    const int first_b = first_s[row_b], last_b = last_s[row_b];
    // Keys every row of the warp attends to: tiles inside need no mask (warp-uniform).
    int all_first = max(first_a, first_b), all_last = min(last_a, last_b);
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        all_first = max(all_first, __shfl_xor_sync(0xffffffffu, all_first, offset));
        all_last = min(all_last, __shfl_xor_sync(0xffffffffu, all_last, offset));
    }

    // The warp's Q rows as A fragments, one per 16 dims (q_s is complete: block_attended_rows ends with a barrier).
    uint32_t qf[D / 16][4];
#pragma unroll
    for (int k = 0; k < D / 16; ++k) {
        load_matrices(qf[k], q_address + static_cast<uint32_t>((16 * warp + (lane & 15)) * L::kLd + 16 * k +
                                                               (lane >> 4) * 8) * 2);
    }

    float o[D / 8][4];  // outputs: 8-dim block j in o[j]
#pragma unroll
    for (int j = 0; j < D / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
    float max_a = -INFINITY, max_b = -INFINITY;  // running row maxima of the scores
    float sum_a = 0.0f, sum_b = 0.0f;            // this thread's part of the row sums, at the running maxima

    for (int it = 0; it < n_tiles; ++it) {
        const int tile = lo + it * kTileKeys;
        const uint32_t buffer = kRaw ? 0 : (it & 1) * L::kTile;
        const uint32_t k_tile = k_address + buffer, v_tile = v_address + buffer;
        wait_all_copies();
        __syncthreads();  // tile `it` is in shared memory, and every warp is done with the other buffer
        if (it + 1 < n_tiles) {
            const uint32_t next_k = kRaw ? raw_k + (~it & 1) * k_raw_tile : k_offset + (~it & 1) * L::kTile;
            const uint32_t next_v = kRaw ? raw_v + (~it & 1) * v_raw_tile : v_offset + (~it & 1) * L::kTile;
            const int next = tile + kTileKeys;
            copy_tile<D, kThreads, K_TYPE>(q_address + next_k, k_cache, s.row_bytes, col0, next, hi, tid);
            copy_tile<D, kThreads, V_TYPE>(q_address + next_v, v_cache, s.v_row_bytes, col0, next, hi, tid);
            commit_copies();
        }
        if constexpr (kRaw) {
            convert_tile<D, kThreads, K_TYPE>(smem, raw_k + (it & 1) * k_raw_tile, k_offset, tid);
            convert_tile<D, kThreads, V_TYPE>(smem, raw_v + (it & 1) * v_raw_tile, v_offset, tid);
            __syncthreads();  // the fp16 tiles are complete
        }

        // Scores S = Q K^T for the tile's 64 keys: 8 column blocks of 8 keys.
        float sc[kTileKeys / 8][4];
#pragma unroll
        for (int n = 0; n < kTileKeys / 8; ++n) sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
#pragma unroll
        for (int k = 0; k < D / 16; ++k) {
#pragma unroll
            for (int n = 0; n < kTileKeys / 8; n += 2) {
                // Matrices: keys 8n.. (dims 16k.., 16k + 8..), then keys 8n + 8.. (same dims).
                uint32_t b[4];
                load_matrices(b, k_tile + static_cast<uint32_t>((8 * n + (lane & 7) + (lane >> 4) * 8) * L::kLd +
                                                                        16 * k + ((lane >> 3) & 1) * 8) * 2);
                mma_16x8x16(sc[n], qf[k], b[0], b[1]);
                mma_16x8x16(sc[n + 1], qf[k], b[2], b[3]);
            }
        }
        if (tile < all_first || tile + kTileKeys - 1 > all_last) {
#pragma unroll
            for (int n = 0; n < kTileKeys / 8; ++n) {
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int key = tile + 8 * n + 2 * c4 + (e & 1);
                    const bool attended = e < 2 ? key >= first_a && key <= last_a : key >= first_b && key <= last_b;
                    if (!attended) sc[n][e] = -INFINITY;
                }
            }
        }

        float tile_max_a = max_a, tile_max_b = max_b;
#pragma unroll
        for (int n = 0; n < kTileKeys / 8; ++n) {
            tile_max_a = fmaxf(tile_max_a, fmaxf(sc[n][0], sc[n][1]));
            tile_max_b = fmaxf(tile_max_b, fmaxf(sc[n][2], sc[n][3]));
        }
#pragma unroll
        for (int offset = 1; offset < 4; offset <<= 1) {  // the 4 threads of a row
            tile_max_a = fmaxf(tile_max_a, __shfl_xor_sync(0xffffffffu, tile_max_a, offset));
            tile_max_b = fmaxf(tile_max_b, __shfl_xor_sync(0xffffffffu, tile_max_b, offset));
        }
        // exp(score - max) = 2^(score * log2e - max * log2e); a row with no attended key yet keeps offset 0 (its
        // scores are all -inf, so its probabilities are 0).
        const float offset_a = tile_max_a == -INFINITY ? 0.0f : tile_max_a * kLog2e;
        const float offset_b = tile_max_b == -INFINITY ? 0.0f : tile_max_b * kLog2e;
        const float rescale_a = exp2_approx(max_a * kLog2e - offset_a);
        const float rescale_b = exp2_approx(max_b * kLog2e - offset_b);
        max_a = tile_max_a, max_b = tile_max_b;
        sum_a *= rescale_a, sum_b *= rescale_b;
#pragma unroll
        for (int j = 0; j < D / 8; ++j) {
            o[j][0] *= rescale_a, o[j][1] *= rescale_a;
            o[j][2] *= rescale_b, o[j][3] *= rescale_b;
        }

        // Probabilities in fp16, laid out as the A fragments of P V (16 keys each): the C fragments of two
        // neighbouring 8-key blocks are the A fragment of their 16 keys.
        uint32_t pf[kTileKeys / 16][4];
#pragma unroll
        for (int n = 0; n < kTileKeys / 8; ++n) {
            const __half2 pa = __floats2half2_rn(exp2_approx(fmaf(sc[n][0], kLog2e, -offset_a)),
                                                 exp2_approx(fmaf(sc[n][1], kLog2e, -offset_a)));
            const __half2 pb = __floats2half2_rn(exp2_approx(fmaf(sc[n][2], kLog2e, -offset_b)),
                                                 exp2_approx(fmaf(sc[n][3], kLog2e, -offset_b)));
            const float2 fa = __half22float2(pa), fb = __half22float2(pb);
            sum_a += fa.x + fa.y;  // the sums of what multiplies V
            sum_b += fb.x + fb.y;
            pf[n / 2][(n & 1) * 2] = half2_bits(pa);
            pf[n / 2][(n & 1) * 2 + 1] = half2_bits(pb);
        }

        // O += P V: V rows are keys, so V's fragments come transposed.
#pragma unroll
        for (int kk = 0; kk < kTileKeys / 16; ++kk) {
#pragma unroll
            for (int j = 0; j < D / 8; j += 2) {
                // Matrices: keys 16kk.. and 16kk + 8.. of dims 8j.., then the same keys of dims 8j + 8..
                uint32_t b[4];
                load_matrices_transposed(
                    b, v_tile + static_cast<uint32_t>((16 * kk + (lane & 7) + ((lane >> 3) & 1) * 8) * L::kLd +
                                                              8 * j + (lane >> 4) * 8) * 2);
                mma_16x8x16(o[j], pf[kk], b[0], b[1]);
                mma_16x8x16(o[j + 1], pf[kk], b[2], b[3]);
            }
        }
    }

#pragma unroll
    for (int offset = 1; offset < 4; offset <<= 1) {
        sum_a += __shfl_xor_sync(0xffffffffu, sum_a, offset);
        sum_b += __shfl_xor_sync(0xffffffffu, sum_b, offset);
    }
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const int64_t row = row0 + (half == 0 ? row_a : row_b);
        if (row >= n_query_rows) continue;
        const int64_t t = row / s.group;
        const int h = kv_head * s.group + static_cast<int>(row - t * s.group);
        float* dst = out + (t * s.n_head + h) * D + 2 * c4;
        const float inv = 1.0f / (half == 0 ? sum_a : sum_b);
#pragma unroll
        for (int j = 0; j < D / 8; ++j) {
            *reinterpret_cast<float2*>(dst + 8 * j) = make_float2(o[j][2 * half] * inv, o[j][2 * half + 1] * inv);
        }
    }
#endif
}

template <int D, int WARPS, GgmlType K_TYPE, GgmlType V_TYPE>
bool launch_flash(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions, int64_t n_tokens,
                  float* out, cudaStream_t stream) {
    using L = FlashLayout<D, WARPS, K_TYPE, V_TYPE>;
    const auto kernel = attention_flash_kernel<D, WARPS, K_TYPE, V_TYPE>;
    // Q8_0 / Q4_0 rows are copied in 4-byte pieces: every row, and every KV head's blocks within it, must start
    // 4-aligned.
    if (L::kRaw && (plan.shape.row_bytes % 4 != 0 || plan.shape.v_row_bytes % 4 != 0 || L::KRaw::kRow % 4 != 0 ||
                    L::VRaw::kRow % 4 != 0))
        return false;
    cudaFuncAttributes attributes{};
    SPOOL_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel));
    if (attributes.ptxVersion < 80) return false;  // built for an older GPU (no body): the float32 kernel runs
    const int64_t row_blocks = (n_tokens * plan.shape.group + L::kQueries - 1) / L::kQueries;
    if (row_blocks > 65535) return false;  // gridDim.y's limit; the float32 kernel takes such batches
    // Above the 48 KB default of dynamic shared memory: opt in (per device).
    SPOOL_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(L::kBytes)));
    const dim3 grid(static_cast<unsigned>(plan.shape.n_head_kv), static_cast<unsigned>(row_blocks));
    kernel<<<grid, L::kThreads, L::kBytes, stream>>>(q, static_cast<const uint8_t*>(cache.k),
                                                     static_cast<const uint8_t*>(cache.v), positions, plan.shape,
                                                     n_tokens, out);
    SPOOL_CUDA_CHECK(cudaGetLastError());
    return true;
}

}  // namespace

bool launch_tiled_tc(const Plan& plan, const float* q, const KvView& cache, const int32_t* positions,
                     int64_t n_tokens, float* out, cudaStream_t stream) {
    if (!attention_tiled_uses_half_products(plan.type, plan.v_type, plan.shape.head_dim)) return false;
    // Blocks of 8 warps (128 query rows) for head_dim 64, of 4 for 128. Kernel bench (H100, us per layer at 128 / 512
    // / 2,048 tokens and 512 after 4,096 rows): TinyLlama heads 4 warps 10.9 / 19.2 / 111.4 / 111.1, 8 warps 11.4 /
    // 18.6 / 90.4 / 94.2; Llama-2-7B heads 4 warps 16.4 / 29.2 / 218.9 / 167.1, 8 warps 18.7 / 30.9 / 221.0 / 165.3.
    return with_kv_cache_types(plan.type, plan.v_type, [&](auto k, auto v) {
        constexpr GgmlType kK = decltype(k)::value, kV = decltype(v)::value;
        if constexpr (kK == GgmlType::F32) {
            return false;  // attention_tiled_uses_half_products said no
        } else {
            if (plan.shape.head_dim == 64)
                return launch_flash<64, 8, kK, kV>(plan, q, cache, positions, n_tokens, out, stream);
            return launch_flash<128, 4, kK, kV>(plan, q, cache, positions, n_tokens, out, stream);
        }
    });
}

}  // namespace spool::cuda::attn

namespace spool::cuda {

bool attention_tiled_uses_half_products(GgmlType k_type, GgmlType v_type, int head_dim) {
    const auto half_or_quantized = [](GgmlType type) {
        return type == GgmlType::F16 || type == GgmlType::Q8_0 || type == GgmlType::Q4_0;
    };
    return half_or_quantized(k_type) && half_or_quantized(v_type) && kv_cache_pair_supported(k_type, v_type) &&
           (head_dim == 64 || head_dim == 128);
}

}  // namespace spool::cuda
