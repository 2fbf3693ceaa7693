// cpuid / xgetbv feature detection for the kernel dispatch (bit numbers: Intel SDM vol. 2A, CPUID leaf 1 and leaf 7).
// An instruction set counts only when the OS also enables its register state in XCR0, or its first use would fault.
#include "backend/cpu/kernels/cpu_features.h"

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace spool::cpu {
namespace {

#if defined(__x86_64__) || defined(__i386__)
struct CpuidRegs {
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) {
    CpuidRegs r;
    if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return CpuidRegs{};
    return r;
}

// XCR0 through the xgetbv instruction itself: the intrinsic would need -mxsave on this (flag-free) file.
uint64_t read_xcr0() {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return static_cast<uint64_t>(hi) << 32 | lo;
}

bool bit(uint32_t reg, int n) { return (reg >> n) & 1u; }

void need(bool have, const char* name, std::string& missing) {
    if (have) return;
    if (!missing.empty()) missing += ' ';
    missing += name;
}

// Linux grants the AMX tile data state (XFEATURE_XTILEDATA, 18) only to processes that ask for it
// (ARCH_REQ_XCOMP_PERM, 0x1023; Linux Documentation/arch/x86/xstate.rst): the permission covers every thread.
bool request_amx_permission() {
#if defined(__linux__) && defined(__x86_64__)
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
}

CpuFeatures detect() {
    CpuFeatures f;
    const CpuidRegs l1 = cpuid(1, 0);
    const CpuidRegs l7 = cpuid(7, 0);
    const bool osxsave = bit(l1.ecx, 27);
    const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    const bool os_ymm = (xcr0 & 0x6) == 0x6;    // XMM and YMM state
    const bool os_zmm = (xcr0 & 0xe6) == 0xe6;  // plus opmask, ZMM_Hi256 and Hi16_ZMM state

    need(bit(l1.ecx, 28), "avx", f.avx2_missing);
    need(bit(l7.ebx, 5), "avx2", f.avx2_missing);
    need(bit(l1.ecx, 12), "fma", f.avx2_missing);
    need(bit(l1.ecx, 29), "f16c", f.avx2_missing);
    need(os_ymm, "os-ymm-state", f.avx2_missing);
    f.avx2 = f.avx2_missing.empty();

    f.avx512_missing = f.avx2_missing;  // the avx512 kernels also use AVX2/FMA/F16C instructions
    need(bit(l7.ebx, 16), "avx512f", f.avx512_missing);
    need(bit(l7.ebx, 17), "avx512dq", f.avx512_missing);
    need(bit(l7.ebx, 30), "avx512bw", f.avx512_missing);
    need(bit(l7.ebx, 31), "avx512vl", f.avx512_missing);
    need(bit(l7.ecx, 1), "avx512vbmi", f.avx512_missing);
    need(bit(l7.ecx, 11), "avx512vnni", f.avx512_missing);
    need(os_zmm, "os-zmm-state", f.avx512_missing);
    f.avx512 = f.avx512_missing.empty();

    f.amx_missing = f.avx512_missing;  // the amx kernels do their scaling with AVX-512
    need(bit(l7.edx, 24), "amx-tile", f.amx_missing);
    need(bit(l7.edx, 25), "amx-int8", f.amx_missing);
    need((xcr0 & 0x60000) == 0x60000, "os-tile-state", f.amx_missing);
    if (f.amx_missing.empty()) need(request_amx_permission(), "os-tile-permission", f.amx_missing);
    f.amx = f.amx_missing.empty();
    return f;
}
#else
CpuFeatures detect() {
    CpuFeatures f;
    f.avx2_missing = "x86-64";
    f.avx512_missing = "x86-64";
    f.amx_missing = "x86-64";
    return f;
}
#endif

}  // namespace

const CpuFeatures& cpu_features() noexcept {
    static const CpuFeatures features = detect();
    return features;
}

}  // namespace spool::cpu
