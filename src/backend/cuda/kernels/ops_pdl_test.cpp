// Programmatic dependent launch (ops_common.cuh launch_pdl): stream order holds when PDL launches mix with cuBLAS
// and plain launches, a captured graph of PDL launches replays like the same launches run one at a time, and (a
// disabled benchmark) what PDL saves per kernel in a graph. Skips where no GPU is present.
#include <cublas_v2.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_test_support.h"
#include "backend/cuda/kernels/bench_test_support.h"
#include "backend/cuda/kernels/launch.h"
#include "quant/types.h"
#include "test_support.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;

#define SPOOL_CUBLAS_CHECK(call) ASSERT_EQ((call), CUBLAS_STATUS_SUCCESS) << #call

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <class T>
std::string first_difference(const std::vector<T>& expected, const std::vector<T>& got) {
    for (size_t i = 0; i < expected.size() && i < got.size(); ++i) {
        if (std::memcmp(&expected[i], &got[i], sizeof(T)) != 0)
            return "index " + std::to_string(i) + ": expected " + std::to_string(static_cast<double>(expected[i])) +
                   ", got " + std::to_string(static_cast<double>(got[i]));
    }
    return expected.size() == got.size() ? "" : "sizes differ";
}

// RAII stream, cuBLAS handle and graph pieces for the tests below.
struct Stream {
    cudaStream_t s = nullptr;
    Stream() { SPOOL_CUDA_CHECK(cudaStreamCreate(&s)); }  // blocking: ordered after the synchronous uploads
    ~Stream() { cudaStreamDestroy(s); }
};
struct Graph {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    ~Graph() {
        if (exec != nullptr) cudaGraphExecDestroy(exec);
        if (graph != nullptr) cudaGraphDestroy(graph);
    }
};
struct PinnedInts {
    int32_t* p = nullptr;
    explicit PinnedInts(size_t n) { SPOOL_CUDA_CHECK(cudaMallocHost(&p, n * sizeof(int32_t))); }
    ~PinnedInts() { cudaFreeHost(p); }
};

// The programmatic edges of a graph (what stream capture makes of launch_pdl between two kernels).
size_t count_programmatic_edges(cudaGraph_t graph) {
    size_t n = 0;
    SPOOL_CUDA_CHECK(cudaGraphGetEdges(graph, nullptr, nullptr, nullptr, &n));
    std::vector<cudaGraphNode_t> from(n), to(n);
    std::vector<cudaGraphEdgeData> data(n);
    SPOOL_CUDA_CHECK(cudaGraphGetEdges(graph, from.data(), to.data(), data.data(), &n));
    size_t count = 0;
    for (size_t i = 0; i < n; ++i) count += data[i].type == cudaGraphDependencyTypeProgrammatic;
    return count;
}

// cuBLAS GEMM (not PDL) -> rms_norm -> add reading the GEMM's output two kernels back -> f32_to_f16 (a plain
// launch) -> glu -> GEMM -> argmax, all queued at once and overlapping where PDL allows, against the same launches
// with a device synchronization after each one. The GEMM output starts as NaN each round, so a kernel that read it
// early would show.
TEST(CudaPdl, MixedWithCublasAndPlainLaunchesKeepsStreamOrder) {
    SPOOL_REQUIRE_GPU();
    const int n_tokens = 17, n_in = 1536, n = 4096;
    const auto w1 = testing::random_floats(static_cast<size_t>(n) * n_in, 1, 0.05f);
    const auto w2 = testing::random_floats(static_cast<size_t>(n) * n, 2, 0.02f);
    const auto input = testing::random_floats(static_cast<size_t>(n_tokens) * n_in, 3);
    const auto norm_w = testing::random_floats(static_cast<size_t>(n), 4, 0.3f, 1.0f);
    DeviceVector<float> dw1(w1), dw2(w2), dinput(input), dnorm_w(norm_w);
    const size_t act = static_cast<size_t>(n_tokens) * n;
    DeviceVector<float> x(act), y(act), z(act), g(act), r(act);
    DeviceVector<uint16_t> h(act);
    DeviceVector<int32_t> idx(n_tokens);
    Stream stream;
    cublasHandle_t handle;
    SPOOL_CUBLAS_CHECK(cublasCreate(&handle));
    std::unique_ptr<cublasContext, decltype(&cublasDestroy)> handle_owner(handle, cublasDestroy);
    SPOOL_CUBLAS_CHECK(cublasSetStream(handle, stream.s));
    const float one = 1.0f, zero = 0.0f;

    // Column-major cuBLAS view of row-major [tokens, features]: out^T = W^T(row-major W [n, k]) x^T.
    auto run = [&](bool serialize) {
        auto step = [&] {
            if (serialize) SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream.s));
        };
        SPOOL_CUDA_CHECK(cudaMemsetAsync(x.data(), 0xff, act * sizeof(float), stream.s));
        SPOOL_CUDA_CHECK(cudaMemsetAsync(r.data(), 0xff, act * sizeof(float), stream.s));
        step();
        EXPECT_EQ(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n_tokens, n_in, &one, dw1.data(), n_in,
                              dinput.data(), n_in, &zero, x.data(), n),
                  CUBLAS_STATUS_SUCCESS);
        step();
        launch_rms_norm(x.data(), dnorm_w.data(), n_tokens, n, 1e-5f, y.data(), stream.s);
        step();
        launch_add(x.data(), y.data(), static_cast<int64_t>(act), z.data(), stream.s);
        step();
        launch_f32_to_f16(z.data(), static_cast<int64_t>(act), reinterpret_cast<__half*>(h.data()), stream.s);
        step();
        launch_glu(z.data(), y.data(), static_cast<int64_t>(act), Activation::silu, g.data(), stream.s);
        step();
        EXPECT_EQ(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n_tokens, n, &one, dw2.data(), n, g.data(), n,
                              &zero, r.data(), n),
                  CUBLAS_STATUS_SUCCESS);
        step();
        launch_argmax(r.data(), n_tokens, n, idx.data(), stream.s);
        SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream.s));
    };
    run(true);
    const auto x_ref = x.download(), z_ref = z.download(), g_ref = g.download(), r_ref = r.download();
    const auto h_ref = h.download();
    const auto idx_ref = idx.download();
    ASSERT_FALSE(std::isnan(x_ref[0]) || std::isnan(r_ref[act - 1])) << "the reference run left NaN";
    for (int round = 0; round < 20; ++round) {
        run(false);
        ASSERT_EQ(first_difference(x_ref, x.download()), "") << "gemm output, round " << round;
        ASSERT_EQ(first_difference(z_ref, z.download()), "") << "add output, round " << round;
        ASSERT_EQ(first_difference(h_ref, h.download()), "") << "f32_to_f16 output, round " << round;
        ASSERT_EQ(first_difference(g_ref, g.download()), "") << "glu output, round " << round;
        ASSERT_EQ(first_difference(r_ref, r.download()), "") << "second gemm output, round " << round;
        ASSERT_EQ(first_difference(idx_ref, idx.download()), "") << "argmax, round " << round;
    }
}

// One decode-like sequence per replay: positions copied from pinned host memory (as StepGraph's uploads), then
// rms_norm -> rope_kv_append -> attention (split: two kernels) -> add. The graph is captured once and replayed at
// several positions; an identical state runs the same launches eagerly, one at a time. Every output and every
// cache byte must match bit for bit.
TEST(CudaPdl, CapturedGraphReplaysLikeEagerLaunches) {
    SPOOL_REQUIRE_GPU();
    const int n_head = 32, n_head_kv = 4, head_dim = 64, n_embd = n_head * head_dim;
    const int64_t row_width = static_cast<int64_t>(n_head_kv) * head_dim, n_ctx = 1024;
    uint64_t seed = 7000;
    for (GgmlType type : {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0}) {
        for (int64_t n_tokens : {1, 3}) {
            const std::string what = std::string(type_name(type)) + " tokens " + std::to_string(n_tokens);
            AttentionParams attn;
            attn.n_head = n_head;
            attn.n_head_kv = n_head_kv;
            attn.head_dim = head_dim;
            attn.scale = 0.125f;
            RopeParams rope;
            rope.n_dims = head_dim;
            const size_t ws_bytes = attention_workspace_bytes(n_tokens, attn, n_ctx);
            const size_t cache_bytes = static_cast<size_t>(n_ctx) * row_bytes(type, row_width);
            // Both states start from the same cache: rows of random data (written through kv_append).
            std::vector<uint8_t> cache_init;
            {
                DeviceVector<uint8_t> kc(cache_bytes), vc(cache_bytes);
                KvView view{kc.data(), vc.data(), type, n_ctx, row_width, row_bytes(type, row_width), type,
                            row_bytes(type, row_width)};
                std::vector<int32_t> all_rows(static_cast<size_t>(n_ctx));
                for (int64_t i = 0; i < n_ctx; ++i) all_rows[i] = static_cast<int32_t>(i);
                DeviceVector<float> k(testing::random_floats(static_cast<size_t>(n_ctx * row_width), ++seed));
                DeviceVector<int32_t> rows(all_rows);
                launch_kv_append(view, k.data(), k.data(), rows.data(), n_ctx, nullptr);
                cache_init = kc.download();
            }
            struct State {
                DeviceVector<float> x, norm_w, q, k, v, attn_out, out;
                DeviceVector<int32_t> positions;
                DeviceVector<uint8_t> kc, vc, ws;
                KvView view;
                State(int64_t n_tokens, int n_embd, int64_t row_width, const std::vector<uint8_t>& cache,
                      size_t ws_bytes, GgmlType type, int64_t n_ctx)
                    : x(static_cast<size_t>(n_tokens * n_embd)), norm_w(static_cast<size_t>(n_embd)),
                      q(x.size()), k(static_cast<size_t>(n_tokens * row_width)), v(k.size()), attn_out(x.size()),
                      out(x.size()), positions(static_cast<size_t>(n_tokens)), kc(cache), vc(cache), ws(ws_bytes) {
                    view = KvView{kc.data(), vc.data(), type, n_ctx, row_width, row_bytes(type, row_width), type,
                                  row_bytes(type, row_width)};
                }
            };
            State eager(n_tokens, n_embd, row_width, cache_init, ws_bytes, type, n_ctx);
            State graph_state(n_tokens, n_embd, row_width, cache_init, ws_bytes, type, n_ctx);
            PinnedInts staged(static_cast<size_t>(n_tokens));
            Stream stream;
            auto issue = [&](State& st, bool serialize) {
                auto step = [&] {
                    if (serialize) SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream.s));
                };
                SPOOL_CUDA_CHECK(cudaMemcpyAsync(st.positions.data(), staged.p, n_tokens * sizeof(int32_t),
                                                 cudaMemcpyHostToDevice, stream.s));
                step();
                launch_rms_norm(st.x.data(), st.norm_w.data(), n_tokens, n_embd, 1e-5f, st.q.data(), stream.s);
                step();
                launch_rope_kv_append(st.q.data(), st.k.data(), st.v.data(), st.positions.data(), n_tokens, n_head,
                                      n_head_kv, head_dim, rope, st.view, stream.s);
                step();
                launch_attention(st.q.data(), st.view, st.positions.data(), n_tokens, attn, st.attn_out.data(),
                                 st.ws.data(), ws_bytes, stream.s);
                step();
                launch_add(st.attn_out.data(), st.x.data(), n_tokens * n_embd, st.out.data(), stream.s);
                step();
            };
            Graph graph;
            SPOOL_CUDA_CHECK(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeThreadLocal));
            issue(graph_state, false);
            SPOOL_CUDA_CHECK(cudaStreamEndCapture(stream.s, &graph.graph));
            // rms_norm -> rope_kv_append -> split -> combine -> add: four programmatic edges (the copy's is not).
            EXPECT_EQ(count_programmatic_edges(graph.graph), 4u) << what;
            SPOOL_CUDA_CHECK(cudaGraphInstantiate(&graph.exec, graph.graph, 0));

            for (int32_t first : {5, 700, 64, 1020, 0, 255}) {
                const auto x = testing::random_floats(static_cast<size_t>(n_tokens * n_embd), ++seed);
                const auto norm_w = testing::random_floats(static_cast<size_t>(n_embd), ++seed, 0.3f, 1.0f);
                const auto k = testing::random_floats(static_cast<size_t>(n_tokens * row_width), ++seed);
                const auto v = testing::random_floats(static_cast<size_t>(n_tokens * row_width), ++seed);
                for (State* st : {&eager, &graph_state}) {
                    st->x.upload(x);
                    st->norm_w.upload(norm_w);
                    st->k.upload(k);
                    st->v.upload(v);
                }
                for (int64_t t = 0; t < n_tokens; ++t) staged.p[t] = first + static_cast<int32_t>(t);
                issue(eager, true);
                SPOOL_CUDA_CHECK(cudaGraphLaunch(graph.exec, stream.s));
                SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream.s));
                const std::string at = what + ", first position " + std::to_string(first);
                const auto out_eager = eager.out.download();
                ASSERT_FALSE(std::isnan(out_eager[0])) << at;
                ASSERT_EQ(first_difference(out_eager, graph_state.out.download()), "") << at << ": out";
                ASSERT_EQ(first_difference(eager.q.download(), graph_state.q.download()), "") << at << ": q";
                ASSERT_EQ(first_difference(eager.k.download(), graph_state.k.download()), "") << at << ": k";
                ASSERT_TRUE(same_bits(eager.kc.download(), graph_state.kc.download())) << at << ": K cache";
                ASSERT_TRUE(same_bits(eager.vc.download(), graph_state.vc.download())) << at << ": V cache";
            }
        }
    }
}

// Launch cost per kernel in a CUDA graph, with PDL (as captured) and with every programmatic edge replaced by a
// full dependency. Run with --gtest_also_run_disabled_tests --gtest_filter=CudaPdlBench.*
TEST(CudaPdlBench, DISABLED_GraphChains) {
    SPOOL_REQUIRE_GPU();
    Stream stream;
    cudaEvent_t start, stop;
    SPOOL_CUDA_CHECK(cudaEventCreate(&start));
    SPOOL_CUDA_CHECK(cudaEventCreate(&stop));
    // Microseconds per graph launch, and the programmatic edges it has.
    auto time_graph = [&](cudaGraph_t g, int reps) {
        cudaGraphExec_t exec;
        SPOOL_CUDA_CHECK(cudaGraphInstantiate(&exec, g, 0));
        for (int i = 0; i < 10; ++i) SPOOL_CUDA_CHECK(cudaGraphLaunch(exec, stream.s));
        SPOOL_CUDA_CHECK(cudaEventRecord(start, stream.s));
        for (int i = 0; i < reps; ++i) SPOOL_CUDA_CHECK(cudaGraphLaunch(exec, stream.s));
        SPOOL_CUDA_CHECK(cudaEventRecord(stop, stream.s));
        SPOOL_CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0;
        SPOOL_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        SPOOL_CUDA_CHECK(cudaGraphExecDestroy(exec));
        return 1000.0 * ms / reps;
    };
    // Captures `record` twice: once as is, once with the PDL edges removed; prints us per kernel for both.
    auto measure = [&](const char* name, int kernels, const auto& record) {
        Graph with, without;
        SPOOL_CUDA_CHECK(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeThreadLocal));
        record();
        SPOOL_CUDA_CHECK(cudaStreamEndCapture(stream.s, &with.graph));
        SPOOL_CUDA_CHECK(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeThreadLocal));
        record();
        SPOOL_CUDA_CHECK(cudaStreamEndCapture(stream.s, &without.graph));
        gpu_test::remove_pdl(without.graph);
        const size_t edges = count_programmatic_edges(with.graph);
        const double us_with = time_graph(with.graph, 200), us_without = time_graph(without.graph, 200);
        std::printf("%-44s %4d kernels %4zu pdl edges: %7.2f us/kernel with PDL, %7.2f without (%.1f vs %.1f us)\n",
                    name, kernels, edges, us_with / kernels, us_without / kernels, us_with, us_without);
    };

    const auto x = testing::random_floats(2048, 1), w = testing::random_floats(2048, 2, 0.3f, 1.0f);
    DeviceVector<float> a(x), b(x), dw(w);
    measure("rms_norm [1, 2048] x 100", 100, [&] {
        for (int i = 0; i < 100; ++i)
            launch_rms_norm(i % 2 ? b.data() : a.data(), dw.data(), 1, 2048, 1e-5f, i % 2 ? a.data() : b.data(),
                            stream.s);
    });
    measure("add [2048] x 100", 100, [&] {
        for (int i = 0; i < 100; ++i) launch_add(a.data(), dw.data(), 2048, b.data(), stream.s);
    });

    // A TinyLlama layer's kernels from this area (the matvecs left out), 22 layers, at context 512, F16 cache.
    const int n_head = 32, n_head_kv = 4, head_dim = 64, n_embd = 2048, n_ff = 5632, n_layer = 22;
    const int64_t row_width = n_head_kv * head_dim, n_ctx = 1024;
    AttentionParams attn;
    attn.n_head = n_head;
    attn.n_head_kv = n_head_kv;
    attn.head_dim = head_dim;
    attn.scale = 0.125f;
    RopeParams rope;
    rope.n_dims = head_dim;
    const size_t ws_bytes = attention_workspace_bytes(1, attn, n_ctx);
    DeviceVector<uint8_t> ws(ws_bytes), kc(static_cast<size_t>(n_ctx * row_width * 2)), vc(kc.size());
    SPOOL_CUDA_CHECK(cudaMemset(kc.data(), 0x11, kc.size()));
    SPOOL_CUDA_CHECK(cudaMemset(vc.data(), 0x11, vc.size()));
    const KvView view{kc.data(), vc.data(), GgmlType::F16, n_ctx, row_width, static_cast<size_t>(row_width * 2),
                      GgmlType::F16, static_cast<size_t>(row_width * 2)};
    DeviceVector<float> q(x), k(static_cast<size_t>(row_width)), v(k.size()), att(x.size()), h(x.size());
    DeviceVector<float> gate(testing::random_floats(n_ff, 3)), up(testing::random_floats(n_ff, 4)), ff(gate.size());
    DeviceVector<int32_t> pos(std::vector<int32_t>{511});
    measure("layer: norm rope_kv attn(2) add norm glu add x22", 8 * n_layer, [&] {
        for (int l = 0; l < n_layer; ++l) {
            launch_rms_norm(a.data(), dw.data(), 1, n_embd, 1e-5f, h.data(), stream.s);
            launch_rope_kv_append(q.data(), k.data(), v.data(), pos.data(), 1, n_head, n_head_kv, head_dim, rope,
                                  view, stream.s);
            launch_attention(q.data(), view, pos.data(), 1, attn, att.data(), ws.data(), ws_bytes, stream.s);
            launch_add(att.data(), a.data(), n_embd, a.data(), stream.s);
            launch_rms_norm(a.data(), dw.data(), 1, n_embd, 1e-5f, h.data(), stream.s);
            launch_glu(gate.data(), up.data(), n_ff, Activation::silu, ff.data(), stream.s);
            launch_add(h.data(), a.data(), n_embd, a.data(), stream.s);
        }
    });
    SPOOL_CUDA_CHECK(cudaEventDestroy(start));
    SPOOL_CUDA_CHECK(cudaEventDestroy(stop));
}

}  // namespace
}  // namespace spool::cuda
