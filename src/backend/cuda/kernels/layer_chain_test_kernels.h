// Kernels of the layer-chain benchmark (layer_chain_bench_test.cpp; built into the test binary only): a decode step
// reduced to its weight reads and dependencies, run as one kernel per phase (the backend's way) or as one persistent
// cooperative kernel with grid barriers between phases.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace spool::cuda::chain_bench {

inline constexpr int kThreads = 256;
inline constexpr int kMaxPhases = 12;
inline constexpr int kMaxSlots = 8192;  // output values per phase: slices of the largest phase, or its workers

struct Phase {
    int64_t offset = 0;   // first 16-byte vector of the phase's weights within a layer
    int64_t vectors = 0;  // 0: a phase without weights, run by `slices` blocks
    int slices = 1;       // blocks of work: slices of Chain::slice_vectors, or workers
};

struct Chain {
    Phase phase[kMaxPhases];
    int n_phases = 0;
    int n_layers = 0;
    int64_t slice_vectors = 0;  // weight vectors per slice
    int64_t layer_vectors = 0;
};

struct StepArgs {
    const uint4* w = nullptr;
    Chain chain;
    const uint32_t* seed = nullptr;            // the value the first phase depends on
    uint32_t* out = nullptr;                   // [layer][phase][kMaxSlots]
    unsigned long long* arrivals = nullptr;    // grid barrier: blocks arrived, counted over launches
    unsigned long long arrivals_before = 0;    // arrivals of earlier launches on that counter
    bool register_prefetch = false;            // next phase's first loads issued before each barrier
    int64_t l2_prefetch_vectors = 0;           // per block, of the next phase with weights, into L2
    unsigned* timed_out = nullptr;             // set where a barrier waited ~2 s (the results are then wrong)
};

// The whole chain as one cooperative launch in which no block waits for the whole grid: each block's producer warp
// copies the weights of the block's coming slices into a ring of shared-memory stages (cp.async.bulk, one slice per
// stage) as soon as a stage is free, whatever phase they belong to; its consumer warps take the slices in order, each
// after the previous phase's slices are all done (a counter per layer and phase, to which each block adds the slices
// it finished there, once).
// Chain::slice_vectors is the stage size.
inline constexpr int kRingConsumerWarps = 8;
inline constexpr int kRingMaxStages = 16;
inline constexpr int kRingMaxSteps = 512;  // layers x phases
struct RingArgs {
    const uint4* w = nullptr;
    Chain chain;
    const uint32_t* seed = nullptr;
    uint32_t* out = nullptr;                  // [layer][phase][kMaxSlots]
    unsigned long long* done = nullptr;       // [kRingMaxSteps]: slices finished, counted over launches
    unsigned long long launches_before = 0;   // launches of the kernel on `done` before this one
    int stages = 0;
    bool wait_for_phases = true;              // false: the streaming ceiling (no waits, wrong values)
    unsigned* timed_out = nullptr;
};

// How a phase kernel is made to resemble a real matvec more closely (the defaults: not at all).
struct PhaseOptions {
    // Read after the wait, one 16-byte vector per weight vector, through L1 (a matvec's x~ loads); zeros, so the
    // sums stay those of the other forms. nullptr: no such reads. x_vectors: a power of two.
    const uint4* x = nullptr;
    int64_t x_vectors = 0;
    // Dynamic shared memory each block holds without using it: caps the blocks per SM, of this phase and of the next
    // one overlapping it under PDL, as a matvec's ~128 registers per thread do (2 blocks of 256 threads per SM).
    size_t pad_shared_bytes = 0;
};

// Whether the kernels were built for sm_90 or later (griddepcontrol, acquire loads); below they have no body.
bool kernels_have_bodies();
// step_kernel blocks an SM holds at once.
int step_blocks_per_sm();
// phase_kernel blocks an SM holds at once with `pad_shared_bytes` of dynamic shared memory each. It also raises
// phase_kernel's dynamic shared memory limit to that size, which launch_phase needs for a pad above 48 KiB.
int phase_blocks_per_sm(size_t pad_shared_bytes);
// ring_step_kernel blocks an SM holds at once with `stages` stages of `stage_bytes`; it also raises the kernel's
// dynamic shared memory limit to that size.
int ring_blocks_per_sm(int stages, int64_t stage_bytes);
void launch_ring_step(const RingArgs& args, unsigned grid, cudaStream_t stream);
// n_vectors pseudo-random 16-byte vectors.
void launch_fill(uint4* w, int64_t n_vectors, cudaStream_t stream);
// Phase p of the layer whose weights start at vector `base`, one block per slice, launched with programmatic
// dependent launch: out[slice] = sum of the slice's words + prev[slice % prev_count].
void launch_phase(const uint4* w, const Chain& chain, int64_t base, int p, const uint32_t* prev, int prev_count,
                  uint32_t* out, const PhaseOptions& options, cudaStream_t stream);
// The whole chain (every layer, every phase) as one cooperative launch of `grid` blocks; the same outputs.
void launch_step(const StepArgs& args, unsigned grid, cudaStream_t stream);

}  // namespace spool::cuda::chain_bench
