// Prefill-sized matmuls of quantized weights on the tensor cores without a dequantized copy of W in device memory
// (launch.h launch_matmul_tc). Each warp owns 32 rows of W (two mma row groups of 16) and builds the mma's A fragments
// in registers straight from the quantized bytes: the decoders of quant_blocks.cuh are pure functions of (tile, lane),
// so lane (g, c) of the fragment layout (g = lane / 4, c = lane % 4) decodes the groups that decoder lanes c, c + 4,
// .., c + 28 own in rows g and g + 8 (another order of the same lanes in the few-token form, few_tokens_form below),
// and each run of 4 of its values fills its fragment's columns 2c, 2c + 1, 2c + 8, 2c + 9 of one k-step. The k-steps
// thus walk a tile's columns in the decoder's order, not in order; launch_pack_x_tc lays x out (rounded to fp16, in
// B-fragment order, one 8-byte load per lane) in that same order, per weight type, so every product pairs a weight with
// its own column of x. Values are those of launch_dequantize_rows_f16 (the reference value rounded to the nearest half,
// saturated) and x is rounded as launch_f32_to_f16 does, with float32 accumulation: the dequantize + cuBLAS path's
// products in another summation order, with no shared memory and no barrier. Where the rows alone give too few warps
// for the GPU, the columns are split into slices whose partial sums a second kernel adds in a fixed order
// (reproducible, no atomics).
#include <cuda_fp16.h>

#include <algorithm>
#include <string>
#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/mma_sm80.cuh"
#include "backend/cuda/kernels/ops_common.cuh"
#include "backend/cuda/kernels/quant_blocks.cuh"

namespace spool::cuda {
namespace {

constexpr int kWarps = 2;           // per block
constexpr int kRowGroups = 2;       // mma row groups of 16 per warp: each B fragment load serves both
constexpr int kRowsPerWarp = 16 * kRowGroups;
constexpr int kTokensPerTile = 8;   // the mma's N
constexpr int kMaxNTiles = 8;       // token tiles per pass: 64 tokens; more tokens take more passes over W
constexpr int kMaxSlices = 16;
constexpr int kBlocksPerSm = 8;

template <class Dec>
constexpr int tile_cols() {
    return wq::kSpan * Dec::kGroups;
}

// Tokens are multiplied in passes of NT tiles of 8; NT is the smallest power of two covering n_tokens, at most 8.
int token_tiles_per_pass(int64_t n_tokens) {
    const int64_t tiles = (n_tokens + kTokensPerTile - 1) / kTokensPerTile;
    int nt = 1;
    while (nt < tiles && nt < kMaxNTiles) nt *= 2;
    return nt;
}

int64_t padded_token_tiles(int64_t n_tokens) {
    const int64_t per_pass = int64_t{kTokensPerTile} * token_tiles_per_pass(n_tokens);
    return (n_tokens + per_pass - 1) / per_pass * token_tiles_per_pass(n_tokens);
}

// The columns are walked in units of one decoder lane per fragment lane of a tile (8 per tile); a slice is a run of
// units.
constexpr int kUnitsPerTile = 8;

struct Plan {
    int nt = 1, passes = 1, row_blocks = 1, slices = 1, units_per_slice = 1;
};

Plan make_plan(int cols_per_tile, int64_t n_rows, int64_t n_cols, int64_t n_tokens, int sm_count) {
    Plan p;
    p.nt = token_tiles_per_pass(n_tokens);
    p.passes = static_cast<int>(padded_token_tiles(n_tokens) / p.nt);
    p.row_blocks = static_cast<int>((n_rows + kWarps * kRowsPerWarp - 1) / (kWarps * kRowsPerWarp));
    const int64_t units = (n_cols + cols_per_tile - 1) / cols_per_tile * kUnitsPerTile;
    // About kBlocksPerSm blocks per SM in all: a warp has one unit's weight loads in flight beside the one it
    // multiplies, so the SM needs many warps to keep DRAM busy.
    const int64_t blocks = int64_t{p.row_blocks} * p.passes;
    const int64_t want = std::clamp<int64_t>((kBlocksPerSm * int64_t{sm_count} + blocks - 1) / blocks, 1, kMaxSlices);
    p.units_per_slice = static_cast<int>((units + want - 1) / want);
    p.slices = static_cast<int>((units + p.units_per_slice - 1) / p.units_per_slice);
    return p;
}

size_t partial_bytes(const Plan& p, int64_t n_rows, int64_t n_tokens) {
    return p.slices > 1 ? static_cast<size_t>(p.slices * n_tokens * n_rows) * sizeof(float) : 0;
}

// Two forms of the kernel, chosen by the token tiles per pass (few_tokens_form): measured on an H100
// (CudaMatmulTcBench, docs/cuda-performance.md v24), the few-token form is 5-19% faster at 1 and 2 tiles (up to 16
// tokens) on 7B shapes of Q4_0, Q4_K and Q8_0 and slower at 4 and 8 tiles (Q4_0 11008 x 4096 at 32 tokens 44 -> 58
// us, Q8_0 4096 x 11008 at 64 tokens 72 -> 104 us), so it takes only the short passes. It differs in two ways:
//  - the decoder lane that fragment lane c handles at unit vi of a tile, for the kSharedScales decoders (Q4_K, Q5_K):
//    16 (vi / 4) + 4 c + vi % 4 instead of c + 4 vi, so the 4 units of a quad share the lane's super-block and
//    sub-blocks (2c, 2c + 1): the header is loaded and its scales unpacked once per quad instead of once per unit, and
//    the 4 lanes of a row read one whole 128-byte line of nibbles per load instruction instead of one 32-byte sector;
//  - Q4_0, Q5_0 and Q8_0 fragments are built in half2 arithmetic (half_exact_values), with the same values.
__host__ __device__ constexpr bool few_tokens_form(int nt) { return nt <= 2; }

template <class Dec, bool kFew>
__device__ __forceinline__ int decoder_lane(int c, int vi) {
    if constexpr (kFew && Dec::kSharedScales) return 16 * (vi >> 2) + 4 * c + (vi & 3);
    return c + 4 * vi;
}

// K-step `step` of a tile (16 G of them): decoder lane decoder_lane(c, vi), group grp, values 4h .. 4h + 3, for
// step = 2 (G vi + grp) + h. Its B fragment at lane (token tile row n = lane / 4, c = lane % 4) holds x at the
// columns of those 4 values; here the first of them, relative to the tile.
template <class Dec, bool kFew>
__device__ __forceinline__ int step_column(int step, int c) {
    constexpr int G = Dec::kGroups;
    const int h = step & 1, q = step >> 1;
    return Dec::group_elem(decoder_lane<Dec, kFew>(c, q / G), q % G) + 4 * h;
}

// Types whose value (u - bias) d, d an fp16 number and u a level of at most 8 bits, is exact in float32 before
// its rounding to half (the reference path), so one fp16 multiply gives the same half: Q4_0, Q5_0, Q8_0. Their
// fragments are built in half2 arithmetic (1.5 instructions per weight pair instead of ~9).
template <class Dec>
constexpr int half_exact_bias() {
    if constexpr (std::is_base_of_v<wq::DecQ4_0, Dec>) return 8;  // DecQ4_0Grouped too
    if constexpr (std::is_same_v<Dec, wq::DecQ5_0>) return 16;
    if constexpr (std::is_same_v<Dec, wq::DecQ8_0>) return 128;
    return 0;
}

// x [n_tokens, n_cols] -> fp16 B fragments in Dec's column order: element (k-step s, token tile j, lane) holds, for
// token 8j + lane / 4, the halves of columns col, col + 1 (b0) and col + 2, col + 3 (b1), col the step's column for
// lane % 4; zeros past n_cols and n_tokens.
template <class Dec, bool kFew>
__global__ void pack_x_kernel(const float* x, int64_t n_tokens, int64_t n_cols, int64_t k_steps, int64_t n_tiles,
                              uint2* out) {
    constexpr int kSteps = tile_cols<Dec>() / 16;
    const int64_t n = k_steps * n_tiles * 32;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int lane = static_cast<int>(i & 31);
        const int64_t j = (i >> 5) % n_tiles, s = (i >> 5) / n_tiles;
        const int64_t token = j * kTokensPerTile + (lane >> 2);
        const int64_t col =
            s / kSteps * tile_cols<Dec>() + step_column<Dec, kFew>(static_cast<int>(s % kSteps), lane & 3);
        __half h[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            h[e] = ops::half_saturated(token < n_tokens && col + e < n_cols ? x[token * n_cols + col + e] : 0.0f);
        }
        uint2 v;
        const __half2 lo = __halves2half2(h[0], h[1]), hi = __halves2half2(h[2], h[3]);
        memcpy(&v.x, &lo, 4);
        memcpy(&v.y, &hi, 4);
        out[i] = v;
    }
}

// y[i] = (accumulate ? y[i] : 0) + sum over slices s of partials[s][i], s in order.
__global__ void sum_slices_kernel(const float* partials, int slices, int64_t n, float* y, bool accumulate) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        float sum = accumulate ? y[i] : 0.0f;
        for (int s = 0; s < slices; ++s) sum += partials[s * n + i];
        y[i] = sum;
    }
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
__device__ __forceinline__ uint2 load_fragment(const uint2* p) {
    uint2 v;
    asm("ld.global.nc.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
    return v;
}

// Two floats as one half2 register (a in the low half), rounded to nearest, saturated at +-65504, NaN kept: the
// values of ops::half_saturated in one instruction.
__device__ __forceinline__ uint32_t half2_saturated(float a, float b) {
    uint32_t r;
    asm("cvt.rn.satfinite.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(b), "f"(a));
    return r;
}

// The few-token form, half_exact_bias types: the 8 values of group g as 4 half2 (values 2k, 2k + 1), equal to
// half2_saturated of the reference values: (1024 + u) from a byte permute, minus (1024 + bias) exactly, times d
// rounded once, clamped to +-65504 with NaN kept.
template <class Dec>
__device__ __forceinline__ void half_exact_values(const typename Dec::Raw& raw, int lane, int g, uint32_t (&out)[4]) {
    const uint2 levels = Dec::level_bytes(raw, lane, g);  // element i in byte i % 4 of word i / 4
    const __half2 offset = __float2half2_rn(1024.0f + static_cast<float>(half_exact_bias<Dec>()));
    const __half2 d = __half2half2(__ushort_as_half(static_cast<unsigned short>(raw.d & 0xffffu)));
    const __half2 limit = __float2half2_rn(65504.0f), neg_limit = __float2half2_rn(-65504.0f);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const uint32_t word = k < 2 ? levels.x : levels.y;
        const uint32_t pair = __byte_perm(word, 0x64646464u, (k & 1) ? 0x4342u : 0x4140u);  // 1024 + u, two of them
        __half2 v = __hmul2(__hsub2(*reinterpret_cast<const __half2*>(&pair), offset), d);
        v = __hmin2_nan(__hmax2_nan(v, neg_limit), limit);
        out[k] = tc::half2_bits(v);
    }
}
#endif

// Block (row block, pass) x slice: warp w multiplies its 32 rows by the NT token tiles of its pass over the column
// tiles of its slice. partials null: y = (accumulate ? y : 0) + W x; else the slice's sums go to
// partials[slice][token][row].
template <class Dec, int NT, bool kFew>
__global__ void __launch_bounds__(32 * kWarps) matmul_tc_kernel(const uint8_t* w, int64_t row_bytes, int n_rows,
                                                                int n_cols, const uint2* xp, int n_tiles, int n_tokens,
                                                                int passes, int units_per_slice, float* y,
                                                                bool accumulate, float* partials) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    constexpr int G = Dec::kGroups, kCols = tile_cols<Dec>(), kSteps = kCols / 16, R = 2 * kRowGroups;
    static_assert(kSteps == 16 * G, "8 decoder lanes per fragment lane, 2 k-steps per group");
    const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
    const int g = lane >> 2, c = lane & 3;
    const int pass = static_cast<int>(blockIdx.x) % passes;
    const int row0 = (static_cast<int>(blockIdx.x) / passes * kWarps + warp) * kRowsPerWarp;
    if (row0 >= n_rows) return;  // warps are independent: nothing waits for this one
    // Rows g, g + 8 of each row group (clamped: rows past the end load a real row and are not stored).
    const uint8_t* rows[R];
#pragma unroll
    for (int i = 0; i < R; ++i) rows[i] = w + min(row0 + 16 * (i >> 1) + g + 8 * (i & 1), n_rows - 1) * row_bytes;
    const int units = (n_cols + kCols - 1) / kCols * kUnitsPerTile;
    const int u_begin = static_cast<int>(blockIdx.y) * units_per_slice;
    const int u_end = min(units, u_begin + units_per_slice);
    const uint2* xb = xp + static_cast<int64_t>(pass) * NT * 32 + lane;

    float acc[kRowGroups][NT][4];
#pragma unroll
    for (int i = 0; i < kRowGroups; ++i) {
#pragma unroll
        for (int j = 0; j < NT; ++j) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.0f;
    }

    // Unit u: tile u / 8, decoder lane decoder_lane(c, u % 8). Its rows' loads are issued one unit ahead of their use.
    // The few-token form with shared scales: a unit that starts a quad of 4 (or the slice) also loads its rows'
    // super-block headers, whose scales the quad's units share.
    constexpr bool kQuad = kFew && Dec::kSharedScales;
    constexpr bool kHalfExact = kFew && half_exact_bias<Dec>() != 0;
    const auto unit_live = [&](int u) {
        return u < u_end &&
               u / kUnitsPerTile * kCols + Dec::group_elem(decoder_lane<Dec, kFew>(c, u % kUnitsPerTile), 0) < n_cols;
    };
    const auto load_unit = [&](int u, wq::TileLoad<Dec>(&loads)[R]) {
        const int64_t tile_offset = static_cast<int64_t>(u / kUnitsPerTile) * Dec::kTileBytes;
        const int v = decoder_lane<Dec, kFew>(c, u % kUnitsPerTile);
        if constexpr (kQuad) {
            const bool heads = (u & 3) == 0 || u == u_begin;
#pragma unroll
            for (int i = 0; i < R; ++i) {
                loads[i].raw = Dec::load(rows[i] + tile_offset, v);
                if (heads) loads[i].head = wq::load_lane_head<Dec>(rows[i] + tile_offset, v);
            }
        } else {
#pragma unroll
            for (int i = 0; i < R; ++i) loads[i] = wq::load_tile<Dec>(rows[i] + tile_offset, v);
        }
    };
    wq::TileLoad<Dec> next[R];
    float quad_scale[kQuad ? R : 1][2], quad_min[kQuad ? R : 1][2];  // kQuad: sub-blocks 2c, 2c + 1 of the quad
    bool next_live = unit_live(u_begin);
    if (next_live) load_unit(u_begin, next);
    for (int u = u_begin; u < u_end; ++u) {
        wq::TileLoad<Dec> loads[R];
#pragma unroll
        for (int i = 0; i < R; ++i) loads[i] = next[i];
        const bool live = next_live;
        next_live = unit_live(u + 1);
        if (next_live) load_unit(u + 1, next);
        const int t = u / kUnitsPerTile, vi = u % kUnitsPerTile, v = decoder_lane<Dec, kFew>(c, vi);
        if constexpr (kQuad) {
            if (live && ((u & 3) == 0 || u == u_begin)) {
#pragma unroll
                for (int i = 0; i < R; ++i) {
#pragma unroll
                    for (int g2 = 0; g2 < 2; ++g2) {
                        Dec::head_scale_min(loads[i].head, Dec::lane_sub(v) + g2, quad_scale[i][g2], quad_min[i][g2]);
                    }
                }
            }
        }
#pragma unroll
        for (int grp = 0; grp < G; ++grp) {
            uint32_t halves[R][4];  // row i's values 2k, 2k + 1 of the group as one half2
#pragma unroll
            for (int i = 0; i < R; ++i) {
                if constexpr (kHalfExact) {
                    if (live) {
                        half_exact_values<Dec>(loads[i].raw, v, grp, halves[i]);
                    } else {
                        halves[i][0] = halves[i][1] = halves[i][2] = halves[i][3] = 0u;
                    }
                } else {
                    float values[8] = {};
                    if constexpr (kQuad) {
                        if (live) {  // group_values with the quad's scales, unpacked once
                            float levels[8];
                            Dec::levels(loads[i].raw, v, grp, levels);
#pragma unroll
                            for (int k = 0; k < 8; ++k) {
                                values[k] = Dec::exact(levels[k], quad_scale[i][grp], quad_min[i][grp]);
                            }
                        }
                    } else {
                        if (live) wq::group_values<Dec>(loads[i], v, grp, values);
                    }
#pragma unroll
                    for (int k = 0; k < 4; ++k) halves[i][k] = half2_saturated(values[2 * k], values[2 * k + 1]);
                }
            }
#pragma unroll
            for (int h = 0; h < 2; ++h) {  // k-step 2 (G vi + grp) + h: the group's values 4h .. 4h + 3
                const int step = 2 * (G * vi + grp) + h;
                uint2 b[NT];
#pragma unroll
                for (int j = 0; j < NT; ++j) {
                    b[j] = load_fragment(xb + (static_cast<int64_t>(t * kSteps + step) * n_tiles + j) * 32);
                }
#pragma unroll
                for (int rg = 0; rg < kRowGroups; ++rg) {
                    const uint32_t a[4] = {halves[2 * rg][2 * h], halves[2 * rg + 1][2 * h],
                                           halves[2 * rg][2 * h + 1], halves[2 * rg + 1][2 * h + 1]};
#pragma unroll
                    for (int j = 0; j < NT; ++j) tc::mma_16x8x16(acc[rg][j], a, b[j].x, b[j].y);
                }
            }
        }
    }

    // acc[rg][j][i]: row row0 + 16 rg + g (+ 8 for i >= 2), token 8 (pass NT + j) + 2c (+ 1 for odd i).
#pragma unroll
    for (int rg = 0; rg < kRowGroups; ++rg) {
#pragma unroll
        for (int j = 0; j < NT; ++j) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int row = row0 + 16 * rg + g + (i >= 2 ? 8 : 0);
                const int token = (pass * NT + j) * kTokensPerTile + 2 * c + (i & 1);
                if (row >= n_rows || token >= n_tokens) continue;
                if (partials != nullptr) {
                    partials[(static_cast<int64_t>(blockIdx.y) * n_tokens + token) * n_rows + row] = acc[rg][j][i];
                } else {
                    float* out = y + static_cast<int64_t>(token) * n_rows + row;
                    *out = accumulate ? *out + acc[rg][j][i] : acc[rg][j][i];
                }
            }
        }
    }
#endif
}

// Calls f(kernel instance) for the instance of (w's decoder, nt); false for a type without one.
template <class F>
bool with_kernel(const WeightView& w, int nt, F&& f) {
    bool found = false;
    wq::with_decoder(w, [&](auto dec) {
        using Dec = decltype(dec);
        if constexpr (!Dec::kFloat) {
            found = true;
            switch (nt) {
                case 1: f(matmul_tc_kernel<Dec, 1, few_tokens_form(1)>); break;
                case 2: f(matmul_tc_kernel<Dec, 2, few_tokens_form(2)>); break;
                case 4: f(matmul_tc_kernel<Dec, 4, few_tokens_form(4)>); break;
                default: f(matmul_tc_kernel<Dec, 8, few_tokens_form(8)>); break;
            }
        }
    });
    return found;
}

int tile_cols_of(GgmlType type) {
    int cols = 0;
    wq::with_decoder(type, [&](auto dec) { cols = tile_cols<decltype(dec)>(); });
    return cols;
}

}  // namespace

bool prepare_matmul_tc() {
    cudaFuncAttributes attributes{};
    SPOOL_CUDA_CHECK(cudaFuncGetAttributes(&attributes, matmul_tc_kernel<wq::DecQ4_K, 1, few_tokens_form(1)>));
    return attributes.ptxVersion >= 80;  // below, the kernels were built for an older GPU and have no body
}

bool matmul_tc_takes(const WeightView& w) noexcept {
    bool quantized = false;
    int row_align = 1;
    wq::with_decoder(w, [&](auto dec) {
        using Dec = decltype(dec);
        quantized = !Dec::kFloat;
        row_align = Dec::kRowAlign;
    });
    return quantized && w.n_rows >= 1 && w.n_cols >= 1 && w.n_cols <= INT32_MAX / 2 && w.n_rows <= INT32_MAX / 2 &&
           reinterpret_cast<uintptr_t>(w.data) % 16 == 0 && w.row_bytes % static_cast<size_t>(row_align) == 0;
}

size_t matmul_tc_x_bytes(int64_t n_tokens, int64_t n_cols) {
    constexpr int64_t kWidestTile = 4 * wq::kSpan;  // Q2_K, Q3_K, Q6_K
    const int64_t k_steps = (n_cols + kWidestTile - 1) / kWidestTile * kWidestTile / 16;
    return static_cast<size_t>(k_steps * padded_token_tiles(n_tokens) * 32) * sizeof(uint2);
}

void launch_pack_x_tc(GgmlType type, const float* x, int64_t n_tokens, int64_t n_cols, void* x_packed,
                      cudaStream_t stream) {
    const int64_t tiles = padded_token_tiles(n_tokens);
    bool quantized = false;
    wq::with_decoder(type, [&](auto dec) {
        using Dec = decltype(dec);
        if constexpr (!Dec::kFloat) {
            quantized = true;
            constexpr int64_t kCols = tile_cols<Dec>();
            const int64_t k_steps = (n_cols + kCols - 1) / kCols * kCols / 16;
            // The packing follows the lane order of the kernel form that the plan will pick.
            auto* pack = few_tokens_form(token_tiles_per_pass(n_tokens)) ? pack_x_kernel<Dec, true>
                                                                         : pack_x_kernel<Dec, false>;
            pack<<<ops::elementwise_blocks(k_steps * tiles * 32), ops::kElementwiseThreads, 0, stream>>>(
                x, n_tokens, n_cols, k_steps, tiles, static_cast<uint2*>(x_packed));
        }
    });
    if (!quantized) {
        throw UsageError(std::string("launch_pack_x_tc: weights of type ") + wq::weight_type_name(type) +
                         " do not take launch_matmul_tc");
    }
    SPOOL_CUDA_CHECK(cudaGetLastError());
}

size_t matmul_tc_workspace_bytes(const WeightView& w, int64_t n_tokens, int sm_count) {
    return partial_bytes(make_plan(tile_cols_of(w.type), w.n_rows, w.n_cols, n_tokens, sm_count), w.n_rows, n_tokens);
}

void launch_matmul_tc(const WeightView& w, const void* x_packed, int64_t n_tokens, float* y, bool accumulate,
                      void* workspace, size_t workspace_bytes, int sm_count, cudaStream_t stream) {
    if (!matmul_tc_takes(w)) {
        throw UsageError(std::string("launch_matmul_tc: weights of type ") + wq::weight_type_name(w.type) +
                         " (rows " + std::to_string(w.n_rows) + ", row_bytes " + std::to_string(w.row_bytes) +
                         ") are not a quantized type in 16-byte aligned rows; use the dequantize + GEMM path");
    }
    wq::weight_row_path(w, "launch_matmul_tc");  // validates n_cols against the block size and row_bytes
    if (n_tokens < 1 || n_tokens > INT32_MAX / 2) {
        throw UsageError("launch_matmul_tc: n_tokens must be at least 1; got " + std::to_string(n_tokens));
    }
    Plan p = make_plan(tile_cols_of(w.type), w.n_rows, w.n_cols, n_tokens, sm_count);
    if (partial_bytes(p, w.n_rows, n_tokens) > workspace_bytes || workspace == nullptr) {  // one slice: no partials
        p.units_per_slice =
            static_cast<int>((w.n_cols + tile_cols_of(w.type) - 1) / tile_cols_of(w.type) * kUnitsPerTile);
        p.slices = 1;
    }
    float* partials = p.slices > 1 ? static_cast<float*>(workspace) : nullptr;
    const int n_tiles = p.nt * p.passes;
    const dim3 grid(static_cast<unsigned>(p.row_blocks * p.passes), static_cast<unsigned>(p.slices));
    with_kernel(w, p.nt, [&](auto kernel) {
        kernel<<<grid, 32 * kWarps, 0, stream>>>(
            static_cast<const uint8_t*>(w.data), static_cast<int64_t>(w.row_bytes), static_cast<int>(w.n_rows),
            static_cast<int>(w.n_cols), static_cast<const uint2*>(x_packed), n_tiles, static_cast<int>(n_tokens),
            p.passes, p.units_per_slice, y, accumulate, partials);
    });
    SPOOL_CUDA_CHECK(cudaGetLastError());
    if (partials != nullptr) {
        const int64_t n = n_tokens * w.n_rows;
        sum_slices_kernel<<<ops::elementwise_blocks(n), ops::kElementwiseThreads, 0, stream>>>(partials, p.slices, n,
                                                                                             y, accumulate);
        SPOOL_CUDA_CHECK(cudaGetLastError());
    }
}

}  // namespace spool::cuda
