// Device-side GGUF weight layouts and per-type decoders: block sizes (checked against quant/blocks_*.h), how a lane
// loads and decodes its 8 elements of a 256-element span, and the reference's exact dequantization formulas
// (quant/legacy.cpp, quant/kquants_dequantize.cpp, quant/float.cpp; llama.cpp dequantize_row_*).
#pragma once

#include <cstdint>
#include <string>

#include "backend/backend.h"
#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/quant_loads.cuh"
#include "quant/type_ids.h"
#include "spool/errors.h"

namespace spool::cuda::wq {

// ---- Decoders. A tile is kGroups consecutive 256-element spans of a row (kTileBytes bytes). Each of the 32 lanes
// handles kGroups groups of 8 consecutive elements, starting at group_elem(lane, g) within the tile: the groups a lane
// owns are all the elements stored in the quant bytes it loads (both nibbles of a 4-bit byte, all four 2-bit fields),
// so no quant byte is loaded by two lanes (only small shared fields: scales, high-bit masks) and registers hold as many
// distinct weight bytes as possible. A group lies in one block
// and one sub-block and dequantizes as w = scale * u - min with small unsigned levels u (the factored form lets a dot
// product multiply x by exact integer levels and apply scale and min once per group). Members:
//   kType, kBlockElems, kBlockBytes, kGroups, kTileBytes (= kGroups spans); kRowAlign: the alignment of row_bytes (and
//   of the 16-aligned base) the loads rely on; kFloat: F32/F16/BF16 (values(raw, w) instead of levels).
//   Raw load(tile, lane); levels(raw, lane, g, u[8]) of group g (level_bytes: the same as 8 bytes, element i in byte
//   i % 4 of word i / 4); exact(u, scale, min): the reference's value, with
//   its roundings. kSharedScales (Q4_K, Q5_K): scales are costly to unpack, so the matvec unpacks each (row,
//   super-block, sub-block) once per warp: head_scale_min(load_head(super-block), sub, ...); group g of a lane is in
//   sub-block lane_sub(lane) + g. Otherwise scale_min(raw, lane, g, scale, min).

struct DecF32 {
    static constexpr spool::GgmlType kType = spool::GgmlType::F32;
    static constexpr int kBlockElems = 1, kBlockBytes = 4, kGroups = 1, kTileBytes = 4 * kSpan, kRowAlign = 16;
    static constexpr bool kFloat = true, kSharedScales = false;
    struct Raw { uint4 a, b; };
    __device__ static int group_elem(int lane, int) { return 8 * lane; }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        return {ld_u32x4(tile + 32 * lane), ld_u32x4(tile + 32 * lane + 16)};
    }
    __device__ static void values(const Raw& r, float* w) {
        w[0] = __uint_as_float(r.a.x), w[1] = __uint_as_float(r.a.y), w[2] = __uint_as_float(r.a.z);
        w[3] = __uint_as_float(r.a.w), w[4] = __uint_as_float(r.b.x), w[5] = __uint_as_float(r.b.y);
        w[6] = __uint_as_float(r.b.z), w[7] = __uint_as_float(r.b.w);
    }
    __device__ static float element(const uint8_t* row, int64_t i) { return __uint_as_float(ld_u32(row + 4 * i)); }
};

struct DecF16 {
    static constexpr spool::GgmlType kType = spool::GgmlType::F16;
    static constexpr int kBlockElems = 1, kBlockBytes = 2, kGroups = 1, kTileBytes = 2 * kSpan, kRowAlign = 16;
    static constexpr bool kFloat = true, kSharedScales = false;
    struct Raw { uint4 v; };
    __device__ static int group_elem(int lane, int) { return 8 * lane; }
    __device__ static Raw load(const uint8_t* tile, int lane) { return {ld_u32x4(tile + 16 * lane)}; }
    __device__ static void values(const Raw& r, float* w) {
        const uint32_t words[4] = {r.v.x, r.v.y, r.v.z, r.v.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[i]));
            w[2 * i] = f.x, w[2 * i + 1] = f.y;
        }
    }
    __device__ static float element(const uint8_t* row, int64_t i) { return half_bits_to_float(ld_u16(row + 2 * i)); }
};

struct DecBF16 {
    static constexpr spool::GgmlType kType = spool::GgmlType::BF16;
    static constexpr int kBlockElems = 1, kBlockBytes = 2, kGroups = 1, kTileBytes = 2 * kSpan, kRowAlign = 16;
    static constexpr bool kFloat = true, kSharedScales = false;
    struct Raw { uint4 v; };
    __device__ static int group_elem(int lane, int) { return 8 * lane; }
    __device__ static Raw load(const uint8_t* tile, int lane) { return {ld_u32x4(tile + 16 * lane)}; }
    __device__ static void values(const Raw& r, float* w) {
        const uint32_t words[4] = {r.v.x, r.v.y, r.v.z, r.v.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            w[2 * i] = __uint_as_float(words[i] << 16), w[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
        }
    }
    __device__ static float element(const uint8_t* row, int64_t i) {
        return __uint_as_float(ld_u16(row + 2 * i) << 16);
    }
};

// x = q * d with signed bytes q; as levels u = q + 128 (flip the sign bit), so x = d * u - 128 d. One group per lane:
// lane L reads block L / 4, elements 8 (L % 4) .. + 7. 34-byte blocks sit at any even offset: 2-byte loads.
struct DecQ8_0 {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q8_0;
    static constexpr int kBlockElems = kLegacyBlock, kBlockBytes = BlockBytes::q8_0, kGroups = 1;
    static constexpr int kTileBytes = 8 * kBlockBytes, kRowAlign = 2;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint32_t d; uint2 qs; };
    __device__ static int group_elem(int lane, int) { return 8 * lane; }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 2);
        return {ld_u16(b), ld_u32x2_a2(b + 2 + 8 * (lane & 3))};
    }
    __device__ static uint2 level_bytes(const Raw& r, int, int) {
        return make_uint2(r.qs.x ^ 0x80808080u, r.qs.y ^ 0x80808080u);
    }
    __device__ static void levels(const Raw& r, int, int, float* u) {
        bytes_to_floats(r.qs.x ^ 0x80808080u, u);
        bytes_to_floats(r.qs.y ^ 0x80808080u, u + 4);
    }
    __device__ static void scale_min(const Raw& r, int, int, float& scale, float& min) {
        scale = half_bits_to_float(r.d), min = 128.0f * scale;
    }
    __device__ static float exact(float u, float scale, float) { return __fmul_rn(u - 128.0f, scale); }
};

// Legacy 4- and 5-bit blocks, two lanes per block: lane L reads block L / 2 of a 16-block tile and its quant bytes
// qs[8m .. 8m + 7], m = L % 2: group 0 is elements 8m + i (low nibbles), group 1 is 16 + 8m + i (high nibbles). The
// 5-bit types add bit j of qh as bit 4 of element j: qh bytes m and 2 + m.
__device__ __forceinline__ int legacy_group_elem(int lane, int g) { return 32 * (lane >> 1) + 16 * g + 8 * (lane & 1); }

// Levels of the 5-bit types: the nibbles of qs, plus as bit 4 the bits of qh byte m (group 0) or 2 + m (group 1).
__device__ __forceinline__ uint2 legacy_five_bit_bytes(uint2 qs, uint32_t qh, int lane, int g) {
    const uint32_t h = (qh >> (8 * (lane & 1) + 16 * g)) & 0xffu;
    const int shift = 4 * g;
    return make_uint2(((qs.x >> shift) & 0x0F0F0F0Fu) | spread4(h & 15) << 4,
                      ((qs.y >> shift) & 0x0F0F0F0Fu) | spread4(h >> 4) << 4);
}

// x = (q - 8) * d.
struct DecQ4_0 {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q4_0;
    static constexpr int kBlockElems = kLegacyBlock, kBlockBytes = BlockBytes::q4_0, kGroups = 2;
    static constexpr int kTileBytes = 16 * kBlockBytes, kRowAlign = 2;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint32_t d; uint2 qs; };
    __device__ static int group_elem(int lane, int g) { return legacy_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 1);
        return {ld_u16(b), ld_u32x2_a2(b + 2 + 8 * (lane & 1))};
    }
    __device__ static uint2 level_bytes(const Raw& r, int, int g) { return nibble_bytes(r.qs, g); }
    __device__ static void levels(const Raw& r, int, int g, float* u) { nibble_levels(r.qs, g, u); }
    __device__ static void scale_min(const Raw& r, int, int, float& scale, float& min) {
        scale = half_bits_to_float(r.d), min = 8.0f * scale;
    }
    __device__ static float exact(float u, float scale, float) { return __fmul_rn(u - 8.0f, scale); }
};

// Q4_0 in WeightLayout::grouped (weight_layout.cu): a 16-block tile is two runs of 8 blocks, each the blocks' qs (16
// bytes each), then their d. The same lanes, groups and values as DecQ4_0.
struct DecQ4_0Grouped : DecQ4_0 {
    static constexpr int kRowAlign = 16;
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const int block = lane >> 1;
        const uint8_t* run = tile + 8 * BlockBytes::q4_0 * (block >> 3);
        return {ld_u16(run + 128 + 2 * (block & 7)), ld_u32x2(run + 16 * (block & 7) + 8 * (lane & 1))};
    }
};

// x = q * d + m. 20-byte blocks: fields 4-byte aligned.
struct DecQ4_1 {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q4_1;
    static constexpr int kBlockElems = kLegacyBlock, kBlockBytes = BlockBytes::q4_1, kGroups = 2;
    static constexpr int kTileBytes = 16 * kBlockBytes, kRowAlign = 4;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint32_t dm; uint2 qs; };
    __device__ static int group_elem(int lane, int g) { return legacy_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 1);
        return {ld_u32(b), ld_u32x2_a4(b + 4 + 8 * (lane & 1))};
    }
    __device__ static uint2 level_bytes(const Raw& r, int, int g) { return nibble_bytes(r.qs, g); }
    __device__ static void levels(const Raw& r, int, int g, float* u) { nibble_levels(r.qs, g, u); }
    __device__ static void scale_min(const Raw& r, int, int, float& scale, float& min) {
        scale = half_bits_to_float(r.dm), min = -half_bits_to_float(r.dm >> 16);
    }
    __device__ static float exact(float u, float scale, float min) { return __fadd_rn(__fmul_rn(u, scale), -min); }
};

// x = (q - 16) * d, q in 0..31.
struct DecQ5_0 {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q5_0;
    static constexpr int kBlockElems = kLegacyBlock, kBlockBytes = BlockBytes::q5_0, kGroups = 2;
    static constexpr int kTileBytes = 16 * kBlockBytes, kRowAlign = 2;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint32_t d, qh; uint2 qs; };
    __device__ static int group_elem(int lane, int g) { return legacy_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 1);
        return {ld_u16(b), ld_u32_a2(b + 2), ld_u32x2_a2(b + 6 + 8 * (lane & 1))};
    }
    __device__ static uint2 level_bytes(const Raw& r, int lane, int g) {
        return legacy_five_bit_bytes(r.qs, r.qh, lane, g);
    }
    __device__ static void levels(const Raw& r, int lane, int g, float* u) {
        level_bytes_to_floats(level_bytes(r, lane, g), u);
    }
    __device__ static void scale_min(const Raw& r, int, int, float& scale, float& min) {
        scale = half_bits_to_float(r.d), min = 16.0f * scale;
    }
    __device__ static float exact(float u, float scale, float) { return __fmul_rn(u - 16.0f, scale); }
};

// x = q * d + m, q in 0..31. 24-byte blocks: qs 8-byte aligned.
struct DecQ5_1 {
    static constexpr spool::GgmlType kType = spool::GgmlType::Q5_1;
    static constexpr int kBlockElems = kLegacyBlock, kBlockBytes = BlockBytes::q5_1, kGroups = 2;
    static constexpr int kTileBytes = 16 * kBlockBytes, kRowAlign = 8;
    static constexpr bool kFloat = false, kSharedScales = false;
    struct Raw { uint32_t dm, qh; uint2 qs; };
    __device__ static int group_elem(int lane, int g) { return legacy_group_elem(lane, g); }
    __device__ static Raw load(const uint8_t* tile, int lane) {
        const uint8_t* b = tile + kBlockBytes * (lane >> 1);
        return {ld_u32(b), ld_u32(b + 4), ld_u32x2(b + 8 + 8 * (lane & 1))};
    }
    __device__ static uint2 level_bytes(const Raw& r, int lane, int g) {
        return legacy_five_bit_bytes(r.qs, r.qh, lane, g);
    }
    __device__ static void levels(const Raw& r, int lane, int g, float* u) {
        level_bytes_to_floats(level_bytes(r, lane, g), u);
    }
    __device__ static void scale_min(const Raw& r, int, int, float& scale, float& min) {
        scale = half_bits_to_float(r.dm), min = -half_bits_to_float(r.dm >> 16);
    }
    __device__ static float exact(float u, float scale, float min) { return __fadd_rn(__fmul_rn(u, scale), -min); }
};

}  // namespace spool::cuda::wq

// The K-quant decoders, in their own file for length.
#include "backend/cuda/kernels/quant_decoders_k.cuh"

namespace spool::cuda::wq {

// What a lane loads of a tile: its quant bytes and, for kSharedScales decoders, its super-block's head. Loading and
// decoding are apart so that a kernel can issue the loads of several rows before it decodes any (matmul_tc.cu).
template <class Dec, bool = Dec::kSharedScales>
struct HeadOf {
    using type = int;  // unused
};
template <class Dec>
struct HeadOf<Dec, true> {
    using type = typename Dec::Head;
};
template <class Dec>
struct TileLoad {
    typename Dec::Raw raw;
    typename HeadOf<Dec>::type head;
};

// kSharedScales decoders: the head of the super-block that a lane's groups of a tile belong to.
template <class Dec>
__device__ __forceinline__ typename Dec::Head load_lane_head(const uint8_t* tile, int lane) {
    return Dec::load_head(tile + Dec::kBlockBytes * (Dec::group_elem(lane, 0) / kSpan));
}

template <class Dec>
__device__ __forceinline__ TileLoad<Dec> load_tile(const uint8_t* tile, int lane) {
    TileLoad<Dec> t;
    t.raw = Dec::load(tile, lane);
    if constexpr (Dec::kSharedScales) t.head = load_lane_head<Dec>(tile, lane);
    return t;
}

// The reference values of group g of a lane's loaded tile (quantized types): w[i] is element group_elem(lane, g) + i.
template <class Dec>
__device__ __forceinline__ void group_values(const TileLoad<Dec>& t, int lane, int g, float* w) {
    float u[8], scale, min;
    Dec::levels(t.raw, lane, g, u);
    if constexpr (Dec::kSharedScales) {
        Dec::head_scale_min(t.head, Dec::lane_sub(lane) + g, scale, min);
    } else {
        Dec::scale_min(t.raw, lane, g, scale, min);
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = Dec::exact(u[i], scale, min);
}

// The reference values of a lane's 8 kGroups elements of a loaded tile: w[8g + i] is element group_elem(lane, g) + i.
template <class Dec>
__device__ __forceinline__ void tile_values(const TileLoad<Dec>& t, int lane, float* w) {
    if constexpr (Dec::kFloat) {
        Dec::values(t.raw, w);
    } else {
#pragma unroll
        for (int g = 0; g < Dec::kGroups; ++g) group_values<Dec>(t, lane, g, w + 8 * g);
    }
}

// The reference values of a lane's 8 kGroups elements of a tile (dequantize, embed): w[8g + i] is element
// group_elem(lane, g) + i.
template <class Dec>
__device__ __forceinline__ void exact_values(const uint8_t* tile, int lane, float* w) {
    tile_values<Dec>(load_tile<Dec>(tile, lane), lane, w);
}

// Calls f(Dec{}) with the decoder of `type`; returns false (and calls nothing) for a type without one.
template <class F>
bool with_decoder(spool::GgmlType type, F&& f) {
    using T = spool::GgmlType;
    switch (type) {
        case T::F32: f(DecF32{}); return true;
        case T::F16: f(DecF16{}); return true;
        case T::BF16: f(DecBF16{}); return true;
        case T::Q4_0: f(DecQ4_0{}); return true;
        case T::Q4_1: f(DecQ4_1{}); return true;
        case T::Q5_0: f(DecQ5_0{}); return true;
        case T::Q5_1: f(DecQ5_1{}); return true;
        case T::Q8_0: f(DecQ8_0{}); return true;
        case T::Q2_K: f(DecQ2_K{}); return true;
        case T::Q3_K: f(DecQ3_K{}); return true;
        case T::Q4_K: f(DecQ4_K{}); return true;
        case T::Q5_K: f(DecQ5_K{}); return true;
        case T::Q6_K: f(DecQ6_K{}); return true;
        default: return false;
    }
}

// with_decoder for the decoder that reads w as its layout says; false for a type without one or a layout that the
// type is never stored in (launch.h groups_weight_rows).
template <class F>
bool with_decoder(const spool::WeightView& w, F&& f) {
    if (w.layout == spool::WeightLayout::blocks) return with_decoder(w.type, static_cast<F&&>(f));
    switch (w.type) {
        case spool::GgmlType::Q4_0: f(DecQ4_0Grouped{}); return true;
        case spool::GgmlType::Q6_K: f(DecQ6_KGrouped{}); return true;
        default: return false;
    }
}

// ---- Host-side checks shared by the launchers (cheap: a few compares per launch).

enum class RowPath {
    groups,    // whole 8-element groups with the decoder's aligned loads (n_cols % 8 == 0)
    elements,  // float types only: one element at a time, any row length
};

inline const char* weight_type_name(spool::GgmlType type) {
    using T = spool::GgmlType;
    switch (type) {
        case T::F32: return "F32";
        case T::F16: return "F16";
        case T::BF16: return "BF16";
        case T::Q4_0: return "Q4_0";
        case T::Q4_1: return "Q4_1";
        case T::Q5_0: return "Q5_0";
        case T::Q5_1: return "Q5_1";
        case T::Q8_0: return "Q8_0";
        case T::Q2_K: return "Q2_K";
        case T::Q3_K: return "Q3_K";
        case T::Q4_K: return "Q4_K";
        case T::Q5_K: return "Q5_K";
        case T::Q6_K: return "Q6_K";
        default: return "an unsupported type";
    }
}

// The rows that launch.h groups_weight_rows stores grouped, in words for error messages.
inline std::string grouped_rows_rule() {
    auto rows_of = [](spool::GgmlType type, const char* name) {
        return std::string(name) + " rows of a multiple of " + std::to_string(grouped_run_elements(type)) + " elements";
    };
    return rows_of(spool::GgmlType::Q4_0, "Q4_0") + " and " + rows_of(spool::GgmlType::Q6_K, "Q6_K");
}

// Validates a weight view for `op` and picks how its rows are read. Throws UnsupportedError for a type without a
// decoder and UsageError for a malformed view: n_cols not a multiple of the block size, row_bytes too small, or a
// block-quantized matrix whose data is not 16-byte aligned (cudaMalloc gives 256; GGUF offsets are multiples of 32).
inline RowPath weight_row_path(const spool::WeightView& w, const char* op) {
    int block_elems = 0, block_bytes = 0, row_align = 0;
    const bool known = with_decoder(w.type, [&](auto dec) {
        using D = decltype(dec);
        block_elems = D::kBlockElems, block_bytes = D::kBlockBytes, row_align = D::kRowAlign;
    });
    const std::string where = std::string(op) + ": weights of type ";
    if (!known) {
        throw spool::UnsupportedError(std::string(op) + ": weight type id " +
                                      std::to_string(static_cast<uint32_t>(w.type)) +
                                      " has no CUDA kernel; supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, "
                                      "Q2_K, Q3_K, Q4_K, Q5_K, Q6_K");
    }
    const char* name = weight_type_name(w.type);
    if (w.layout == spool::WeightLayout::grouped && !groups_weight_rows(w.type, w.n_cols)) {
        throw spool::UsageError(where + name + " with n_cols " + std::to_string(w.n_cols) +
                                " are never stored grouped (only " + grouped_rows_rule() + " are)");
    }
    if (w.layout == spool::WeightLayout::grouped) row_align = 16;  // runs start 16-byte aligned
    if (w.n_cols < 1 || w.n_cols % block_elems != 0) {
        throw spool::UsageError(where + name + " need n_cols a positive multiple of " + std::to_string(block_elems) +
                                "; got " + std::to_string(w.n_cols));
    }
    const int64_t needed = w.n_cols / block_elems * block_bytes;
    if (static_cast<int64_t>(w.row_bytes) < needed) {
        throw spool::UsageError(where + name + " with n_cols " + std::to_string(w.n_cols) + " need row_bytes >= " +
                                std::to_string(needed) + "; got " + std::to_string(w.row_bytes));
    }
    const uintptr_t base = reinterpret_cast<uintptr_t>(w.data);
    if (base % 16 == 0 && w.row_bytes % row_align == 0 && w.n_cols % 8 == 0) return RowPath::groups;
    if (block_elems == 1 && base % block_bytes == 0 && w.row_bytes % block_bytes == 0) return RowPath::elements;
    throw spool::UsageError(where + name + " need 16-byte aligned data and row_bytes a multiple of " +
                            std::to_string(row_align) + "; got data at " + std::to_string(base % 16) +
                            " mod 16 and row_bytes " + std::to_string(w.row_bytes) +
                            ": upload weights to cudaMalloc'd memory at 32-byte aligned offsets");
}

}  // namespace spool::cuda::wq
