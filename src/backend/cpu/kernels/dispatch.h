// The CPU matmul building blocks, chosen at run time by instruction set (cpuid): quantize an activation row to the
// weight type's vec_dot type, then dot weight rows with it. One binary runs anywhere; scalar = the quant/ references.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "quant/types.h"

namespace spool::cpu {

// Kernel sets, from slowest to fastest. avx2 needs AVX2+FMA+F16C; avx512 needs AVX-512 F/BW/VL/DQ/VNNI/VBMI (Ice
// Lake, Sapphire Rapids, Zen 4 and later) with the ZMM state enabled by the OS. A CPU with AVX-512 but without
// VNNI or VBMI (Skylake-X, Cascade Lake) uses avx2. amx is avx512 with the multi-token kernels of the legacy types
// on AMX-INT8 tiles (Sapphire Rapids and later; Linux grants the tile state on request): the same results, bit for bit.
enum class CpuIsa : uint8_t { scalar, avx2, avx512, amx };

std::string_view cpu_isa_name(CpuIsa isa) noexcept;  // "scalar", "avx2", "avx512", "amx"
// Case-insensitive; nullopt for an unknown name.
std::optional<CpuIsa> parse_cpu_isa(std::string_view name) noexcept;
// Whether this CPU and OS can run the kernel set (scalar: always).
bool cpu_isa_available(CpuIsa isa) noexcept;
// What this CPU and OS lack for the kernel set, e.g. "amx-int8 os-tile-state"; empty when it is available.
std::string cpu_isa_missing(CpuIsa isa);
// The fastest available kernel set.
CpuIsa best_cpu_isa() noexcept;
// The kernel set a caller asked for by name (e.g. the value of SPOOL_CPU_ISA, read by the caller): empty or "auto"
// gives best_cpu_isa(). Throws UsageError for an unknown name (listing the known ones) and UnsupportedError when
// this CPU cannot run the one named (saying which features are missing).
CpuIsa resolve_cpu_isa(std::string_view requested);

// out[r] = dot(row r of w, act) for r in [0, n_rows): rows of n elements lie w_row_stride bytes apart, act is one
// row of n elements already quantized to the weight type's act_type. Kernels process several rows together
// (sharing the activation loads), taking them from separate contiguous slices of [0, n_rows) so that each memory
// stream is long: prefer one call per thread over its whole contiguous range of rows to many small calls
// (measured 2-3x faster from DRAM than groups of adjacent rows).
// w: [n_rows][w_row_stride] bytes; act: [row_bytes(act_type, n)] bytes; out: [n_rows] floats.
using VecDotRowsFn = void (*)(int64_t n, const void* w, size_t w_row_stride, int64_t n_rows, const void* act,
                              float* out);

// Everything needed for y = W x with one weight type W on one kernel set.
// Preconditions of every function (checked by the caller once, when the plan is built, never here):
// n > 0 and n is a multiple of type_info(weight_type).block_size (and of act_type's); buffers hold whole rows;
// rows are aligned to their block's alignment: 2 bytes (4 for F32 and for Q8_K activation rows), which GGUF's
// tensor alignment and whole-block row strides give. None of them throws or allocates.
struct MatmulKernels {
    GgmlType weight_type;
    GgmlType act_type;           // type_info(weight_type).vec_dot_type: Q8_0, Q8_1, Q8_K, F32, F16 or BF16
    QuantizeRowFn quantize_act;  // n floats -> one act_type row; the same bytes as type_info(act_type).quantize_row
    VecDotFn vec_dot;            // one weight row . one act row, as type_info(weight_type).vec_dot within rounding
    VecDotRowsFn vec_dot_rows;   // many weight rows . one act row
};

// The kernels for weight type w on kernel set isa; nullptr when spool has no kernel for w (F32, F16, BF16, Q4_0,
// Q4_1, Q5_0, Q5_1, Q8_0, Q2_K ... Q6_K have them on every set). Precondition: cpu_isa_available(isa) (the returned
// functions may use instructions of isa). The avx512 set reuses the avx2 activation quantizers: O(n) work.
const MatmulKernels* cpu_matmul_kernels(GgmlType w, CpuIsa isa) noexcept;

// The activation quantizer to act_type (Q8_0, Q8_1, Q8_K, F32, F16, BF16) on isa; nullptr for other types.
QuantizeRowFn cpu_quantize_row(GgmlType act_type, CpuIsa isa) noexcept;

// Many weight rows times many activation rows (a prefill): out[t * out_stride + r] = dot(row r of w, act row t) for
// r in [0, n_rows), t in [0, n_tokens). Tiled kernels pack panels of rows_per_panel rows once into `scratch` and
// dot each with every token (the weights are read once per call), so give each thread one call over its whole
// range of rows. w: [n_rows][w_row_stride] bytes; act: [n_tokens][act_row_stride] bytes, rows of act_type;
// out: [n_tokens][out_stride] floats; scratch: scratch_bytes(n, n_tokens) bytes, any alignment, one per thread.
using GemmFn = void (*)(int64_t n, const void* w, size_t w_row_stride, int64_t n_rows, const void* act,
                        size_t act_row_stride, int64_t n_tokens, float* out, int64_t out_stride, void* scratch);

// Kernels whose activations take a layout of their own (the AMX tiles: 16 tokens per tile) do in GemmFn what can
// also be split in two, so that a call over many chunks of rows lays the activations out once instead of once per
// chunk: pack_acts fills the token tiles [tile_begin, tile_end) of packed_bytes(n, n_tokens) bytes at `packed`
// (64-byte aligned; 0 bytes: too few tokens, use GemmFn), and gemm reads them for one chunk of rows with
// scratch_bytes(n) bytes of scratch (any alignment). The results are GemmFn's.
struct PackedGemm {
    size_t (*packed_bytes)(int64_t n, int64_t n_tokens);
    void (*pack_acts)(int64_t n, const void* act, size_t act_row_stride, int64_t n_tokens, int64_t tile_begin,
                      int64_t tile_end, void* packed);
    void (*gemm)(int64_t n, const void* w, size_t w_row_stride, int64_t n_rows, const void* packed, int64_t n_tokens,
                 float* out, int64_t out_stride, void* scratch);
    size_t (*scratch_bytes)(int64_t n);
};
inline constexpr int64_t kPackedTileTokens = 16;  // tokens per tile of PackedGemm::pack_acts

// The multi-token kernels of one weight type on one kernel set. Tiled kernels (and their gemv) compute every row
// as exact integers per block, then the same float operations in the same order, so a row's result is the same
// bits for any n_tokens, any split of the rows and either of avx2 / avx512: decode rows equal prefill rows.
struct GemmKernels {
    GgmlType weight_type;
    GemmFn gemm;
    size_t (*scratch_bytes)(int64_t n, int64_t n_tokens);
    // One token, with the VecDotRowsFn signature and gemm's arithmetic (above). From DRAM it runs 8% slower to 6%
    // faster than vec_dot_rows, by type (bench_cpu_kernels matvec/stream1GiB/*/gemv, Zen 3).
    VecDotRowsFn gemv;
    int64_t rows_per_panel;  // split rows over threads in multiples of this (a partial last panel is fine)
    // Fewest tokens at which gemm beats one gemv per token; below it use gemv.
    int64_t min_tokens;
    // False where spool has no tiled kernel for the type on this set: then gemm is one vec_dot_rows per token and
    // gemv is vec_dot_rows.
    bool tiled;
    const PackedGemm* packed;  // the split form of gemm (above), or null
};

// The multi-token kernels of weight type w on isa: non-null exactly when cpu_matmul_kernels(w, isa) is, with the
// same preconditions (and act rows of cpu_matmul_kernels(w, isa)->act_type). Results equal vec_dot per (row, token)
// within float rounding: the integer sums are the same, the float scaling order differs.
const GemmKernels* cpu_gemm_kernels(GgmlType w, CpuIsa isa) noexcept;

}  // namespace spool::cpu
