// launch_top_k against a full sort of each row (tests/top_k_oracle.h), at odd sizes, every k up to kMaxTopK
// on small rows, and rows with ties, signed zeros, -inf, NaN and +inf; several rows per launch. Skips where no
// GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "backend/cuda/cuda_test_support.h"
#include "backend/cuda/kernels/launch.h"
#include "top_k_oracle.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;

struct TopKResult {
    std::vector<float> values;
    std::vector<int32_t> ids;
    std::vector<double> lse;
};

TopKResult run_top_k(const std::vector<float>& x, int64_t n_rows, int64_t n, int k, bool with_lse) {
    DeviceVector<float> d_x(x);
    DeviceVector<float> d_values(static_cast<size_t>(n_rows * k));
    DeviceVector<int32_t> d_ids(static_cast<size_t>(n_rows * k));
    DeviceVector<double> d_lse(static_cast<size_t>(n_rows));
    launch_top_k(d_x.data(), n_rows, n, k, d_values.data(), d_ids.data(), with_lse ? d_lse.data() : nullptr, nullptr);
    SPOOL_CUDA_CHECK(cudaDeviceSynchronize());
    return {d_values.download(), d_ids.download(), d_lse.download()};
}

TEST(CudaTopK, MatchesAFullSort) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 7;
    for (const int64_t n : {1, 7, 33, 1000, 4099, 32000, 151936}) {
        for (const testing::TopKRow& row : testing::top_k_rows(n, seed += 10)) {
            for (const int k : {1, 2, 3, 40, 64, 100, 255, 256}) {
                if (k > n) continue;
                const TopKResult r = run_top_k(row.x, 1, n, k, true);
                testing::expect_top_k(row.x, k, r.values.data(), r.ids.data(), r.lse[0],
                                      "n=" + std::to_string(n) + " k=" + std::to_string(k) + " " + row.kind);
                if (HasFatalFailure()) return;
            }
        }
    }
}

TEST(CudaTopK, EveryKOnSeveralRows) {
    SPOOL_REQUIRE_GPU();
    constexpr int64_t n = 301, n_rows = 3;
    const std::vector<float> plain = testing::random_floats(static_cast<size_t>(n * n_rows), 99);
    std::vector<float> coarse = plain;
    for (float& v : coarse) v = std::round(v * 4.0f);  // ties at every rank
    for (const std::vector<float>* x : std::vector<const std::vector<float>*>{&plain, &coarse}) {
        for (int k = 1; k <= kMaxTopK; ++k) {
            const TopKResult r = run_top_k(*x, n_rows, n, k, k % 2 == 0);
            for (int64_t row = 0; row < n_rows; ++row) {
                const std::vector<float> xr(x->begin() + row * n, x->begin() + (row + 1) * n);
                const double lse = k % 2 == 0 ? r.lse[static_cast<size_t>(row)] : testing::reference_lse(xr);
                testing::expect_top_k(xr, k, r.values.data() + row * k, r.ids.data() + row * k, lse,
                                      "row " + std::to_string(row) + " k=" + std::to_string(k));
                if (HasFatalFailure()) return;
            }
        }
    }
}

// Many entries equal to the k-th largest, spread over the row: the lowest ids among them must be chosen.
TEST(CudaTopK, TiesAtTheBoundaryGoToTheLowestIds) {
    SPOOL_REQUIRE_GPU();
    constexpr int64_t n = 151936;
    std::vector<float> x = testing::random_floats(static_cast<size_t>(n), 5, 1.0f, -10.0f);
    for (int64_t i = 0; i < n; i += 97) x[static_cast<size_t>(i)] = 2.0f;  // about 1566 ties
    for (int64_t i = 50; i < n; i += 5003) x[static_cast<size_t>(i)] = 3.0f;  // a few above them
    for (const int k : {1, 10, 31, 32, 33, 200, 256}) {
        const TopKResult r = run_top_k(x, 1, n, k, true);
        testing::expect_top_k(x, k, r.values.data(), r.ids.data(), r.lse[0], "k=" + std::to_string(k));
        if (HasFatalFailure()) return;
    }
}

// Not a test: the time of one top-k (with the log-sum-exp) next to copying the whole row to the host, which is
// what it replaces. Run with --gtest_also_run_disabled_tests --gtest_filter='*Bench*'.
TEST(CudaTopK, DISABLED_BenchAgainstRowCopy) {
    SPOOL_REQUIRE_GPU();
    constexpr int kReps = 50;
    for (const int64_t n : {32000, 151936}) {
        const std::vector<float> x = testing::random_floats(static_cast<size_t>(n), 3, 3.0f);
        DeviceVector<float> d_x(x), d_values(kMaxTopK);
        DeviceVector<int32_t> d_ids(kMaxTopK);
        DeviceVector<double> d_lse(1);
        std::vector<float> host_row(static_cast<size_t>(n));
        cudaEvent_t start, stop;
        SPOOL_CUDA_CHECK(cudaEventCreate(&start));
        SPOOL_CUDA_CHECK(cudaEventCreate(&stop));
        for (const int k : {40, 256}) {
            launch_top_k(d_x.data(), 1, n, k, d_values.data(), d_ids.data(), d_lse.data(), nullptr);  // warm-up
            SPOOL_CUDA_CHECK(cudaEventRecord(start));
            for (int i = 0; i < kReps; ++i) {
                launch_top_k(d_x.data(), 1, n, k, d_values.data(), d_ids.data(), d_lse.data(), nullptr);
            }
            SPOOL_CUDA_CHECK(cudaEventRecord(stop));
            SPOOL_CUDA_CHECK(cudaEventSynchronize(stop));
            float ms = 0;
            SPOOL_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
            std::printf("top_k n=%lld k=%d: %.2f us per row (kernel only)\n", static_cast<long long>(n), k,
                        1000.0 * ms / kReps);
        }
        SPOOL_CUDA_CHECK(cudaEventRecord(start));
        for (int i = 0; i < kReps; ++i) {
            SPOOL_CUDA_CHECK(cudaMemcpy(host_row.data(), d_x.data(), host_row.size() * sizeof(float),
                                        cudaMemcpyDeviceToHost));
        }
        SPOOL_CUDA_CHECK(cudaEventRecord(stop));
        SPOOL_CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0;
        SPOOL_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        std::printf("row copy n=%lld: %.2f us per row (pageable host memory, as Session's download)\n",
                    static_cast<long long>(n), 1000.0 * ms / kReps);
        cudaEventDestroy(start);
        cudaEventDestroy(stop);
    }
}

}  // namespace
}  // namespace spool::cuda
