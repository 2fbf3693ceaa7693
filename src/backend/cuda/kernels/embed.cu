// launch_embed (launch.h): gathers token rows of an embedding table of any weight type and dequantizes them to float,
// with the reference's float operations (quant/), so the result equals dequantize_row bit for bit.
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/quant_blocks.cuh"

namespace spool::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridY = 65535;

// Thread (x) per (tile, lane) of quant_blocks.cuh, tokens over y: each writes kGroups runs of 8 floats.
template <class Dec>
__global__ void __launch_bounds__(kThreads) embed_groups_kernel(const uint8_t* table, int64_t row_bytes,
                                                                const int32_t* ids, int64_t n_tokens, int64_t n_cols,
                                                                float* out) {
    constexpr int G = Dec::kGroups, kTileElems = wq::kSpan * G;
    const int64_t unit = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    const int64_t tile = unit >> 5;
    const int lane = static_cast<int>(unit & 31);
    if (tile * kTileElems + Dec::group_elem(lane, 0) >= n_cols) return;
    for (int64_t t = blockIdx.y; t < n_tokens; t += gridDim.y) {
        const uint8_t* row = table + static_cast<int64_t>(__ldg(ids + t)) * row_bytes;
        float v[8 * G];
        wq::exact_values<Dec>(row + tile * Dec::kTileBytes, lane, v);
#pragma unroll
        for (int g = 0; g < G; ++g) {
            float4* dst = reinterpret_cast<float4*>(out + t * n_cols + tile * kTileElems + Dec::group_elem(lane, g));
            dst[0] = make_float4(v[8 * g], v[8 * g + 1], v[8 * g + 2], v[8 * g + 3]);
            dst[1] = make_float4(v[8 * g + 4], v[8 * g + 5], v[8 * g + 6], v[8 * g + 7]);
        }
    }
}

template <class Dec>
__global__ void __launch_bounds__(kThreads) embed_elements_kernel(const uint8_t* table, int64_t row_bytes,
                                                                  const int32_t* ids, int64_t n_tokens, int64_t n_cols,
                                                                  float* out) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    if (i >= n_cols) return;
    for (int64_t t = blockIdx.y; t < n_tokens; t += gridDim.y) {
        out[t * n_cols + i] = Dec::element(table + static_cast<int64_t>(__ldg(ids + t)) * row_bytes, i);
    }
}

}  // namespace

void launch_embed(const WeightView& table, const int32_t* ids, int64_t n_tokens, float* out, cudaStream_t stream) {
    wq::RowPath path = wq::weight_row_path(table, "launch_embed");
    if (n_tokens < 0) throw UsageError("launch_embed: n_tokens must be >= 0; got " + std::to_string(n_tokens));
    if (n_tokens == 0) return;
    if (path == wq::RowPath::groups && reinterpret_cast<uintptr_t>(out) % 16 != 0) {
        if (table.type != GgmlType::F32 && table.type != GgmlType::F16 && table.type != GgmlType::BF16) {
            throw UsageError("launch_embed: out must be 16-byte aligned");
        }
        path = wq::RowPath::elements;
    }
    const uint8_t* data = static_cast<const uint8_t*>(table.data);
    const int64_t row_bytes = static_cast<int64_t>(table.row_bytes);
    const unsigned grid_y = static_cast<unsigned>(n_tokens < kMaxGridY ? n_tokens : kMaxGridY);
    wq::with_decoder(table, [&](auto dec) {
        using Dec = decltype(dec);
        if (path == wq::RowPath::groups) {
            const int64_t tiles = (table.n_cols + wq::kSpan * Dec::kGroups - 1) / (wq::kSpan * Dec::kGroups);
            const dim3 grid(static_cast<unsigned>((32 * tiles + kThreads - 1) / kThreads), grid_y);
            embed_groups_kernel<Dec><<<grid, kThreads, 0, stream>>>(data, row_bytes, ids, n_tokens, table.n_cols, out);
        } else if constexpr (Dec::kBlockElems == 1) {
            const dim3 grid(static_cast<unsigned>((table.n_cols + kThreads - 1) / kThreads), grid_y);
            embed_elements_kernel<Dec><<<grid, kThreads, 0, stream>>>(data, row_bytes, ids, n_tokens, table.n_cols,
                                                                      out);
        }
    });
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace spool::cuda
