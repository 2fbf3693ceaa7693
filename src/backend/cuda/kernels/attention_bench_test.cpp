// Timing of the CUDA attention kernels (not tests: DISABLED_, run on the device with
// --gtest_also_run_disabled_tests --gtest_filter=CudaAttentionBench.*): decode by context, and prefill.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_test_support.h"
#include "backend/cuda/kernels/attention_test_support.h"
#include "backend/cuda/kernels/launch.h"
#include "test_support.h"

namespace spool::cuda {
namespace {

using namespace attention_test;
using gpu_test::DeviceVector;

// The benches' caches: F16, Q8_0 and Q4_0 for both halves, and Q8_0 keys with Q4_0 values.
constexpr CacheTypes kBenchCacheTypes[] = {{GgmlType::F16, GgmlType::F16},
                                           {GgmlType::Q8_0, GgmlType::Q8_0},
                                           {GgmlType::Q4_0, GgmlType::Q4_0},
                                           {GgmlType::Q8_0, GgmlType::Q4_0}};

// Decode attention time by context, F16, Q8_0 and Q4_0 caches: each "layer" has its own cache, and there are enough of
// them (at least the model's layers, and 256 MB of cache in all at 4,096 rows, five times an H100's L2) that the rows
// come from DRAM, not L2: TinyLlama's 22 layers hold 26-49 MB of a Q4_0 or Q8_0 cache, which L2 partly kept (until
// session 40 the bench used 22). Run with --gtest_also_run_disabled_tests --gtest_filter=CudaAttentionBench.*
TEST(CudaAttentionBench, DISABLED_DecodeByContext) {
    SPOOL_REQUIRE_GPU();
    constexpr size_t kMinBenchCacheBytes = size_t{256} << 20;
    struct Model {
        const char* name;
        HeadShape shape;
        int layers;
    };
    const int64_t n_ctx = 4096;
    std::printf("%-10s %-12s %8s %10s %10s %12s\n", "model", "cache", "context", "us/layer", "GB/s", "KV MB/layer");
    for (const CacheTypes types : kBenchCacheTypes) {
        for (const Model& m : {Model{"tinyllama", {32, 4, 64}, 22}, Model{"llama2-7b", {32, 32, 128}, 8},
                               Model{"llama3-8b", {32, 8, 128}, 16}}) {
            const int64_t row_width = static_cast<int64_t>(m.shape.n_head_kv) * m.shape.head_dim;
            const AttentionParams params = params_for(m.shape, 0);
            const HostCache host = make_cache(types, n_ctx, row_width, n_ctx, 77);
            const auto cache_bytes = static_cast<size_t>(n_ctx) * (host.k_row_bytes + host.v_row_bytes);
            const int layers =
                std::max(m.layers, static_cast<int>((kMinBenchCacheBytes + cache_bytes - 1) / cache_bytes));
            std::vector<std::unique_ptr<DeviceVector<uint8_t>>> caches;
            for (int l = 0; l < layers; ++l) {
                caches.push_back(std::make_unique<DeviceVector<uint8_t>>(host.k_bytes));
                caches.push_back(std::make_unique<DeviceVector<uint8_t>>(host.v_bytes));
            }
            const auto q = testing::random_floats(static_cast<size_t>(m.shape.n_head * m.shape.head_dim), 78);
            DeviceVector<float> dq(q), dout(q.size());
            DeviceVector<int32_t> dpos(1);
            const size_t ws_bytes = attention_workspace_bytes(1, params, n_ctx);
            DeviceVector<uint8_t> ws(ws_bytes);
            cudaStream_t stream;
            SPOOL_CUDA_CHECK(cudaStreamCreate(&stream));  // blocking: ordered after the synchronous uploads
            cudaGraph_t graph;
            cudaGraphExec_t exec;
            SPOOL_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
            for (int l = 0; l < layers; ++l) {
                KvView view;
                view.k = caches[2 * l]->data();
                view.v = caches[2 * l + 1]->data();
                view.type = types.k;
                view.n_ctx = n_ctx;
                view.row_width = row_width;
                view.row_bytes = host.k_row_bytes;
                view.v_type = types.v;
                view.v_row_bytes = host.v_row_bytes;
                launch_attention(dq.data(), view, dpos.data(), 1, params, dout.data(), ws.data(), ws_bytes, stream);
            }
            SPOOL_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
            SPOOL_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
            cudaEvent_t start, stop;
            SPOOL_CUDA_CHECK(cudaEventCreate(&start));
            SPOOL_CUDA_CHECK(cudaEventCreate(&stop));
            for (int32_t context : {16, 48, 96, 128, 512, 1024, 4096}) {
                dpos.upload(std::vector<int32_t>{context - 1});
                for (int i = 0; i < 5; ++i) SPOOL_CUDA_CHECK(cudaGraphLaunch(exec, stream));
                const int reps = 50;
                SPOOL_CUDA_CHECK(cudaEventRecord(start, stream));
                for (int i = 0; i < reps; ++i) SPOOL_CUDA_CHECK(cudaGraphLaunch(exec, stream));
                SPOOL_CUDA_CHECK(cudaEventRecord(stop, stream));
                SPOOL_CUDA_CHECK(cudaEventSynchronize(stop));
                float ms = 0;
                SPOOL_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
                const double us = 1000.0 * ms / (reps * layers);
                const double kv_bytes =
                    static_cast<double>(context) * static_cast<double>(host.k_row_bytes + host.v_row_bytes);
                const std::string cache = cache_text(types);
                std::printf("%-10s %-12s %8d %10.2f %10.1f %12.2f\n", m.name, cache.c_str(), context, us,
                            kv_bytes / (us * 1e3), kv_bytes / 1e6);
            }
            SPOOL_CUDA_CHECK(cudaEventDestroy(start));
            SPOOL_CUDA_CHECK(cudaEventDestroy(stop));
            SPOOL_CUDA_CHECK(cudaGraphExecDestroy(exec));
            SPOOL_CUDA_CHECK(cudaGraphDestroy(graph));
            SPOOL_CUDA_CHECK(cudaStreamDestroy(stream));
        }
    }
}

// Prefill attention time (tiled kernel, F16, Q8_0 and Q4_0 caches): n_tokens new rows at positions depth .. depth +
// n_tokens - 1. Run with --gtest_also_run_disabled_tests --gtest_filter=CudaAttentionBench.*
TEST(CudaAttentionBench, DISABLED_Prefill) {
    SPOOL_REQUIRE_GPU();
    struct Model {
        const char* name;
        HeadShape shape;
    };
    struct Batch {
        int64_t n_tokens, depth;
    };
    std::printf("%-10s %-12s %8s %8s %10s %10s\n", "model", "cache", "tokens", "depth", "us/layer", "TFLOP/s");
    for (const CacheTypes types : kBenchCacheTypes) {
        for (const Model& m : {Model{"tinyllama", {32, 4, 64}}, Model{"llama2-7b", {32, 32, 128}}}) {
            for (const Batch& b : {Batch{128, 0}, Batch{512, 0}, Batch{2048, 0}, Batch{512, 4096}}) {
                const int64_t n_ctx = b.depth + b.n_tokens;
                const int64_t row_width = static_cast<int64_t>(m.shape.n_head_kv) * m.shape.head_dim;
                const AttentionParams params = params_for(m.shape, 0);
                const DeviceCache dev(make_cache(types, n_ctx, row_width, n_ctx, 79));
                const auto q =
                    testing::random_floats(static_cast<size_t>(b.n_tokens * m.shape.n_head * m.shape.head_dim), 80);
                DeviceVector<float> dq(q), dout(q.size());
                DeviceVector<int32_t> dpos(consecutive(static_cast<int32_t>(b.depth), b.n_tokens));
                cudaEvent_t start, stop;
                SPOOL_CUDA_CHECK(cudaEventCreate(&start));
                SPOOL_CUDA_CHECK(cudaEventCreate(&stop));
                launch_attention(dq.data(), dev.view, dpos.data(), b.n_tokens, params, dout.data(), nullptr, 0,
                                 nullptr);
                const int reps = 20;
                SPOOL_CUDA_CHECK(cudaEventRecord(start));
                for (int i = 0; i < reps; ++i) {
                    launch_attention(dq.data(), dev.view, dpos.data(), b.n_tokens, params, dout.data(), nullptr, 0,
                                     nullptr);
                }
                SPOOL_CUDA_CHECK(cudaEventRecord(stop));
                SPOOL_CUDA_CHECK(cudaEventSynchronize(stop));
                float ms = 0;
                SPOOL_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
                const double us = 1000.0 * ms / reps;
                // Causal: the token at position p attends to p + 1 rows; 2 flops per multiply-add, for Q K^T and P V.
                const double rows =
                    static_cast<double>(b.n_tokens) * (static_cast<double>(b.depth) + (b.n_tokens + 1) / 2.0);
                const double flops = 4.0 * m.shape.n_head * m.shape.head_dim * rows;
                const std::string cache = cache_text(types);
                std::printf("%-10s %-12s %8lld %8lld %10.1f %10.2f\n", m.name, cache.c_str(),
                            static_cast<long long>(b.n_tokens), static_cast<long long>(b.depth), us,
                            flops / (us * 1e6));
                SPOOL_CUDA_CHECK(cudaEventDestroy(start));
                SPOOL_CUDA_CHECK(cudaEventDestroy(stop));
            }
        }
    }
}

}  // namespace
}  // namespace spool::cuda
