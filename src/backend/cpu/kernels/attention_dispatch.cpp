// The attention kernel table per instruction set (attention_dispatch.h) and the merge of partial spans. Built
// without ISA flags: it hands out function pointers and runs only plain float code itself.
#include "backend/cpu/kernels/attention_dispatch.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/kernels/attention_decls.h"

namespace spool::cpu {
const AttentionKernels& cpu_attention_kernels(CpuIsa isa) noexcept {
#if SPOOL_CPU_X86_KERNELS
    if (isa == CpuIsa::avx2) return attention_kernels_avx2();
    if (isa == CpuIsa::avx512 || isa == CpuIsa::amx) return attention_kernels_avx512();
#endif
    return attention_kernels_scalar();
}

AttentionSpanFn cpu_attention_kernel(GgmlType k, GgmlType v, CpuIsa isa) noexcept {
    auto index = [](GgmlType t) {
        for (int i = 0; i < kAttentionCacheTypeCount; ++i) {
            if (kAttentionCacheTypes[i] == t) return i;
        }
        return -1;
    };
    const int ki = index(k), vi = index(v);
    return ki < 0 || vi < 0 ? nullptr : cpu_attention_kernels(isa).span[ki][vi];
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
