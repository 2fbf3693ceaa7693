// Attention spans (attention_dispatch.h) in plain C++: the attention_kernel.h algorithm with one-lane "vectors" and
// std::exp, for the scalar kernel set (and CPUs without the x86 kernels). Built without ISA flags.
#include <cmath>

#include "backend/cpu/half_fast.h"
#include "backend/cpu/kernels/attention_decls.h"
#include "backend/cpu/kernels/attention_kernel.h"

namespace spool::cpu {
namespace {

struct ScalarOps {
    using V = float;
    static constexpr int kLanes = 1;
    static V zero() { return 0.0f; }
    static V set1(float f) { return f; }
    static V load(const float* p) { return *p; }
    static void store(float* p, V v) { *p = v; }
    static V fmadd(V a, V b, V c) { return a * b + c; }
    static V mul(V a, V b) { return a * b; }
    static V add(V a, V b) { return a + b; }
    static V sub(V a, V b) { return a - b; }
    static V max(V a, V b) { return std::isnan(a) || a > b ? a : b; }
    // The exp contract of attention_dispatch.h (flush below ln FLT_MIN), so every kernel set agrees there.
    static V exp(V x) { return x < -87.33654f ? 0.0f : std::exp(x); }
    static V exp_nonpositive(V x) { return exp(x); }
    static float reduce_add(V v) { return v; }
    static float reduce_max(V v) { return v; }

    static void dot8(const float* q, const float* rows, size_t stride, int n, float* out) {
        for (int r = 0; r < 8; ++r) {
            const float* row = rows + r * stride;
            float sum = 0.0f;
            for (int d = 0; d < n; ++d) sum += q[d] * row[d];
            out[r] = sum;
        }
    }

    static void dot2x4(const float* q0, const float* q1, const float* rows, size_t stride, int n, float* out0,
                       float* out1) {
        for (int r = 0; r < 4; ++r) {
            const float* row = rows + r * stride;
            float a = 0.0f, b = 0.0f;
            for (int d = 0; d < n; ++d) {
                a += q0[d] * row[d];
                b += q1[d] * row[d];
            }
            out0[r] = a;
            out1[r] = b;
        }
    }

    static float f16_to_f32_one(uint16_t h) { return half_to_float_fast(h); }
    static void f16_to_f32(const uint16_t* src, float* dst, int n) {
        for (int d = 0; d < n; ++d) dst[d] = half_to_float_fast(src[d]);
    }
    static void q8_0_to_f32(const quant::BlockQ8_0* blocks, float* dst, int n) {
        for (int b = 0; b < n / 32; ++b) {
            const float scale = half_to_float_fast(blocks[b].d);
            for (int i = 0; i < 32; ++i) dst[b * 32 + i] = scale * static_cast<float>(blocks[b].qs[i]);
        }
    }
    // Element i < 16 of a block is the low nibble of qs[i], element i + 16 the high one (blocks_legacy.h).
    static void q4_0_to_f32(const quant::BlockQ4_0* blocks, float* dst, int n) {
        for (int b = 0; b < n / 32; ++b) {
            const float scale = half_to_float_fast(blocks[b].d);
            for (int i = 0; i < 16; ++i) {
                dst[b * 32 + i] = scale * static_cast<float>((blocks[b].qs[i] & 0x0f) - 8);
                dst[b * 32 + i + 16] = scale * static_cast<float>((blocks[b].qs[i] >> 4) - 8);
            }
        }
    }
};

}  // namespace

const AttentionKernels& attention_kernels_scalar() noexcept {
    static constexpr AttentionKernels kKernels = make_attention_kernels<ScalarOps>();
    return kKernels;
}

}  // namespace spool::cpu
