// Bandwidth of launch_matvec (disabled; run with --gtest_also_run_disabled_tests --gtest_filter='*Bench*'): per
// weight type, shape and token count, the median of 50 event-timed launches, as GB/s of weight bytes and as a
// fraction of the DRAM traffic rate of a device-to-device cudaMemcpy measured in the same run; and the time per
// launch inside a replayed CUDA graph of 20 launches (how the backend runs decode: no launch gaps). Environment:
// SPOOL_MATVEC_BENCH_TYPES (e.g. Q4_K,Q6_K) and SPOOL_MATVEC_BENCH_SHAPES (e.g. 8448x4096,12672x4096: a sweep of
// row counts shows where a launch's waves end) narrow the table.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "backend/cuda/kernels/bench_test_support.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/weight_test_support.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;

constexpr int kWarmup = 5;
constexpr int kTimed = 50;
constexpr int kGraphLaunches = 20;

TEST(CudaMatvecBench, DISABLED_Bandwidth) {
    SPOOL_REQUIRE_GPU();
    DeviceVector<uint8_t> pool(gpu_test::random_bytes(gpu_test::kBenchPoolBytes, 42));
    cudaStream_t stream;
    SPOOL_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    const double copy_gbps = gpu_test::copy_bandwidth_gbps(pool, stream);
    std::printf("device-to-device cudaMemcpy: %.0f GB/s (bytes read + written)\n", copy_gbps);

    const std::vector<gpu_test::Shape> shapes = gpu_test::bench_shapes("SPOOL_MATVEC_BENCH_SHAPES", {
        {4096, 4096},  {11008, 4096}, {4096, 11008},  // llama 7B: attention, ffn up/gate, ffn down
        {2048, 2048},  {256, 2048},   {5632, 2048}, {2048, 5632},  // TinyLlama: q/o, k/v, ffn up/gate, ffn down
        {32000, 2048}, {32000, 4096},                              // output heads
    });
    int64_t max_rows = 0, max_cols = 0;
    for (const gpu_test::Shape& shape : shapes) {
        max_rows = std::max(max_rows, shape.n_rows);
        max_cols = std::max(max_cols, shape.n_cols);
    }
    const DeviceVector<float> x(testing::random_floats(static_cast<size_t>(kMatvecMaxTokens * max_cols), 7));
    DeviceVector<float> y(static_cast<size_t>(kMatvecMaxTokens * max_rows));

    std::printf("%-12s %13s %3s %4s %10s %9s %7s %10s %9s %7s\n", "type", "rows x cols", "nt", "x", "us", "GB/s",
                "of copy", "graph us", "GB/s", "of copy");
    for (const gpu_test::WeightFormat& format : gpu_test::weight_formats()) {
        const GgmlType type = format.type;
        if (!gpu_test::bench_selects("SPOOL_MATVEC_BENCH_TYPES", type)) continue;  // e.g. Q4_K,Q6_K
        for (const gpu_test::Shape& shape : shapes) {
            if (format.layout == WeightLayout::grouped && !groups_weight_rows(type, shape.n_cols)) continue;
            gpu_test::RotatingWeights weights(pool, type, shape.n_rows, shape.n_cols, format.layout);
            const size_t matrix_bytes = weights.matrix_bytes();
            const bool quantized = type != GgmlType::F32 && type != GgmlType::F16 && type != GgmlType::BF16;
            for (int64_t n_tokens : {1, 2, 4, 8}) {
              for (ActivationPrecision precision : {ActivationPrecision::float32, ActivationPrecision::int8}) {
                if (precision == ActivationPrecision::int8 && (!quantized || n_tokens > kMatvecInt8MaxTokens)) continue;
                auto launch = [&](cudaStream_t s) {
                    launch_matvec(weights.next(), x.data(), n_tokens, nullptr, y.data(), s, precision);
                };
                const double ms = gpu_test::time_launches(launch, stream, kWarmup, kTimed);
                const double gbps = static_cast<double>(matrix_bytes) / (ms * 1e-3) / 1e9;
                const double graph_ms = gpu_test::time_in_graph(launch, stream, kGraphLaunches);
                const double graph_gbps = static_cast<double>(matrix_bytes) / (graph_ms * 1e-3) / 1e9;
                std::printf("%-12s %6lldx%-6lld %3lld %4s %10.2f %9.0f %6.0f%% %10.2f %9.0f %6.0f%%\n",
                            gpu_test::format_name(format).c_str(), static_cast<long long>(shape.n_rows),
                            static_cast<long long>(shape.n_cols), static_cast<long long>(n_tokens),
                            precision == ActivationPrecision::int8 ? "i8" : "f32", ms * 1e3, gbps,
                            100.0 * gbps / copy_gbps, graph_ms * 1e3, graph_gbps, 100.0 * graph_gbps / copy_gbps);
              }
            }
        }
    }
    SPOOL_CUDA_CHECK(cudaStreamDestroy(stream));
}

}  // namespace
}  // namespace spool::cuda
