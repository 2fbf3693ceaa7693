// What the running CPU and OS support, read once from cpuid and xgetbv (Intel SDM vol. 2A "CPUID", and
// "XGETBV" for the register state the OS saves). Compiled without ISA flags so it runs on any x86-64.
#pragma once

#include <string>

namespace spool::cpu {

struct CpuFeatures {
    bool avx2 = false;           // AVX2 + FMA + F16C, and the OS saves YMM state
    bool avx512 = false;         // AVX-512 F, BW, VL, DQ, VNNI, VBMI, and the OS saves opmask and ZMM state
    std::string avx2_missing;    // e.g. "fma f16c": empty when avx2
    std::string avx512_missing;  // e.g. "avx512vnni os-zmm-state": empty when avx512
};

// Read once (a function-local static); never throws.
const CpuFeatures& cpu_features() noexcept;

}  // namespace spool::cpu
