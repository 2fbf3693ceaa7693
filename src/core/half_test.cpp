// Exhaustive checks of the half/bf16 conversions against the compiler's _Float16 (IEEE, round to nearest even).
#include "core/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace spool {
namespace {

TEST(Half, EveryHalfRoundTripsThroughFloat) {
    for (uint32_t h = 0; h < 0x10000u; ++h) {
        const float f = half_to_float(static_cast<uint16_t>(h));
        const _Float16 expected = std::bit_cast<_Float16>(static_cast<uint16_t>(h));
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(static_cast<float>(expected)));
            continue;
        }
        ASSERT_EQ(f, static_cast<float>(expected)) << "half bits " << h;
        ASSERT_EQ(float_to_half(f), h) << "half bits " << h;
    }
}

TEST(Half, RoundsRandomFloatsLikeTheHardware) {
    std::mt19937 rng(7);
    for (int i = 0; i < 2000000; ++i) {
        const uint32_t bits = rng();
        const float f = std::bit_cast<float>(bits);
        if (std::isnan(f)) continue;
        const uint16_t expected = std::bit_cast<uint16_t>(static_cast<_Float16>(f));
        ASSERT_EQ(float_to_half(f), expected) << "float bits " << bits;
    }
}

TEST(Bf16, RoundsToNearestEven) {
    EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie, even stays
    EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie, odd rounds up
    EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
    EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
    EXPECT_EQ(bf16_to_float(0xc0a0), -5.0f);
}

}  // namespace
}  // namespace spool
