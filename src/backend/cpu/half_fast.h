// A branch-free fp16 -> float32 conversion that compilers vectorize (the exact one in core/half.h branches).
// Exact for every input: normals and subnormals by one multiply by 2^112, infinities and NaNs by an exponent fix.
#pragma once

#include <bit>
#include <cstdint>

namespace spool::cpu {

inline float half_to_float_fast(uint16_t h) noexcept {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t magnitude = static_cast<uint32_t>(h & 0x7fffu) << 13;
    // Reinterpreted as a float, the shifted bits are the value times 2^-112 (subnormals included).
    float value = std::bit_cast<float>(magnitude) * 0x1p112f;
    const uint32_t inf_nan = (h & 0x7c00u) == 0x7c00u ? 0x7f800000u : 0u;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(value) | inf_nan | sign);
}

}  // namespace spool::cpu
