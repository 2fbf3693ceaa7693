// GgufWriter -> GgufFile round trips: every value type (nested arrays included), every tensor type in
// the type table, alignments, atomic writes, and the writer's own argument checks.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gguf/file.h"
#include "gguf/writer.h"
#include "gguf_test_files.h"
#include "quant/types.h"
#include "spool/errors.h"

namespace spool::gguf {
namespace {

using namespace spool::gguf::testing;

bool same_value(const Value& a, const Value& b) { return a == b; }

// One key per scalar type and one array per element type, plus arrays of arrays of mixed element types.
GgufWriter every_value_type_writer() {
    GgufWriter w;
    w.set("s.u8", Value(uint8_t{255}));
    w.set("s.i8", Value(int8_t{-128}));
    w.set("s.u16", Value(uint16_t{65535}));
    w.set("s.i16", Value(int16_t{-32768}));
    w.set("s.u32", Value(uint32_t{4294967295u}));
    w.set("s.i32", Value(int32_t{-2147483647 - 1}));
    w.set("s.f32", Value(3.25f));
    w.set("s.bool", Value(false));
    w.set("s.string", Value(std::string("h\xc3\xa9llo\n\x01")));
    w.set("s.empty", Value(std::string()));
    w.set("s.u64", Value(uint64_t{UINT64_MAX}));
    w.set("s.i64", Value(int64_t{INT64_MIN}));
    w.set("s.f64", Value(1e300));
    w.set("a.u8", array_of(ValueType::UINT8, std::vector<uint8_t>{0, 1, 255}));
    w.set("a.i8", array_of(ValueType::INT8, std::vector<int8_t>{-1, 127}));
    w.set("a.u16", array_of(ValueType::UINT16, std::vector<uint16_t>{1, 65535}));
    w.set("a.i16", array_of(ValueType::INT16, std::vector<int16_t>{-5}));
    w.set("a.u32", array_of(ValueType::UINT32, std::vector<uint32_t>{1, 2, 3, 4}));
    w.set("a.i32", array_of(ValueType::INT32, std::vector<int32_t>{-7, 7}));
    w.set("a.f32", array_of(ValueType::FLOAT32, std::vector<float>{0.1f, -2.5f}));
    w.set("a.bool", array_of(ValueType::BOOL, std::vector<bool>{true, false, false, true, true}));
    w.set("a.string", array_of(ValueType::STRING, std::vector<std::string>{"x", "", std::string(300, 'y')}));
    w.set("a.u64", array_of(ValueType::UINT64, std::vector<uint64_t>{UINT64_MAX, 0}));
    w.set("a.i64", array_of(ValueType::INT64, std::vector<int64_t>{INT64_MIN, 1}));
    w.set("a.f64", array_of(ValueType::FLOAT64, std::vector<double>{1.0 / 3.0}));
    w.set("a.empty", array_of(ValueType::FLOAT32, std::vector<float>{}));
    Array mixed;  // an array of arrays whose inner arrays have different element types
    mixed.element_type = ValueType::ARRAY;
    mixed.items = std::vector<Value>{array_of(ValueType::STRING, std::vector<std::string>{"p", "q"}),
                                     array_of(ValueType::INT64, std::vector<int64_t>{9}), nested_array(2),
                                     array_of(ValueType::BOOL, std::vector<bool>{})};
    w.set("a.mixed", Value(std::move(mixed)));
    w.set("a.deep", nested_array(8));
    return w;
}

TEST(GgufRoundTrip, EveryValueType) {
    const GgufWriter w = every_value_type_writer();
    const auto bytes = w.to_bytes(fill_pattern);
    const GgufFile f = GgufFile::parse(bytes.data(), bytes.size(), "values.gguf");
    EXPECT_EQ(f.version(), 3u);
    EXPECT_TRUE(f.tensors().empty());
    ASSERT_EQ(f.metadata().size(), w.metadata().size());
    std::vector<bool> seen(13, false);  // every ValueType must appear as a scalar or an element type
    for (size_t i = 0; i < f.metadata().size(); ++i) {
        const auto& [key, value] = f.metadata()[i];
        EXPECT_EQ(key, w.metadata()[i].first);
        EXPECT_TRUE(same_value(value, w.metadata()[i].second)) << key << ": " << value.to_display();
        seen[static_cast<size_t>(value.type())] = true;
        if (value.is_array()) seen[static_cast<size_t>(value.as_array().element_type)] = true;
    }
    for (size_t t = 0; t < seen.size(); ++t) EXPECT_TRUE(seen[t]) << value_type_name(static_cast<ValueType>(t));
    // A changed value must be noticed (the comparison can fail).
    EXPECT_FALSE(same_value(f.at("a.mixed"), Value(nested_array(2))));
}

TEST(GgufRoundTrip, ValuesThroughAFile) {
    TempDir dir;
    const GgufWriter w = every_value_type_writer();
    w.write(dir / "values.gguf", fill_pattern);
    const GgufFile f = GgufFile::open(dir / "values.gguf");
    EXPECT_EQ(f.file_bytes(), w.to_bytes(fill_pattern).size());
    ASSERT_EQ(f.metadata().size(), w.metadata().size());
    for (size_t i = 0; i < f.metadata().size(); ++i) {
        EXPECT_TRUE(same_value(f.metadata()[i].second, w.metadata()[i].second)) << f.metadata()[i].first;
    }
    EXPECT_EQ(f.at("s.u64").as_u64(), UINT64_MAX);
    EXPECT_EQ(f.at("s.i64").as_i64(), INT64_MIN);
    EXPECT_EQ(f.at("s.i8").as_i64(), -128);
    EXPECT_EQ(f.at("s.f32").as_f64(), 3.25);
    EXPECT_EQ(f.at("s.f64").as_f64(), 1e300);
    EXPECT_EQ(f.at("s.string").as_string(), "h\xc3\xa9llo\n\x01");
    EXPECT_EQ(f.at("a.string").as_strings()[2], std::string(300, 'y'));
    EXPECT_EQ(f.at("a.u32").as_i64s(), (std::vector<int64_t>{1, 2, 3, 4}));
    EXPECT_EQ(f.at("a.f32").as_f32s(), (std::vector<float>{0.1f, -2.5f}));
    EXPECT_EQ(f.at("a.i64").as_i64s(), (std::vector<int64_t>{INT64_MIN, 1}));
    const auto& mixed = f.at("a.mixed").as_values();
    ASSERT_EQ(mixed.size(), 4u);
    EXPECT_EQ(mixed[0].as_strings(), (std::vector<std::string>{"p", "q"}));
    EXPECT_EQ(mixed[2].as_values()[0].as_i64s(), (std::vector<int64_t>{1, 2, 3}));
    const Value* v = &f.at("a.deep");
    for (int d = 1; d < 8; ++d) v = &v->as_values().at(0);
    EXPECT_EQ(v->as_i64s(), (std::vector<int64_t>{1, 2, 3}));
}

// One tensor of every type in the type table, at two row counts, each byte checked after the round trip.
TEST(GgufRoundTrip, EveryTensorType) {
    TempDir dir;
    GgufWriter w(64);
    std::vector<std::string> names;
    for (const TypeInfo& info : all_type_infos()) {
        const std::string name = "t." + std::string(info.name);
        w.add_tensor(name, info.type, {info.block_size * 3, 5});
        w.add_tensor(name + ".1d", info.type, {info.block_size});
        names.push_back(name);
    }
    w.write(dir / "types.gguf", fill_pattern);
    const GgufFile f = GgufFile::open(dir / "types.gguf");
    EXPECT_EQ(f.alignment(), 64u);
    ASSERT_EQ(f.tensors().size(), 2 * all_type_infos().size());
    for (size_t i = 0; i < f.tensors().size(); ++i) {
        const TensorInfo& t = f.tensors()[i];
        const GgufWriter::PlannedTensor& p = w.tensors()[i];
        const TypeInfo& info = type_info(t.type);
        EXPECT_EQ(t.name, p.name);
        EXPECT_EQ(t.type, p.type) << t.name;
        EXPECT_EQ(t.ne, p.ne) << t.name;
        EXPECT_EQ(t.offset, p.offset) << t.name;
        EXPECT_EQ(t.offset % 64, 0u) << t.name;
        EXPECT_EQ(t.n_bytes, static_cast<uint64_t>(t.n_elements / info.block_size) * info.block_bytes) << t.name;
        EXPECT_EQ(t.n_bytes, row_bytes(t.type, t.ne[0]) * static_cast<uint64_t>(t.n_rows())) << t.name;
        EXPECT_EQ(t.split, 0u);
        size_t mismatches = 0;
        for (size_t b = 0; b < t.n_bytes; ++b) mismatches += t.data[b] != fill_byte(i, b);
        EXPECT_EQ(mismatches, 0u) << t.name;
    }
    EXPECT_EQ(f.tensor("t.Q4_K").ne, (std::vector<int64_t>{768, 5}));
    EXPECT_EQ(f.tensor("t.Q4_K").n_rows(), 5);
    EXPECT_EQ(f.find_tensor("missing"), nullptr);
    EXPECT_THROW(f.tensor("missing"), FormatError);
}

TEST(GgufRoundTrip, AlignmentsAndPadding) {
    for (const uint64_t alignment : {1u, 8u, 32u, 256u, 4096u}) {
        GgufWriter w(alignment);
        w.add_tensor("a", GgmlType::F32, {3});
        w.add_tensor("b", GgmlType::F16, {5, 3});
        const auto bytes = w.to_bytes(fill_pattern);
        EXPECT_EQ(bytes.size() % alignment, 0u) << alignment;
        const GgufFile f = GgufFile::parse(bytes.data(), bytes.size());
        EXPECT_EQ(f.alignment(), alignment);
        EXPECT_EQ(f.find("general.alignment") != nullptr, alignment != 32) << alignment;
        EXPECT_EQ(static_cast<size_t>(f.tensors()[0].data - bytes.data()) % alignment, 0u);
        EXPECT_EQ(f.tensors()[1].offset, (12 + alignment - 1) / alignment * alignment);  // after 12 bytes of F32
    }
}

TEST(GgufRoundTrip, SetReplacesInPlace) {
    GgufWriter w;
    w.set("a", Value(uint32_t{1}));
    w.set("b", Value(uint32_t{2}));
    w.set("a", Value(std::string("x")));
    const auto bytes = w.to_bytes(fill_pattern);
    const GgufFile f = GgufFile::parse(bytes.data(), bytes.size());
    ASSERT_EQ(f.metadata().size(), 2u);
    EXPECT_EQ(f.metadata()[0].first, "a");
    EXPECT_EQ(f.metadata()[0].second.as_string(), "x");
}

TEST(GgufRoundTrip, AtomicWriteLeavesNoTmp) {
    TempDir dir;
    GgufWriter w = small_writer();
    w.write(dir / "m.gguf", fill_pattern);
    EXPECT_TRUE(std::filesystem::exists(dir / "m.gguf"));
    EXPECT_FALSE(std::filesystem::exists(dir / "m.gguf.tmp"));
    // A fill that throws leaves the old file untouched and no .tmp behind.
    const auto size_before = std::filesystem::file_size(dir / "m.gguf");
    w.set("extra", Value(uint8_t{1}));
    EXPECT_THROW(w.write(dir / "m.gguf", [](size_t i, uint8_t*, size_t) {
        if (i == 2) throw UsageError("fill failed");
    }), UsageError);
    EXPECT_EQ(std::filesystem::file_size(dir / "m.gguf"), size_before);
    EXPECT_FALSE(std::filesystem::exists(dir / "m.gguf.tmp"));
    EXPECT_THROW(w.write(dir / "no_such_dir" / "m.gguf", fill_pattern), SystemError);
}

TEST(GgufRoundTrip, WriterRejectsBadArguments) {
    EXPECT_THROW(GgufWriter(0), UsageError);
    EXPECT_THROW(GgufWriter(48), UsageError);
    EXPECT_THROW(GgufWriter(uint64_t{1} << 33), UsageError);
    GgufWriter w;
    EXPECT_THROW(w.set("general.alignment", Value(uint64_t{64})), UsageError);
    EXPECT_THROW(w.set("general.alignment", Value(uint32_t{3})), UsageError);
    w.add_tensor("x", GgmlType::Q4_K, {256});
    EXPECT_THROW(w.add_tensor("x", GgmlType::F32, {1}), UsageError);
    EXPECT_THROW(w.add_tensor("y", GgmlType::F32, {}), UsageError);
    EXPECT_THROW(w.add_tensor("y", GgmlType::F32, {1, 1, 1, 1, 1}), UsageError);
    EXPECT_THROW(w.add_tensor("y", GgmlType::F32, {4, 0}), UsageError);
    EXPECT_THROW(w.add_tensor("y", GgmlType::F32, {4, -1}), UsageError);
    EXPECT_THROW(w.add_tensor("y", GgmlType::Q8_0, {33}), UsageError);
    EXPECT_THROW(w.add_tensor("y", static_cast<GgmlType>(4), {32}), UsageError);
    EXPECT_THROW(w.add_tensor("", GgmlType::F32, {1}), UsageError);
    EXPECT_EQ(w.n_tensors(), 1u);
    Array bad;  // element_type that disagrees with the items
    bad.element_type = ValueType::INT32;
    bad.items = std::vector<uint8_t>{1};
    w.set("bad", Value(bad));
    EXPECT_THROW(w.to_bytes(fill_pattern), UsageError);
}

TEST(GgufRoundTrip, SetAlignmentReplansOffsets) {
    GgufWriter w;
    w.add_tensor("a", GgmlType::F32, {3});
    w.add_tensor("b", GgmlType::F32, {3});
    EXPECT_EQ(w.tensors()[1].offset, 32u);
    w.set("general.alignment", Value(uint32_t{128}));
    EXPECT_EQ(w.tensors()[1].offset, 128u);
    const auto bytes = w.to_bytes(fill_pattern);
    const GgufFile f = GgufFile::parse(bytes.data(), bytes.size());
    EXPECT_EQ(f.alignment(), 128u);
    EXPECT_EQ(f.tensors()[1].offset, 128u);
}

}  // namespace
}  // namespace spool::gguf
