// The attention kernel table per instruction set (attention_dispatch.h) and the merge of partial spans. Built
// without ISA flags: it hands out function pointers and runs only plain float code itself.
#include "backend/cpu/kernels/attention_dispatch.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/kernels/attention_decls.h"

namespace spool::cpu {
namespace {

constexpr AttentionKernels kScalarKernels{attention_f32_scalar, attention_f16_scalar, attention_q8_0_scalar,
                                          attention_q4_0_scalar, exp_row_scalar};
#if SPOOL_CPU_X86_KERNELS
constexpr AttentionKernels kAvx2Kernels{attention_f32_avx2, attention_f16_avx2, attention_q8_0_avx2,
                                        attention_q4_0_avx2, exp_row_avx2};
constexpr AttentionKernels kAvx512Kernels{attention_f32_avx512, attention_f16_avx512, attention_q8_0_avx512,
                                          attention_q4_0_avx512, exp_row_avx512};
#endif

}  // namespace

const AttentionKernels& cpu_attention_kernels(CpuIsa isa) noexcept {
#if SPOOL_CPU_X86_KERNELS
    if (isa == CpuIsa::avx2) return kAvx2Kernels;
    if (isa == CpuIsa::avx512 || isa == CpuIsa::amx) return kAvx512Kernels;
#endif
    return kScalarKernels;
}

AttentionSpanFn cpu_attention_kernel(GgmlType t, CpuIsa isa) noexcept {
    const AttentionKernels& k = cpu_attention_kernels(isa);
    switch (t) {
        case GgmlType::F32: return k.f32;
        case GgmlType::F16: return k.f16;
        case GgmlType::Q8_0: return k.q8_0;
        case GgmlType::Q4_0: return k.q4_0;
        default: return nullptr;
    }
}

void attention_merge(const AttentionOut& into, const AttentionOut& part, int n_q, int head_dim) noexcept {
    for (int h = 0; h < n_q; ++h) {
        if (part.sum[h] == 0.0f) continue;  // an empty span (its max is -inf)
        float* acc = into.out + static_cast<size_t>(h) * static_cast<size_t>(head_dim);
        const float* add = part.out + static_cast<size_t>(h) * static_cast<size_t>(head_dim);
        // Each side summed exp(s - its own max); bring both to the larger max (exp(-inf) = 0 covers an empty `into`).
        const float max = std::max(into.max[h], part.max[h]);
        const float keep = into.sum[h] == 0.0f ? 0.0f : std::exp(into.max[h] - max);
        const float scale = std::exp(part.max[h] - max);
        for (int d = 0; d < head_dim; ++d) acc[d] = acc[d] * keep + add[d] * scale;
        into.sum[h] = into.sum[h] * keep + part.sum[h] * scale;
        into.max[h] = max;
    }
}

void attention_finish(const AttentionOut& partial, int n_q, int head_dim, float* out) noexcept {
    for (int h = 0; h < n_q; ++h) {
        const float inv = 1.0f / partial.sum[h];
        const size_t offset = static_cast<size_t>(h) * static_cast<size_t>(head_dim);
        for (int d = 0; d < head_dim; ++d) out[offset + d] = partial.out[offset + d] * inv;
    }
}

}  // namespace spool::cpu
