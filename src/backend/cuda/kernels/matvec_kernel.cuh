// The matvec kernel template for every weight type (y = W x for 1..8 tokens, memory-bound) and its launcher.
// Instantiated per type family in matvec_{float,legacy,kquants}.cu so the 13 x 8 kernels compile in parallel.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/activation.cuh"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/matvec_args.cuh"
#include "backend/cuda/kernels/matvec_rope_kv.cuh"
#include "backend/cuda/kernels/ops_common.cuh"
#include "backend/cuda/kernels/quantize_x.cuh"
#include "backend/cuda/kernels/quant_blocks.cuh"

namespace spool::cuda::wq {

// Layout of the work (why): decode at batch 1 streams every weight byte once, so what matters is coalesced loads,
// enough loads in flight (on an H100 the limits measured were latency with too few warps, and L2 requests of narrow
// loads), and few instructions per weight. A block owns kRows consecutive rows; its warps split the row's tiles
// (1, 2 or 4 spans of 256 columns, quant_blocks.cuh) round-robin. Each lane decodes every element in the bytes it
// loads, in groups of 8 consecutive columns whose x it reads as two float4s through L1 (shared by all warps of an
// SM), reused for the kRows rows. For 1-2 tokens the dot is factored, scale * sum(u x) - min * sum(x), with exact
// integer levels u converted to float, so each weight costs its unpacking and one FMA per token; for more tokens each
// weight is dequantized once and FMA'd with every token. x is used in float32 as given, or (ActivationPrecision::int8,
// 1-2 tokens) rounded per 8-element group to int8 and dotted with the integer levels by dp4a (quantize_group below;
// an exact split of x into two 11-bit planes for dp2a had measured no faster). The grid depends on the shapes only
// (the backend replays CUDA graphs).
inline constexpr int kRows = 4;
inline constexpr int kMaxWarps = 8;
// Warps wanted over the whole grid: several waves of an H100 (132 SMs x about 24 resident warps). Measured: with
// one warp per block (2048) a 11008 x 4096 Q4_K matvec ran one wave of ~20 warps per SM, each waiting on its loads
// in turn (34% of DRAM bandwidth, 26% occupancy); splitting rows over more warps keeps more loads in flight.
inline constexpr int64_t kTargetWarps = 8192;

// This kernel's grid, from kRows (matvec_staged.cu gives finish_matvec_args its own rows per block).
// Output rows per block: glu blocks hold the same rows of two matrices.
__host__ __device__ inline int64_t rows_per_block(Epilogue e) { return is_glu(e) ? kRows / 2 : kRows; }
inline void finish_matvec_args(MatvecArgs& a) { finish_matvec_args(a, rows_per_block(a.epilogue)); }

// The epilogues of one output: act(W_gate x) * (W_up x), or W x (+ bias[row]) stored or added to *out.
__device__ __forceinline__ float glu_output(Epilogue e, float gate, float up) {
    return (e == Epilogue::glu_silu ? activate<Activation::silu>(gate) : activate<Activation::gelu>(gate)) * up;
}
// sum + bias[row], or sum without a bias.
__device__ __forceinline__ float with_bias(float sum, const float* bias, int64_t row) {
    return bias != nullptr ? sum + bias[row] : sum;
}
// sum (+ bias) stored to *out, or with Epilogue::add added to *out, whose value prefetch_residual may already have
// copied to *prefetched. Returns the value stored.
__device__ __forceinline__ float store_output(Epilogue e, float* out, float sum, const float* bias, int64_t row,
                                              const float* prefetched = nullptr) {
    sum = with_bias(sum, bias, row);
    const float value = e == Epilogue::add ? (prefetched != nullptr ? *prefetched : *out) + sum : sum;
    *out = value;
    return value;
}

// The residual add reads y[row] only to add its sum to it, after all of its dot products. Copied into shared memory
// right after the kernel's wait, its L2 round trip overlaps them instead of trailing them. cp.async holds no register
// across the loop, where the staged kernels sit at their 128-register limit; the thread that issued it reads the slot
// after residual_ready().
__device__ __forceinline__ void prefetch_residual(float* slot, const float* y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(slot));
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(dst), "l"(y) : "memory");
#else
    *slot = *y;
#endif
}
__device__ __forceinline__ void residual_ready() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

// Sums v[0..V) over the 32 lanes of a warp with V - 1 + (5 - log2 V) shuffles (not 5 V): each step halves the
// values a lane keeps, trading the other half with its partner. Afterwards lane L holds the total of value
// index(L) = sum over steps k of bit (4 - k) of L times V >> (k + 1). V is a power of two <= 32.
template <int V>
__device__ __forceinline__ float warp_transpose_sum(float (&v)[V], int lane) {
    int count = V;
#pragma unroll
    for (int offset = 16; offset >= 1; offset >>= 1) {
        if (count > 1) {
            const bool upper = (lane & offset) != 0;
            const int half = count / 2;
#pragma unroll
            for (int i = 0; i < V / 2; ++i) {
                if (i < half) {
                    const float keep = upper ? v[i + half] : v[i];
                    const float give = upper ? v[i] : v[i + half];
                    v[i] = keep + __shfl_xor_sync(0xffffffffu, give, offset);
                }
            }
            count = half;
        } else {
            v[0] += __shfl_xor_sync(0xffffffffu, v[0], offset);
        }
    }
    return v[0];
}

template <int V>
__device__ __forceinline__ int transpose_sum_index(int lane) {
    int index = 0, count = V;
#pragma unroll
    for (int offset = 16; offset >= 1 && count > 1; offset >>= 1) {
        count /= 2;
        if (lane & offset) index += count;
    }
    return index;
}

constexpr int next_pow2(int v) { return v <= 1 ? 1 : 2 * next_pow2((v + 1) / 2); }

// Where a warp reads: rows row0 + r at base + off[r] (rows past the end re-read the last row, in bounds, and are
// never written); head_off[i] is the row whose super-block headers this lane unpacks (kSharedScales types).
struct RowSet {
    const uint8_t* base;
    int64_t off[kRows];
    int64_t head_off[2];
};

// Tiles loaded before any is decoded: about kStepElems elements per lane and row at one token, so each warp has a
// few KB of loads in flight; half at two tokens, one tile from three (their accumulators and activations need the
// registers). Per type, from H100 runs of the bench (matvec_bench_test.cpp) at 32 and 64: Q6_K and Q3_K gained with
// 64 (Q6_K 32000 x 4096: 59% -> 67% of copy bandwidth); the others, Q8_0 included, ran best at 32.
template <class Dec>
constexpr int step_elems() {
    using T = spool::GgmlType;
    return Dec::kType == T::Q6_K || Dec::kType == T::Q3_K ? 64 : 32;
}

template <class Dec, int NT>
constexpr int tiles_per_step() {
    constexpr int per_lane = NT == 1 ? step_elems<Dec>() : (NT == 2 ? step_elems<Dec>() / 2 : 8);
    constexpr int lane_elems = 8 * Dec::kGroups;
    return per_lane > lane_elems ? per_lane / lane_elems : 1;
}

template <class Dec, int U>
struct Step {
    typename Dec::Raw raw[U][kRows];
    typename wq::HeadOf<Dec>::type head[U][2];  // kSharedScales: headers of (row, super-block) entries lane, lane + 32
};

template <class Dec>
constexpr int tile_elems() { return kSpan * Dec::kGroups; }

// A lane's elements of tile t exist (the last tile of a row may be partial).
template <class Dec>
__device__ __forceinline__ bool lane_valid(const MatvecArgs& a, int64_t t, int lane) {
    return t * tile_elems<Dec>() + Dec::group_elem(lane, 0) < a.n_cols;
}

// Loads tiles t0 + u * stride (u < U). kChecked: the row's last, possibly partial tile (U = 1), whose lanes past
// n_cols load nothing; otherwise every tile is whole.
template <class Dec, int U, bool kChecked>
__device__ __forceinline__ void load_step(const MatvecArgs& a, const RowSet& rows, int64_t t0, int64_t stride,
                                          int lane, Step<Dec, U>& step) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
        const int64_t t = t0 + u * stride;
        const uint8_t* tile = rows.base + t * Dec::kTileBytes;
        const bool valid = !kChecked || lane_valid<Dec>(a, t, lane);
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
            step.raw[u][r] = valid ? Dec::load(tile + rows.off[r], lane) : typename Dec::Raw{};
        }
        if constexpr (Dec::kSharedScales) {
            // Entry e = lane + 32 i: row e / 16, super-block (e / 8) % 2 of the tile, sub-block e % 8.
            const int sb = (lane >> 3) & 1;
            const bool sb_valid = !kChecked || t * tile_elems<Dec>() + kSpan * sb < a.n_cols;
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                step.head[u][i] = sb_valid ? Dec::load_head(tile + rows.head_off[i] + Dec::kBlockBytes * sb)
                                           : typename Dec::Head{};
            }
        }
    }
}

// ---- int8 activations (launch.h ActivationPrecision::int8). A lane rounds each of its 8-element groups of x to
// signed bytes with its own scale, then every row's levels meet those bytes in two dp4a: per row and group that is
// two integer dot products, one conversion and two FMAs instead of eight level conversions and ten FMAs. The rounding
// (quantize_x.cuh) is launch.h's formula to the bit (tests replay it on the host).

// sum of unsigned bytes of a times signed bytes of b, plus c
__device__ __forceinline__ int dot4_us(uint32_t a, uint32_t b, int c) {
    int d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// The 8 activations at p (16-byte aligned), or zeros for a lane past the row's end.
__device__ __forceinline__ void load_x8(const float* p, bool valid, float4& lo, float4& hi) {
    lo = make_float4(0.f, 0.f, 0.f, 0.f), hi = lo;
    if (valid) {
        lo = __ldg(reinterpret_cast<const float4*>(p));
        hi = __ldg(reinterpret_cast<const float4*>(p) + 1);
    }
}

// Accumulates the tiles of `step` into acc.
template <class Dec, int NT, int U, bool kChecked, bool kInt8>
__device__ __forceinline__ void compute_step(const MatvecArgs& a, const Step<Dec, U>& step, int64_t t0,
                                             int64_t stride, int lane, float4* table, float (&acc)[kRows][NT]) {
    constexpr int G = Dec::kGroups;
    constexpr bool kFactored = !Dec::kFloat && NT <= 2;
    static_assert(!kInt8 || kFactored, "int8 activations: quantized weights at <= 2 tokens");
    if constexpr (Dec::kSharedScales) {
        // Each lane unpacks 2 of the kRows x 2 x 8 (row, super-block, sub-block) scale pairs of a tile; the table
        // holds them as float2 pairs, two sub-blocks per float4.
        float2* pairs = reinterpret_cast<float2*>(table);
#pragma unroll
        for (int u = 0; u < U; ++u) {
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                float sc, mn;
                Dec::head_scale_min(step.head[u][i], lane & 7, sc, mn);
                pairs[64 * u + 32 * i + lane] = make_float2(sc, mn);
            }
        }
        __syncwarp();
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
        const int64_t t = t0 + u * stride;
        const bool valid = !kChecked || lane_valid<Dec>(a, t, lane);
        const float* xt = a.x + t * tile_elems<Dec>();
#pragma unroll
        for (int g = 0; g < G; ++g) {
            const float* xs = xt + Dec::group_elem(lane, g);
            float scale[kRows], min[kRows];
            if constexpr (Dec::kSharedScales) {
#pragma unroll
                for (int r = 0; r < kRows; ++r) {
                    // (row r, the lane's super-block, sub-blocks lane_sub + 0 and + 1)
                    const float4 v = table[32 * u + 8 * r + 4 * (lane >> 4) + Dec::lane_sub(lane) / 2];
                    scale[r] = g == 0 ? v.x : v.z, min[r] = g == 0 ? v.y : v.w;
                }
            } else if constexpr (!Dec::kFloat) {
#pragma unroll
                for (int r = 0; r < kRows; ++r) Dec::scale_min(step.raw[u][r], lane, g, scale[r], min[r]);
            }
            if constexpr (kInt8) {
                QuantizedGroup xq[NT];
#pragma unroll
                for (int tk = 0; tk < NT; ++tk) {
                    float4 lo, hi;
                    load_x8(xs + tk * a.n_cols, valid, lo, hi);
                    xq[tk] = quantize_group(lo, hi);
                }
#pragma unroll
                for (int r = 0; r < kRows; ++r) {
                    const uint2 lv = Dec::level_bytes(step.raw[u][r], lane, g);
#pragma unroll
                    for (int tk = 0; tk < NT; ++tk) {
                        const int dot = dot4_us(lv.y, xq[tk].q.y, dot4_us(lv.x, xq[tk].q.x, kRoundMagicBits));
                        const float f = __int_as_float(dot) - kRoundMagic;
                        acc[r][tk] = fmaf(scale[r] * xq[tk].d, f, fmaf(-min[r], xq[tk].dsum, acc[r][tk]));
                    }
                }
            } else if constexpr (kFactored) {
                float xv[NT][8], xsum[NT];
#pragma unroll
                for (int tk = 0; tk < NT; ++tk) {
                    float4 lo, hi;
                    load_x8(xs + tk * a.n_cols, valid, lo, hi);
                    xv[tk][0] = lo.x, xv[tk][1] = lo.y, xv[tk][2] = lo.z, xv[tk][3] = lo.w;
                    xv[tk][4] = hi.x, xv[tk][5] = hi.y, xv[tk][6] = hi.z, xv[tk][7] = hi.w;
                    xsum[tk] = ((xv[tk][0] + xv[tk][1]) + (xv[tk][2] + xv[tk][3])) +
                               ((xv[tk][4] + xv[tk][5]) + (xv[tk][6] + xv[tk][7]));
                }
#pragma unroll
                for (int r = 0; r < kRows; ++r) {
                    float lv[8];
                    Dec::levels(step.raw[u][r], lane, g, lv);
#pragma unroll
                    for (int tk = 0; tk < NT; ++tk) {
                        float dot = lv[0] * xv[tk][0];
#pragma unroll
                        for (int i = 1; i < 8; ++i) dot = fmaf(lv[i], xv[tk][i], dot);
                        acc[r][tk] = fmaf(scale[r], dot, fmaf(-min[r], xsum[tk], acc[r][tk]));
                    }
                }
            } else {
                float w[kRows][8];
#pragma unroll
                for (int r = 0; r < kRows; ++r) {
                    if constexpr (Dec::kFloat) {
                        Dec::values(step.raw[u][r], w[r]);
                    } else {
                        float lv[8];
                        Dec::levels(step.raw[u][r], lane, g, lv);
#pragma unroll
                        for (int i = 0; i < 8; ++i) w[r][i] = fmaf(scale[r], lv[i], -min[r]);
                    }
                }
#pragma unroll
                for (int tk = 0; tk < NT; ++tk) {
                    float4 lo, hi;
                    load_x8(xs + tk * a.n_cols, valid, lo, hi);
                    const float xv[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
                    for (int r = 0; r < kRows; ++r) {
                        float sum = acc[r][tk];
#pragma unroll
                        for (int i = 0; i < 8; ++i) sum = fmaf(w[r][i], xv[i], sum);
                        acc[r][tk] = sum;
                    }
                }
            }
        }
    }
    if constexpr (Dec::kSharedScales) __syncwarp();  // the next step overwrites the table
}

template <class Dec, int NT, bool kInt8, bool kRope>
__global__ void __launch_bounds__(32 * kMaxWarps) matvec_kernel(MatvecArgs a) {
    static_assert(!kRope || NT == 1, "the rope + KV store epilogue: one token");
    constexpr int U = tiles_per_step<Dec, NT>();
    constexpr int V = next_pow2(kRows * NT);
    constexpr int kTableWarps = Dec::kSharedScales ? kMaxWarps : 1, kTableSize = Dec::kSharedScales ? 32 * U : 1;
    __shared__ float partial[kMaxWarps][V];
    __shared__ float4 scale_table[kTableWarps][kTableSize];

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    const BlockMatrix m = block_matrix(a);
    const uint8_t* w = m.w;
    const int64_t n_rows = m.n_rows, block = m.block;
    const bool glu = is_glu(a.epilogue);
    const int64_t per_block = glu ? kRows / 2 : kRows;
    const int64_t row0 = block * per_block;
    const int64_t last = n_rows - 1;
    // Byte offset of the block's row r from its first row: rows past the end re-read the last row (in bounds, never
    // written); a glu block's rows kRows / 2.. are those of W_up.
    const int64_t up_delta = glu ? a.up_delta : 0;
    auto row_offset = [&](int64_t r) {
        const int64_t own = glu && r >= kRows / 2 ? r - kRows / 2 : r;
        return ((row0 + own < last ? row0 + own : last) - row0) * a.row_bytes + (glu && r >= kRows / 2 ? up_delta : 0);
    };
    RowSet rows;
    rows.base = w + row0 * a.row_bytes;
#pragma unroll
    for (int r = 0; r < kRows; ++r) rows.off[r] = row_offset(r);
    rows.head_off[0] = row_offset(lane >> 4);
    rows.head_off[1] = row_offset(2 + (lane >> 4));
    float4* table = scale_table[Dec::kSharedScales ? warp : 0];

    float acc[kRows][NT];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
        for (int t = 0; t < NT; ++t) acc[r][t] = 0.0f;
    }
    // Whole tiles U at a time, then the rest (and a partial last tile) one at a time with per-lane checks. The
    // weights never change, so the first step's loads are issued before waiting for the kernel that writes x: under
    // programmatic dependent launch they overlap that kernel's tail.
    const int64_t n_whole = a.n_cols / tile_elems<Dec>();
    const int64_t n_tiles = (a.n_cols + tile_elems<Dec>() - 1) / tile_elems<Dec>();
    int64_t t = warp;
    bool whole = t + (U - 1) * n_warps < n_whole;
    Step<Dec, U> step;
    if (whole) load_step<Dec, U, false>(a, rows, t, n_warps, lane, step);
    // Rope + KV store: the epilogue threads (those of even r below) compute their pair's angle early.
    const bool rope_thread = kRope && threadIdx.x < kRows && threadIdx.x % 2 == 0;
    const int role = kRope ? a.rk.role[m.index] : kRoleNone;
    __shared__ RopeKvState rope_state[kRope ? kRows / 2 : 1];
    if (rope_thread) rope_state[threadIdx.x / 2] = rope_kv_state(a.rk, role, row0 + threadIdx.x);
    ops::wait_for_producers();
    ops::allow_dependents();  // the next matvec fetches its weights while this one computes
    // Only the one-token float kernels (the F16/BF16/F32 models' decode) prefetch the residual: in the others the
    // code moved register allocation by up to 17 either way and cost Q4_0 a spill (ptxas, sm_90).
    constexpr bool kPrefetchResidual = Dec::kFloat && NT == 1;
    __shared__ float residual[kRows * NT];
    const bool add_thread = kPrefetchResidual && a.epilogue == Epilogue::add && threadIdx.x < kRows * NT;
    if (add_thread && row0 + threadIdx.x / NT < n_rows) {
        prefetch_residual(&residual[threadIdx.x], m.y + (threadIdx.x % NT) * n_rows + row0 + threadIdx.x / NT);
    }
    while (whole) {
        compute_step<Dec, NT, U, false, kInt8>(a, step, t, n_warps, lane, table, acc);
        t += U * n_warps;
        whole = t + (U - 1) * n_warps < n_whole;
        if (whole) load_step<Dec, U, false>(a, rows, t, n_warps, lane, step);
    }
    for (; t < n_tiles; t += n_warps) {
        Step<Dec, 1> tail;
        load_step<Dec, 1, true>(a, rows, t, n_warps, lane, tail);
        compute_step<Dec, NT, 1, true, kInt8>(a, tail, t, n_warps, lane, table, acc);
    }

    float v[V];
#pragma unroll
    for (int i = 0; i < V; ++i) v[i] = i < kRows * NT ? acc[i / NT][i % NT] : 0.0f;
    const float total = warp_transpose_sum<V>(v, lane);
    if ((lane & (32 / V - 1)) == 0) partial[warp][transpose_sum_index<V>(lane)] = total;
    __syncthreads();
    if (threadIdx.x < kRows * NT) {
        const int r = threadIdx.x / NT, tk = threadIdx.x % NT;
        auto row_total = [&](int rr) {
            float sum = 0.0f;
            for (int i = 0; i < n_warps; ++i) sum += partial[i][rr * NT + tk];
            return sum;
        };
        const int64_t row = row0 + r;
        if (kRope && role != kRoleNone) {
            // Pairs (r, r + 1): n_rows is whole heads, so a pair is whole or past the end.
            if (r % 2 == 0 && row < n_rows) {
                rope_kv_store(a.rk, role, m.y, row, with_bias(row_total(r), m.bias, row),
                              with_bias(row_total(r + 1), m.bias, row + 1), rope_state[r / 2]);
            }
        } else if (glu) {
            if (r < kRows / 2 && row < n_rows) {
                m.y[tk * n_rows + row] = glu_output(a.epilogue, row_total(r), row_total(r + kRows / 2));
            }
        } else if (row < n_rows) {
            if (add_thread) residual_ready();
            store_output(a.epilogue, m.y + tk * n_rows + row, row_total(r), m.bias, row,
                         add_thread ? &residual[threadIdx.x] : nullptr);
        }
    }
}

// Warps per block: enough blocks x warps to fill the device, never more warps than tiles, and once the grid has a
// wave of warps (132 SMs x 8), never so many that a warp gets less than one full step of tiles_per_step tiles.
inline int matvec_warps(int64_t blocks, int64_t n_tiles, int tiles_per_step) {
    int64_t warps = 1;
    while (warps < kMaxWarps && blocks * warps < kTargetWarps && warps * 2 <= n_tiles &&
           (blocks * warps < 1024 || warps * 2 * tiles_per_step <= n_tiles)) {
        warps *= 2;
    }
    return static_cast<int>(warps);
}

template <class Dec, int NT>
void launch_matvec_kernel(const MatvecArgs& a, cudaStream_t stream) {
    const int64_t n_tiles = (a.n_cols + tile_elems<Dec>() - 1) / tile_elems<Dec>();
    const int warps = matvec_warps(a.n_blocks, n_tiles, tiles_per_step<Dec, NT>());
    const dim3 grid(static_cast<unsigned>(a.n_blocks)), block(32 * warps);
    if constexpr (NT == 1) {
        if (a.rope_kv) {
            if constexpr (!Dec::kFloat) {
                if (a.int8) {
                    ops::launch_pdl(matvec_kernel<Dec, NT, true, true>, grid, block, 0, stream, a);
                    return;
                }
            }
            ops::launch_pdl(matvec_kernel<Dec, NT, false, true>, grid, block, 0, stream, a);
            return;
        }
    }
    if constexpr (!Dec::kFloat && NT <= 2) {
        if (a.int8) {
            ops::launch_pdl(matvec_kernel<Dec, NT, true, false>, grid, block, 0, stream, a);
            return;
        }
    }
    ops::launch_pdl(matvec_kernel<Dec, NT, false, false>, grid, block, 0, stream, a);
}

// Runs the kernel of decoder Dec for n_tokens (1..8).
template <class Dec>
void launch_matvec_typed(const MatvecArgs& a, int64_t n_tokens, cudaStream_t stream) {
    switch (n_tokens) {
        case 1: launch_matvec_kernel<Dec, 1>(a, stream); break;
        case 2: launch_matvec_kernel<Dec, 2>(a, stream); break;
        case 3: launch_matvec_kernel<Dec, 3>(a, stream); break;
        case 4: launch_matvec_kernel<Dec, 4>(a, stream); break;
        case 5: launch_matvec_kernel<Dec, 5>(a, stream); break;
        case 6: launch_matvec_kernel<Dec, 6>(a, stream); break;
        case 7: launch_matvec_kernel<Dec, 7>(a, stream); break;
        case 8: launch_matvec_kernel<Dec, 8>(a, stream); break;
        default: break;  // checked by launch_matvec
    }
}

// launch_matvec_typed with the decoder of the weights' layout: Grouped where a.grouped (WeightLayout::grouped), else
// Blocks.
template <class Blocks, class Grouped>
void launch_matvec_in_layout(const MatvecArgs& a, int64_t n_tokens, cudaStream_t stream) {
    if (a.grouped) {
        launch_matvec_typed<Grouped>(a, n_tokens, stream);
    } else {
        launch_matvec_typed<Blocks>(a, n_tokens, stream);
    }
}

// One per family file; each returns false for a type it does not hold.
bool launch_matvec_float(spool::GgmlType type, const MatvecArgs& a, int64_t n_tokens, cudaStream_t stream);
bool launch_matvec_legacy(spool::GgmlType type, const MatvecArgs& a, int64_t n_tokens, cudaStream_t stream);
bool launch_matvec_kquants(spool::GgmlType type, const MatvecArgs& a, int64_t n_tokens, cudaStream_t stream);
// The staged one-token int8 kernel (matvec_staged.cu; it sets the grid of its copy of a): staged_covers says whether
// a launch of this type and shape takes it (given aligned weights); launch_matvec_staged returns false where it does
// not apply.
// With x_made (x~ read from a.x_int8, no rounding per block) it pays from fewer rows for some types.
bool staged_covers(spool::GgmlType type, int64_t n_tokens, int64_t total_rows, int64_t n_cols, bool x_made);
// Whether a glu launch of these arguments, given x~ (x_made) or not, runs the staged kernel with blocks of 8 rows, one
// 8-element group of y each, so that its epilogue can write y's x~ to a.y_int8 (a.x_int8 is not looked at).
bool staged_glu_writes_int8(spool::GgmlType type, const MatvecArgs& a, int64_t n_tokens, bool x_made);
// Whether the staged residual add of a (x_made: x~ given) can write norm_x (launch.h matvec_add_writes_norm_x).
bool staged_add_writes_norm_x(spool::GgmlType type, const MatvecArgs& a, int64_t n_tokens, bool x_made);
bool launch_matvec_staged(spool::GgmlType type, const MatvecArgs& a, int64_t n_tokens, cudaStream_t stream);
// Whether the staged kernel takes a batch whose alt segments hold a.alt_type (launch.h matvec_batch_mixable).
bool staged_mixed_applies(spool::GgmlType type, const MatvecArgs& a, int64_t n_tokens);
// F32/F16/BF16 rows whose n_cols is not a multiple of 8 (or x not 16-byte aligned): one element at a time.
void launch_matvec_float_unaligned(spool::GgmlType type, const MatvecArgs& a, int64_t n_tokens, cudaStream_t stream);

}  // namespace spool::cuda::wq
