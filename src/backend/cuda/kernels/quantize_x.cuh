// x rounded to int8 per 8-element group (launch.h ActivationPrecision::int8), the one formula every producer and
// consumer of x~ uses: the matvecs that round x themselves, and the kernels that write x~ beside x once per token
// (launch.h int8_x_bytes) so that the matvecs reading it skip their rounding. One definition, so x~ is the same bits
// wherever it is made.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace spool::cuda::wq {

// 1.5 * 2^23: adding it to a float of magnitude < 2^22 leaves that value rounded to an integer in the low mantissa
// bits; as an integer it starts a dp4a sum whose float reading is then magic + sum, exactly.
inline constexpr float kRoundMagic = 12582912.0f;
inline constexpr int kRoundMagicBits = 0x4B400000;

__device__ __forceinline__ float max_nan(float a, float b) {  // NaN if either is NaN (fmaxf would drop it)
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    float r;
    asm("max.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
#else
    return a != a ? a : (b != b ? b : fmaxf(a, b));  // max.NaN needs sm_80
#endif
}

struct QuantizedGroup {
    uint2 q;     // 8 signed bytes, element i in byte i % 4 of word i / 4
    float d;     // x~_i = d * q_i
    float dsum;  // d * sum q_i: the factored form's min term
};

__device__ __forceinline__ QuantizedGroup quantize_group(float4 lo, float4 hi) {
    const float x[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
    float amax = fabsf(x[0]);
#pragma unroll
    for (int i = 1; i < 8; ++i) amax = max_nan(amax, fabsf(x[i]));
    const float inv = amax < 1e-30f ? 0.0f : __fdiv_rn(127.0f, amax);
    uint32_t b[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) b[i] = __float_as_uint(fmaf(x[i], inv, kRoundMagic));  // low byte: the level
    QuantizedGroup g;
    g.q.x = __byte_perm(__byte_perm(b[0], b[1], 0x0040), __byte_perm(b[2], b[3], 0x0040), 0x5410);
    g.q.y = __byte_perm(__byte_perm(b[4], b[5], 0x0040), __byte_perm(b[6], b[7], 0x0040), 0x5410);
    g.d = amax * (1.0f / 127.0f);
    const int sum = __dp4a(static_cast<int>(g.q.y), 0x01010101, __dp4a(static_cast<int>(g.q.x), 0x01010101, kRoundMagicBits));
    g.dsum = (__int_as_float(sum) - kRoundMagic) * g.d;
    return g;
}

// Group g of a token's x~ in launch.h's int8_x_bytes layout: the levels of every group, then every group's (d, dsum).
__device__ __forceinline__ void store_quantized_group(void* x_int8, int64_t n_groups, int64_t g, const QuantizedGroup& q) {
    uint2* levels = static_cast<uint2*>(x_int8);
    levels[g] = q.q;
    reinterpret_cast<float2*>(levels + n_groups)[g] = make_float2(q.d, q.dsum);
}

}  // namespace spool::cuda::wq
