// KV append: k[t] and v[t] rounded to the cache's key and value types and stored in cache row positions[t],
// bit-exact with the CPU cache (attention_kv_store.cuh: quant/float.cpp's float_to_half, quant/legacy.cpp's
// quantize_row_q8_0_ref and quantize_row_q4_0_ref).
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/attention_kv_store.cuh"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/ops_common.cuh"
#include "quant/type_ids.h"

namespace spool::cuda {
namespace {

constexpr int kAppendThreads = 256;

// grid: (row chunks of kAppendThreads elements, n_tokens, 2 = k then v). For Q8_0 / Q4_0 each warp is one 32-element
// block (row_width is a multiple of 32, so a warp is wholly inside or outside the row).
template <GgmlType K, GgmlType V>
__global__ void __launch_bounds__(kAppendThreads)
    kv_append_kernel(uint8_t* __restrict__ k_cache,         // [n_ctx][k_row_bytes]
                     uint8_t* __restrict__ v_cache,         // [n_ctx][v_row_bytes]
                     size_t k_row_bytes, size_t v_row_bytes, int64_t row_width,
                     const float* __restrict__ k,           // [n_tokens, row_width]
                     const float* __restrict__ v,           // [n_tokens, row_width]
                     const int32_t* __restrict__ positions) {  // [n_tokens]
    ops::wait_for_producers();  // before the early return (ops_common.cuh)
    const int64_t t = blockIdx.y;
    const int64_t e = static_cast<int64_t>(blockIdx.x) * kAppendThreads + threadIdx.x;
    if (e >= row_width) return;  // Q8_0 / Q4_0: whole warps, see above
    const int64_t position = positions[t];
    if (blockIdx.z == 0) {  // block-uniform, so the block types' warp-collective stores run converged
        kv::store_element<K>(k_cache + position * k_row_bytes, e, k[t * row_width + e]);
    } else {
        kv::store_element<V>(v_cache + position * v_row_bytes, e, v[t * row_width + e]);
    }
}

template <GgmlType K, GgmlType V>
void launch_kv_append_for(const KvView& cache, const float* k, const float* v, const int32_t* positions,
                          int64_t n_tokens, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>((cache.row_width + kAppendThreads - 1) / kAppendThreads),
                    static_cast<unsigned>(n_tokens), 2);
    ops::launch_pdl(kv_append_kernel<K, V>, grid, dim3(kAppendThreads), 0, stream, static_cast<uint8_t*>(cache.k),
                    static_cast<uint8_t*>(cache.v), cache.row_bytes, cache.v_row_bytes, cache.row_width, k, v,
                    positions);
}

}  // namespace

void launch_kv_append(const KvView& cache, const float* k, const float* v, const int32_t* positions,
                      int64_t n_tokens, cudaStream_t stream) {
    check_kv_cache_types(cache, "cuda kv_append");
    with_kv_cache_types(cache.type, cache.v_type, [&](auto k_type, auto v_type) {
        launch_kv_append_for<decltype(k_type)::value, decltype(v_type)::value>(cache, k, v, positions, n_tokens,
                                                                               stream);
    });
}

}  // namespace spool::cuda
