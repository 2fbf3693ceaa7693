// Kernel tables per instruction set and the choice among them (dispatch.h). Built without ISA flags: it only
// reads cpuid results and hands out function pointers; no instruction of an ISA's file runs unless asked for.
#include "backend/cpu/kernels/dispatch.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <utility>

#include "backend/cpu/kernels/cpu_features.h"
#include "backend/cpu/kernels/kernel_decls.h"
#include "quant/reference.h"
#include "spool/errors.h"

namespace spool::cpu {
namespace {

using T = GgmlType;

// The weight types with kernels, in the order of every table below.
constexpr std::array kWeightTypes = {T::F32,  T::F16,  T::BF16, T::Q4_0, T::Q4_1, T::Q5_0, T::Q5_1,
                                     T::Q8_0, T::Q2_K, T::Q3_K, T::Q4_K, T::Q5_K, T::Q6_K};
using KernelTable = std::array<MatmulKernels, kWeightTypes.size()>;

constexpr bool in_type_order(const KernelTable& table) {
    for (size_t i = 0; i < table.size(); ++i) {
        if (table[i].weight_type != kWeightTypes[i]) return false;
    }
    return true;
}

// Scalar rows: the reference vec_dot once per row.
template <GgmlType W>
void scalar_vec_dot_rows(int64_t n, const void* w, size_t stride, int64_t n_rows, const void* act, float* out) {
    const VecDotFn dot = type_info(W).vec_dot;
    for (int64_t r = 0; r < n_rows; ++r) dot(n, out + r, static_cast<const unsigned char*>(w) + r * stride, act);
}

template <size_t... I>
KernelTable make_scalar_table(std::index_sequence<I...>) {
    auto entry = []<GgmlType W>() {
        const TypeInfo& info = type_info(W);
        return MatmulKernels{W, info.vec_dot_type, type_info(info.vec_dot_type).quantize_row, info.vec_dot,
                             scalar_vec_dot_rows<W>};
    };
    return KernelTable{entry.template operator()<kWeightTypes[I]>()...};
}

const KernelTable& scalar_table() {
    static const KernelTable table = make_scalar_table(std::make_index_sequence<kWeightTypes.size()>{});
    return table;
}

#if SPOOL_CPU_X86_KERNELS
// One table row: weight type, activation type, activation quantizer, and the dot kernels of type t on isa.
#define SPOOL_CPU_ROW(W, ACT, QUANTIZE, t, isa) \
    MatmulKernels { T::W, T::ACT, QUANTIZE, vec_dot_##t##_##isa, vec_dot_rows_##t##_##isa }
// An F32 "quantizer" is a copy; the reference memcpy is as fast as SIMD. The activation quantizers of set qisa
// (O(n) work, next to O(n * rows) for the dots) are shared: the avx512 set uses the avx2 ones.
#define SPOOL_CPU_TABLE(isa, qisa)                                          \
    KernelTable {                                                           \
        SPOOL_CPU_ROW(F32, F32, quant::quantize_row_f32_ref, f32, isa),     \
            SPOOL_CPU_ROW(F16, F16, quantize_row_f16_##qisa, f16, isa),     \
            SPOOL_CPU_ROW(BF16, BF16, quantize_row_bf16_##qisa, bf16, isa), \
            SPOOL_CPU_ROW(Q4_0, Q8_0, quantize_row_q8_0_##qisa, q4_0, isa), \
            SPOOL_CPU_ROW(Q4_1, Q8_1, quantize_row_q8_1_##qisa, q4_1, isa), \
            SPOOL_CPU_ROW(Q5_0, Q8_0, quantize_row_q8_0_##qisa, q5_0, isa), \
            SPOOL_CPU_ROW(Q5_1, Q8_1, quantize_row_q8_1_##qisa, q5_1, isa), \
            SPOOL_CPU_ROW(Q8_0, Q8_0, quantize_row_q8_0_##qisa, q8_0, isa), \
            SPOOL_CPU_ROW(Q2_K, Q8_K, quantize_row_q8_k_##qisa, q2_k, isa), \
            SPOOL_CPU_ROW(Q3_K, Q8_K, quantize_row_q8_k_##qisa, q3_k, isa), \
            SPOOL_CPU_ROW(Q4_K, Q8_K, quantize_row_q8_k_##qisa, q4_k, isa), \
            SPOOL_CPU_ROW(Q5_K, Q8_K, quantize_row_q8_k_##qisa, q5_k, isa), \
            SPOOL_CPU_ROW(Q6_K, Q8_K, quantize_row_q8_k_##qisa, q6_k, isa), \
    }

constexpr KernelTable kAvx2Table = SPOOL_CPU_TABLE(avx2, avx2);
constexpr KernelTable kAvx512Table = SPOOL_CPU_TABLE(avx512, avx2);
static_assert(in_type_order(kAvx2Table) && in_type_order(kAvx512Table));
#undef SPOOL_CPU_TABLE
#undef SPOOL_CPU_ROW
#endif

const KernelTable& table_for(CpuIsa isa) {
#if SPOOL_CPU_X86_KERNELS
    if (isa == CpuIsa::avx2) return kAvx2Table;
    if (isa == CpuIsa::avx512 || isa == CpuIsa::amx) return kAvx512Table;  // amx differs in its gemm table only
#endif
    return scalar_table();
}

constexpr std::array kIsaNames = {std::pair{CpuIsa::scalar, std::string_view("scalar")},
                                  std::pair{CpuIsa::avx2, std::string_view("avx2")},
                                  std::pair{CpuIsa::avx512, std::string_view("avx512")},
                                  std::pair{CpuIsa::amx, std::string_view("amx")}};

bool equal_ignore_case(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
    });
}

}  // namespace

std::string_view cpu_isa_name(CpuIsa isa) noexcept {
    for (const auto& [value, name] : kIsaNames) {
        if (value == isa) return name;
    }
    return "unknown";
}

std::optional<CpuIsa> parse_cpu_isa(std::string_view name) noexcept {
    for (const auto& [value, known] : kIsaNames) {
        if (equal_ignore_case(name, known)) return value;
    }
    return std::nullopt;
}

bool cpu_isa_available(CpuIsa isa) noexcept {
#if SPOOL_CPU_X86_KERNELS
    if (isa == CpuIsa::avx2) return cpu_features().avx2;
    if (isa == CpuIsa::avx512) return cpu_features().avx512;
    if (isa == CpuIsa::amx) return cpu_features().amx;
#endif
    return isa == CpuIsa::scalar;
}

std::string cpu_isa_missing(CpuIsa isa) {
    if (cpu_isa_available(isa)) return {};
#if SPOOL_CPU_X86_KERNELS
    const CpuFeatures& f = cpu_features();
    if (isa == CpuIsa::avx2) return f.avx2_missing;
    if (isa == CpuIsa::avx512) return f.avx512_missing;
    if (isa == CpuIsa::amx) return f.amx_missing;
#endif
    return "x86-64 kernels (this build has none)";
}

CpuIsa best_cpu_isa() noexcept {
    if (cpu_isa_available(CpuIsa::amx)) return CpuIsa::amx;
    if (cpu_isa_available(CpuIsa::avx512)) return CpuIsa::avx512;
    if (cpu_isa_available(CpuIsa::avx2)) return CpuIsa::avx2;
    return CpuIsa::scalar;
}

CpuIsa resolve_cpu_isa(std::string_view requested) {
    if (requested.empty() || equal_ignore_case(requested, "auto")) return best_cpu_isa();
    const std::optional<CpuIsa> isa = parse_cpu_isa(requested);
    if (!isa) {
        throw UsageError("unknown CPU kernel set '" + std::string(requested) +
                         "' (SPOOL_CPU_ISA); expected one of: auto, scalar, avx2, avx512, amx");
    }
    if (!cpu_isa_available(*isa)) {
        const std::string missing = cpu_isa_missing(*isa);
        throw UnsupportedError("CPU kernel set '" + std::string(cpu_isa_name(*isa)) +
                               "' cannot run here: this CPU/OS lacks " + missing + "; the best available is '" +
                               std::string(cpu_isa_name(best_cpu_isa())) + "' (unset SPOOL_CPU_ISA to use it)");
    }
    return *isa;
}

const MatmulKernels* cpu_matmul_kernels(GgmlType w, CpuIsa isa) noexcept {
    const KernelTable& table = table_for(isa);
    for (const MatmulKernels& k : table) {
        if (k.weight_type == w) return &k;
    }
    return nullptr;
}

QuantizeRowFn cpu_quantize_row(GgmlType act_type, CpuIsa isa) noexcept {
    for (const MatmulKernels& k : table_for(isa)) {
        if (k.act_type == act_type) return k.quantize_act;
    }
    return nullptr;
}

}  // namespace spool::cpu
