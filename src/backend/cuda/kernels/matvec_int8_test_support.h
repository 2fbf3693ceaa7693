// What matvec_int8_test.cpp and matvec_int8_fused_test.cpp share: types and shapes to cover, x~, fit to a reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cuda/kernels/int8_x_test_support.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/weight_test_support.h"

namespace spool::cuda::gpu_test {

inline constexpr ActivationPrecision kInt8 = ActivationPrecision::int8;
inline constexpr ActivationPrecision kFloat32 = ActivationPrecision::float32;
inline constexpr int64_t kTokens = kMatvecInt8MaxTokens;  // the token counts int8 applies to: 1..kTokens
inline constexpr int64_t kGroup = 8;                      // columns that share one int8 scale (launch.h)

// x~ as launch.h defines int8 activations (round_int8_group: bit for bit what the kernel multiplies with), widened
// to double (d * q is exact there). x is [n_tokens, n_cols]; groups of `group` columns start again at each token. A
// group other than kGroup only shows that the checks tell a wrong grouping apart.
inline std::vector<double> round_int8(const std::vector<float>& x, int64_t n_cols, int64_t group = kGroup) {
    std::vector<double> out(x.size());
    for (size_t row = 0; row < x.size(); row += static_cast<size_t>(n_cols)) {
        for (int64_t j = 0; j < n_cols; j += group) {
            const size_t begin = row + static_cast<size_t>(j);
            const size_t end = row + static_cast<size_t>(std::min(j + group, n_cols));
            std::vector<int8_t> levels(end - begin);
            const float d = round_int8_group(x.data() + begin, end - begin, levels.data());
            for (size_t i = begin; i < end; ++i) {
                out[i] = static_cast<double>(d) * static_cast<double>(levels[i - begin]);
            }
        }
    }
    return out;
}

inline std::vector<GgmlType> types_where(bool quantized) {
    std::vector<GgmlType> out;
    for (GgmlType type : weight_types()) {
        if (type_info(type).is_quantized == quantized) out.push_back(type);
    }
    return out;
}

inline std::vector<WeightFormat> quantized_formats() {
    std::vector<WeightFormat> out;
    for (const WeightFormat& f : weight_formats()) {
        if (type_info(f.type).is_quantized) out.push_back(f);
    }
    return out;
}

// A shape the staged kernel takes (launch.h kMatvecStagedMinRows: enough rows, whole 256-column runs).
inline constexpr Shape kStagedShape{kMatvecStagedMinRows + 3, 512};

// For types staged from fewer rows than kMatvecStagedMinRows, their smallest staged launch: a grid of 2-warp blocks,
// which larger launches do not use, and one matrix of so few rows splits each row pair's columns over two warps
// (matvec_staged.cu kSplitBelowRows). Appended to shapes where the type has one.
inline void add_fewest_rows_staged(const WeightFormat& format, std::vector<Shape>& shapes) {
    const GgmlType type = format.type;
    if (matvec_staged_type(type) && matvec_staged_min_rows(type) < kMatvecStagedMinRows) {
        shapes.push_back({matvec_staged_min_rows(type) + 1, format_cols(format, 512)});
    }
}

// kStagedShape with whole runs of format's layout.
inline Shape staged_shape(const WeightFormat& format) {
    return {kStagedShape.n_rows, format_cols(format, kStagedShape.n_cols)};
}

// test_shapes, plus for the staged types one that takes the staged kernel where test_shapes has none (their
// largest shapes of 32-element blocks are too narrow for it), add_fewest_rows_staged's, and one of more blocks than
// the GPU holds at once (the kernel's many-waves form).
inline std::vector<Shape> int8_shapes(const WeightFormat& format) {
    const GgmlType type = format.type;
    std::vector<Shape> shapes = test_shapes(format);
    if (matvec_staged_type(type) && type_info(type).block_size == 32) shapes.push_back(staged_shape(format));
    add_fewest_rows_staged(format, shapes);
    if (matvec_staged_type(type)) shapes.push_back({many_waves_rows(), format_cols(format, 256)});
    return shapes;
}

// The two smallest shapes of test_shapes (odd row counts, a partial last row group): enough for the forms that share
// the plain kernel's inner loop, and cheap to quantize; for the staged types also one that takes the staged kernel,
// and add_fewest_rows_staged's.
inline std::vector<Shape> small_shapes(const WeightFormat& format) {
    const GgmlType type = format.type;
    const std::vector<Shape> all = test_shapes(format);
    std::vector<Shape> shapes = {all[0], all[1]};
    if (matvec_staged_type(type)) shapes.push_back(staged_shape(format));
    add_fewest_rows_staged(format, shapes);
    return shapes;
}

// How outputs (the first got.size() of ref's; plus bias[row] where bias is given) fit ref: NMSE, and the worst
// |error| / (budget + |bias|). An output that is not finite makes both infinite.
struct Fit {
    double nmse = 0, worst_ratio = 0;
    size_t worst = 0;
    double expected_at_worst = 0, got_at_worst = 0;
};

template <class T>
Fit fit(const std::vector<T>& got, const MatvecReference& ref, int64_t n_rows,
        const std::vector<float>* bias = nullptr) {
    Fit f;
    double err_sq = 0, ref_sq = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double b = bias != nullptr ? static_cast<double>((*bias)[i % static_cast<size_t>(n_rows)]) : 0.0;
        const double expected = ref.y[i] + b;
        const double err = std::fabs(static_cast<double>(got[i]) - expected);
        const double ratio = std::isfinite(err) ? err / (ref.budget[i] + std::fabs(b)) : INFINITY;
        err_sq += std::isfinite(err) ? err * err : INFINITY;
        ref_sq += expected * expected;
        if (ratio > f.worst_ratio) {
            f.worst_ratio = ratio, f.worst = i, f.expected_at_worst = expected;
            f.got_at_worst = static_cast<double>(got[i]);
        }
    }
    f.nmse = err_sq / ref_sq;
    return f;
}

inline std::string describe(const Fit& f, int64_t n_rows) {
    std::ostringstream out;
    out << "nmse " << f.nmse << ", worst |error| / budget " << f.worst_ratio << " at output " << f.worst << " (token "
        << f.worst / static_cast<size_t>(n_rows) << ", row " << f.worst % static_cast<size_t>(n_rows) << "): expected "
        << f.expected_at_worst << ", got " << f.got_at_worst;
    return out.str();
}

inline std::string where(GgmlType type, int64_t n_rows, int64_t n_cols, int64_t n_tokens) {
    return shape_name(type, n_rows, n_cols) + " n_tokens " + std::to_string(n_tokens);
}

// The first index whose bits differ between a and b (NaN payloads included), or a.size() when none does.
inline size_t first_bit_difference(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return i;
    }
    return a.size();
}

}  // namespace spool::cuda::gpu_test
