// GGUF metadata values: type names, checked numeric accessors, and the human-readable rendering
// used by `spool inspect` (arrays abbreviated, strings quoted, escaped and truncated).
#include "gguf/value.h"

#include <charconv>
#include <limits>
#include <type_traits>

#include "spool/errors.h"

namespace spool::gguf {
namespace {

// Value has no file context; GgufFile's accessors rethrow with the file and the key's offset.
constexpr const char* kNoFile = "GGUF metadata";
constexpr size_t kMaxDisplayStringBytes = 120;

template <class T>
constexpr bool is_int = std::is_integral_v<T> && !std::is_same_v<T, bool>;

[[noreturn]] void type_error(std::string_view key, const Value& v, std::string_view expected) {
    throw FormatError(kNoFile, 0, std::string(key),
                      "expected " + std::string(expected) + ", got " + std::string(value_type_name(v.type())) + " " +
                          v.to_display(4));
}

template <class F>
std::string format_float(F f) {
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof(buf), f);
    return std::string(buf, res.ptr);
}

void append_escaped(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    out += "\\x";
                    out += kHex[c >> 4];
                    out += kHex[c & 15];
                } else {
                    out += ch;
                }
        }
    }
}

std::string display_string(const std::string& s) {
    std::string out = "\"";
    if (s.size() <= kMaxDisplayStringBytes) {
        append_escaped(out, s);
        out += '"';
        return out;
    }
    size_t cut = kMaxDisplayStringBytes;
    // Step back off UTF-8 continuation bytes so a multi-byte character is not split.
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    append_escaped(out, std::string_view(s).substr(0, cut));
    out += "...\" (" + std::to_string(s.size()) + " bytes)";
    return out;
}

template <class T>
std::string display_scalar(const T& v, size_t max_items) {
    if constexpr (std::is_same_v<T, bool>) {
        return v ? "true" : "false";
    } else if constexpr (std::is_same_v<T, std::string>) {
        return display_string(v);
    } else if constexpr (std::is_floating_point_v<T>) {
        return format_float(v);
    } else if constexpr (std::is_same_v<T, Value>) {
        return v.to_display(max_items);
    } else {
        return std::to_string(v);  // integers; uint8/int8 print as numbers, not characters
    }
}

template <class Vec>
std::string display_array(const Vec& items, size_t max_items) {
    std::string out = "[";
    const size_t shown = items.size() < max_items ? items.size() : max_items;
    for (size_t i = 0; i < shown; ++i) {
        if (i != 0) out += ", ";
        using Elem = typename Vec::value_type;
        out += display_scalar<Elem>(items[i], max_items);
    }
    if (shown < items.size()) {
        if (shown != 0) out += ", ";
        out += "... " + std::to_string(items.size()) + " items";
    }
    out += ']';
    return out;
}

// Converts array elements with `convert` (which throws on an element of the wrong kind).
template <class Out, class Convert>
std::vector<Out> convert_array(const Array& a, Convert convert) {
    return std::visit(
        [&](const auto& items) {
            std::vector<Out> out;
            out.reserve(items.size());
            for (const auto& item : items) out.push_back(convert(item));
            return out;
        },
        a.items);
}

}  // namespace

std::string_view value_type_name(ValueType t) noexcept {
    switch (t) {
        case ValueType::UINT8: return "uint8";
        case ValueType::INT8: return "int8";
        case ValueType::UINT16: return "uint16";
        case ValueType::INT16: return "int16";
        case ValueType::UINT32: return "uint32";
        case ValueType::INT32: return "int32";
        case ValueType::FLOAT32: return "float32";
        case ValueType::BOOL: return "bool";
        case ValueType::STRING: return "string";
        case ValueType::ARRAY: return "array";
        case ValueType::UINT64: return "uint64";
        case ValueType::INT64: return "int64";
        case ValueType::FLOAT64: return "float64";
    }
    return "unknown";
}

size_t Array::size() const noexcept {
    return std::visit([](const auto& v) { return v.size(); }, items);
}

bool Array::operator==(const Array& other) const = default;

uint64_t Value::as_u64(std::string_view key) const {
    return std::visit(
        [&](const auto& v) -> uint64_t {
            using T = std::decay_t<decltype(v)>;
            if constexpr (is_int<T>) {
                if constexpr (std::is_signed_v<T>) {
                    if (v < 0) type_error(key, *this, "a non-negative integer");
                }
                return static_cast<uint64_t>(v);
            } else {
                type_error(key, *this, "an integer");
            }
        },
        storage_);
}

int64_t Value::as_i64(std::string_view key) const {
    return std::visit(
        [&](const auto& v) -> int64_t {
            using T = std::decay_t<decltype(v)>;
            if constexpr (is_int<T>) {
                if constexpr (std::is_same_v<T, uint64_t>) {
                    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                        type_error(key, *this, "an integer that fits int64");
                    }
                }
                return static_cast<int64_t>(v);
            } else {
                type_error(key, *this, "an integer");
            }
        },
        storage_);
}

uint32_t Value::as_u32(std::string_view key) const {
    const uint64_t v = as_u64(key);
    if (v > std::numeric_limits<uint32_t>::max()) type_error(key, *this, "an integer that fits uint32");
    return static_cast<uint32_t>(v);
}

double Value::as_f64(std::string_view key) const {
    return std::visit(
        [&](const auto& v) -> double {
            using T = std::decay_t<decltype(v)>;
            if constexpr (is_int<T> || std::is_floating_point_v<T>) {
                return static_cast<double>(v);
            } else {
                type_error(key, *this, "a number");
            }
        },
        storage_);
}

bool Value::as_bool(std::string_view key) const {
    if (const bool* b = std::get_if<bool>(&storage_)) return *b;
    type_error(key, *this, "a bool");
}

const std::string& Value::as_string(std::string_view key) const {
    if (const std::string* s = std::get_if<std::string>(&storage_)) return *s;
    type_error(key, *this, "a string");
}

const Array& Value::as_array(std::string_view key) const {
    if (const Array* a = std::get_if<Array>(&storage_)) return *a;
    type_error(key, *this, "an array");
}

const std::vector<std::string>& Value::as_strings(std::string_view key) const {
    const Array& a = as_array(key);
    if (const auto* v = std::get_if<std::vector<std::string>>(&a.items)) return *v;
    type_error(key, *this, "an array of string");
}

std::vector<float> Value::as_f32s(std::string_view key) const {
    const Array& a = as_array(key);
    return convert_array<float>(a, [&](const auto& item) -> float {
        using T = std::decay_t<decltype(item)>;
        if constexpr (is_int<T> || std::is_floating_point_v<T>) {
            return static_cast<float>(item);
        } else {
            type_error(key, *this, "a numeric array");
        }
    });
}

std::vector<int64_t> Value::as_i64s(std::string_view key) const {
    const Array& a = as_array(key);
    return convert_array<int64_t>(a, [&](const auto& item) -> int64_t {
        using T = std::decay_t<decltype(item)>;
        if constexpr (std::is_same_v<T, uint64_t>) {
            if (item > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                type_error(key, *this, "an integer array whose items fit int64");
            }
            return static_cast<int64_t>(item);
        } else if constexpr (is_int<T>) {
            return static_cast<int64_t>(item);
        } else {
            type_error(key, *this, "an integer array");
        }
    });
}

const std::vector<Value>& Value::as_values(std::string_view key) const {
    const Array& a = as_array(key);
    if (const auto* v = std::get_if<std::vector<Value>>(&a.items)) return *v;
    type_error(key, *this, "an array of arrays");
}

std::string Value::to_display(size_t max_items) const {
    return std::visit(
        [&](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, Array>) {
                return std::visit([&](const auto& items) { return display_array(items, max_items); }, v.items);
            } else {
                return display_scalar<T>(v, max_items);
            }
        },
        storage_);
}

}  // namespace spool::gguf
