// Test-only description of the legacy quant types: their kernels, and the error each allows, derived from the
// format (scale rule and level range) and computed from the input alone, so a wrong scale cannot widen its own bound.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/reference.h"
#include "quant/types.h"

namespace spool::quant::testing {

// fp16 keeps 11 significant bits: relative rounding error <= 2^-11 for normal values; below 2^-14 its subnormal
// spacing is 2^-24, so the absolute error is <= 2^-25.
inline constexpr double kHalfRel = 1.0 / 2048.0;
inline constexpr double kHalfAbs = 1.0 / 33554432.0;

struct LegacyType {
    GgmlType type;
    const char* name;
    size_t block_bytes;
    QuantizeRowFn quantize;
    DequantizeRowFn dequantize;
    // The format: x = (q - zero) * d + (has_min ? m : 0), q in [0, top].
    bool has_min;
    int zero;
    int top;
};

inline const std::vector<LegacyType>& legacy_types() {
    static const std::vector<LegacyType> types = {
        {GgmlType::Q4_0, "Q4_0", 18, quantize_row_q4_0_ref, dequantize_row_q4_0, false, 8, 15},
        {GgmlType::Q4_1, "Q4_1", 20, quantize_row_q4_1_ref, dequantize_row_q4_1, true, 0, 15},
        {GgmlType::Q5_0, "Q5_0", 22, quantize_row_q5_0_ref, dequantize_row_q5_0, false, 16, 31},
        {GgmlType::Q5_1, "Q5_1", 24, quantize_row_q5_1_ref, dequantize_row_q5_1, true, 0, 31},
        {GgmlType::Q8_0, "Q8_0", 34, quantize_row_q8_0_ref, dequantize_row_q8_0, false, 127, 254},
        {GgmlType::Q8_1, "Q8_1", 36, quantize_row_q8_1_ref, dequantize_row_q8_1, false, 127, 254},
    };
    return types;
}

inline const LegacyType& legacy_type(GgmlType t) {
    for (const LegacyType& lt : legacy_types()) {
        if (lt.type == t) return lt;
    }
    throw std::invalid_argument("not a legacy type");
}

// The scale and offset a block of 32 inputs gets by the format's rule, in float64:
// Q4_0/Q5_0: d = (signed value of largest magnitude) / -zero; Q4_1/Q5_1: d = (max - min) / top, base = min;
// Q8_x: d = max|x| / 127.
struct BlockScale {
    double d = 0;
    double base = 0;
};

inline BlockScale expected_scale(const LegacyType& t, const float* x) {
    BlockScale s;
    if (t.has_min) {
        const auto [mn, mx] = std::minmax_element(x, x + 32);
        s.d = (static_cast<double>(*mx) - *mn) / t.top;
        s.base = *mn;
    } else if (t.zero == 127) {
        double amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(static_cast<double>(x[j])));
        s.d = amax / 127.0;
    } else {
        double amax = 0, max = 0;
        for (int j = 0; j < 32; ++j) {
            if (amax < std::fabs(x[j])) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        s.d = max / -t.zero;
    }
    return s;
}

// The largest error dequantize(quantize(x)) may show at x in a block of scale s:
// - half a step |d| where x lies within the levels (round to nearest);
// - for Q4_0/Q5_0, whose levels run from -zero to top - zero = zero - 1, a value near -max scales to up to +zero
//   and is clamped to the top level: its error is its distance to that level, up to one step;
// - plus the fp16 rounding of the stored scale, which moves level k by |k - zero| * |d| * 2^-11 (or 2^-25 near 0),
//   and for Q4_1/Q5_1 the fp16 rounding of the minimum; plus 1e-5 steps of float arithmetic.
inline double allowed_error(const LegacyType& t, const BlockScale& s, float x) {
    const double ad = std::fabs(s.d);
    const double max_level = std::max(t.zero, t.top - t.zero);
    double excess = 0;
    if (ad > 0) {
        const double level = (static_cast<double>(x) - s.base) / s.d;  // where x falls on the (q - zero) axis
        excess = std::max({0.0, level - (t.top - t.zero), -t.zero - level});
    }
    double slack = max_level * std::max(ad * kHalfRel, kHalfAbs) + 1e-5 * ad;
    if (t.has_min) slack += std::max(std::fabs(s.base) * kHalfRel, kHalfAbs);
    return (0.5 + excess) * ad + slack;
}

// Rounding to a grid of step d leaves errors spread evenly over [-d/2, d/2] when the data is smooth on the scale
// of d, whose RMS is d / sqrt(12). The bound allows 30% more: sampling noise of a few hundred elements (about 5%
// for 1000) and the clamped top level of Q4_0/Q5_0 (about 1 element in 64 with up to one step of error).
inline constexpr double kRmseOverUniformNoise = 1.3;

// The RMS of d / sqrt(12) over the blocks of a row, in float64.
inline double uniform_noise_rms(const LegacyType& t, const std::vector<float>& x) {
    double sum = 0;
    const size_t nb = x.size() / 32;
    for (size_t b = 0; b < nb; ++b) {
        const double d = expected_scale(t, x.data() + 32 * b).d;
        sum += d * d / 12.0;
    }
    return nb ? std::sqrt(sum / static_cast<double>(nb)) : 0.0;
}

inline std::vector<uint8_t> quantize(const LegacyType& t, const std::vector<float>& x) {
    std::vector<uint8_t> q(x.size() / 32 * t.block_bytes);
    t.quantize(x.data(), q.data(), static_cast<int64_t>(x.size()));
    return q;
}

inline std::vector<float> dequantize(const LegacyType& t, const std::vector<uint8_t>& q) {
    std::vector<float> y(q.size() / t.block_bytes * 32);
    t.dequantize(q.data(), y.data(), static_cast<int64_t>(y.size()));
    return y;
}

}  // namespace spool::quant::testing
