// Shared pieces of the CPU kernel tests: the ISAs to run (skipping those this CPU lacks) and reference rows.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "backend/cpu/kernels/cpu_features.h"
#include "backend/cpu/kernels/dispatch.h"

namespace spool {
// Readable test parameters in gtest output ("Q4_K" rather than "4-byte object <0C-00 00-00>").
inline void PrintTo(GgmlType t, std::ostream* os) { *os << type_name(t); }
namespace cpu {
inline void PrintTo(CpuIsa isa, std::ostream* os) { *os << cpu_isa_name(isa); }
}  // namespace cpu
}  // namespace spool

namespace spool::cpu::testing {

inline constexpr std::array kAllIsas = {CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512, CpuIsa::amx};

// The weight types every ISA has kernels for (dispatch.h).
inline constexpr std::array kWeightTypes = {
    GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
    GgmlType::Q8_0, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

// Empty when isa can run here, else what it lacks (for a GTEST_SKIP message).
inline std::string missing_features(CpuIsa isa) {
    if (cpu_isa_available(isa)) return {};
    return std::string(cpu_isa_name(isa)) + " kernels need " + cpu_isa_missing(isa) + ", which this CPU/OS lacks";
}

#define SPOOL_REQUIRE_ISA(isa)                                                     \
    do {                                                                           \
        const std::string missing_ = ::spool::cpu::testing::missing_features(isa); \
        if (!missing_.empty()) GTEST_SKIP() << missing_;                           \
    } while (0)

inline std::string isa_param_name(CpuIsa isa) { return std::string(cpu_isa_name(isa)); }

}  // namespace spool::cpu::testing
