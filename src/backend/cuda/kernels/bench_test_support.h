// Helpers for the disabled kernel benchmarks (matvec, matmul_tc, layer chain) and the PDL tests: a pool of random
// weight bytes larger than L2 and matrices rotating through it, so timed launches read DRAM; the copy bandwidth every
// figure is set against; the median event time of repeated launches, alone on a stream or replayed in a CUDA graph
// (how the backend runs decode); and a captured graph with its PDL edges made full dependencies.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_test_support.h"
#include "backend/cuda/kernels/weight_test_support.h"
#include "quant/types.h"

namespace spool::cuda::gpu_test {

// Weight copies rotate through this much memory (> the H100's 50 MB L2 many times over), so timed launches read
// DRAM, not L2 lines left by the previous launch.
inline constexpr size_t kBenchPoolBytes = size_t{768} << 20;

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
    size_t size() const noexcept { return events_.size(); }

private:
    std::vector<cudaEvent_t> events_;
};

// Median of the times between events 2i and 2i + 1, in milliseconds.
inline float median_ms(const Events& events, int n) {
    std::vector<float> ms(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        SPOOL_CUDA_CHECK(cudaEventElapsedTime(&ms[static_cast<size_t>(i)], events[2 * static_cast<size_t>(i)],
                                              events[2 * static_cast<size_t>(i) + 1]));
    }
    std::nth_element(ms.begin(), ms.begin() + n / 2, ms.end());
    return ms[static_cast<size_t>(n / 2)];
}

// Random bytes (splitmix64): the kernels' cost does not depend on the values, and random scales never hide work.
inline std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
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

// Median time of `timed` launches of launch(stream) after `warmup` untimed ones, each between its own events, in ms.
template <class Launch>
double time_launches(Launch&& launch, cudaStream_t stream, int warmup, int timed) {
    Events events(2 * static_cast<size_t>(timed));
    for (int i = 0; i < warmup; ++i) launch(stream);
    for (int i = 0; i < timed; ++i) {
        SPOOL_CUDA_CHECK(cudaEventRecord(events[2 * static_cast<size_t>(i)], stream));
        launch(stream);
        SPOOL_CUDA_CHECK(cudaEventRecord(events[2 * static_cast<size_t>(i) + 1], stream));
    }
    SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream));
    return median_ms(events, timed);
}

// Time per launch, in ms, of `per_graph` launches captured in one CUDA graph: the median of 5 replays, divided.
template <class Launch>
double time_in_graph(Launch&& launch, cudaStream_t stream, int per_graph) {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    SPOOL_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < per_graph; ++i) launch(stream);
    SPOOL_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    SPOOL_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    SPOOL_CUDA_CHECK(cudaGraphLaunch(exec, stream));  // warm-up
    const double ms = time_launches([&](cudaStream_t s) { SPOOL_CUDA_CHECK(cudaGraphLaunch(exec, s)); }, stream, 0, 5);
    SPOOL_CUDA_CHECK(cudaGraphExecDestroy(exec));
    SPOOL_CUDA_CHECK(cudaGraphDestroy(graph));
    return ms / per_graph;
}

// DRAM traffic rate of a device-to-device cudaMemcpy of half of `pool` into the other half (bytes read + written per
// second, GB/s), the best ceiling a kernel reading weights can be compared with; refills the pool with fresh random
// bytes afterwards.
inline double copy_bandwidth_gbps(DeviceVector<uint8_t>& pool, cudaStream_t stream) {
    const size_t half = pool.size() / 2;
    const double ms = time_launches(
        [&](cudaStream_t s) {
            SPOOL_CUDA_CHECK(cudaMemcpyAsync(pool.data() + half, pool.data(), half, cudaMemcpyDeviceToDevice, s));
        },
        stream, 5, 10);
    pool.upload(random_bytes(pool.size(), 43));
    return 2.0 * static_cast<double>(half) / (ms * 1e-3) / 1e9;
}

// Copies of one matrix laid out through a pool of random bytes (type, shape), handed out in turn: consecutive launches
// read DRAM, as a prefill or a decode step does, not the L2 lines of the launch before.
class RotatingWeights {
public:
    // Random pool bytes are as valid in one layout as in another: `layout` only picks the kernels that read them.
    RotatingWeights(const DeviceVector<uint8_t>& pool, GgmlType type, int64_t n_rows, int64_t n_cols,
                    WeightLayout layout = WeightLayout::blocks)
        : pool_(pool), type_(type), layout_(layout), n_rows_(n_rows), n_cols_(n_cols),
          row_bytes_(row_bytes(type, n_cols)),
          matrix_bytes_(row_bytes_ * static_cast<size_t>(n_rows)), stride_((matrix_bytes_ + 255) / 256 * 256),
          copies_(std::max<size_t>(1, pool.size() / stride_)) {}
    size_t matrix_bytes() const noexcept { return matrix_bytes_; }
    WeightView next() {
        WeightView w;
        w.data = pool_.data() + (copy_++ % copies_) * stride_;
        w.type = type_;
        w.n_cols = n_cols_;
        w.n_rows = n_rows_;
        w.row_bytes = row_bytes_;
        w.layout = layout_;
        return w;
    }

private:
    const DeviceVector<uint8_t>& pool_;
    GgmlType type_;
    WeightLayout layout_;
    int64_t n_rows_, n_cols_;
    size_t row_bytes_, matrix_bytes_, stride_, copies_;
    size_t copy_ = 0;
};

// Whether a benchmark covers `type`: every type unless the environment variable `env` lists some (for example
// Q4_K,Q6_K, to profile one kernel).
inline bool bench_selects(const char* env, GgmlType type) {
    const char* only = std::getenv(env);
    return only == nullptr || std::string(only).find(std::string(type_name(type))) != std::string::npos;
}

// The shapes named in environment variable `env` ("ROWSxCOLS,ROWSxCOLS,..."), or `defaults` where it is unset: a
// sweep of row counts shows where a launch's waves end. Throws on a malformed list.
inline std::vector<Shape> bench_shapes(const char* env, std::vector<Shape> defaults) {
    const char* list = std::getenv(env);
    if (list == nullptr) return defaults;
    std::vector<Shape> shapes;
    std::string rest(list);
    while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const std::string item = rest.substr(0, comma);
        rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
        long long rows = 0, cols = 0;
        char tail = 0;
        if (std::sscanf(item.c_str(), "%lldx%lld%c", &rows, &cols, &tail) != 2 || rows <= 0 || cols <= 0) {
            throw std::invalid_argument(std::string(env) + ": expected ROWSxCOLS[,ROWSxCOLS...], got '" + item + "'");
        }
        shapes.push_back({rows, cols});
    }
    return shapes;
}

// Replaces every programmatic edge of a captured graph by a full dependency: the same kernels, without PDL.
inline void remove_pdl(cudaGraph_t graph) {
    size_t n = 0;
    SPOOL_CUDA_CHECK(cudaGraphGetEdges(graph, nullptr, nullptr, nullptr, &n));
    std::vector<cudaGraphNode_t> from(n), to(n);
    std::vector<cudaGraphEdgeData> data(n);
    SPOOL_CUDA_CHECK(cudaGraphGetEdges(graph, from.data(), to.data(), data.data(), &n));
    for (size_t i = 0; i < n; ++i) {
        if (data[i].type != cudaGraphDependencyTypeProgrammatic) continue;
        SPOOL_CUDA_CHECK(cudaGraphRemoveDependencies(graph, &from[i], &to[i], &data[i], 1));
        SPOOL_CUDA_CHECK(cudaGraphAddDependencies(graph, &from[i], &to[i], nullptr, 1));
    }
}

}  // namespace spool::cuda::gpu_test
