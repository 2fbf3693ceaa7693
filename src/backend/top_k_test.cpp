// Backend::top_k on the host backends (cpu and ref share HostBackend's) against a full sort of the row, at odd
// sizes and every k up to kMaxTopK, on rows with ties, signed zeros, -inf, NaN and +inf; several rows at once.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/backend_cpu.h"
#include "backend/ref/backend_ref.h"
#include "top_k_oracle.h"

namespace spool {
namespace {

std::vector<std::unique_ptr<Backend>> host_backends() {
    std::vector<std::unique_ptr<Backend>> out;
    out.push_back(std::make_unique<RefBackend>());
    out.push_back(std::make_unique<CpuBackend>());
    return out;
}

TEST(HostTopK, MatchesAFullSort) {
    for (const auto& backend : host_backends()) {
        uint64_t seed = 7;
        for (const int64_t n : {1, 7, 1000, 32000, 151936}) {
            for (const testing::TopKRow& row : testing::top_k_rows(n, seed += 10)) {
                for (const int k : {1, 2, 40, 255, 256}) {
                    if (k > n) continue;
                    std::vector<float> values(static_cast<size_t>(k));
                    std::vector<int32_t> ids(static_cast<size_t>(k));
                    double lse = 0;
                    backend->top_k(row.x.data(), 1, n, k, values.data(), ids.data(), &lse);
                    testing::expect_top_k(row.x, k, values.data(), ids.data(), lse,
                                          backend->name() + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                                              " " + row.kind);
                    if (HasFatalFailure()) return;
                }
            }
        }
    }
}

TEST(HostTopK, EveryKOnSeveralRowsWithoutLse) {
    constexpr int64_t n = 301, n_rows = 3;
    const std::vector<float> rows = testing::random_floats(static_cast<size_t>(n * n_rows), 99);
    std::vector<float> coarse = rows;
    for (float& v : coarse) v = std::round(v * 4.0f);  // ties at every rank
    for (const auto& backend : host_backends()) {
        for (const std::vector<float>* x : std::vector<const std::vector<float>*>{&rows, &coarse}) {
            for (int k = 1; k <= kMaxTopK; ++k) {
                std::vector<float> values(static_cast<size_t>(n_rows * k));
                std::vector<int32_t> ids(static_cast<size_t>(n_rows * k));
                backend->top_k(x->data(), n_rows, n, k, values.data(), ids.data(), nullptr);
                for (int64_t r = 0; r < n_rows; ++r) {
                    const std::vector<float> row(x->begin() + r * n, x->begin() + (r + 1) * n);
                    testing::expect_top_k(row, k, values.data() + r * k, ids.data() + r * k,
                                          testing::reference_lse(row),
                                          backend->name() + " row " + std::to_string(r) + " k=" + std::to_string(k));
                    if (::testing::Test::HasFatalFailure()) return;
                }
            }
        }
    }
}

}  // namespace
}  // namespace spool
