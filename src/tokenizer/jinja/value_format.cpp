// Text forms of Jinja values, byte-exact with CPython: str(), repr(), float repr, and json.dumps as Hugging Face's
// tojson filter calls it (ensure_ascii=False, default separators, optional indent and sort_keys).
#include "tokenizer/jinja/text.h"
#include "tokenizer/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace spool::jinja {

std::string format_float(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    // Shortest round-trip digits (what CPython's repr uses), then CPython's layout rule: fixed notation for
    // decimal exponents in [-4, 16), scientific otherwise.
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
    std::string s(buf, res.ptr);
    std::string sign;
    if (s[0] == '-') {
        sign = "-";
        s.erase(0, 1);
    }
    const size_t epos = s.find('e');
    const int exp = std::stoi(s.substr(epos + 1));
    std::string digits;
    for (char c : s.substr(0, epos))
        if (c != '.') digits += c;
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    std::string out;
    if (exp >= -4 && exp < 16) {
        if (exp >= 0) {
            const size_t int_len = static_cast<size_t>(exp) + 1;
            if (digits.size() <= int_len) {
                out = digits + std::string(int_len - digits.size(), '0') + ".0";
            } else {
                out = digits.substr(0, int_len) + "." + digits.substr(int_len);
            }
        } else {
            out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
        }
    } else {
        out = digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char e[16];
        std::snprintf(e, sizeof(e), "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
        out += e;
    }
    return sign + out;
}

namespace {

std::string repr_string(const std::string& s) {
    const bool has_single = s.find('\'') != std::string::npos;
    const bool has_double = s.find('"') != std::string::npos;
    const char quote = (has_single && !has_double) ? '"' : '\'';
    std::string out(1, quote);
    for (char32_t c : utf8_to_u32(s)) {
        char esc[16];
        if (c == static_cast<char32_t>(quote) || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) {
            std::snprintf(esc, sizeof(esc), "\\x%02x", static_cast<unsigned>(c));
            out += esc;
        } else {
            out += u32_to_utf8(std::u32string_view(&c, 1));
        }
    }
    out += quote;
    return out;
}

void json_string(const std::string& s, bool ensure_ascii, std::string& out) {
    out += '"';
    for (char32_t c : utf8_to_u32(s)) {
        char esc[16];
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
                    if (c >= 0x10000) {
                        const char32_t v = c - 0x10000;
                        std::snprintf(esc, sizeof(esc), "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                                      static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
                    } else {
                        std::snprintf(esc, sizeof(esc), "\\u%04x", static_cast<unsigned>(c));
                    }
                    out += esc;
                } else {
                    out += u32_to_utf8(std::u32string_view(&c, 1));
                }
        }
    }
    out += '"';
}

// json.dumps turns non-string keys into strings: 1 -> "1", True -> "true", None -> "null".
std::string json_key(const Value& k) {
    switch (k.kind()) {
        case Value::Kind::String: return k.as_string();
        case Value::Kind::Bool: return k.as_bool() ? "true" : "false";
        case Value::Kind::None: return "null";
        case Value::Kind::Int: return std::to_string(k.as_int());
        case Value::Kind::Float: return format_float(k.as_float());
        default: throw EvalError("keys must be str, int, float, bool or None, not " + k.type_name());
    }
}

void json_value(const Value& v, const JsonOptions& o, int level, std::string& out) {
    auto newline = [&](int lvl) {
        out += '\n';
        for (int i = 0; i < lvl; ++i) out += *o.indent;
    };
    switch (v.kind()) {
        case Value::Kind::None: out += "null"; return;
        case Value::Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
        case Value::Kind::Int: out += std::to_string(v.as_int()); return;
        case Value::Kind::Float: {
            const double d = v.as_float();
            if (std::isnan(d)) out += "NaN";
            else if (std::isinf(d)) out += d > 0 ? "Infinity" : "-Infinity";
            else out += format_float(d);
            return;
        }
        case Value::Kind::String: json_string(v.as_string(), o.ensure_ascii, out); return;
        case Value::Kind::Array: {
            const auto& items = v.as_array().items;
            if (items.empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) out += o.item_separator;
                if (o.indent) newline(level + 1);
                json_value(items[i], o, level + 1, out);
            }
            if (o.indent) newline(level);
            out += ']';
            return;
        }
        case Value::Kind::Object: {
            std::vector<const std::pair<Value, Value>*> entries;
            for (const auto& e : v.as_object().entries) entries.push_back(&e);
            if (entries.empty()) {
                out += "{}";
                return;
            }
            if (o.sort_keys)
                std::stable_sort(entries.begin(), entries.end(),
                                 [](auto* a, auto* b) { return compare_values(a->first, b->first) < 0; });
            out += '{';
            for (size_t i = 0; i < entries.size(); ++i) {
                if (i) out += o.item_separator;
                if (o.indent) newline(level + 1);
                json_string(json_key(entries[i]->first), o.ensure_ascii, out);
                out += o.key_separator;
                json_value(entries[i]->second, o, level + 1, out);
            }
            if (o.indent) newline(level);
            out += '}';
            return;
        }
        case Value::Kind::Undefined:
        case Value::Kind::Function:
            throw EvalError("Object of type " + v.type_name() + " is not JSON serializable");
    }
}

}  // namespace

std::string html_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string to_repr(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::Undefined: return "Undefined";
        case Value::Kind::String: return repr_string(v.as_string());
        case Value::Kind::Array: {
            const auto& a = v.as_array();
            std::string out(1, a.is_tuple ? '(' : '[');
            for (size_t i = 0; i < a.items.size(); ++i) {
                if (i) out += ", ";
                out += to_repr(a.items[i]);
            }
            if (a.is_tuple && a.items.size() == 1) out += ',';
            out += a.is_tuple ? ')' : ']';
            return out;
        }
        case Value::Kind::Object: {
            std::string out = "{";
            bool first = true;
            for (const auto& [k, item] : v.as_object().entries) {
                if (!first) out += ", ";
                first = false;
                out += to_repr(k) + ": " + to_repr(item);
            }
            out += '}';
            return v.as_object().is_namespace ? "<Namespace " + out + ">" : out;
        }
        default: return to_str(v);
    }
}

std::string to_str(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::Undefined: return {};
        case Value::Kind::None: return "None";
        case Value::Kind::Bool: return v.as_bool() ? "True" : "False";
        case Value::Kind::Int: return std::to_string(v.as_int());
        case Value::Kind::Float: return format_float(v.as_float());
        case Value::Kind::String: return v.as_string();
        case Value::Kind::Function: return "<function " + v.as_function().name + ">";
        default: return to_repr(v);
    }
}

std::string to_json(const Value& v, const JsonOptions& options) {
    std::string out;
    json_value(v, options, 0, out);
    return out;
}

Value from_json(const nlohmann::ordered_json& j) {
    using T = nlohmann::ordered_json::value_t;
    switch (j.type()) {
        case T::null: return Value::none();
        case T::boolean: return j.get<bool>();
        case T::number_integer: return j.get<int64_t>();
        case T::number_unsigned: {
            const uint64_t u = j.get<uint64_t>();
            if (u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(u);
            return static_cast<double>(u);
        }
        case T::number_float: return j.get<double>();
        case T::string: return j.get<std::string>();
        case T::array: {
            std::vector<Value> items;
            items.reserve(j.size());
            for (const auto& e : j) items.push_back(from_json(e));
            return Value::array(std::move(items));
        }
        case T::object: {
            std::vector<std::pair<Value, Value>> entries;
            for (const auto& [k, e] : j.items()) entries.emplace_back(Value(k), from_json(e));
            return Value::object(std::move(entries));
        }
        default: return Value::undefined("a JSON value of an unsupported type (binary or discarded)");
    }
}

}  // namespace spool::jinja
