// rope(q), rope(k), then kv_append(k, v) in one launch (Backend::rope_kv_append): a decode step saves two of its
// three small launches per layer. Bit-exact with launch_rope + launch_rope + launch_kv_append: the same device code
// (ops_rope.cuh, attention_kv_store.cuh) does the math. Launched with PDL (ops_common.cuh).
#include <algorithm>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention_kv_store.cuh"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/ops_common.cuh"
#include "backend/cuda/kernels/ops_rope.cuh"
#include "quant/type_ids.h"
#include "spool/errors.h"

namespace spool::cuda {
namespace {

constexpr int kThreads = 128;
// Elements of q or of a k row one block takes (about 1 pair per thread when n_dims = head_dim): whole heads.
constexpr int kElementsPerBlock = 256;

struct RopeKvArgs {
    int n_head = 0, n_head_kv = 0, head_dim = 0;
    RopeMode mode{};
    int n_dims = 0;
    float freq_base = 0, freq_scale = 0;
    const float* freq_factors = nullptr;  // [n_dims/2] or null
    int q_heads_per_block = 0, q_blocks = 0;
    int kv_heads_per_block = 0;  // a multiple of 32 elements (one Q8_0 / Q4_0 block) unless it is the whole row
    int64_t row_width = 0;       // n_head_kv * head_dim
    size_t k_row_bytes = 0, v_row_bytes = 0;
};

// grid: (q_blocks + kv_blocks, n_tokens). A q block rotates q_heads_per_block heads of q in place. A kv block
// rotates kv_heads_per_block heads of k in shared memory, writes them back to k, and stores them and the same
// columns of v into cache row positions[t]. For Q8_0 / Q4_0 a kv block's columns are whole 32-element blocks, so each
// warp of the store loop fills one block (store_element's rule).
template <GgmlType K, GgmlType V>
__global__ void __launch_bounds__(kThreads)
    rope_kv_append_kernel(float* __restrict__ q,                  // [n_tokens, n_head, head_dim]
                          float* __restrict__ k,                  // [n_tokens, n_head_kv, head_dim]
                          const float* __restrict__ v,            // [n_tokens, n_head_kv, head_dim]
                          const int32_t* __restrict__ positions,  // [n_tokens]
                          uint8_t* __restrict__ k_cache,          // [n_ctx][k_row_bytes]
                          uint8_t* __restrict__ v_cache,          // [n_ctx][v_row_bytes]
                          RopeKvArgs a) {
    extern __shared__ double2 cos_sin[];  // [max(n_dims/2, 1)], then float k_s[kv_heads_per_block * head_dim]
    // The decode attention follows, whose split kernel loads older cache rows before it waits.
    ops::allow_dependents();
    // The angles need only the position (ops_common.cuh, the early-read exception) and freq_factors, a weight, so
    // their float64 math overlaps the projections ahead.
    const int64_t t = blockIdx.y;
    const int32_t position = positions[t];
    rope::fill_cos_sin(cos_sin, position, a.n_dims, a.freq_base, a.freq_scale, a.freq_factors);
    ops::wait_for_producers();

    if (static_cast<int>(blockIdx.x) < a.q_blocks) {
        const int h0 = blockIdx.x * a.q_heads_per_block;
        const int n_heads = min(a.q_heads_per_block, a.n_head - h0);
        rope::rotate_heads(q + (t * a.n_head + h0) * a.head_dim, n_heads, a.head_dim, a.mode, a.n_dims, cos_sin);
        return;
    }
    const int h0 = (blockIdx.x - a.q_blocks) * a.kv_heads_per_block;
    const int n_heads = min(a.kv_heads_per_block, a.n_head_kv - h0);
    const int n_elements = n_heads * a.head_dim;
    const int64_t e0 = static_cast<int64_t>(h0) * a.head_dim;  // first column of this block within a row
    float* k_s = reinterpret_cast<float*>(cos_sin + max(a.n_dims / 2, 1));
    float* k_t = k + t * a.row_width + e0;
    for (int i = threadIdx.x; i < n_elements; i += blockDim.x) k_s[i] = k_t[i];
    __syncthreads();
    rope::rotate_heads(k_s, n_heads, a.head_dim, a.mode, a.n_dims, cos_sin);
    __syncthreads();

    const float* v_t = v + t * a.row_width + e0;
    uint8_t* k_row = k_cache + static_cast<int64_t>(position) * a.k_row_bytes;
    uint8_t* v_row = v_cache + static_cast<int64_t>(position) * a.v_row_bytes;
    // n_elements is a multiple of 32 for Q8_0 / Q4_0 and blockDim a multiple of 32: the loop condition is warp-uniform.
    for (int i = threadIdx.x; i < n_elements; i += blockDim.x) {
        const float x = k_s[i];
        k_t[i] = x;
        kv::store_element<K>(k_row, e0 + i, x);
        kv::store_element<V>(v_row, e0 + i, v_t[i]);
    }
}

}  // namespace

void launch_rope_kv_append(float* q, float* k, const float* v, const int32_t* positions, int64_t n_tokens,
                           int n_head, int n_head_kv, int head_dim, const RopeParams& params, const KvView& cache,
                           cudaStream_t stream) {
    check_kv_cache_types(cache, "cuda rope_kv_append");
    const auto is_block_type = [](GgmlType type) { return type == GgmlType::Q8_0 || type == GgmlType::Q4_0; };
    const bool blocks = is_block_type(cache.type) || is_block_type(cache.v_type);
    if (cache.row_width != static_cast<int64_t>(n_head_kv) * head_dim || (blocks && cache.row_width % 32 != 0))
        throw UsageError("cuda rope_kv_append: KV row_width " + std::to_string(cache.row_width) +
                         " must equal n_head_kv * head_dim = " + std::to_string(n_head_kv) + " * " +
                         std::to_string(head_dim) + " (and be a multiple of 32 for a Q8_0 or Q4_0 cache)");
    if (n_tokens < 1) return;

    RopeKvArgs a;
    a.n_head = n_head;
    a.n_head_kv = n_head_kv;
    a.head_dim = head_dim;
    a.mode = params.mode;
    a.n_dims = params.n_dims;
    a.freq_base = params.freq_base;
    a.freq_scale = params.freq_scale;
    a.freq_factors = params.freq_factors;
    a.q_heads_per_block = std::max(1, kElementsPerBlock / head_dim);
    a.q_blocks = (n_head + a.q_heads_per_block - 1) / a.q_heads_per_block;
    int kv_heads = std::max(1, kElementsPerBlock / head_dim);
    while ((kv_heads * head_dim) % 32 != 0) ++kv_heads;  // whole Q8_0 / Q4_0 blocks (any type: it costs nothing)
    a.kv_heads_per_block = std::min(kv_heads, n_head_kv);
    a.row_width = cache.row_width;
    a.k_row_bytes = cache.row_bytes;
    a.v_row_bytes = cache.v_row_bytes;
    const int kv_blocks = (n_head_kv + a.kv_heads_per_block - 1) / a.kv_heads_per_block;

    const dim3 grid(static_cast<unsigned>(a.q_blocks + kv_blocks), static_cast<unsigned>(n_tokens));
    const size_t shared = rope::cos_sin_bytes(params.n_dims) +
                          static_cast<size_t>(a.kv_heads_per_block) * static_cast<size_t>(head_dim) * sizeof(float);
    auto* k_cache = static_cast<uint8_t*>(cache.k);
    auto* v_cache = static_cast<uint8_t*>(cache.v);
    with_kv_cache_types(cache.type, cache.v_type, [&](auto k_type, auto v_type) {
        ops::launch_pdl(rope_kv_append_kernel<decltype(k_type)::value, decltype(v_type)::value>, grid, dim3(kThreads),
                        shared, stream, q, k, v, positions, k_cache, v_cache, a);
    });
}

}  // namespace spool::cuda
