// Split models: NAME-0000i-of-0000N.gguf parts, each a full GGUF with split.no / split.count, loaded as
// one tensor list; missing or inconsistent parts are clear errors. Parts are written by hand with GgufWriter.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gguf/file.h"
#include "gguf/split_name.h"
#include "gguf_test_files.h"
#include "spool/errors.h"

namespace spool::gguf {
namespace {

using namespace spool::gguf::testing;

// Part i (0-based) of n holds tensors "p<i>.t0", "p<i>.t1".
GgufWriter part_writer(uint32_t i, uint32_t n, int32_t total_tensors) {
    GgufWriter w;
    if (i == 0) w.set("general.architecture", Value(std::string("llama")));
    w.set("split.no", Value(static_cast<uint16_t>(i)));
    w.set("split.count", Value(static_cast<uint16_t>(n)));
    w.set("split.tensors.count", Value(total_tensors));
    w.add_tensor("p" + std::to_string(i) + ".t0", GgmlType::F32, {4, 3});
    w.add_tensor("p" + std::to_string(i) + ".t1", GgmlType::Q8_0, {64});
    return w;
}

void write_parts(const TempDir& dir, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
        part_writer(i, n, static_cast<int32_t>(2 * n)).write(dir / split_file_name("model", i + 1, n), fill_pattern);
    }
}

template <class E>
std::string error_of(const std::filesystem::path& path) {
    try {
        GgufFile::open(path);
    } catch (const E& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("wrong exception type: ") + e.what();
    }
    return "no error";
}

TEST(GgufSplit, NameParsing) {
    const auto a = parse_split_name("model-00002-of-00003.gguf");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->prefix, "model");
    EXPECT_EQ(a->part, 2u);
    EXPECT_EQ(a->count, 3u);
    const auto b = parse_split_name("my-model-q4-00001-of-00010.gguf");
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->prefix, "my-model-q4");
    EXPECT_FALSE(parse_split_name("model.gguf"));
    EXPECT_FALSE(parse_split_name("model-0001-of-00003.gguf"));  // four digits
    EXPECT_FALSE(parse_split_name("model-00004-of-00003.gguf"));
    EXPECT_FALSE(parse_split_name("model-00000-of-00003.gguf"));
    EXPECT_FALSE(parse_split_name("model-00001-of-00003.bin"));
    EXPECT_FALSE(parse_split_name("-00001-of-00003.gguf"));
    EXPECT_EQ(split_file_name("m", 7, 12), "m-00007-of-00012.gguf");
}

TEST(GgufSplit, LoadsEveryPart) {
    TempDir dir;
    write_parts(dir, 3);
    const GgufFile f = GgufFile::open(dir / "model-00001-of-00003.gguf");
    EXPECT_EQ(f.n_splits(), 3u);
    EXPECT_EQ(f.architecture(), "llama");
    EXPECT_EQ(f.get_u64("split.no", 99), 0u);
    ASSERT_EQ(f.tensors().size(), 6u);
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < 3; ++i) {
        bytes += std::filesystem::file_size(dir / split_file_name("model", i + 1, 3));
        for (int k = 0; k < 2; ++k) {
            const TensorInfo& t = f.tensors()[2 * i + static_cast<uint32_t>(k)];
            EXPECT_EQ(t.name, "p" + std::to_string(i) + ".t" + std::to_string(k));
            EXPECT_EQ(t.split, i);
            size_t mismatches = 0;
            for (size_t b = 0; b < t.n_bytes; ++b) mismatches += t.data[b] != fill_byte(static_cast<size_t>(k), b);
            EXPECT_EQ(mismatches, 0u) << t.name;
        }
    }
    EXPECT_EQ(f.file_bytes(), bytes);
    EXPECT_EQ(f.tensor("p2.t1").ne, (std::vector<int64_t>{64}));
}

TEST(GgufSplit, MissingPartIsNamed) {
    TempDir dir;
    write_parts(dir, 3);
    std::filesystem::remove(dir / "model-00002-of-00003.gguf");
    const std::string what = error_of<FormatError>(dir / "model-00001-of-00003.gguf");
    EXPECT_NE(what.find("part 2 of 3 is missing"), std::string::npos) << what;
    EXPECT_NE(what.find("model-00002-of-00003.gguf"), std::string::npos) << what;
}

TEST(GgufSplit, OpeningALaterPartPointsAtTheFirst) {
    TempDir dir;
    write_parts(dir, 2);
    const std::string what = error_of<UsageError>(dir / "model-00002-of-00002.gguf");
    EXPECT_NE(what.find("open the first part"), std::string::npos) << what;
    EXPECT_NE(what.find("model-00001-of-00002.gguf"), std::string::npos) << what;
}

TEST(GgufSplit, InconsistentParts) {
    TempDir dir;
    write_parts(dir, 3);
    // Part 2 claims to be part 3.
    part_writer(2, 3, 6).write(dir / "model-00002-of-00003.gguf", fill_pattern);
    EXPECT_NE(error_of<FormatError>(dir / "model-00001-of-00003.gguf").find("split.no"), std::string::npos);
    // Part 2 says the model has 4 parts.
    part_writer(1, 4, 6).write(dir / "model-00002-of-00003.gguf", fill_pattern);
    EXPECT_NE(error_of<FormatError>(dir / "model-00001-of-00003.gguf").find("expected 3 parts"), std::string::npos);
    // Part 2 repeats part 1's tensor names.
    GgufWriter dup = part_writer(0, 3, 6);
    dup.set("split.no", Value(uint16_t{1}));
    dup.write(dir / "model-00002-of-00003.gguf", fill_pattern);
    EXPECT_NE(error_of<FormatError>(dir / "model-00001-of-00003.gguf").find("duplicate tensor name across split parts"),
              std::string::npos);
    // The tensor total disagrees with split.tensors.count.
    write_parts(dir, 3);
    part_writer(0, 3, 7).write(dir / "model-00001-of-00003.gguf", fill_pattern);
    const std::string total = error_of<FormatError>(dir / "model-00001-of-00003.gguf");
    EXPECT_NE(total.find("expected 7 tensors over all parts, found 6"), std::string::npos) << total;
}

TEST(GgufSplit, NameAndMetadataMustAgree) {
    TempDir dir;
    part_writer(0, 3, 6).write(dir / "renamed.gguf", fill_pattern);
    const std::string what = error_of<FormatError>(dir / "renamed.gguf");
    EXPECT_NE(what.find("metadata says 3 parts"), std::string::npos) << what;
    GgufWriter plain = small_writer();
    plain.write(dir / "plain-00001-of-00002.gguf", fill_pattern);
    EXPECT_NE(error_of<FormatError>(dir / "plain-00001-of-00002.gguf").find("the file name says 2 parts"),
              std::string::npos);
    GgufWriter bad_type = part_writer(0, 2, 4);
    bad_type.set("split.count", Value(std::string("two")));
    bad_type.write(dir / "t-00001-of-00002.gguf", fill_pattern);
    EXPECT_NE(error_of<FormatError>(dir / "t-00001-of-00002.gguf").find("expected an integer"), std::string::npos);
}

TEST(GgufSplit, SinglePartNameIsAPlainFile) {
    TempDir dir;
    part_writer(0, 1, 2).write(dir / "one-00001-of-00001.gguf", fill_pattern);
    const GgufFile f = GgufFile::open(dir / "one-00001-of-00001.gguf");
    EXPECT_EQ(f.n_splits(), 1u);
    EXPECT_EQ(f.tensors().size(), 2u);
}

}  // namespace
}  // namespace spool::gguf
