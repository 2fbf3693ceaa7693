// The branch-free fp16 conversion against the exact one (core/half.h) on all 65536 inputs, bit for bit.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "backend/cpu/half_fast.h"
#include "core/half.h"

namespace spool::cpu {
namespace {

TEST(HalfFast, EqualsExactConversionOnEveryInput) {
    int mismatches = 0;
    for (uint32_t h = 0; h <= 0xffffu; ++h) {
        const float fast = half_to_float_fast(static_cast<uint16_t>(h));
        const float exact = half_to_float(static_cast<uint16_t>(h));
        if (std::bit_cast<uint32_t>(fast) != std::bit_cast<uint32_t>(exact)) {
            if (++mismatches <= 5) ADD_FAILURE() << "half 0x" << std::hex << h << ": " << fast << " vs " << exact;
        }
    }
    EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace spool::cpu
