// MappedFile: maps whole files read-only, moves, and reports open/map failures with the path and errno text.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "gguf_test_files.h"
#include "spool/errors.h"

namespace spool {
namespace {

using spool::gguf::testing::TempDir;
using spool::gguf::testing::write_bytes;

TEST(MappedFile, MapsContents) {
    TempDir dir;
    std::vector<uint8_t> bytes(10000);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 13 + 5);
    write_bytes(dir / "a.bin", bytes);
    MappedFile m(dir / "a.bin");
    ASSERT_EQ(m.size(), bytes.size());
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), m.data()));
    EXPECT_EQ(m.path(), dir / "a.bin");
    EXPECT_TRUE(m.advise(MapAdvice::sequential));
    EXPECT_TRUE(m.advise(MapAdvice::will_need, 5000, 100));
    EXPECT_FALSE(m.advise(MapAdvice::random, 20000));  // past the end: nothing to advise

    MappedFile moved(std::move(m));
    EXPECT_EQ(m.data(), nullptr);
    EXPECT_EQ(m.size(), 0u);
    EXPECT_EQ(moved.data()[1], bytes[1]);
    MappedFile assigned;
    assigned = std::move(moved);
    EXPECT_EQ(assigned.size(), bytes.size());
    EXPECT_EQ(assigned.bytes().back(), bytes.back());
}

TEST(MappedFile, EmptyFile) {
    TempDir dir;
    write_bytes(dir / "empty.bin", {});
    MappedFile m(dir / "empty.bin");
    EXPECT_EQ(m.size(), 0u);
    EXPECT_EQ(m.data(), nullptr);
}

TEST(MappedFile, ErrorsNamePathAndReason) {
    TempDir dir;
    try {
        MappedFile m(dir / "missing.gguf");
        FAIL() << "no error";
    } catch (const SystemError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("missing.gguf"), std::string::npos) << what;
        EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
    }
    EXPECT_THROW(MappedFile m(dir.path()), SystemError);  // a directory
}

}  // namespace
}  // namespace spool
