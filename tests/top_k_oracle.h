// The oracle for Backend::top_k tests (host and CUDA): a full stable sort of the row, and test rows that stress
// the order rules (ties, -inf, NaN, signed zeros, infinities). Header-only, C++20, no spool dependencies.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "test_support.h"

namespace spool::testing {

struct TopKRow {
    std::string kind;
    std::vector<float> x;
};

// Rows of n entries (never all zeros): plain normal, coarse ties, -inf and NaN sprinkled, signed zeros among
// ties, one +inf, every entry -inf, every entry equal.
inline std::vector<TopKRow> top_k_rows(int64_t n, uint64_t seed) {
    const size_t un = static_cast<size_t>(n);
    std::vector<TopKRow> rows;
    rows.push_back({"normal", random_floats(un, seed, 3.0f, 1.0f)});
    std::vector<float> ties = random_floats(un, seed + 1, 2.0f);
    for (float& v : ties) v = std::round(v * 2.0f) / 2.0f;  // a handful of levels, each shared by many ids
    rows.push_back({"ties", ties});
    std::vector<float> signed_zeros = ties;
    for (size_t i = 0; i < un; ++i) {
        if (signed_zeros[i] == 0.0f) signed_zeros[i] = i % 2 != 0 ? -0.0f : 0.0f;
    }
    signed_zeros[0] = 0.25f;  // never all zeros
    rows.push_back({"signed_zeros", signed_zeros});
    std::vector<float> minus_inf = random_floats(un, seed + 2);
    std::mt19937_64 rng(seed + 3);
    for (float& v : minus_inf) {
        if (rng() % 3 == 0) v = -INFINITY;
    }
    rows.push_back({"minus_inf", minus_inf});
    std::vector<float> nan = random_floats(un, seed + 4);
    for (size_t i = 0; i < un; ++i) {
        if (rng() % 5 == 0 || i == 0) nan[i] = std::numeric_limits<float>::quiet_NaN();
    }
    rows.push_back({"nan", nan});
    std::vector<float> plus_inf = random_floats(un, seed + 5);
    plus_inf[un / 2] = INFINITY;
    rows.push_back({"plus_inf", plus_inf});
    rows.push_back({"all_minus_inf", std::vector<float>(un, -INFINITY)});
    rows.push_back({"all_equal", std::vector<float>(un, 1.5f)});
    return rows;
}

// The first k ids of a full sort: larger first (-0.0 == 0.0), ties to the lower id, NaN after every number.
inline std::vector<int32_t> sorted_top_ids(const std::vector<float>& x, int k) {
    std::vector<int32_t> ids(x.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
        const bool a_nan = std::isnan(x[static_cast<size_t>(a)]), b_nan = std::isnan(x[static_cast<size_t>(b)]);
        if (a_nan != b_nan) return b_nan;
        return !a_nan && x[static_cast<size_t>(a)] > x[static_cast<size_t>(b)];
    });
    ids.resize(static_cast<size_t>(k));
    return ids;
}

// log(sum exp(x)) in long double: NaN with a NaN, +inf with +inf, -inf when every entry is -inf.
inline double reference_lse(const std::vector<float>& x) {
    bool nan = false, pos_inf = false;
    long double max = -INFINITY;
    for (float v : x) {
        nan = nan || std::isnan(v);
        pos_inf = pos_inf || v == INFINITY;
        if (!std::isnan(v)) max = std::max<long double>(max, v);
    }
    if (nan) return std::numeric_limits<double>::quiet_NaN();
    if (pos_inf) return INFINITY;
    if (max == -INFINITY) return -INFINITY;
    long double sum = 0;
    for (float v : x) sum += std::exp(static_cast<long double>(v) - max);
    return static_cast<double>(max + std::log(sum));
}

// Checks one row's output against the oracle: the same ids, each value the row's entry bit for bit, and the
// log-sum-exp within float64 rounding of a sum over the row.
inline void expect_top_k(const std::vector<float>& x, int k, const float* values, const int32_t* ids, double lse,
                         const std::string& what) {
    const std::vector<int32_t> expected = sorted_top_ids(x, k);
    for (int j = 0; j < k; ++j) {
        ASSERT_EQ(ids[j], expected[static_cast<size_t>(j)]) << what << ": rank " << j;
        ASSERT_EQ(std::memcmp(&values[j], &x[static_cast<size_t>(ids[j])], sizeof(float)), 0)
            << what << ": rank " << j << " value " << values[j] << " is not x[" << ids[j] << "]";
    }
    const double want = reference_lse(x);
    if (std::isnan(want) || std::isinf(want)) {
        EXPECT_TRUE(std::isnan(want) ? std::isnan(lse) : lse == want) << what << ": lse " << lse << ", want " << want;
    } else {
        EXPECT_NEAR(lse, want, 1e-12 * std::max(1.0, std::fabs(want))) << what;
    }
}

}  // namespace spool::testing
