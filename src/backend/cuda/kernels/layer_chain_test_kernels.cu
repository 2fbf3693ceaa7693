// Kernels of the layer-chain benchmark (layer_chain_test_kernels.h, layer_chain_bench_test.cpp): test-only code.
#include "backend/cuda/kernels/layer_chain_test_kernels.h"

#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/mma_sm80.cuh"
#include "backend/cuda/kernels/ops_common.cuh"
#include "spool/errors.h"

namespace spool::cuda::chain_bench {
namespace {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
constexpr int kLoads = 8;  // 16-byte loads in flight per thread: 128 bytes, as a staged matvec lane's chunks
constexpr long long kBarrierTimeoutCycles = 4'000'000'000LL;  // ~2 s: a hung barrier fails the test, not the run

__device__ __forceinline__ uint4 load_weights(const uint4* p) { return __ldg(p); }

// Vectors [begin, end) of slice `slice` of a phase whose weights start at vector `base`.
__device__ __forceinline__ void slice_range(const Chain& c, int64_t base, int slice, int64_t vectors, int64_t& begin,
                                            int64_t& end) {
    begin = base + slice * c.slice_vectors;
    end = min(begin + c.slice_vectors, base + vectors);
}

__device__ __forceinline__ void first_loads(const uint4* w, int64_t begin, int64_t end, uint4 (&r)[kLoads]) {
#pragma unroll
    for (int u = 0; u < kLoads; ++u) {
        const int64_t i = begin + threadIdx.x + static_cast<int64_t>(u) * kThreads;
        r[u] = i < end ? load_weights(w + i) : make_uint4(0, 0, 0, 0);
    }
}

// Sum of every word of the slice (r: its first loads, already issued); the block's total, in every thread. With x,
// each weight vector is paired with one vector of x (read now, after the wait), as a matvec lane reads x~.
__device__ __forceinline__ uint32_t finish_slice(const uint4* w, int64_t begin, int64_t end, uint4 (&r)[kLoads],
                                                 const uint4* x = nullptr, int64_t x_vectors = 0) {
    uint32_t acc = 0;
    for (int64_t base = begin;;) {
        if (x != nullptr) {
#pragma unroll
            for (int u = 0; u < kLoads; ++u) {
                const uint4 xv = __ldg(x + ((base + threadIdx.x + static_cast<int64_t>(u) * kThreads) & (x_vectors - 1)));
                acc += xv.x + xv.y + xv.z + xv.w;
            }
        }
#pragma unroll
        for (int u = 0; u < kLoads; ++u) acc += r[u].x + r[u].y + r[u].z + r[u].w;
        base += static_cast<int64_t>(kLoads) * kThreads;
        if (base >= end) break;
        first_loads(w, base, end, r);
    }
    for (int offset = 16; offset > 0; offset >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, offset);
    __shared__ uint32_t warp_sums[kThreads / 32];
    if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = acc;
    __syncthreads();
    uint32_t total = 0;
#pragma unroll
    for (int i = 0; i < kThreads / 32; ++i) total += warp_sums[i];
    __syncthreads();  // warp_sums is reused by the block's next slice
    return total;
}

__device__ __forceinline__ unsigned long long load_acquire(const unsigned long long* p) {
    unsigned long long v;
    asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
}

// Every block of the grid arrives before any leaves; the writes before it are visible to every block after it.
__device__ __forceinline__ void grid_barrier(unsigned long long* arrivals, unsigned long long target,
                                             unsigned* timed_out) {
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        atomicAdd(arrivals, 1ull);
        const long long start = clock64();
        while (load_acquire(arrivals) < target) {
            if (clock64() - start > kBarrierTimeoutCycles) {
                atomicExch(timed_out, 1u);
                break;
            }
        }
    }
    __syncthreads();
}
#endif

// One phase of one layer, one block per slice (or worker): the backend's way, one kernel per step of the chain.
__global__ void __launch_bounds__(kThreads) phase_kernel(const uint4* w, Chain c, int64_t base, int p,
                                                         const uint32_t* prev, int prev_count, uint32_t* out,
                                                         const uint4* x, int64_t x_vectors) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    const Phase& ph = c.phase[p];
    const int slice = static_cast<int>(blockIdx.x);
    uint4 r[kLoads];
    int64_t begin = 0, end = 0;
    if (ph.vectors > 0) {
        slice_range(c, base + ph.offset, slice, ph.vectors, begin, end);
        first_loads(w, begin, end, r);  // weights never change: before the wait, as the matvecs do
    }
    ops::wait_for_producers();
    ops::allow_dependents();
    const uint32_t dep = prev[slice % prev_count];
    const uint32_t v = ph.vectors > 0 ? finish_slice(w, begin, end, r, x, x_vectors) : static_cast<uint32_t>(slice);
    if (threadIdx.x == 0) out[slice] = v + dep;
#endif
}

// The whole step in one cooperative launch: blocks loop over each phase's slices, a grid barrier between phases.
__global__ void __launch_bounds__(kThreads) step_kernel(StepArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    const Chain& c = a.chain;
    const int n_steps = c.n_layers * c.n_phases;
    const uint32_t* prev = a.seed;
    int prev_count = 1;
    uint4 r[kLoads];
    bool held = false;  // r holds the first loads of this block's first slice of the current phase
    unsigned long long target = a.arrivals_before;
    for (int step = 0; step < n_steps; ++step) {
        const int layer = step / c.n_phases, p = step % c.n_phases;
        const Phase& ph = c.phase[p];
        const int64_t base = layer * c.layer_vectors + ph.offset;
        uint32_t* out = a.out + static_cast<int64_t>(step) * kMaxSlots;
        for (int s = static_cast<int>(blockIdx.x); s < ph.slices; s += static_cast<int>(gridDim.x)) {
            const uint32_t dep = __ldcg(prev + s % prev_count);  // written by other blocks: through L2
            uint32_t v = static_cast<uint32_t>(s);
            if (ph.vectors > 0) {
                int64_t begin, end;
                slice_range(c, base, s, ph.vectors, begin, end);
                if (!(held && s == static_cast<int>(blockIdx.x))) first_loads(a.w, begin, end, r);
                held = false;
                v = finish_slice(a.w, begin, end, r);
            }
            if (threadIdx.x == 0) out[s] = v + dep;
        }
        held = false;
        if (step + 1 < n_steps) {
            // The next phase's first slice for this block: its loads go out now and arrive during the barrier.
            const int next = (step + 1) % c.n_phases;
            const int64_t next_base = ((step + 1) / c.n_phases) * c.layer_vectors + c.phase[next].offset;
            if (a.register_prefetch && c.phase[next].vectors > 0 && static_cast<int>(blockIdx.x) < c.phase[next].slices) {
                int64_t begin, end;
                slice_range(c, next_base, static_cast<int>(blockIdx.x), c.phase[next].vectors, begin, end);
                first_loads(a.w, begin, end, r);
                held = true;
            }
            // The block's first slice of the next phase with weights, into L2, while the blocks wait here and in the
            // phases without weights: issued at the end of each phase before it (repeats find the lines in L2).
            if (a.l2_prefetch_vectors > 0) {
                int q = step + 1;
                while (q < n_steps && c.phase[q % c.n_phases].vectors == 0) ++q;
                const int s = static_cast<int>(blockIdx.x);
                if (q < n_steps && s < c.phase[q % c.n_phases].slices) {
                    const Phase& np = c.phase[q % c.n_phases];
                    int64_t begin, end;
                    slice_range(c, (q / c.n_phases) * c.layer_vectors + np.offset, s, np.vectors, begin, end);
                    end = min(end, begin + a.l2_prefetch_vectors);
                    for (int64_t i = begin + 8 * static_cast<int64_t>(threadIdx.x); i < end; i += 8 * kThreads) {
                        asm volatile("prefetch.global.L2 [%0];" ::"l"(a.w + i));
                    }
                }
            }
            target += gridDim.x;
            grid_barrier(a.arrivals, target, a.timed_out);
        }
        prev = out;
        prev_count = ph.slices;
    }
#endif
}

// ---- The ring form (layer_chain_test_kernels.h RingArgs). mbarriers (PTX ISA 9.7.13.15): full[s] completes when the
// bulk copy into stage s has landed (the producer's arrive.expect_tx plus the copy's complete_tx); empty[s] when the
// consumers are done reading it.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
using tc::shared_address;
__device__ __forceinline__ void mbar_init(unsigned long long* bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(shared_address(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(unsigned long long* bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(shared_address(bar)) : "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(unsigned long long* bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void mbar_wait(unsigned long long* bar, uint32_t parity) {
    uint32_t ready = 0;
    do {
        asm volatile(
            "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
            : "=r"(ready)
            : "r"(shared_address(bar)), "r"(parity)
            : "memory");
    } while (ready == 0);
}
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, unsigned long long* bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                     shared_address(dst)),
                 "l"(src), "r"(bytes), "r"(shared_address(bar))
                 : "memory");
}
constexpr int kRingConsumerThreads = 32 * kRingConsumerWarps;
__device__ __forceinline__ void consumers_sync() {
    asm volatile("bar.sync 1, %0;" ::"n"(kRingConsumerThreads) : "memory");
}
#endif

__global__ void __launch_bounds__(32 * (1 + kRingConsumerWarps)) ring_step_kernel(RingArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    extern __shared__ __align__(128) uint4 ring[];
    __shared__ __align__(8) unsigned long long full[kRingMaxStages], empty[kRingMaxStages];
    __shared__ uint32_t warp_sums[kRingConsumerWarps];
    const Chain& c = a.chain;
    const int n_steps = c.n_layers * c.n_phases;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (threadIdx.x == 0) {
        for (int i = 0; i < a.stages; ++i) {
            mbar_init(&full[i], 1);
            mbar_init(&empty[i], 1);
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
    if (warp == 0) {
        // Producer: the block's slices of every phase with weights, in the consumers' order, as stages free up.
        if (lane != 0) return;
        int64_t k = 0;
        for (int q = 0; q < n_steps; ++q) {
            const Phase& ph = c.phase[q % c.n_phases];
            if (ph.vectors == 0) continue;
            const int64_t base = (q / c.n_phases) * c.layer_vectors + ph.offset;
            for (int s = static_cast<int>(blockIdx.x); s < ph.slices; s += static_cast<int>(gridDim.x), ++k) {
                const int stage = static_cast<int>(k % a.stages);
                const int64_t round = k / a.stages;
                if (round > 0) mbar_wait(&empty[stage], static_cast<uint32_t>((round - 1) & 1));
                int64_t begin, end;
                slice_range(c, base, s, ph.vectors, begin, end);
                const uint32_t bytes = static_cast<uint32_t>((end - begin) * 16);
                mbar_arrive_expect_tx(&full[stage], bytes);
                bulk_copy(ring + stage * c.slice_vectors, a.w + begin, bytes, &full[stage]);
            }
        }
        return;
    }
    // Consumers.
    const int ct = threadIdx.x - 32;
    const uint32_t* prev = a.seed;
    int prev_count = 1;
    int64_t k = 0;
    for (int q = 0; q < n_steps; ++q) {
        const Phase& ph = c.phase[q % c.n_phases];
        const int64_t base = (q / c.n_phases) * c.layer_vectors + ph.offset;
        uint32_t* out = a.out + static_cast<int64_t>(q) * kMaxSlots;
        bool waited = q == 0 || !a.wait_for_phases;
        unsigned long long mine = 0;  // slices of this phase done by this block
        for (int s = static_cast<int>(blockIdx.x); s < ph.slices; s += static_cast<int>(gridDim.x)) {
            if (!waited) {
                if (ct == 0) {
                    const unsigned long long target = (a.launches_before + 1) * static_cast<unsigned long long>(prev_count);
                    const long long start = clock64();
                    while (load_acquire(a.done + q - 1) < target) {
                        if (clock64() - start > kBarrierTimeoutCycles) {
                            atomicExch(a.timed_out, 1u);
                            break;
                        }
                    }
                }
                consumers_sync();
                waited = true;
            }
            const uint32_t dep = __ldcg(prev + s % prev_count);
            uint32_t v = static_cast<uint32_t>(s);
            if (ph.vectors > 0) {
                const int stage = static_cast<int>(k % a.stages);
                mbar_wait(&full[stage], static_cast<uint32_t>((k / a.stages) & 1));
                int64_t begin, end;
                slice_range(c, base, s, ph.vectors, begin, end);
                const uint4* slice = ring + stage * c.slice_vectors;
                uint32_t acc = 0;
                for (int64_t i = ct; i < end - begin; i += kRingConsumerThreads) {
                    const uint4 r = slice[i];
                    acc += r.x + r.y + r.z + r.w;
                }
                for (int offset = 16; offset > 0; offset >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, offset);
                if (lane == 0) warp_sums[warp - 1] = acc;
                consumers_sync();
                if (ct == 0) mbar_arrive(&empty[stage]);
                uint32_t total = 0;
#pragma unroll
                for (int i = 0; i < kRingConsumerWarps; ++i) total += warp_sums[i];
                consumers_sync();  // warp_sums is reused by the next slice
                v = total;
                ++k;
            }
            if (ct == 0) out[s] = v + dep;
            ++mine;
        }
        // One release per block and phase: a fence per slice held the consumers ~1 us per slice (measured).
        if (mine > 0 && ct == 0) {
            asm volatile("red.release.gpu.global.add.u64 [%0], %1;" ::"l"(a.done + q), "l"(mine) : "memory");
        }
        prev = out;
        prev_count = ph.slices;
    }
#endif
}

__global__ void fill_kernel(uint4* w, int64_t n) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        uint64_t z = static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z ^= z >> 27;
        w[i] = make_uint4(static_cast<uint32_t>(z), static_cast<uint32_t>(z >> 32), static_cast<uint32_t>(z * 3),
                          static_cast<uint32_t>(z >> 17));
    }
}

}  // namespace

bool kernels_have_bodies() {
    cudaFuncAttributes attributes{};
    SPOOL_CUDA_CHECK(cudaFuncGetAttributes(&attributes, step_kernel));
    return attributes.ptxVersion >= 90;
}

int step_blocks_per_sm() {
    int per_sm = 0;
    SPOOL_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, step_kernel, kThreads, 0));
    return per_sm;
}

int phase_blocks_per_sm(size_t pad_shared_bytes) {
    SPOOL_CUDA_CHECK(cudaFuncSetAttribute(phase_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(pad_shared_bytes)));
    int per_sm = 0;
    SPOOL_CUDA_CHECK(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, phase_kernel, kThreads, pad_shared_bytes));
    return per_sm;
}

int ring_blocks_per_sm(int stages, int64_t stage_bytes) {
    const int bytes = static_cast<int>(stages * stage_bytes);
    SPOOL_CUDA_CHECK(cudaFuncSetAttribute(ring_step_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
    int per_sm = 0;
    SPOOL_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, ring_step_kernel,
                                                                   32 * (1 + kRingConsumerWarps), bytes));
    return per_sm;
}

void launch_ring_step(const RingArgs& args, unsigned grid, cudaStream_t stream) {
    if (args.stages < 1 || args.stages > kRingMaxStages || args.chain.n_layers * args.chain.n_phases > kRingMaxSteps) {
        throw UsageError("launch_ring_step: 1.." + std::to_string(kRingMaxStages) + " stages and at most " +
                         std::to_string(kRingMaxSteps) + " layers x phases; got " + std::to_string(args.stages) +
                         " stages, " + std::to_string(args.chain.n_layers * args.chain.n_phases) + " steps");
    }
    RingArgs a = args;
    void* params[] = {&a};
    const size_t bytes = static_cast<size_t>(a.stages) * static_cast<size_t>(a.chain.slice_vectors) * 16;
    SPOOL_CUDA_CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(ring_step_kernel), dim3(grid),
                                                 dim3(32 * (1 + kRingConsumerWarps)), params, bytes, stream));
}

void launch_fill(uint4* w, int64_t n_vectors, cudaStream_t stream) {
    fill_kernel<<<1024, 256, 0, stream>>>(w, n_vectors);
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

void launch_phase(const uint4* w, const Chain& chain, int64_t base, int p, const uint32_t* prev, int prev_count,
                  uint32_t* out, const PhaseOptions& options, cudaStream_t stream) {
    ops::launch_pdl(phase_kernel, dim3(static_cast<unsigned>(chain.phase[p].slices)), dim3(kThreads),
                    options.pad_shared_bytes, stream, w, chain, base, p, prev, prev_count, out, options.x,
                    options.x_vectors);
}

void launch_step(const StepArgs& args, unsigned grid, cudaStream_t stream) {
    StepArgs a = args;
    void* params[] = {&a};
    SPOOL_CUDA_CHECK(
        cudaLaunchCooperativeKernel(reinterpret_cast<void*>(step_kernel), dim3(grid), dim3(kThreads), params, 0, stream));
}

}  // namespace spool::cuda::chain_bench
