// The quality hash against values computed independently with Python's xxhash package:
//   xxhash.xxh64(struct.pack('<16i', *ids), seed=0).hexdigest()
#include <gtest/gtest.h>

#include <vector>

#include "bench/quality_hash.h"

namespace spool::bench {
namespace {

TEST(QualityHash, MatchesIndependentXxh64) {
    const std::vector<int32_t> ids = {1,  450,   4996,  17354, 1701, 432,   17204, 975,
                                      278, 17366, 11203, 29889, 0,    31999, -1,    2147483647};
    EXPECT_EQ(quality_hash(ids), 0x31beb8991e5ac987ull);
    std::vector<int32_t> seq(16);
    for (int i = 0; i < 16; ++i) seq[static_cast<size_t>(i)] = i;
    EXPECT_EQ(quality_hash(seq), 0x8a44256aed976c78ull);
    EXPECT_EQ(quality_hash(std::vector<int32_t>{1}), 0xf42f94001fcb5351ull);
    EXPECT_EQ(quality_hash({}), 0xef46db3751d8e999ull);  // xxh64 of no bytes, seed 0 (the spec's test value)
}

TEST(QualityHash, OneChangedIdChangesTheHash) {
    std::vector<int32_t> a(16, 7), b(16, 7);
    b[15] = 8;
    EXPECT_NE(quality_hash(a), quality_hash(b));
}

TEST(QualityHash, Format) {
    EXPECT_EQ(format_hash(0x31beb8991e5ac987ull), "0x31beb8991e5ac987");
    EXPECT_EQ(format_hash(0xabcull), "0x0000000000000abc");
}

}  // namespace
}  // namespace spool::bench
