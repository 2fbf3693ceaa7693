// Small valid GGUF images built with GgufWriter, byte-patching helpers, and a temporary directory,
// shared by the GGUF tests (hostile, round-trip, split, fuzz seeds).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/writer.h"

namespace spool::gguf::testing {

// A directory under the system temp dir, removed with its contents at scope exit.
class TempDir {
public:
    TempDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = "spool_gguf_" + std::to_string(::getpid());
        if (info != nullptr) name += std::string("_") + info->test_suite_name() + "_" + info->name();
        path_ = std::filesystem::temp_directory_path() / name;
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// Deterministic bytes for tensor i (never all zero), so a round trip can check every byte.
inline uint8_t fill_byte(size_t tensor, size_t i) { return static_cast<uint8_t>((tensor * 131 + i * 7 + 1) % 251 + 1); }

inline void fill_pattern(size_t tensor, uint8_t* dst, size_t n) {
    for (size_t i = 0; i < n; ++i) dst[i] = fill_byte(tensor, i);
}

// A nested array value: depth 1 is a plain array of uint8; depth d wraps depth d-1 in an array of arrays.
inline Value nested_array(uint32_t depth) {
    Array inner;
    inner.element_type = ValueType::UINT8;
    inner.items = std::vector<uint8_t>{1, 2, 3};
    Value v(std::move(inner));
    for (uint32_t d = 1; d < depth; ++d) {
        Array outer;
        outer.element_type = ValueType::ARRAY;
        outer.items = std::vector<Value>{v};
        v = Value(std::move(outer));
    }
    return v;
}

template <class T>
Value array_of(ValueType type, std::vector<T> items) {
    Array a;
    a.element_type = type;
    a.items = std::move(items);
    return Value(std::move(a));
}

// A writer holding every value type (scalars and arrays, nested arrays included) and a few tensors of
// different types. Keys "dup.a"/"dup.b" and tensors "t.a"/"t.b" have equal lengths so tests can make
// them collide by patching one byte.
inline GgufWriter small_writer(uint64_t alignment = 32) {
    GgufWriter w(alignment);
    w.set("general.architecture", Value(std::string("llama")));
    w.set("general.name", Value(std::string("hostile \"test\"\n")));
    w.set("v.u8", Value(uint8_t{200}));
    w.set("v.i8", Value(int8_t{-100}));
    w.set("v.u16", Value(uint16_t{60000}));
    w.set("v.i16", Value(int16_t{-30000}));
    w.set("v.u32", Value(uint32_t{4000000000u}));
    w.set("v.i32", Value(int32_t{-2000000000}));
    w.set("v.f32", Value(1.5f));
    w.set("v.bool", Value(true));
    w.set("v.u64", Value(uint64_t{18000000000000000000ull}));
    w.set("v.i64", Value(int64_t{-9000000000000000000ll}));
    w.set("v.f64", Value(-2.25));
    w.set("dup.a", Value(uint32_t{7}));
    w.set("dup.b", Value(uint32_t{8}));
    w.set("a.strings", array_of(ValueType::STRING, std::vector<std::string>{"a", "", "ccc"}));
    w.set("a.i32", array_of(ValueType::INT32, std::vector<int32_t>{1, -2, 3}));
    w.set("a.f32", array_of(ValueType::FLOAT32, std::vector<float>{0.5f, -1.0f}));
    w.set("a.bool", array_of(ValueType::BOOL, std::vector<bool>{true, false, true}));
    w.set("a.nested", nested_array(3));
    w.add_tensor("t.a", GgmlType::F32, {7, 3});
    w.add_tensor("t.b", GgmlType::Q4_0, {64, 2});
    w.add_tensor("t.q8", GgmlType::Q8_0, {32});
    w.add_tensor("t.f16", GgmlType::F16, {5, 2, 3, 1});
    return w;
}

inline std::vector<uint8_t> small_file(uint64_t alignment = 32) {
    return small_writer(alignment).to_bytes(fill_pattern);
}

// Offset of the uint64 length that precedes the first occurrence of the gguf_string `s` in `bytes`.
inline size_t find_string_field(const std::vector<uint8_t>& bytes, std::string_view s) {
    for (size_t i = 8; i + s.size() <= bytes.size(); ++i) {
        uint64_t len = 0;
        std::memcpy(&len, bytes.data() + i - 8, 8);
        if (len == s.size() && std::memcmp(bytes.data() + i, s.data(), s.size()) == 0) return i - 8;
    }
    ADD_FAILURE() << "string '" << s << "' not found in the test file";
    return 0;
}

// Offset just past the gguf_string `s` (where its value type, or a tensor's n_dims, starts).
inline size_t after_string(const std::vector<uint8_t>& bytes, std::string_view s) {
    return find_string_field(bytes, s) + 8 + s.size();
}

template <class T>
void poke(std::vector<uint8_t>& bytes, size_t offset, T value) {
    ASSERT_LE(offset + sizeof(T), bytes.size());
    std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

template <class T>
T peek(const std::vector<uint8_t>& bytes, size_t offset) {
    T value{};
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
    return value;
}

inline void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << "cannot write " << path;
}

}  // namespace spool::gguf::testing
