// Time of launch_matmul_tc by token count (disabled; run with --gtest_also_run_disabled_tests
// --gtest_filter='*MatmulTcBench*'): per quantized type, Llama-2-7B and TinyLlama matrix shape and 1 to 64 tokens,
// the median of event-timed launches (the column slices' sum included, x packed beforehand as PrefillGemm packs it
// once per weight type), as GB/s of weight bytes and as a fraction of the copy bandwidth measured in the same run.
// Beside it, for up to kMatvecMaxTokens tokens, launch_matvec at its fastest precision on the same weights: the path
// those token counts take now, so the table says where the tensor-core kernel would pay. The weights rotate through a
// pool larger than L2, so every launch reads DRAM as a prefill does.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "backend/cuda/device_info.h"
#include "backend/cuda/kernels/bench_test_support.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/weight_test_support.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;

constexpr int kWarmup = 3;
constexpr int kTimed = 20;

TEST(CudaMatmulTcBench, DISABLED_ByTokens) {
    SPOOL_REQUIRE_GPU();
    if (!prepare_matmul_tc()) GTEST_SKIP() << "launch_matmul_tc's kernels were built for a GPU older than sm_80";
    DeviceVector<uint8_t> pool(gpu_test::random_bytes(gpu_test::kBenchPoolBytes, 42));
    cudaStream_t stream;
    SPOOL_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    const double copy_gbps = gpu_test::copy_bandwidth_gbps(pool, stream);
    const int sm_count = current_device_sm_count();
    std::printf("device-to-device cudaMemcpy: %.0f GB/s (bytes read + written); %d SMs\n", copy_gbps, sm_count);

    const gpu_test::Shape shapes[] = {
        {4096, 4096}, {11008, 4096}, {4096, 11008},               // llama 7B: attention, ffn up/gate, ffn down
        {2048, 2048}, {256, 2048},   {5632, 2048}, {2048, 5632},  // TinyLlama: q/o, k/v, ffn up/gate, ffn down
    };
    constexpr int64_t kMaxTokens = 64;
    constexpr int64_t kMaxCols = 11008, kMaxRows = 11008;
    const DeviceVector<float> x(testing::random_floats(static_cast<size_t>(kMaxTokens * kMaxCols), 7));
    DeviceVector<uint8_t> x_packed(matmul_tc_x_bytes(kMaxTokens, kMaxCols));
    DeviceVector<float> y(static_cast<size_t>(kMaxTokens * kMaxRows));

    std::printf("%-5s %13s %3s %10s %9s %7s %12s %9s %7s\n", "type", "rows x cols", "n", "tc us", "GB/s", "of copy",
                "matvec us", "GB/s", "tc/mv");
    for (GgmlType type : gpu_test::weight_types()) {
        if (type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16) continue;
        if (!gpu_test::bench_selects("SPOOL_MATMUL_TC_BENCH_TYPES", type)) continue;  // e.g. Q4_K,Q6_K
        for (const gpu_test::Shape& shape : shapes) {
            gpu_test::RotatingWeights weights(pool, type, shape.n_rows, shape.n_cols);
            const size_t matrix_bytes = weights.matrix_bytes();
            for (int64_t n_tokens : {1, 2, 4, 8, 9, 16, 32, 64}) {
                const WeightView probe = weights.next();
                const size_t ws_bytes = matmul_tc_workspace_bytes(probe, n_tokens, sm_count);
                DeviceVector<uint8_t> workspace(ws_bytes);
                launch_pack_x_tc(type, x.data(), n_tokens, shape.n_cols, x_packed.data(), stream);
                const double tc_ms = gpu_test::time_launches(
                    [&](cudaStream_t s) {
                        launch_matmul_tc(weights.next(), x_packed.data(), n_tokens, y.data(), false, workspace.data(),
                                         ws_bytes, sm_count, s);
                    },
                    stream, kWarmup, kTimed);
                const double tc_gbps = static_cast<double>(matrix_bytes) / (tc_ms * 1e-3) / 1e9;
                std::printf("%-5s %6lldx%-6lld %3lld %10.2f %9.0f %6.0f%%", std::string(type_name(type)).c_str(),
                            static_cast<long long>(shape.n_rows), static_cast<long long>(shape.n_cols),
                            static_cast<long long>(n_tokens), tc_ms * 1e3, tc_gbps, 100.0 * tc_gbps / copy_gbps);
                if (n_tokens <= kMatvecMaxTokens) {
                    const ActivationPrecision precision =
                        fastest_matvec_precision(type, n_tokens, shape.n_rows, shape.n_cols);
                    const double mv_ms = gpu_test::time_launches(
                        [&](cudaStream_t s) {
                            launch_matvec(weights.next(), x.data(), n_tokens, nullptr, y.data(), s, precision);
                        },
                        stream, kWarmup, kTimed);
                    std::printf(" %12.2f %9.0f %7.2f", mv_ms * 1e3,
                                static_cast<double>(matrix_bytes) / (mv_ms * 1e-3) / 1e9, tc_ms / mv_ms);
                }
                std::printf("\n");
            }
        }
    }
    SPOOL_CUDA_CHECK(cudaStreamDestroy(stream));
}

}  // namespace
}  // namespace spool::cuda
