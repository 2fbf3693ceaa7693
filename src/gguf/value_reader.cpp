// Bounded reader for GGUF metadata values (GGUF spec, "gguf_metadata_value_t"). A claimed array count can
// never cause a large allocation: count * (smallest encoding of one element) must fit in the bytes left.
#include "gguf/value_reader.h"

#include <string>
#include <utility>
#include <vector>

namespace spool::gguf {
namespace {

constexpr uint32_t kMaxValueType = static_cast<uint32_t>(ValueType::FLOAT64);

// The fewest bytes one element of `type` occupies in the file.
uint64_t min_encoded_bytes(ValueType type) noexcept {
    switch (type) {
        case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
        case ValueType::UINT16: case ValueType::INT16: return 2;
        case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
        case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
        case ValueType::STRING: return 8;   // uint64 length, possibly empty
        case ValueType::ARRAY: return 12;   // uint32 element type + uint64 count, possibly empty
    }
    return 1;
}

bool read_bool(ByteCursor& cursor, std::string_view field) {
    const size_t at = cursor.offset();
    const auto b = cursor.read<uint8_t>(field);
    if (b > 1) cursor.fail(at, field, "bool byte must be 0 or 1, got " + std::to_string(b));
    return b != 0;
}

// Fixed-size little-endian elements are copied in one go (the host is little-endian).
template <class T>
std::vector<T> read_pod_array(ByteCursor& cursor, uint64_t count, std::string_view field) {
    std::vector<T> out(static_cast<size_t>(count));
    cursor.read_into(out.data(), count * sizeof(T), field);
    return out;
}

Value read_value_at_depth(ByteCursor& cursor, ValueType type, std::string_view field, const ReadLimits& limits,
                          uint32_t depth);

Array read_array(ByteCursor& cursor, std::string_view field, const ReadLimits& limits, uint32_t depth) {
    const size_t at = cursor.offset();
    if (depth > limits.max_array_depth) {
        cursor.fail(at, field, "arrays nested " + std::to_string(depth) + " deep exceed the limit of " +
                                   std::to_string(limits.max_array_depth) + " (ReadLimits::max_array_depth)");
    }
    Array array;
    array.element_type = read_value_type(cursor, field);
    const size_t count_at = cursor.offset();
    const auto count = cursor.read<uint64_t>(field);
    const uint64_t min_bytes = min_encoded_bytes(array.element_type);
    if (count > cursor.remaining() / min_bytes) {
        const std::string needed =
            count > UINT64_MAX / min_bytes ? std::string("2^64") : std::to_string(count * min_bytes);
        cursor.fail(count_at, field,
                    "array of " + std::to_string(count) + " " + std::string(value_type_name(array.element_type)) +
                        " needs at least " + needed + " bytes but only " + std::to_string(cursor.remaining()) +
                        " remain in the file");
    }
    const auto n = static_cast<size_t>(count);
    switch (array.element_type) {
        case ValueType::UINT8: array.items = read_pod_array<uint8_t>(cursor, count, field); break;
        case ValueType::INT8: array.items = read_pod_array<int8_t>(cursor, count, field); break;
        case ValueType::UINT16: array.items = read_pod_array<uint16_t>(cursor, count, field); break;
        case ValueType::INT16: array.items = read_pod_array<int16_t>(cursor, count, field); break;
        case ValueType::UINT32: array.items = read_pod_array<uint32_t>(cursor, count, field); break;
        case ValueType::INT32: array.items = read_pod_array<int32_t>(cursor, count, field); break;
        case ValueType::FLOAT32: array.items = read_pod_array<float>(cursor, count, field); break;
        case ValueType::UINT64: array.items = read_pod_array<uint64_t>(cursor, count, field); break;
        case ValueType::INT64: array.items = read_pod_array<int64_t>(cursor, count, field); break;
        case ValueType::FLOAT64: array.items = read_pod_array<double>(cursor, count, field); break;
        case ValueType::BOOL: {
            std::vector<bool> items(n);
            for (size_t i = 0; i < n; ++i) items[i] = read_bool(cursor, field);
            array.items = std::move(items);
            break;
        }
        case ValueType::STRING: {
            std::vector<std::string> items;
            items.reserve(n);
            for (size_t i = 0; i < n; ++i) items.emplace_back(cursor.read_string_view(field, limits.max_string_bytes));
            array.items = std::move(items);
            break;
        }
        case ValueType::ARRAY: {
            std::vector<Value> items;
            items.reserve(n);
            for (size_t i = 0; i < n; ++i) items.emplace_back(read_array(cursor, field, limits, depth + 1));
            array.items = std::move(items);
            break;
        }
    }
    return array;
}

Value read_value_at_depth(ByteCursor& cursor, ValueType type, std::string_view field, const ReadLimits& limits,
                          uint32_t depth) {
    switch (type) {
        case ValueType::UINT8: return Value(cursor.read<uint8_t>(field));
        case ValueType::INT8: return Value(cursor.read<int8_t>(field));
        case ValueType::UINT16: return Value(cursor.read<uint16_t>(field));
        case ValueType::INT16: return Value(cursor.read<int16_t>(field));
        case ValueType::UINT32: return Value(cursor.read<uint32_t>(field));
        case ValueType::INT32: return Value(cursor.read<int32_t>(field));
        case ValueType::FLOAT32: return Value(cursor.read<float>(field));
        case ValueType::BOOL: return Value(read_bool(cursor, field));
        case ValueType::STRING: return Value(std::string(cursor.read_string_view(field, limits.max_string_bytes)));
        case ValueType::ARRAY: return Value(read_array(cursor, field, limits, depth));
        case ValueType::UINT64: return Value(cursor.read<uint64_t>(field));
        case ValueType::INT64: return Value(cursor.read<int64_t>(field));
        case ValueType::FLOAT64: return Value(cursor.read<double>(field));
    }
    cursor.fail(cursor.offset(), field, "unreachable value type");
}

}  // namespace

ValueType read_value_type(ByteCursor& cursor, std::string_view field) {
    const size_t at = cursor.offset();
    const auto id = cursor.read<uint32_t>(field);
    if (id > kMaxValueType) {
        cursor.fail(at, field, "unknown value type id " + std::to_string(id) + " (GGUF defines 0..12)");
    }
    return static_cast<ValueType>(id);
}

Value read_value(ByteCursor& cursor, ValueType type, std::string_view field, const ReadLimits& limits) {
    return read_value_at_depth(cursor, type, field, limits, 1);
}

}  // namespace spool::gguf
