// Declarations of the per-ISA attention kernel tables (defined in attention_<isa>.cpp, each built with that ISA's
// flags) for cpu_attention_kernels in attention_dispatch.cpp. Declarations only: including this is safe anywhere;
// calling needs the ISA.
#pragma once

#include <cstdint>

#include "backend/cpu/kernels/attention_dispatch.h"

namespace spool::cpu {

#define SPOOL_CPU_DECLARE_ATTENTION(isa) const AttentionKernels& attention_kernels_##isa() noexcept;

SPOOL_CPU_DECLARE_ATTENTION(scalar)
SPOOL_CPU_DECLARE_ATTENTION(avx2)
SPOOL_CPU_DECLARE_ATTENTION(avx512)

#undef SPOOL_CPU_DECLARE_ATTENTION

}  // namespace spool::cpu
