// Declarations of the per-ISA attention kernels (defined in attention_<isa>.cpp, each built with that ISA's flags)
// for the table in attention_dispatch.cpp. Declarations only: including this is safe anywhere; calling needs the ISA.
#pragma once

#include <cstdint>

#include "backend/cpu/kernels/attention_dispatch.h"

namespace spool::cpu {

#define SPOOL_CPU_DECLARE_ATTENTION(isa)                                           \
    void attention_f32_##isa(const AttentionSpan& span, const AttentionOut& out);  \
    void attention_f16_##isa(const AttentionSpan& span, const AttentionOut& out);  \
    void attention_q8_0_##isa(const AttentionSpan& span, const AttentionOut& out); \
    void attention_q4_0_##isa(const AttentionSpan& span, const AttentionOut& out); \
    void exp_row_##isa(const float* x, float* out, int64_t n);

SPOOL_CPU_DECLARE_ATTENTION(scalar)
SPOOL_CPU_DECLARE_ATTENTION(avx2)
SPOOL_CPU_DECLARE_ATTENTION(avx512)

#undef SPOOL_CPU_DECLARE_ATTENTION

}  // namespace spool::cpu
