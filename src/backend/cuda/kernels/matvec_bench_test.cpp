// Bandwidth of launch_matvec (disabled; run with --gtest_also_run_disabled_tests --gtest_filter='*Bench*'): per
// weight type, shape and token count, the median of 50 event-timed launches, as GB/s of weight bytes and as a
// fraction of the DRAM traffic rate of a device-to-device cudaMemcpy measured in the same run; and the time per
// launch inside a replayed CUDA graph of 20 launches (how the backend runs decode: no launch gaps).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/weight_test_support.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;

constexpr int kWarmup = 5;
constexpr int kTimed = 50;
constexpr int kGraphLaunches = 20;
// Weight copies rotate through this much memory (> the H100's 50 MB L2 many times over), so timed launches read
// DRAM, not L2 lines left by the previous launch.
constexpr size_t kPoolBytes = size_t{768} << 20;

class Events {
public:
    explicit Events(size_t n) : events_(n) {
        for (cudaEvent_t& e : events_) SPOOL_CUDA_CHECK(cudaEventCreate(&e));
    }
    ~Events() {
        for (cudaEvent_t e : events_) cudaEventDestroy(e);
    }
    Events(const Events&) = delete;
    Events& operator=(const Events&) = delete;
    cudaEvent_t operator[](size_t i) const { return events_[i]; }

private:
    std::vector<cudaEvent_t> events_;
};

// Median of the times between events 2i and 2i + 1, in milliseconds.
float median_ms(const Events& events, int n) {
    std::vector<float> ms(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        SPOOL_CUDA_CHECK(cudaEventElapsedTime(&ms[static_cast<size_t>(i)], events[2 * static_cast<size_t>(i)],
                                              events[2 * static_cast<size_t>(i) + 1]));
    }
    std::nth_element(ms.begin(), ms.begin() + n / 2, ms.end());
    return ms[static_cast<size_t>(n / 2)];
}

// Random bytes (splitmix64): the kernels' cost does not depend on the values, and random scales never hide work.
std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
    std::vector<uint8_t> out(n);
    uint64_t state = seed;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        std::memcpy(out.data() + i, &z, 8);
    }
    return out;
}

TEST(CudaMatvecBench, DISABLED_Bandwidth) {
    SPOOL_REQUIRE_GPU();
    DeviceVector<uint8_t> pool(random_bytes(kPoolBytes, 42));
    Events events(2 * kTimed);

    // Device-to-device copy of half the pool into the other half: bytes read + written per second.
    const size_t copy_bytes = kPoolBytes / 2;
    for (int i = 0; i < kWarmup; ++i) {
        SPOOL_CUDA_CHECK(cudaMemcpyAsync(pool.data() + copy_bytes, pool.data(), copy_bytes, cudaMemcpyDeviceToDevice));
    }
    for (int i = 0; i < 10; ++i) {
        SPOOL_CUDA_CHECK(cudaEventRecord(events[2 * static_cast<size_t>(i)]));
        SPOOL_CUDA_CHECK(cudaMemcpyAsync(pool.data() + copy_bytes, pool.data(), copy_bytes, cudaMemcpyDeviceToDevice));
        SPOOL_CUDA_CHECK(cudaEventRecord(events[2 * static_cast<size_t>(i) + 1]));
    }
    SPOOL_CUDA_CHECK(cudaDeviceSynchronize());
    const double copy_gbps = 2.0 * static_cast<double>(copy_bytes) / (median_ms(events, 10) * 1e-3) / 1e9;
    std::printf("device-to-device cudaMemcpy: %.0f GB/s (bytes read + written)\n", copy_gbps);
    pool.upload(random_bytes(kPoolBytes, 43));

    const gpu_test::Shape shapes[] = {
        {4096, 4096},  {11008, 4096}, {4096, 11008},  // llama 7B: attention, ffn up/gate, ffn down
        {2048, 2048},  {256, 2048},   {5632, 2048}, {2048, 5632},  // TinyLlama: q/o, k/v, ffn up/gate, ffn down
        {32000, 2048}, {32000, 4096},                              // output heads
    };
    const DeviceVector<float> x(testing::random_floats(static_cast<size_t>(kMatvecMaxTokens * 11008), 7));
    DeviceVector<float> y(static_cast<size_t>(kMatvecMaxTokens * 32000));

    cudaStream_t stream;
    SPOOL_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    std::printf("%-5s %13s %3s %4s %10s %9s %7s %10s %9s %7s\n", "type", "rows x cols", "nt", "x", "us", "GB/s", "of copy",
                "graph us", "GB/s", "of copy");
    // SPOOL_MATVEC_BENCH_TYPES=Q4_K,Q6_K limits the table to those types (for profiling one kernel).
    const char* only = std::getenv("SPOOL_MATVEC_BENCH_TYPES");
    for (GgmlType type : gpu_test::weight_types()) {
        if (only != nullptr && std::string(only).find(std::string(type_name(type))) == std::string::npos) continue;
        for (const gpu_test::Shape& shape : shapes) {
            const size_t rb = row_bytes(type, shape.n_cols);
            const size_t matrix_bytes = rb * static_cast<size_t>(shape.n_rows);
            const size_t stride = (matrix_bytes + 255) / 256 * 256;
            const size_t copies = std::max<size_t>(1, kPoolBytes / stride);
            const bool quantized = type != GgmlType::F32 && type != GgmlType::F16 && type != GgmlType::BF16;
            for (int64_t n_tokens : {1, 2, 4, 8}) {
              for (ActivationPrecision precision : {ActivationPrecision::float32, ActivationPrecision::int8}) {
                if (precision == ActivationPrecision::int8 && (!quantized || n_tokens > kMatvecInt8MaxTokens)) continue;
                size_t copy = 0;
                auto launch = [&](cudaStream_t s) {
                    WeightView w;
                    w.data = pool.data() + (copy++ % copies) * stride;
                    w.type = type;
                    w.n_cols = shape.n_cols;
                    w.n_rows = shape.n_rows;
                    w.row_bytes = rb;
                    launch_matvec(w, x.data(), n_tokens, nullptr, y.data(), s, precision);
                };
                for (int i = 0; i < kWarmup; ++i) launch(stream);
                for (int i = 0; i < kTimed; ++i) {
                    SPOOL_CUDA_CHECK(cudaEventRecord(events[2 * static_cast<size_t>(i)], stream));
                    launch(stream);
                    SPOOL_CUDA_CHECK(cudaEventRecord(events[2 * static_cast<size_t>(i) + 1], stream));
                }
                SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream));
                const double ms = median_ms(events, kTimed);
                const double gbps = static_cast<double>(matrix_bytes) / (ms * 1e-3) / 1e9;

                cudaGraph_t graph;
                cudaGraphExec_t exec;
                SPOOL_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
                for (int i = 0; i < kGraphLaunches; ++i) launch(stream);
                SPOOL_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
                SPOOL_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
                SPOOL_CUDA_CHECK(cudaGraphLaunch(exec, stream));  // warm-up
                for (int i = 0; i < 5; ++i) {
                    SPOOL_CUDA_CHECK(cudaEventRecord(events[2 * static_cast<size_t>(i)], stream));
                    SPOOL_CUDA_CHECK(cudaGraphLaunch(exec, stream));
                    SPOOL_CUDA_CHECK(cudaEventRecord(events[2 * static_cast<size_t>(i) + 1], stream));
                }
                SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream));
                const double graph_ms = median_ms(events, 5) / kGraphLaunches;
                SPOOL_CUDA_CHECK(cudaGraphExecDestroy(exec));
                SPOOL_CUDA_CHECK(cudaGraphDestroy(graph));
                const double graph_gbps = static_cast<double>(matrix_bytes) / (graph_ms * 1e-3) / 1e9;
                std::printf("%-5s %6lldx%-6lld %3lld %4s %10.2f %9.0f %6.0f%% %10.2f %9.0f %6.0f%%\n",
                            std::string(type_name(type)).c_str(), static_cast<long long>(shape.n_rows),
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
