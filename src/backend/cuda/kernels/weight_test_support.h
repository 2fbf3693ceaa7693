// Test helpers for the CUDA weight kernels (matvec, dequantize, embed): seeded random matrices stored in a GGUF
// type by the reference quantizer (quant/), their reference dequantization, and the types and shapes to cover.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_test_support.h"
#include "backend/cuda/device_info.h"
#include "backend/cuda/kernels/launch.h"
#include "quant/types.h"
#include "test_support.h"

namespace spool::cuda::gpu_test {

// Every weight type the CUDA kernels take (launch.h weight_type_supported).
inline const std::vector<GgmlType>& weight_types() {
    static const std::vector<GgmlType> types = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0,
                                                GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                                                GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                                                GgmlType::Q6_K};
    return types;
}

struct Shape {
    int64_t n_rows, n_cols;
};

// A weight type and how the backend stores it: every type as GGUF does, and Q4_0 and Q6_K also regrouped as the CUDA
// backend uploads rows of whole runs of 8 blocks (launch.h groups_weight_rows).
struct WeightFormat {
    GgmlType type;
    WeightLayout layout = WeightLayout::blocks;
};
inline std::vector<WeightFormat> weight_formats() {
    std::vector<WeightFormat> formats;
    for (GgmlType type : weight_types()) formats.push_back({type});
    formats.push_back({GgmlType::Q4_0, WeightLayout::grouped});
    formats.push_back({GgmlType::Q6_K, WeightLayout::grouped});
    return formats;
}
inline std::string format_name(const WeightFormat& f) {
    return std::string(type_name(f.type)) + (f.layout == WeightLayout::grouped ? " grouped" : "");
}

// Odd shapes per block size: row counts that leave the last row group partial, and (legacy, float) column counts
// that leave the last 256-column span partial. K-quant 768 holds 3 super-blocks, so Q3_K/Q6_K rows (110 / 210 bytes
// per block) start at 2 mod 4 every other row. Floats include lengths that are not a multiple of 8 (element path).
inline std::vector<Shape> test_shapes(GgmlType type) {
    const int64_t block = type_info(type).block_size;
    if (block == 256) return {{37, 256}, {131, 768}, {1031, 2816}, {4099, 768}};
    if (block == 32) return {{37, 32}, {131, 800}, {1031, 2848}, {4099, 96}};
    return {{37, 40}, {131, 1000}, {1031, 2056}, {4099, 136}, {37, 37}, {131, 1001}, {53, 36}};
}
// Grouped rows are whole runs: for Q4_0 (256-element runs) the K-quant shapes (the last row group partial; 2816
// columns end in half a 16-block tile of the shared kernel); for Q6_K (2,048-element runs) one to three runs per row.
inline std::vector<Shape> test_shapes(const WeightFormat& f) {
    if (f.layout != WeightLayout::grouped) return test_shapes(f.type);
    if (f.type == GgmlType::Q6_K) return {{37, 2048}, {131, 6144}, {1031, 2048}, {4099, 4096}};
    return test_shapes(GgmlType::Q4_K);
}

// n_cols rounded up to whole runs where f is grouped (launch.h grouped_run_elements), else n_cols: a shape made for the
// GGUF layout, fitted to a grouped format.
inline int64_t format_cols(const WeightFormat& f, int64_t n_cols) {
    if (f.layout != WeightLayout::grouped) return n_cols;
    const int64_t run = grouped_run_elements(f.type);
    return (n_cols + run - 1) / run * run;
}

// Rows of a one-token staged launch (matvec_staged.cu: blocks of 8 warps, 2 rows per warp) whose grid is more than the
// GPU holds at once even at 4 blocks per SM, so that it takes the kernel's many-waves form; odd, so the last warp holds
// one row.
inline int64_t many_waves_rows() { return int64_t{16} * 4 * current_device_sm_count() + 5; }

// A matrix in `type`: rows quantized from N(0, 1) data by the reference quantizer, and the reference's float
// dequantization of those bytes (what every kernel must reproduce).
struct QuantMatrix {
    GgmlType type;
    int64_t n_rows, n_cols;
    size_t row_bytes;
    std::vector<uint8_t> bytes;     // [n_rows][row_bytes], in `layout`
    std::vector<float> dequantized; // [n_rows, n_cols]
    WeightLayout layout = WeightLayout::blocks;
    WeightView view(const void* device_data) const {
        WeightView w;
        w.data = device_data;
        w.type = type;
        w.n_cols = n_cols;
        w.n_rows = n_rows;
        w.row_bytes = row_bytes;
        w.layout = layout;
        return w;
    }
};

// Rows of whole runs of 8 blocks in WeightLayout::grouped, written from the layout's definition (weight_layout.cu) for
// the device kernels to be checked against: each field of the run's 8 blocks stored together, in the block's field
// order as (offset in the block, bytes): Q4_0 (d:2 qs:16) becomes the 8 qs, then the 8 d; Q6_K (ql:128 qh:64
// scales:16 d:2) the 8 ql, 8 qh, 8 scales, 8 d.
inline std::vector<uint8_t> grouped_bytes(GgmlType type, const std::vector<uint8_t>& blocks, int64_t n_rows,
                                          int64_t n_cols, size_t row_bytes) {
    struct Field { size_t offset, bytes; };
    const bool q6_k = type == GgmlType::Q6_K;
    const std::vector<Field> fields = q6_k ? std::vector<Field>{{0, 128}, {128, 64}, {192, 16}, {208, 2}}
                                           : std::vector<Field>{{2, 16}, {0, 2}};
    const size_t block = q6_k ? 210 : 18, run_bytes = 8 * block;
    const int64_t run_elems = q6_k ? 2048 : 256;
    std::vector<uint8_t> out = blocks;  // row padding stays
    for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t run = 0; run < n_cols / run_elems; ++run) {
            const size_t at = static_cast<size_t>(r) * row_bytes + static_cast<size_t>(run) * run_bytes;
            size_t o = at;
            for (const Field& f : fields) {
                for (size_t b = 0; b < 8; ++b) {
                    for (size_t j = 0; j < f.bytes; ++j) out[o++] = blocks[at + block * b + f.offset + j];
                }
            }
        }
    }
    return out;
}

// A view at a made-up device address, for argument checks that fail (or return) before any device work.
inline WeightView unbacked_view(GgmlType type, int64_t n_rows, int64_t n_cols, size_t row_bytes,
                                uintptr_t address = 256) {
    WeightView w;
    w.data = reinterpret_cast<const void*>(address);
    w.type = type;
    w.n_cols = n_cols;
    w.n_rows = n_rows;
    w.row_bytes = row_bytes;
    return w;
}

// row_padding adds unused bytes after each row (row_bytes larger than the packed row) to test the row stride.
inline QuantMatrix make_quant_matrix(GgmlType type, int64_t n_rows, int64_t n_cols, uint64_t seed,
                                     size_t row_padding = 0) {
    const TypeInfo& info = type_info(type);
    QuantMatrix m{type, n_rows, n_cols, row_bytes(type, n_cols) + row_padding, {}, {}};
    const std::vector<float> source = testing::random_floats(static_cast<size_t>(n_rows * n_cols), seed);
    m.bytes.assign(m.row_bytes * static_cast<size_t>(n_rows), 0xA5);
    m.dequantized.resize(static_cast<size_t>(n_rows * n_cols));
    for (int64_t r = 0; r < n_rows; ++r) {
        uint8_t* row = m.bytes.data() + static_cast<size_t>(r) * m.row_bytes;
        info.quantize_row(source.data() + r * n_cols, row, n_cols);
        info.dequantize_row(row, m.dequantized.data() + r * n_cols, n_cols);
    }
    return m;
}

// make_quant_matrix in format f: the same values, the bytes in f's layout.
inline QuantMatrix make_quant_matrix(const WeightFormat& f, int64_t n_rows, int64_t n_cols, uint64_t seed,
                                     size_t row_padding = 0) {
    QuantMatrix m = make_quant_matrix(f.type, n_rows, n_cols, seed, row_padding);
    if (f.layout == WeightLayout::grouped) {
        m.bytes = grouped_bytes(f.type, m.bytes, n_rows, n_cols, m.row_bytes);
        m.layout = WeightLayout::grouped;
    }
    return m;
}

// Float64 y = W x for x of [n_tokens, n_cols] (no bias), and per output its float32 rounding budget
// sum_i |x_i| * max_i |w_i|, as tolerance::kKQuantDotVsDequantized is defined.
struct MatvecReference {
    std::vector<double> y;       // [n_tokens, n_rows]
    std::vector<double> budget;  // [n_tokens, n_rows]
};

inline MatvecReference reference_matvec(const QuantMatrix& m, const std::vector<double>& x) {
    const int64_t n_tokens = static_cast<int64_t>(x.size()) / m.n_cols;
    MatvecReference ref{std::vector<double>(static_cast<size_t>(n_tokens * m.n_rows)),
                  std::vector<double>(static_cast<size_t>(n_tokens * m.n_rows))};
    for (int64_t r = 0; r < m.n_rows; ++r) {
        const float* w = m.dequantized.data() + r * m.n_cols;
        double max_w = 0;
        for (int64_t i = 0; i < m.n_cols; ++i) max_w = std::max(max_w, std::fabs(static_cast<double>(w[i])));
        for (int64_t t = 0; t < n_tokens; ++t) {
            const double* xt = x.data() + t * m.n_cols;
            double sum = 0, sum_abs_x = 0;
            for (int64_t i = 0; i < m.n_cols; ++i) {
                sum += static_cast<double>(w[i]) * xt[i];
                sum_abs_x += std::fabs(xt[i]);
            }
            ref.y[t * m.n_rows + r] = sum;
            ref.budget[t * m.n_rows + r] = sum_abs_x * max_w;
        }
    }
    return ref;
}

inline std::string shape_name(GgmlType type, int64_t n_rows, int64_t n_cols) {
    return std::string(type_name(type)) + " " + std::to_string(n_rows) + "x" + std::to_string(n_cols);
}

// Fills device memory with 0xFF bytes (float NaN, half NaN) so an element a kernel fails to write shows up.
template <class T>
void poison(DeviceVector<T>& v) {
    SPOOL_CUDA_CHECK(cudaMemset(v.data(), 0xFF, std::max<size_t>(v.size(), 1) * sizeof(T)));
}

// launch_matvec_add against residual + launch_matvec at the same precision, on a random matrix of `type` and
// `shape` with random x and residual (seeds seed + 1 .. seed + 3), for each of token_counts: the fused epilogue may
// only add, so the two must agree bit for bit (the plain output is poisoned first, so an unwritten one shows up).
inline void expect_residual_add_is_matvec_plus_add(const WeightFormat& format, const Shape& shape, uint64_t seed,
                                                   std::initializer_list<int64_t> token_counts,
                                                   ActivationPrecision precision) {
    const GgmlType type = format.type;
    const int64_t max_tokens = std::max(token_counts);
    const QuantMatrix m = make_quant_matrix(format, shape.n_rows, shape.n_cols, seed + 1);
    const std::vector<float> x = testing::random_floats(static_cast<size_t>(max_tokens * m.n_cols), seed + 2);
    const std::vector<float> residual = testing::random_floats(static_cast<size_t>(max_tokens * m.n_rows), seed + 3);
    const DeviceVector<uint8_t> w(m.bytes);
    const DeviceVector<float> x_dev(x);
    for (const int64_t n_tokens : token_counts) {
        const auto n = static_cast<size_t>(n_tokens * m.n_rows);
        DeviceVector<float> plain(n);
        poison(plain);
        launch_matvec(m.view(w.data()), x_dev.data(), n_tokens, nullptr, plain.data(), nullptr, precision);
        DeviceVector<float> y(std::vector<float>(residual.begin(), residual.begin() + static_cast<ptrdiff_t>(n)));
        launch_matvec_add(m.view(w.data()), x_dev.data(), n_tokens, y.data(), nullptr, precision);
        const std::vector<float> got = y.download(), wx = plain.download();
        for (size_t i = 0; i < n; ++i) {
            const float expected = residual[i] + wx[i];
            if (std::memcmp(&got[i], &expected, sizeof(float)) != 0) {
                ADD_FAILURE() << shape_name(type, m.n_rows, m.n_cols) << " n_tokens " << n_tokens
                              << (precision == ActivationPrecision::int8 ? " int8" : " float32") << ": output " << i
                              << " got " << got[i] << ", matvec + residual " << expected;
                break;
            }
        }
    }
}

}  // namespace spool::cuda::gpu_test
