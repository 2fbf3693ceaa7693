// launch_dequantize_rows_f16 (launch.h): rows of any weight type to fp16 for the prefill's tensor-core GEMM. Values are
// the reference dequantization (quant/, same float roundings) rounded to nearest half, saturated at +-65504.
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/ops_common.cuh"
#include "backend/cuda/kernels/quant_blocks.cuh"

namespace spool::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridY = 65535;


// Thread (x) per (tile, lane) of quant_blocks.cuh, rows over y: each writes kGroups runs of 8 halves (16 bytes).
template <class Dec>
__global__ void __launch_bounds__(kThreads) dequantize_groups_kernel(const uint8_t* w, int64_t row_bytes,
                                                                     int64_t n_rows, int64_t n_cols, __half* out) {
    constexpr int G = Dec::kGroups, kTileElems = wq::kSpan * G;
    const int64_t unit = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    const int64_t tile = unit >> 5;
    const int lane = static_cast<int>(unit & 31);
    if (tile * kTileElems + Dec::group_elem(lane, 0) >= n_cols) return;
    for (int64_t r = blockIdx.y; r < n_rows; r += gridDim.y) {
        float v[8 * G];
        wq::exact_values<Dec>(w + r * row_bytes + tile * Dec::kTileBytes, lane, v);
#pragma unroll
        for (int g = 0; g < G; ++g) {
            uint32_t packed[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const __half2 pair =
                    __halves2half2(ops::half_saturated(v[8 * g + 2 * i]), ops::half_saturated(v[8 * g + 2 * i + 1]));
                packed[i] = *reinterpret_cast<const uint32_t*>(&pair);
            }
            *reinterpret_cast<uint4*>(out + r * n_cols + tile * kTileElems + Dec::group_elem(lane, g)) =
                make_uint4(packed[0], packed[1], packed[2], packed[3]);
        }
    }
}

// Float types whose rows are not whole groups: one element per thread.
template <class Dec>
__global__ void __launch_bounds__(kThreads) dequantize_elements_kernel(const uint8_t* w, int64_t row_bytes,
                                                                       int64_t n_rows, int64_t n_cols, __half* out) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    if (i >= n_cols) return;
    for (int64_t r = blockIdx.y; r < n_rows; r += gridDim.y) {
        out[r * n_cols + i] = ops::half_saturated(Dec::element(w + r * row_bytes, i));
    }
}

}  // namespace

void launch_dequantize_rows_f16(const WeightView& w, int64_t row_begin, int64_t row_end, __half* out,
                                cudaStream_t stream) {
    wq::RowPath path = wq::weight_row_path(w, "launch_dequantize_rows_f16");
    if (row_begin < 0 || row_end > w.n_rows || row_begin > row_end) {
        throw UsageError("launch_dequantize_rows_f16: rows [" + std::to_string(row_begin) + ", " +
                         std::to_string(row_end) + ") are outside the matrix's " + std::to_string(w.n_rows) + " rows");
    }
    const int64_t n_rows = row_end - row_begin;
    if (n_rows == 0) return;
    if (path == wq::RowPath::groups && reinterpret_cast<uintptr_t>(out) % 16 != 0) {
        if (w.type != GgmlType::F32 && w.type != GgmlType::F16 && w.type != GgmlType::BF16) {
            throw UsageError("launch_dequantize_rows_f16: out must be 16-byte aligned");
        }
        path = wq::RowPath::elements;
    }
    const uint8_t* first = static_cast<const uint8_t*>(w.data) + row_begin * static_cast<int64_t>(w.row_bytes);
    const int64_t row_bytes = static_cast<int64_t>(w.row_bytes);
    const unsigned grid_y = static_cast<unsigned>(n_rows < kMaxGridY ? n_rows : kMaxGridY);
    wq::with_decoder(w, [&](auto dec) {
        using Dec = decltype(dec);
        if (path == wq::RowPath::groups) {
            const int64_t tiles = (w.n_cols + wq::kSpan * Dec::kGroups - 1) / (wq::kSpan * Dec::kGroups);
            const dim3 grid(static_cast<unsigned>((32 * tiles + kThreads - 1) / kThreads), grid_y);
            dequantize_groups_kernel<Dec><<<grid, kThreads, 0, stream>>>(first, row_bytes, n_rows, w.n_cols, out);
        } else if constexpr (Dec::kBlockElems == 1) {
            const dim3 grid(static_cast<unsigned>((w.n_cols + kThreads - 1) / kThreads), grid_y);
            dequantize_elements_kernel<Dec><<<grid, kThreads, 0, stream>>>(first, row_bytes, n_rows, w.n_cols, out);
        }
    });
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace spool::cuda
