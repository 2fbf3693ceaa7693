// Hostile GGUF images: each starts from a valid file made by GgufWriter, corrupts specific bytes or
// truncates it, and must get a FormatError whose message names the problem (never a crash or hang).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gguf/file.h"
#include "gguf_test_files.h"
#include "spool/errors.h"

namespace spool::gguf {
namespace {

using namespace spool::gguf::testing;

constexpr const char* kName = "hostile.gguf";

// Parses `bytes` and checks for a FormatError naming the file whose message contains `expected`.
// Returns the error so callers can check the offset and field.
FormatError expect_format_error(const std::vector<uint8_t>& bytes, const std::string& expected,
                                const ReadLimits& limits = {}) {
    try {
        GgufFile::parse(bytes.data(), bytes.size(), kName, limits);
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find(expected), std::string::npos)
            << "message: " << e.what() << "\nexpected it to contain: " << expected;
        EXPECT_EQ(e.file(), kName);
        return e;
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected FormatError containing '" << expected << "', got another exception: " << e.what();
        return FormatError("", 0, "", "");
    }
    ADD_FAILURE() << "expected FormatError containing '" << expected << "', but the file parsed";
    return FormatError("", 0, "", "");
}

// Where the tensor info fields of `name` start (n_dims, then ne[], type, offset).
struct TensorFields {
    size_t n_dims, ne0, type, offset;
};
TensorFields tensor_fields(const std::vector<uint8_t>& bytes, const std::string& name, uint32_t n_dims) {
    const size_t p = after_string(bytes, name);
    return {p, p + 4, p + 4 + 8 * n_dims, p + 8 + 8 * n_dims};
}

TEST(GgufHostile, BaseFileIsValid) {
    const auto bytes = small_file();
    const GgufFile f = GgufFile::parse(bytes.data(), bytes.size(), kName);
    EXPECT_EQ(f.tensors().size(), 4u);
    EXPECT_EQ(f.metadata().size(), 20u);
}

TEST(GgufHostile, BadMagic) {
    auto bytes = small_file();
    bytes[0] = 'X';
    const FormatError e = expect_format_error(bytes, "not a GGUF file");
    EXPECT_EQ(e.field(), "magic");
    EXPECT_EQ(e.offset(), 0u);
}

TEST(GgufHostile, Version1IsRejected) {
    auto bytes = small_file();
    poke<uint32_t>(bytes, 4, 1);
    const FormatError e = expect_format_error(bytes, "GGUF v1");
    EXPECT_EQ(e.field(), "version");
    EXPECT_EQ(e.offset(), 4u);
}

TEST(GgufHostile, UnknownVersion) {
    auto bytes = small_file();
    poke<uint32_t>(bytes, 4, 4);
    expect_format_error(bytes, "unsupported GGUF version 4");
    poke<uint32_t>(bytes, 4, 0);
    expect_format_error(bytes, "unsupported GGUF version 0");
}

TEST(GgufHostile, Version2Parses) {
    auto bytes = small_file();
    poke<uint32_t>(bytes, 4, 2);  // v2 and v3 share the little-endian layout
    EXPECT_EQ(GgufFile::parse(bytes.data(), bytes.size(), kName).version(), 2u);
}

TEST(GgufHostile, BigEndianIsRejected) {
    auto bytes = small_file();
    poke<uint32_t>(bytes, 4, 0x03000000u);
    expect_format_error(bytes, "big-endian GGUF is not supported");
    poke<uint32_t>(bytes, 4, 0x02000000u);
    expect_format_error(bytes, "big-endian GGUF is not supported");
}

TEST(GgufHostile, HugeTensorCount) {
    auto bytes = small_file();
    poke<uint64_t>(bytes, 8, uint64_t{1} << 60);
    const FormatError e = expect_format_error(bytes, "tensor infos need at least");
    EXPECT_EQ(e.field(), "tensor_count");
    poke<uint64_t>(bytes, 8, UINT64_MAX);
    expect_format_error(bytes, "tensor infos need at least");
}

TEST(GgufHostile, HugeKvCount) {
    auto bytes = small_file();
    poke<uint64_t>(bytes, 16, UINT64_MAX / 3);
    const FormatError e = expect_format_error(bytes, "bytes remain in the file");
    EXPECT_EQ(e.field(), "metadata_kv_count");
}

TEST(GgufHostile, KeyLengthPastEnd) {
    auto bytes = small_file();
    poke<uint64_t>(bytes, 24, uint64_t{1} << 40);  // the first key's length
    const FormatError e = expect_format_error(bytes, "string length 1099511627776 exceeds the");
    EXPECT_EQ(e.offset(), 24u);
}

TEST(GgufHostile, EmptyKey) {
    auto bytes = small_file();
    const size_t at = find_string_field(bytes, "v.u8");
    // Keep the byte count by turning the key into a zero-length key followed by a shorter one: simplest is
    // to make the length 0 and check the error names an empty key.
    poke<uint64_t>(bytes, at, 0);
    expect_format_error(bytes, "empty key");
}

TEST(GgufHostile, StringValueLengthPastEnd) {
    auto bytes = small_file();
    const size_t value = after_string(bytes, "general.name") + 4;
    poke<uint64_t>(bytes, value, UINT64_MAX);
    const FormatError e = expect_format_error(bytes, "string length 18446744073709551615 exceeds");
    EXPECT_EQ(e.field(), "general.name");
    EXPECT_EQ(e.offset(), value);
}

TEST(GgufHostile, StringOverReadLimit) {
    const auto bytes = small_file();
    ReadLimits limits;
    limits.max_string_bytes = 8;  // "general.architecture" is 20 bytes
    expect_format_error(bytes, "ReadLimits::max_string_bytes", limits);
}

TEST(GgufHostile, ArrayCountPastEnd) {
    auto bytes = small_file();
    const size_t count = after_string(bytes, "a.i32") + 4 + 4;  // value type, element type, then count
    ASSERT_EQ(peek<uint64_t>(bytes, count), 3u);
    poke<uint64_t>(bytes, count, uint64_t{1} << 50);
    const FormatError e = expect_format_error(bytes, "array of 1125899906842624 int32 needs at least");
    EXPECT_EQ(e.field(), "a.i32");
    EXPECT_EQ(e.offset(), count);
}

TEST(GgufHostile, ArrayByteSizeOverflow) {
    auto bytes = small_file();
    const size_t count = after_string(bytes, "a.strings") + 8;
    poke<uint64_t>(bytes, count, UINT64_MAX / 2);  // * 8 bytes per string length overflows 64 bits
    expect_format_error(bytes, "needs at least 2^64 bytes");
}

TEST(GgufHostile, StringArrayElementPastEnd) {
    auto bytes = small_file();
    const size_t first = after_string(bytes, "a.strings") + 16;  // first element's length
    poke<uint64_t>(bytes, first, 1u << 30);
    expect_format_error(bytes, "string length 1073741824 exceeds");
}

TEST(GgufHostile, NestedArraysTooDeep) {
    GgufWriter w;
    w.set("deep", nested_array(9));
    const auto bytes = w.to_bytes(fill_pattern);
    expect_format_error(bytes, "nested 9 deep exceed the limit of 8");
    ReadLimits limits;
    limits.max_array_depth = 9;
    EXPECT_NO_THROW(GgufFile::parse(bytes.data(), bytes.size(), kName, limits));
    limits.max_array_depth = 2;
    expect_format_error(small_file(), "nested 3 deep exceed the limit of 2", limits);
}

TEST(GgufHostile, UnknownValueType) {
    auto bytes = small_file();
    const size_t type = after_string(bytes, "v.u32");
    poke<uint32_t>(bytes, type, 13);
    const FormatError e = expect_format_error(bytes, "unknown value type id 13");
    EXPECT_EQ(e.field(), "v.u32");
    EXPECT_EQ(e.offset(), type);
}

TEST(GgufHostile, UnknownArrayElementType) {
    auto bytes = small_file();
    poke<uint32_t>(bytes, after_string(bytes, "a.i32") + 4, 0xFFFFFFFFu);
    expect_format_error(bytes, "unknown value type id 4294967295");
}

TEST(GgufHostile, BoolOtherThanZeroOrOne) {
    auto bytes = small_file();
    poke<uint8_t>(bytes, after_string(bytes, "v.bool") + 4, 2);
    expect_format_error(bytes, "bool byte must be 0 or 1, got 2");
}

TEST(GgufHostile, DuplicateKey) {
    auto bytes = small_file();
    bytes[after_string(bytes, "dup.b") - 1] = 'a';
    const FormatError e = expect_format_error(bytes, "duplicate key");
    EXPECT_EQ(e.field(), "dup.a");
}

TEST(GgufHostile, DuplicateTensorName) {
    auto bytes = small_file();
    bytes[after_string(bytes, "t.b") - 1] = 'a';
    expect_format_error(bytes, "duplicate tensor name");
}

TEST(GgufHostile, AlignmentOfWrongType) {
    auto bytes = small_file(64);
    const size_t type = after_string(bytes, "general.alignment");
    ASSERT_EQ(peek<uint32_t>(bytes, type), static_cast<uint32_t>(ValueType::UINT32));
    poke<uint32_t>(bytes, type, static_cast<uint32_t>(ValueType::INT32));  // same size, wrong type
    const FormatError e = expect_format_error(bytes, "must be uint32, got int32");
    EXPECT_EQ(e.field(), "general.alignment");
}

TEST(GgufHostile, AlignmentNotPowerOfTwo) {
    auto bytes = small_file(64);
    const size_t value = after_string(bytes, "general.alignment") + 4;
    poke<uint32_t>(bytes, value, 0);
    expect_format_error(bytes, "nonzero power of two, got 0");
    poke<uint32_t>(bytes, value, 48);
    expect_format_error(bytes, "nonzero power of two, got 48");
}

TEST(GgufHostile, TensorOffsetOutsideDataSection) {
    auto bytes = small_file();
    const TensorFields f = tensor_fields(bytes, "t.f16", 4);
    poke<uint64_t>(bytes, f.offset, uint64_t{1} << 40);
    const FormatError e = expect_format_error(bytes, "lies outside the data section");
    EXPECT_EQ(e.offset(), f.offset);
    EXPECT_EQ(e.field(), "tensor 't.f16' offset");
    poke<uint64_t>(bytes, f.offset, UINT64_MAX - 63);  // offset + size overflows
    expect_format_error(bytes, "lies outside the data section");
}

TEST(GgufHostile, TensorOffsetMisaligned) {
    auto bytes = small_file();
    const TensorFields f = tensor_fields(bytes, "t.b", 2);
    poke<uint64_t>(bytes, f.offset, peek<uint64_t>(bytes, f.offset) + 4);
    expect_format_error(bytes, "is not a multiple of general.alignment 32");
}

TEST(GgufHostile, TensorsOverlap) {
    auto bytes = small_file();
    const TensorFields a = tensor_fields(bytes, "t.a", 2);
    const TensorFields b = tensor_fields(bytes, "t.b", 2);
    poke<uint64_t>(bytes, b.offset, peek<uint64_t>(bytes, a.offset));
    expect_format_error(bytes, "overlaps tensor");
}

TEST(GgufHostile, UnknownTensorType) {
    auto bytes = small_file();
    const TensorFields f = tensor_fields(bytes, "t.a", 2);
    poke<uint32_t>(bytes, f.type, 4);  // Q4_2, removed from ggml
    expect_format_error(bytes, "unknown ggml type id 4");
    poke<uint32_t>(bytes, f.type, 1000);
    const FormatError e = expect_format_error(bytes, "unknown ggml type id 1000");
    EXPECT_EQ(e.field(), "tensor 't.a' type");
    EXPECT_EQ(e.offset(), f.type);
}

TEST(GgufHostile, DimensionCount) {
    auto bytes = small_file();
    const TensorFields f = tensor_fields(bytes, "t.a", 2);
    poke<uint32_t>(bytes, f.n_dims, 0);
    expect_format_error(bytes, "expected 1 to 4 dimensions, got 0");
    poke<uint32_t>(bytes, f.n_dims, 5);
    expect_format_error(bytes, "expected 1 to 4 dimensions, got 5");
}

TEST(GgufHostile, ZeroAndNegativeDims) {
    auto bytes = small_file();
    const TensorFields f = tensor_fields(bytes, "t.a", 2);
    poke<uint64_t>(bytes, f.ne0 + 8, 0);
    expect_format_error(bytes, "dimension must be positive, got 0");
    poke<uint64_t>(bytes, f.ne0 + 8, static_cast<uint64_t>(-3));
    const FormatError e = expect_format_error(bytes, "dimension must be positive, got -3");
    EXPECT_EQ(e.field(), "tensor 't.a' ne[1]");
}

TEST(GgufHostile, RowNotMultipleOfBlock) {
    auto bytes = small_file();
    const TensorFields f = tensor_fields(bytes, "t.b", 2);
    poke<uint64_t>(bytes, f.ne0, 48);
    expect_format_error(bytes, "row length 48 is not a multiple of the Q4_0 block size 32");
}

TEST(GgufHostile, ElementCountOverflow) {
    auto bytes = small_file();
    const TensorFields f = tensor_fields(bytes, "t.a", 2);
    poke<uint64_t>(bytes, f.ne0, uint64_t{1} << 40);
    poke<uint64_t>(bytes, f.ne0 + 8, uint64_t{1} << 40);
    expect_format_error(bytes, "element count overflows");
}

TEST(GgufHostile, ByteSizeOverflow) {
    auto bytes = small_file();
    const TensorFields f = tensor_fields(bytes, "t.a", 2);
    poke<uint64_t>(bytes, f.ne0, uint64_t{1} << 62);  // 2^62 F32 elements = 2^64 bytes
    poke<uint64_t>(bytes, f.ne0 + 8, 1);
    expect_format_error(bytes, "byte size of the tensor overflows 64 bits");
}

TEST(GgufHostile, DataSectionShorterThanLastTensor) {
    const auto full = small_file();
    auto bytes = full;
    bytes.resize(full.size() - 40);  // t.f16 is 60 bytes, padded to 64: cut into its data
    expect_format_error(bytes, "lies outside the data section");
}

TEST(GgufHostile, DataSectionMissing) {
    const auto full = small_file();
    auto bytes = full;
    const TensorFields f = tensor_fields(full, "t.f16", 4);
    bytes.resize(f.offset + 8);  // header complete, padding and data gone
    expect_format_error(bytes, "truncated file");
}

// Every prefix of a valid file must fail cleanly, up to where the last tensor's data ends.
TEST(GgufHostile, TruncatedAtEveryLength) {
    const auto full = small_file();
    const GgufFile whole = GgufFile::parse(full.data(), full.size(), kName);
    size_t needed = 0;
    for (const TensorInfo& t : whole.tensors()) {
        needed = std::max<size_t>(needed, static_cast<size_t>(t.data - full.data()) + t.n_bytes);
    }
    size_t failures = 0;
    for (size_t len = 0; len <= full.size(); ++len) {
        // A copy of exactly len bytes, so ASan sees any read past the end.
        const std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
        bool threw = false;
        try {
            GgufFile::parse(prefix.data(), prefix.size(), kName);
        } catch (const FormatError&) {
            threw = true;
        }
        if (threw != (len < needed)) {
            ++failures;
            ADD_FAILURE() << "length " << len << " of " << full.size() << ": " << (threw ? "threw" : "parsed");
        }
    }
    EXPECT_EQ(failures, 0u);
}

// Same for a file without tensors (a vocab-only file), which may end right after its metadata.
TEST(GgufHostile, TruncatedMetadataOnlyFile) {
    GgufWriter w;
    w.set("tokenizer.ggml.tokens", array_of(ValueType::STRING, std::vector<std::string>{"<s>", "a", "bc"}));
    w.set("a.nested", nested_array(2));
    const auto full = w.to_bytes(fill_pattern);
    const size_t header_end = after_string(full, "a.nested") + 4 + 4 + 8 + 4 + 8 + 3;
    for (size_t len = 0; len < full.size(); ++len) {
        const std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
        if (len < header_end) {
            EXPECT_THROW(GgufFile::parse(prefix.data(), prefix.size(), kName), FormatError) << "length " << len;
        } else {
            EXPECT_NO_THROW(GgufFile::parse(prefix.data(), prefix.size(), kName)) << "length " << len;
        }
    }
}

TEST(GgufHostile, SplitPartCannotBeParsedAlone) {
    GgufWriter w;
    w.set("split.no", Value(uint16_t{0}));
    w.set("split.count", Value(uint16_t{3}));
    const auto bytes = w.to_bytes(fill_pattern);
    expect_format_error(bytes, "one part of a 3-part split model");
}

}  // namespace
}  // namespace spool::gguf
