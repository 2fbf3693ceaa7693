// What the running CPU and OS support, read once from cpuid and xgetbv (Intel SDM vol. 2A "CPUID", and
// "XGETBV" for the register state the OS saves). Compiled without ISA flags so it runs on any x86-64.
#pragma once

#include <string>

namespace spool::cpu {

struct CpuFeatures {
    bool avx2 = false;           // AVX2 + FMA + F16C, and the OS saves YMM state
    bool avx512 = false;         // AVX-512 F, BW, VL, DQ, VNNI, VBMI, and the OS saves opmask and ZMM state
    // avx512 plus AMX-TILE and AMX-INT8, the OS saving the tile state, and (Linux) this process granted the tile
    // data state by arch_prctl(ARCH_REQ_XCOMP_PERM), which detection requests: without it the first tile load faults.
    bool amx = false;
    std::string avx2_missing;    // e.g. "fma f16c": empty when avx2
    std::string avx512_missing;  // e.g. "avx512vnni os-zmm-state": empty when avx512
    std::string amx_missing;     // e.g. "amx-int8": empty when amx
};

// Read once (a function-local static; the AMX permission request happens then, once per process); never throws.
const CpuFeatures& cpu_features() noexcept;

}  // namespace spool::cpu
