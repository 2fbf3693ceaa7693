// Value accessors (conversions only where the value fits) and to_display (abbreviated, quoted, escaped).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gguf/value.h"
#include "gguf_test_files.h"
#include "spool/errors.h"

namespace spool::gguf {
namespace {

using namespace spool::gguf::testing;

TEST(GgufValue, TypeMatchesVariantIndex) {
    EXPECT_EQ(Value(uint8_t{1}).type(), ValueType::UINT8);
    EXPECT_EQ(Value(int16_t{1}).type(), ValueType::INT16);
    EXPECT_EQ(Value(1.0f).type(), ValueType::FLOAT32);
    EXPECT_EQ(Value(true).type(), ValueType::BOOL);
    EXPECT_EQ(Value("s").type(), ValueType::STRING);
    EXPECT_EQ(Value(nested_array(1)).type(), ValueType::ARRAY);
    EXPECT_EQ(Value(int64_t{1}).type(), ValueType::INT64);
    EXPECT_EQ(Value(1.0).type(), ValueType::FLOAT64);
    EXPECT_EQ(value_type_name(ValueType::FLOAT64), "float64");
    EXPECT_EQ(value_type_name(ValueType::ARRAY), "array");
}

TEST(GgufValue, IntegerConversionsCheckRange) {
    EXPECT_EQ(Value(uint8_t{200}).as_u32(), 200u);
    EXPECT_EQ(Value(int32_t{-5}).as_i64(), -5);
    EXPECT_EQ(Value(uint64_t{1} << 40).as_u64(), uint64_t{1} << 40);
    EXPECT_THROW(Value(int32_t{-5}).as_u64("k"), FormatError);
    EXPECT_THROW(Value(uint64_t{1} << 40).as_u32("k"), FormatError);
    EXPECT_THROW(Value(uint64_t{UINT64_MAX}).as_i64("k"), FormatError);
    EXPECT_THROW(Value(1.5f).as_u64("k"), FormatError);
    EXPECT_THROW(Value(true).as_u64("k"), FormatError);
    EXPECT_THROW(Value("3").as_i64("k"), FormatError);
    EXPECT_DOUBLE_EQ(Value(int8_t{-3}).as_f64(), -3.0);
    EXPECT_DOUBLE_EQ(Value(0.25f).as_f64(), 0.25);
    EXPECT_THROW(Value(true).as_f64("k"), FormatError);
    EXPECT_TRUE(Value(true).as_bool());
    EXPECT_THROW(Value(uint8_t{1}).as_bool("k"), FormatError);
    EXPECT_THROW(Value(uint8_t{1}).as_string("k"), FormatError);
    EXPECT_THROW(Value(uint8_t{1}).as_array("k"), FormatError);
}

TEST(GgufValue, ErrorNamesKeyAndValue) {
    try {
        Value(int32_t{-7}).as_u32("llama.block_count");
        FAIL() << "no error";
    } catch (const FormatError& e) {
        EXPECT_EQ(e.field(), "llama.block_count");
        const std::string what = e.what();
        EXPECT_NE(what.find("non-negative"), std::string::npos) << what;
        EXPECT_NE(what.find("int32 -7"), std::string::npos) << what;
    }
}

TEST(GgufValue, ArrayAccessors) {
    const Value ints = array_of(ValueType::INT16, std::vector<int16_t>{-1, 2});
    EXPECT_EQ(ints.as_i64s(), (std::vector<int64_t>{-1, 2}));
    EXPECT_EQ(ints.as_f32s(), (std::vector<float>{-1.0f, 2.0f}));
    EXPECT_EQ(ints.as_array().size(), 2u);
    EXPECT_THROW(ints.as_strings("k"), FormatError);
    EXPECT_THROW(ints.as_values("k"), FormatError);
    const Value floats = array_of(ValueType::FLOAT64, std::vector<double>{0.5});
    EXPECT_EQ(floats.as_f32s(), (std::vector<float>{0.5f}));
    EXPECT_THROW(floats.as_i64s("k"), FormatError);
    const Value strings = array_of(ValueType::STRING, std::vector<std::string>{"a"});
    EXPECT_THROW(strings.as_f32s("k"), FormatError);
    EXPECT_EQ(strings.as_strings()[0], "a");
    const Value big = array_of(ValueType::UINT64, std::vector<uint64_t>{UINT64_MAX});
    EXPECT_THROW(big.as_i64s("k"), FormatError);
    EXPECT_THROW(array_of(ValueType::BOOL, std::vector<bool>{true}).as_f32s("k"), FormatError);
    EXPECT_EQ(nested_array(2).as_values().size(), 1u);
}

TEST(GgufValue, DisplayScalars) {
    EXPECT_EQ(Value(uint8_t{65}).to_display(), "65");  // a number, not 'A'
    EXPECT_EQ(Value(int8_t{-3}).to_display(), "-3");
    EXPECT_EQ(Value(uint64_t{UINT64_MAX}).to_display(), "18446744073709551615");
    EXPECT_EQ(Value(1e-5f).to_display(), "1e-05");
    EXPECT_EQ(Value(0.1).to_display(), "0.1");
    EXPECT_EQ(Value(true).to_display(), "true");
    EXPECT_EQ(Value("llama").to_display(), "\"llama\"");
}

TEST(GgufValue, DisplayEscapesAndTruncatesStrings) {
    EXPECT_EQ(Value(std::string("a\"b\\c\nd\te\x01\x7f")).to_display(), "\"a\\\"b\\\\c\\nd\\te\\x01\\x7f\"");
    EXPECT_EQ(Value(std::string("h\xc3\xa9")).to_display(), "\"h\xc3\xa9\"");  // UTF-8 kept
    const std::string shown = Value(std::string(5000, 'x')).to_display();
    EXPECT_LT(shown.size(), 200u);
    EXPECT_NE(shown.find("...\" (5000 bytes)"), std::string::npos) << shown;
    // Truncation does not cut a multi-byte character in half.
    std::string utf8;
    for (int i = 0; i < 100; ++i) utf8 += "\xc3\xa9";
    const std::string cut = Value(utf8).to_display();
    const size_t end = cut.find("...");
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ((end - 1) % 2, 0u) << cut;
}

TEST(GgufValue, DisplayAbbreviatesArrays) {
    std::vector<int32_t> ids(32000);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i + 1);
    const Value v = array_of(ValueType::INT32, ids);
    EXPECT_EQ(v.to_display(3), "[1, 2, 3, ... 32000 items]");
    EXPECT_EQ(v.to_display(0), "[... 32000 items]");
    EXPECT_EQ(array_of(ValueType::INT32, std::vector<int32_t>{1, 2}).to_display(), "[1, 2]");
    EXPECT_EQ(array_of(ValueType::FLOAT32, std::vector<float>{}).to_display(), "[]");
    EXPECT_EQ(array_of(ValueType::STRING, std::vector<std::string>{"<s>", "\n"}).to_display(), "[\"<s>\", \"\\n\"]");
    EXPECT_EQ(array_of(ValueType::BOOL, std::vector<bool>{true, false}).to_display(), "[true, false]");
    EXPECT_EQ(nested_array(3).to_display(), "[[[1, 2, 3]]]");
}

}  // namespace
}  // namespace spool::gguf
