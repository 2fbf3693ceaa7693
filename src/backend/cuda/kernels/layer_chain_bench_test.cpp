// The ceiling of a persistent decode kernel, measured before writing one (disabled; run with
// --gtest_also_run_disabled_tests --gtest_filter='*LayerChainBench*'). A decode step reads every weight once, in a
// chain of dependent phases per layer (rms_norm, q/k/v, attention, combine, o, rms_norm, gate/up, down). Here each
// phase is reduced to what bounds it: reading its weight bytes from DRAM (16-byte loads, 128 bytes in flight per
// thread, slices of 16 rows per block as the staged matvecs take them) or, for the phases without weights, a few
// blocks doing almost nothing; every block reads one value the phase before it wrote, so the chain is real. Two ways
// to run the same chain over 32 (7B) or 22 (TinyLlama) layers (layer_chain_test_kernels.cu):
//   - kernels: one kernel per phase in a CUDA graph, as the backend runs decode now: programmatic dependent launch,
//     each block's first loads issued before it waits for the kernel ahead (and, for reference, without PDL);
//   - persistent: one cooperative kernel for the whole step, a grid-wide barrier between phases; optionally each
//     block issues its first loads of the next phase before the barrier (held in registers across it), and prefetches
//     its first slice of the next phase with weights into L2 while it waits.
// The per-phase form also runs with two traits of the real matvecs added to its weighted phases, one at a time: x~
// read after the wait, and the blocks per SM capped (padding shared memory) as a staged matvec's registers cap them.
// All compute the same values (integer sums of the weight words plus the dependency), which the test compares, so a
// barrier that let a block through early fails it. The table gives the time per step against the weight bytes at
// the copy bandwidth: how much of the per-launch cost (docs/cuda-performance.md: ~4-5 us per matvec launch) a
// persistent kernel could win back, before any real matvec work is added. Measured on an H100 (docs/cuda-performance.md,
// "Layer-chain ceiling"): the persistent forms were 29-55% slower than the per-phase form, so none was written.
// RingAgainstKernels (session 30, "Layer-chain ring") adds a persistent form without grid barriers, whose weights
// stream into shared memory regardless of the chain: also slower than the per-phase form once the phases wait on
// each other, though its streaming alone (no waits) reaches 95% of the copy bandwidth.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "backend/cuda/cuda_test_support.h"
#include "backend/cuda/device_info.h"
#include "backend/cuda/kernels/bench_test_support.h"
#include "backend/cuda/kernels/layer_chain_test_kernels.h"
#include "spool/errors.h"

namespace spool::cuda {
namespace {

using namespace chain_bench;
using gpu_test::DeviceVector;

// A phase of a model's decode layer: bytes of weights, or 0 and the number of blocks it runs on.
struct PhaseSpec {
    const char* name;
    int64_t bytes;
    int workers;
};

struct Model {
    const char* name;
    std::vector<PhaseSpec> layer;
    int n_layers;
    int64_t slice_bytes;  // 16 rows of the n_embd-column matrices
};

// The decode layers, with bytes as the synth models store them: a Q4_K row of 4096 columns is 2,304 bytes, Q6_K
// 3,360, 11008 columns of Q4_K 6,192; TinyLlama's 2048 columns of Q4_K 1,152, 5632 columns 3,168. Workers of the
// phases without weights as the backend's grids at short context.
Model llama2_7b_q4_k_m() {
    return {"7B Q4_K_M",
            {{"rms_norm", 0, 1},
             {"q, k", 8192 * 2304, 0},
             {"v (Q6_K)", 4096 * 3360, 0},
             {"attention", 0, 64},
             {"combine", 0, 32},
             {"o", 4096 * 2304, 0},
             {"rms_norm", 0, 1},
             {"gate, up", 2 * 11008 * 2304, 0},
             {"down", 4096 * 6192, 0}},
            32,
            16 * 2304};
}
// TinyLlama with rows of `row` bytes at 2,048 columns and `down_row` bytes at 5,632 (ffn_down's).
Model tinyllama(const char* name, int64_t row, int64_t down_row) {
    return {name,
            {{"rms_norm", 0, 1},
             {"q, k, v", 2560 * row, 0},
             {"attention", 0, 32},
             {"combine", 0, 32},
             {"o", 2048 * row, 0},
             {"rms_norm", 0, 1},
             {"gate, up", 2 * 5632 * row, 0},
             {"down", 2048 * down_row, 0}},
            22,
            16 * row};
}

// fold_norms: without the rms_norm phases, as when each reader computes the norm of its x itself. slice_bytes: 0 for
// the model's.
Chain make_chain(const Model& model, bool fold_norms = false, int64_t slice_bytes = 0) {
    Chain c;
    c.n_layers = model.n_layers;
    c.slice_vectors = (slice_bytes > 0 ? slice_bytes : model.slice_bytes) / 16;
    int64_t offset = 0;
    for (const PhaseSpec& s : model.layer) {
        if (fold_norms && std::string(s.name) == "rms_norm") continue;
        Phase& p = c.phase[c.n_phases++];
        p.offset = offset;
        p.vectors = s.bytes / 16;
        p.slices = s.bytes > 0 ? static_cast<int>((p.vectors + c.slice_vectors - 1) / c.slice_vectors) : s.workers;
        offset += p.vectors;
        EXPECT_LE(p.slices, kMaxSlots) << s.name;
    }
    c.layer_vectors = offset;
    return c;
}

// A CUDA graph of one kernel per phase and layer; without_pdl: every programmatic edge made a full dependency.
struct ChainGraph {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    ChainGraph(const Chain& chain, const uint4* w, const uint32_t* seed, uint32_t* out, bool without_pdl,
               const PhaseOptions& options, cudaStream_t stream) {
        SPOOL_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
        const uint32_t* prev = seed;
        int prev_count = 1;
        for (int layer = 0; layer < chain.n_layers; ++layer) {
            for (int p = 0; p < chain.n_phases; ++p) {
                uint32_t* o = out + (static_cast<int64_t>(layer) * chain.n_phases + p) * kMaxSlots;
                // Only the phases with weights stand for matvecs; the others stay small kernels.
                launch_phase(w, chain, layer * chain.layer_vectors, p, prev, prev_count, o,
                             chain.phase[p].vectors > 0 ? options : PhaseOptions{}, stream);
                prev = o;
                prev_count = chain.phase[p].slices;
            }
        }
        SPOOL_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
        if (without_pdl) gpu_test::remove_pdl(graph);
        SPOOL_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    }
    ~ChainGraph() {
        cudaGraphExecDestroy(exec);
        cudaGraphDestroy(graph);
    }
    ChainGraph(const ChainGraph&) = delete;
    ChainGraph& operator=(const ChainGraph&) = delete;
};

// A chain's weights (pseudo-random, on the device) and the buffers its forms write: out, and the expected values
// that the per-phase form wrote first.
struct ChainBuffers {
    int64_t n_vectors;  // 16-byte vectors of weights in the step
    double step_bytes;
    size_t out_size;
    DeviceVector<uint4> w;
    DeviceVector<uint32_t> seed, out, expected;
    DeviceVector<unsigned> timed_out;
    ChainBuffers(const Chain& chain, cudaStream_t stream)
        : n_vectors(chain.layer_vectors * chain.n_layers),
          step_bytes(16.0 * static_cast<double>(n_vectors)),
          out_size(static_cast<size_t>(chain.n_layers) * chain.n_phases * kMaxSlots),
          w(static_cast<size_t>(n_vectors)),
          seed(std::vector<uint32_t>{12345u}),
          out(std::vector<uint32_t>(out_size, 0u)),
          expected(std::vector<uint32_t>(out_size, 0u)),
          timed_out(std::vector<unsigned>{0u}) {
        launch_fill(w.data(), n_vectors, stream);
    }
    // The arguments of a persistent form (StepArgs, RingArgs) that name these buffers.
    template <class Args>
    Args args(const Chain& chain) {
        Args a;
        a.w = w.data();
        a.chain = chain;
        a.seed = seed.data();
        a.out = out.data();
        a.timed_out = timed_out.data();
        return a;
    }
};

// The ring kernel's stage barriers and phase counters are fixed arrays: a launch asking for more is refused before it
// reaches the GPU.
TEST(CudaLayerChainRing, RefusesWhatItsArraysCannotHold) {
    RingArgs args;
    args.chain.n_layers = 22;
    args.chain.n_phases = 6;
    for (const int stages : {0, kRingMaxStages + 1}) {
        args.stages = stages;
        EXPECT_THROW(launch_ring_step(args, 132, nullptr), UsageError) << stages << " stages";
    }
    args.stages = kRingMaxStages;
    args.chain.n_layers = kRingMaxSteps / 6 + 1;
    EXPECT_THROW(launch_ring_step(args, 132, nullptr), UsageError) << "too many layers x phases";
}

// Both benchmarks: an sm_90 build on a GPU with cooperative launch, a stream, the measured copy bandwidth, and a line
// of the table per variant.
class CudaLayerChainBench : public ::testing::Test {
protected:
    void SetUp() override {
        SPOOL_REQUIRE_GPU();
        if (!kernels_have_bodies()) GTEST_SKIP() << "built for a GPU older than sm_90 (griddepcontrol, acquire loads)";
        int device = 0, cooperative = 0;
        SPOOL_CUDA_CHECK(cudaGetDevice(&device));
        SPOOL_CUDA_CHECK(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device));
        if (cooperative == 0) GTEST_SKIP() << "the device has no cooperative launch";
        sms_ = current_device_sm_count();
        SPOOL_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        DeviceVector<uint8_t> pool(gpu_test::kBenchPoolBytes);
        copy_gbps_ = gpu_test::copy_bandwidth_gbps(pool, stream_);
        std::printf("device-to-device cudaMemcpy: %.0f GB/s; %d SMs\n", copy_gbps_, sms_);
    }
    void TearDown() override {
        if (stream_ != nullptr) cudaStreamDestroy(stream_);
    }
    // A step of step_bytes of weights in ms: its time, rate and share of the copy bandwidth.
    void report(const char* model, const std::string& variant, double step_bytes, double ms) const {
        std::printf("%-17s %-62s %9.1f us/step %8.1f tok/s %6.0f GB/s %5.1f%% of copy\n", model, variant.c_str(),
                    ms * 1e3, 1e3 / ms, step_bytes / (ms * 1e-3) / 1e9,
                    100.0 * step_bytes / (ms * 1e-3) / 1e9 / copy_gbps_);
    }
    void report_ideal(const char* model, double step_bytes) const {
        report(model, "ideal: the weight bytes at the copy bandwidth", step_bytes,
               step_bytes / (copy_gbps_ * 1e9) * 1e3);
    }

    int sms_ = 0;
    cudaStream_t stream_ = nullptr;
    double copy_gbps_ = 0;
};

TEST_F(CudaLayerChainBench, DISABLED_KernelsAgainstPersistent) {
    const int sms = sms_, per_sm = step_blocks_per_sm();
    cudaStream_t stream = stream_;
    std::printf("the persistent kernel fits %d blocks per SM\n", per_sm);

    const Model models[] = {llama2_7b_q4_k_m(), tinyllama("TinyLlama Q4_K_M", 1152, 3168)};

    for (const Model& model : models) {
        const Chain chain = make_chain(model);
        ChainBuffers b(chain, stream);
        DeviceVector<unsigned long long> arrivals(std::vector<unsigned long long>{0ull});
        // x~ of 4,096 columns: 512 groups of 8 levels and 8 bytes of scales (zeros: the sums stay comparable).
        constexpr int64_t kXVectors = 512;
        DeviceVector<uint4> x(std::vector<uint4>(kXVectors, make_uint4(0, 0, 0, 0)));

        const auto report = [&](const std::string& variant, double ms) {
            this->report(model.name, variant, b.step_bytes, ms);
        };
        report_ideal(model.name, b.step_bytes);

        {
            ChainGraph g(chain, b.w.data(), b.seed.data(), b.expected.data(), false, PhaseOptions{}, stream);
            const double ms = gpu_test::time_launches(
                [&](cudaStream_t s) { SPOOL_CUDA_CHECK(cudaGraphLaunch(g.exec, s)); }, stream, 3, 20);
            report("one kernel per phase, CUDA graph, PDL", ms);
        }
        // What separates the phase kernels from real matvecs, one at a time: x~ read after the wait, and the blocks
        // per SM (a staged matvec holds ~128 registers per thread: 2 blocks of 256 threads per SM, which also leaves
        // the next kernel no room to start its loads while this one runs).
        struct KernelVariant {
            bool pdl;
            bool x_reads;
            size_t pad_shared_bytes;
        };
        for (const KernelVariant& v : {KernelVariant{false, false, 0}, KernelVariant{true, true, 0},
                                       KernelVariant{true, false, 50 * 1024}, KernelVariant{true, false, 70 * 1024},
                                       KernelVariant{true, false, 100 * 1024}, KernelVariant{true, true, 100 * 1024}}) {
            b.out.upload(std::vector<uint32_t>(b.out_size, 0u));
            PhaseOptions options;
            if (v.x_reads) {
                options.x = x.data();
                options.x_vectors = kXVectors;
            }
            options.pad_shared_bytes = v.pad_shared_bytes;
            const int per_sm_now = phase_blocks_per_sm(v.pad_shared_bytes);
            ChainGraph g(chain, b.w.data(), b.seed.data(), b.out.data(), !v.pdl, options, stream);
            const double ms = gpu_test::time_launches(
                [&](cudaStream_t s) { SPOOL_CUDA_CHECK(cudaGraphLaunch(g.exec, s)); }, stream, 3, 20);
            std::string name = std::string("one kernel per phase, CUDA graph, ") + (v.pdl ? "PDL" : "no PDL");
            if (v.x_reads) name += ", x reads";
            if (v.pad_shared_bytes > 0) name += ", " + std::to_string(per_sm_now) + " blocks/SM";
            report(name, ms);
            EXPECT_EQ(b.out.download(), b.expected.download()) << model.name << " " << name;
        }

        struct Variant {
            int blocks_per_sm;
            bool register_prefetch;
            int64_t l2_prefetch_bytes;
        };
        unsigned long long arrivals_so_far = 0;
        for (const Variant& v : {Variant{2, false, 0}, Variant{2, true, 0}, Variant{2, true, 65536},
                                 Variant{4, true, 0}, Variant{4, true, 65536}, Variant{8, true, 0}}) {
            if (v.blocks_per_sm > per_sm) continue;
            b.out.upload(std::vector<uint32_t>(b.out_size, 0u));
            StepArgs args = b.args<StepArgs>(chain);
            args.arrivals = arrivals.data();
            args.register_prefetch = v.register_prefetch;
            args.l2_prefetch_vectors = v.l2_prefetch_bytes / 16;
            const unsigned grid = static_cast<unsigned>(sms * v.blocks_per_sm);
            const unsigned long long per_launch =
                static_cast<unsigned long long>(grid) * static_cast<unsigned long long>(chain.n_layers * chain.n_phases - 1);
            const double ms = gpu_test::time_launches(
                [&](cudaStream_t s) {
                    args.arrivals_before = arrivals_so_far;
                    launch_step(args, grid, s);
                    arrivals_so_far += per_launch;
                },
                stream, 3, 20);
            std::string name = "persistent, " + std::to_string(v.blocks_per_sm) + " blocks/SM";
            if (v.register_prefetch) name += ", next loads before barrier";
            if (v.l2_prefetch_bytes > 0) name += ", L2 prefetch " + std::to_string(v.l2_prefetch_bytes / 1024) + " KiB";
            report(name, ms);
            EXPECT_EQ(b.timed_out.download(), std::vector<unsigned>{0u}) << model.name << " " << name;
            EXPECT_EQ(b.out.download(), b.expected.download()) << model.name << " " << name;
        }
    }
}

// The ring form (layer_chain_test_kernels.h RingArgs) against one kernel per phase: whether weights copied into
// shared memory regardless of the chain, with per-phase counters instead of grid barriers, keep DRAM busy through the
// hand-offs that the per-phase form leaves idle. The norms are folded into their readers in the ring form (each
// reader block can sum x^2 over the x it loads anyway), so the per-phase form is timed both with and without them.
TEST_F(CudaLayerChainBench, DISABLED_RingAgainstKernels) {
    const int sms = sms_;
    cudaStream_t stream = stream_;

    // F16 rows: 2 bytes per column.
    const Model models[] = {tinyllama("TinyLlama F16", 4096, 11264), tinyllama("TinyLlama Q4_K_M", 1152, 3168),
                            llama2_7b_q4_k_m()};
    struct RingVariant {
        int blocks_per_sm;
        int64_t stage_bytes;
        int stages;
    };
    const RingVariant variants[] = {{1, 32 * 1024, 6}, {1, 16 * 1024, 12}, {2, 16 * 1024, 6},
                                    {2, 32 * 1024, 3},  {1, 64 * 1024, 3},  {2, 8 * 1024, 12}};

    for (const Model& model : models) {
        const Chain full = make_chain(model);
        ChainBuffers b(full, stream);
        DeviceVector<unsigned long long> done(std::vector<unsigned long long>(kRingMaxSteps, 0ull));
        const auto report = [&](const std::string& variant, double ms) {
            this->report(model.name, variant, b.step_bytes, ms);
        };
        report_ideal(model.name, b.step_bytes);
        const auto time_graph = [&](const Chain& chain, uint32_t* o) {
            ChainGraph g(chain, b.w.data(), b.seed.data(), o, false, PhaseOptions{}, stream);
            return gpu_test::time_launches([&](cudaStream_t s) { SPOOL_CUDA_CHECK(cudaGraphLaunch(g.exec, s)); },
                                           stream, 3, 20);
        };
        report("one kernel per phase, PDL (16-row slices)", time_graph(full, b.out.data()));
        report("one kernel per phase, PDL, norms folded (16-row slices)",
               time_graph(make_chain(model, true), b.out.data()));

        int64_t last_stage_bytes = 0;
        for (const RingVariant& v : variants) {
            const Chain chain = make_chain(model, true, v.stage_bytes);
            bool fits = true;
            for (int p = 0; p < chain.n_phases; ++p) fits = fits && chain.phase[p].slices <= kMaxSlots;
            if (!fits || chain.n_layers * chain.n_phases > kRingMaxSteps) continue;
            if (v.stage_bytes != last_stage_bytes) {
                b.expected.upload(std::vector<uint32_t>(b.out_size, 0u));
                report("one kernel per phase, PDL, norms folded, " + std::to_string(v.stage_bytes / 1024) +
                           " KiB slices",
                       time_graph(chain, b.expected.data()));
                last_stage_bytes = v.stage_bytes;
            }
            if (ring_blocks_per_sm(v.stages, v.stage_bytes) < v.blocks_per_sm) {
                std::printf("%-17s ring %d blocks/SM of %d x %lld KiB: does not fit\n", model.name, v.blocks_per_sm,
                            v.stages, static_cast<long long>(v.stage_bytes / 1024));
                continue;
            }
            b.out.upload(std::vector<uint32_t>(b.out_size, 0u));
            RingArgs args = b.args<RingArgs>(chain);
            args.done = done.data();
            args.stages = v.stages;
            const unsigned grid = static_cast<unsigned>(sms * v.blocks_per_sm);
            // Each launch adds every phase's slice count to its counter, so the targets of launch n are n + 1 times
            // those counts: the counters start from zero for each variant.
            for (const bool wait : {true, false}) {
                done.upload(std::vector<unsigned long long>(kRingMaxSteps, 0ull));
                unsigned long long launches = 0;
                args.wait_for_phases = wait;
                const double ms = gpu_test::time_launches(
                    [&](cudaStream_t s) {
                        args.launches_before = launches++;
                        launch_ring_step(args, grid, s);
                    },
                    stream, 3, 20);
                report("ring, " + std::to_string(v.blocks_per_sm) + " blocks/SM x " + std::to_string(v.stages) +
                           " x " + std::to_string(v.stage_bytes / 1024) + " KiB" + (wait ? "" : ", no waits"),
                       ms);
                if (!wait) continue;  // the streaming ceiling reads dependencies before they are written
                EXPECT_EQ(b.timed_out.download(), std::vector<unsigned>{0u}) << model.name;
                EXPECT_EQ(b.out.download(), b.expected.download()) << model.name << " ring " << v.stages;
            }
        }
    }
}

}  // namespace
}  // namespace spool::cuda
