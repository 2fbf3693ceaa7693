// launch_top_k against a full sort of each row (tests/top_k_oracle.h), at odd sizes, every k up to kMaxTopK
// on small rows, and rows with ties, signed zeros, -inf, NaN and +inf; several rows per launch; both the split
// (multi-block) form and the single-block one, and through CudaBackend in graph-replayed steps. Skips where no
// GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/backend_cuda.h"
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

// split: with the workspace launch_top_k asks for (the multi-block form where the shape has one); otherwise
// without any (the single-block form).
TopKResult run_top_k(const std::vector<float>& x, int64_t n_rows, int64_t n, int k, bool with_lse, bool split = true) {
    DeviceVector<float> d_x(x);
    DeviceVector<float> d_values(static_cast<size_t>(n_rows * k));
    DeviceVector<int32_t> d_ids(static_cast<size_t>(n_rows * k));
    DeviceVector<double> d_lse(static_cast<size_t>(n_rows));
    const size_t ws_bytes = split ? top_k_workspace_bytes(n_rows, n, k) : 0;
    DeviceVector<unsigned char> d_ws(ws_bytes > 0 ? ws_bytes : 1);
    launch_top_k(d_x.data(), n_rows, n, k, d_values.data(), d_ids.data(), with_lse ? d_lse.data() : nullptr,
                 ws_bytes > 0 ? d_ws.data() : nullptr, ws_bytes, nullptr);
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
                for (const bool split : {true, false}) {
                    const TopKResult r = run_top_k(row.x, 1, n, k, true, split);
                    testing::expect_top_k(row.x, k, r.values.data(), r.ids.data(), r.lse[0],
                                          "n=" + std::to_string(n) + " k=" + std::to_string(k) + " " + row.kind +
                                              (split ? " split" : " single block"));
                    if (HasFatalFailure()) return;
                }
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

// The split form cuts rows into slices of 2048, 4096 or 8192 entries (fewer, longer slices for larger k): rows
// of one slice, a slice and one entry, many slices with a short last one, on several rows at once.
TEST(CudaTopK, SplitRowsAcrossSliceBoundaries) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 1000;
    for (const int64_t n : {2, 255, 256, 257, 2047, 2048, 2049, 4096, 4097, 8193, 40961, 81921, 100000}) {
        for (const int k : {1, 7, 40, 129, 256}) {
            if (k > n) continue;
            constexpr int64_t n_rows = 2;
            std::vector<float> x = testing::random_floats(static_cast<size_t>(n * n_rows), seed += 3);
            for (size_t i = 0; i < x.size(); i += 3) x[i] = std::round(x[i] * 3.0f);  // ties between slices
            const TopKResult r = run_top_k(x, n_rows, n, k, true);
            for (int64_t row = 0; row < n_rows; ++row) {
                const std::vector<float> xr(x.begin() + row * n, x.begin() + (row + 1) * n);
                testing::expect_top_k(xr, k, r.values.data() + row * k, r.ids.data() + row * k,
                                      r.lse[static_cast<size_t>(row)],
                                      "n=" + std::to_string(n) + " k=" + std::to_string(k) + " row " +
                                          std::to_string(row));
                if (HasFatalFailure()) return;
            }
        }
    }
}

TEST(CudaTopK, RowOfOneEntry) {
    SPOOL_REQUIRE_GPU();
    for (const float v : {-3.5f, 0.0f, -INFINITY, INFINITY, NAN}) {
        for (const bool split : {true, false}) {
            const std::vector<float> x = {v};
            const TopKResult r = run_top_k(x, 1, 1, 1, true, split);
            testing::expect_top_k(x, 1, r.values.data(), r.ids.data(), r.lse[0], "x=" + std::to_string(v));
            if (HasFatalFailure()) return;
        }
    }
}

// The k-th largest value repeated in every slice, and ties right at slice edges: the lowest ids must win across
// slices, and each slice must keep its own lowest ones.
TEST(CudaTopK, TiesSplitAcrossSlices) {
    SPOOL_REQUIRE_GPU();
    for (const int64_t n : {32000, 151936}) {
        std::vector<float> x = testing::random_floats(static_cast<size_t>(n), 17, 1.0f, -10.0f);
        for (int64_t i = 0; i < n; i += 1000) x[static_cast<size_t>(i)] = 1.0f;  // in every slice
        for (int64_t edge = 2048; edge < n; edge += 2048) {  // both sides of every 2048 (and 4096, 8192) edge
            x[static_cast<size_t>(edge - 1)] = 1.0f;
            x[static_cast<size_t>(edge)] = 1.0f;
        }
        for (int64_t i = 777; i < n; i += 30011) x[static_cast<size_t>(i)] = 5.0f;  // a few above them
        for (const int k : {1, 3, 5, 6, 40, 100, 256}) {
            const TopKResult r = run_top_k(x, 1, n, k, true);
            testing::expect_top_k(x, k, r.values.data(), r.ids.data(), r.lse[0],
                                  "n=" + std::to_string(n) + " k=" + std::to_string(k));
            if (HasFatalFailure()) return;
        }
        // Every entry equal: the first k ids, whatever the slices.
        const std::vector<float> flat(static_cast<size_t>(n), -2.0f);
        const TopKResult r = run_top_k(flat, 1, n, kMaxTopK, true);
        testing::expect_top_k(flat, kMaxTopK, r.values.data(), r.ids.data(), r.lse[0], "flat n=" + std::to_string(n));
        if (HasFatalFailure()) return;
    }
}

// A row too long for the split form's merge (n_slices * k over its capacity) needs no workspace and still works.
TEST(CudaTopK, RowsTooLongToSplitNeedNoWorkspace) {
    SPOOL_REQUIRE_GPU();
    constexpr int64_t n = 400000;
    EXPECT_EQ(top_k_workspace_bytes(1, n, kMaxTopK), 0u);
    EXPECT_GT(top_k_workspace_bytes(1, n, 40), 0u);
    EXPECT_GT(top_k_workspace_bytes(1, 151936, kMaxTopK), 0u);
    const std::vector<float> x = testing::random_floats(static_cast<size_t>(n), 23);
    for (const int k : {40, kMaxTopK}) {
        const TopKResult r = run_top_k(x, 1, n, k, true);
        testing::expect_top_k(x, k, r.values.data(), r.ids.data(), r.lse[0], "k=" + std::to_string(k));
        if (HasFatalFailure()) return;
    }
}

// Through CudaBackend, which sizes and keeps the workspace: two k per decode step (the second grows the workspace
// while the step is recorded), on rows of growing and shrinking length, captured once and replayed as a graph with
// new logits each step.
TEST(CudaTopK, ThroughTheBackendInDecodeSteps) {
    SPOOL_REQUIRE_GPU();
    const std::unique_ptr<Backend> backend = make_cuda_backend({});
    constexpr int kKs[2] = {40, kMaxTopK};
    for (const int64_t n : {1000, 151936, 32000}) {
        const size_t bytes = static_cast<size_t>(n) * sizeof(float);
        Buffer d_x = backend->allocate(bytes);
        Buffer d_values[2] = {backend->allocate(kMaxTopK * sizeof(float)), backend->allocate(kMaxTopK * sizeof(float))};
        Buffer d_ids[2] = {backend->allocate(kMaxTopK * sizeof(int32_t)),
                           backend->allocate(kMaxTopK * sizeof(int32_t))};
        Buffer d_lse[2] = {backend->allocate(sizeof(double)), backend->allocate(sizeof(double))};
        for (int step = 0; step < 4; ++step) {
            std::vector<float> x = testing::random_floats(static_cast<size_t>(n), 41 + static_cast<uint64_t>(step));
            for (size_t i = 0; i < x.size(); i += 5) x[i] = std::round(x[i]);  // ties across slices
            backend->upload(d_x.data(), x.data(), bytes);
            const bool in_step = step > 0;  // step 0 runs the launches directly
            if (in_step) backend->begin_step({});
            for (int j = 0; j < 2; ++j) {
                backend->top_k(d_x.as<float>(), 1, n, kKs[j], d_values[j].as<float>(), d_ids[j].as<int32_t>(),
                               d_lse[j].as<double>());
            }
            if (in_step) backend->end_step();
            for (int j = 0; j < 2; ++j) {
                const int k = kKs[j];
                std::vector<float> values(static_cast<size_t>(k));
                std::vector<int32_t> ids(static_cast<size_t>(k));
                double lse = 0;
                backend->download(values.data(), d_values[j].data(), values.size() * sizeof(float));
                backend->download(ids.data(), d_ids[j].data(), ids.size() * sizeof(int32_t));
                backend->download(&lse, d_lse[j].data(), sizeof lse);
                testing::expect_top_k(x, k, values.data(), ids.data(), lse,
                                      "n=" + std::to_string(n) + " step " + std::to_string(step) + " k=" +
                                          std::to_string(k));
                if (HasFatalFailure()) return;
            }
        }
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
        DeviceVector<unsigned char> d_ws(top_k_workspace_bytes(1, n, kMaxTopK) + top_k_workspace_bytes(1, n, 40) + 1);
        std::vector<float> host_row(static_cast<size_t>(n));
        cudaEvent_t start, stop;
        SPOOL_CUDA_CHECK(cudaEventCreate(&start));
        SPOOL_CUDA_CHECK(cudaEventCreate(&stop));
        for (const bool split : {true, false}) {  // the split form, then the single-block one without workspace
            void* ws = split ? d_ws.data() : nullptr;
            const size_t ws_bytes = split ? d_ws.size() : 0;
            for (const int k : {40, 256}) {
                launch_top_k(d_x.data(), 1, n, k, d_values.data(), d_ids.data(), d_lse.data(), ws, ws_bytes,
                             nullptr);  // warm-up
                SPOOL_CUDA_CHECK(cudaEventRecord(start));
                for (int i = 0; i < kReps; ++i) {
                    launch_top_k(d_x.data(), 1, n, k, d_values.data(), d_ids.data(), d_lse.data(), ws, ws_bytes,
                                 nullptr);
                }
                SPOOL_CUDA_CHECK(cudaEventRecord(stop));
                SPOOL_CUDA_CHECK(cudaEventSynchronize(stop));
                float ms = 0;
                SPOOL_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
                std::printf("top_k n=%lld k=%d %s: %.2f us per row (kernels only)\n", static_cast<long long>(n), k,
                            split ? "split" : "single block", 1000.0 * ms / kReps);
            }
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
