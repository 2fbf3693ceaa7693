// A GGUF metadata value: one of the 13 GGUF value types, or an array of them (arrays may nest).
// Accessors convert between numeric types only where the value fits, and throw FormatError otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace spool::gguf {

// Ids as in the GGUF spec (gguf_metadata_value_type).
enum class ValueType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
    BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
std::string_view value_type_name(ValueType t) noexcept;  // "uint32", "array", ...

class Value;

// A homogeneous array. Numeric and bool elements are kept widened (integers as int64/uint64 bit patterns
// would lose the type, so each element type has its own vector); nested arrays hold Values.
struct Array {
    ValueType element_type = ValueType::UINT8;
    std::variant<std::vector<uint8_t>, std::vector<int8_t>, std::vector<uint16_t>, std::vector<int16_t>,
                 std::vector<uint32_t>, std::vector<int32_t>, std::vector<float>, std::vector<bool>,
                 std::vector<std::string>, std::vector<Value>, std::vector<uint64_t>, std::vector<int64_t>,
                 std::vector<double>>
        items;
    size_t size() const noexcept;
    // Same element type and equal items (floats compare with ==, so NaN != NaN).
    bool operator==(const Array& other) const;
};

class Value {
public:
    using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string,
                                 Array, uint64_t, int64_t, double>;
    // The variant index equals the ValueType id, so type() is storage_.index().

    Value() : storage_(uint8_t{0}) {}
    template <class T>
    explicit Value(T v) : storage_(std::move(v)) {}
    explicit Value(const char* s) : storage_(std::string(s)) {}

    ValueType type() const noexcept { return static_cast<ValueType>(storage_.index()); }
    const Storage& storage() const noexcept { return storage_; }
    bool is_array() const noexcept { return type() == ValueType::ARRAY; }

    // Scalars. Integer accessors accept any integer type whose value fits; as_f64 any number.
    // Each throws FormatError naming `key` when the value has another type or does not fit.
    uint64_t as_u64(std::string_view key = "value") const;
    int64_t as_i64(std::string_view key = "value") const;
    uint32_t as_u32(std::string_view key = "value") const;
    double as_f64(std::string_view key = "value") const;
    bool as_bool(std::string_view key = "value") const;
    const std::string& as_string(std::string_view key = "value") const;

    // Arrays.
    const Array& as_array(std::string_view key = "value") const;
    const std::vector<std::string>& as_strings(std::string_view key = "value") const;  // array of string
    std::vector<float> as_f32s(std::string_view key = "value") const;    // any numeric array, converted
    std::vector<int64_t> as_i64s(std::string_view key = "value") const;  // any integer array
    const std::vector<Value>& as_values(std::string_view key = "value") const;  // array of arrays

    // Same type and equal contents (nested arrays compared element by element).
    bool operator==(const Value& other) const { return storage_ == other.storage_; }

    // Human-readable rendering; arrays longer than max_items show their first items and the count.
    std::string to_display(size_t max_items = 8) const;

private:
    Storage storage_;
};

}  // namespace spool::gguf
