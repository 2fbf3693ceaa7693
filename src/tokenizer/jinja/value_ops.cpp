// Python semantics of the Jinja value type: construction, truthiness, ==, ordering, `in`, len(), iteration and
// arithmetic, with Python's rules (True == 1, floor division and modulo round toward negative infinity, ...).
#include "tokenizer/jinja/text.h"
#include "tokenizer/jinja/value.h"

#include <algorithm>
#include <cmath>

namespace spool::jinja {

const Value* Object::find(const Value& key) const {
    for (const auto& [k, v] : entries)
        if (values_equal(k, key)) return &v;
    return nullptr;
}

const Value* Object::find_str(std::string_view key) const {
    for (const auto& [k, v] : entries)
        if (k.is_string() && k.as_string() == key) return &v;
    return nullptr;
}

void Object::set(Value key, Value value) {
    if (!key.is_hashable()) throw EvalError("unhashable type: '" + key.type_name() + "'");
    for (auto& [k, v] : entries) {
        if (values_equal(k, key)) {
            v = std::move(value);
            return;
        }
    }
    entries.emplace_back(std::move(key), std::move(value));
}

bool Value::is_hashable() const {
    switch (kind()) {
        case Kind::None:
        case Kind::Bool:
        case Kind::Int:
        case Kind::Float:
        case Kind::String: return true;
        case Kind::Array:
            if (!as_array().is_tuple) return false;
            for (const Value& v : as_array().items)
                if (!v.is_hashable()) return false;
            return true;
        default: return false;
    }
}

Value Value::markup(std::string s) {
    Value v(std::move(s));
    v.markup_ = true;
    return v;
}

Value Value::undefined(std::string hint) {
    Value v;
    v.data_ = UndefinedData{std::move(hint)};
    return v;
}

Value Value::none() {
    Value v;
    v.data_ = NoneData{};
    return v;
}

Value Value::array(std::vector<Value> items, bool is_tuple) {
    Value v;
    v.data_ = std::make_shared<Array>(Array{std::move(items), is_tuple});
    return v;
}

Value Value::object(std::vector<std::pair<Value, Value>> entries) {
    Value v;
    auto obj = std::make_shared<Object>();
    obj->entries = std::move(entries);
    v.data_ = std::move(obj);
    return v;
}

Value Value::function(std::string name, std::function<Value(const CallArgs&)> call) {
    Value v;
    v.data_ = std::make_shared<Function>(Function{std::move(name), std::move(call)});
    return v;
}

double Value::to_double() const {
    if (is_bool()) return as_bool() ? 1.0 : 0.0;
    if (is_int()) return static_cast<double>(as_int());
    return as_float();
}

int64_t Value::to_int() const {
    if (is_bool()) return as_bool() ? 1 : 0;
    if (is_int()) return as_int();
    return static_cast<int64_t>(as_float());
}

bool Value::truthy() const {
    switch (kind()) {
        case Kind::Undefined:
        case Kind::None: return false;
        case Kind::Bool: return as_bool();
        case Kind::Int: return as_int() != 0;
        case Kind::Float: return as_float() != 0.0;
        case Kind::String: return !as_string().empty();
        case Kind::Array: return !as_array().items.empty();
        case Kind::Object: return !as_object().entries.empty();
        case Kind::Function: return true;
    }
    return false;
}

std::string Value::type_name() const {
    switch (kind()) {
        case Kind::Undefined: return "Undefined";
        case Kind::None: return "NoneType";
        case Kind::Bool: return "bool";
        case Kind::Int: return "int";
        case Kind::Float: return "float";
        case Kind::String: return "str";
        case Kind::Array: return as_array().is_tuple ? "tuple" : "list";
        case Kind::Object: return as_object().is_namespace ? "Namespace" : "dict";
        case Kind::Function: return "function";
    }
    return "?";
}

bool Value::same_object(const Value& other) const {
    if (kind() != other.kind()) return false;
    switch (kind()) {
        case Kind::Array: return std::get<std::shared_ptr<Array>>(data_) == std::get<std::shared_ptr<Array>>(other.data_);
        case Kind::Object:
            return std::get<std::shared_ptr<Object>>(data_) == std::get<std::shared_ptr<Object>>(other.data_);
        case Kind::Function:
            return std::get<std::shared_ptr<Function>>(data_) == std::get<std::shared_ptr<Function>>(other.data_);
        default: return values_equal(*this, other);
    }
}

bool values_equal(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (!a.is_float() && !b.is_float()) return a.to_int() == b.to_int();
        return a.to_double() == b.to_double();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case Value::Kind::Undefined:
        case Value::Kind::None: return true;
        case Value::Kind::String: return a.as_string() == b.as_string();
        case Value::Kind::Array: {
            const auto& x = a.as_array().items;
            const auto& y = b.as_array().items;
            if (a.as_array().is_tuple != b.as_array().is_tuple || x.size() != y.size()) return false;
            for (size_t i = 0; i < x.size(); ++i)
                if (!values_equal(x[i], y[i])) return false;
            return true;
        }
        case Value::Kind::Object: {
            const auto& x = a.as_object().entries;
            const auto& y = b.as_object();
            if (x.size() != y.entries.size()) return false;
            for (const auto& [k, v] : x) {
                const Value* other = y.find(k);
                if (!other || !values_equal(v, *other)) return false;
            }
            return true;
        }
        case Value::Kind::Function: return a.same_object(b);
        default: return false;
    }
}

int compare_values(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (!a.is_float() && !b.is_float()) return a.to_int() < b.to_int() ? -1 : a.to_int() > b.to_int() ? 1 : 0;
        const double x = a.to_double(), y = b.to_double();
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.is_string() && b.is_string()) {
        // Byte order of UTF-8 is code point order, which is how Python compares str.
        const int c = a.as_string().compare(b.as_string());
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (a.is_array() && b.is_array() && a.as_array().is_tuple == b.as_array().is_tuple) {
        const auto& x = a.as_array().items;
        const auto& y = b.as_array().items;
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (values_equal(x[i], y[i])) continue;
            return compare_values(x[i], y[i]);
        }
        return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    }
    throw EvalError("'<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
}

bool contains(const Value& container, const Value& item) {
    switch (container.kind()) {
        case Value::Kind::String:
            if (!item.is_string())
                throw EvalError("'in <string>' requires string as left operand, not " + item.type_name());
            return container.as_string().find(item.as_string()) != std::string::npos;
        case Value::Kind::Array:
            return std::any_of(container.as_array().items.begin(), container.as_array().items.end(),
                               [&](const Value& v) { return values_equal(v, item); });
        case Value::Kind::Object:
            if (item.is_undefined()) return false;  // Undefined hashes in Python, and is never a key
            if (!item.is_hashable()) throw EvalError("unhashable type: '" + item.type_name() + "'");
            return container.as_object().find(item) != nullptr;
        case Value::Kind::Undefined: return false;  // Undefined iterates as empty
        default: throw EvalError("argument of type '" + container.type_name() + "' is not iterable");
    }
}

size_t length_of(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::Undefined: return 0;
        case Value::Kind::String: return utf8_length(v.as_string());
        case Value::Kind::Array: return v.as_array().items.size();
        case Value::Kind::Object: return v.as_object().entries.size();
        default: throw EvalError("object of type '" + v.type_name() + "' has no len()");
    }
}

std::vector<Value> iterate(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::Undefined: return {};
        case Value::Kind::Array: return v.as_array().items;
        case Value::Kind::Object: {
            std::vector<Value> keys;
            for (const auto& [k, unused] : v.as_object().entries) keys.push_back(k);
            return keys;
        }
        case Value::Kind::String: {
            std::vector<Value> chars;
            for (char32_t c : utf8_to_u32(v.as_string())) chars.emplace_back(u32_to_utf8(std::u32string_view(&c, 1)));
            return chars;
        }
        default: throw EvalError("'" + v.type_name() + "' object is not iterable");
    }
}

namespace {

[[noreturn]] void unsupported(std::string_view op, const Value& a, const Value& b) {
    throw EvalError("unsupported operand type(s) for " + std::string(op) + ": '" + a.type_name() + "' and '" +
                    b.type_name() + "'");
}

Value repeat(const Value& seq, const Value& times) {
    const int64_t n = std::max<int64_t>(0, times.to_int());
    const size_t unit = seq.is_string() ? seq.as_string().size() : seq.as_array().items.size();
    // A hostile template could ask for gigabytes; no chat prompt needs more than this.
    if (n > 0 && unit > 0 && static_cast<uint64_t>(n) > (uint64_t{1} << 26) / unit)
        throw EvalError("sequence repetition would make more than 64 Mi items/bytes");
    if (seq.is_string()) {
        std::string out;
        for (int64_t i = 0; i < n; ++i) out += seq.as_string();
        return out;
    }
    std::vector<Value> out;
    for (int64_t i = 0; i < n; ++i)
        out.insert(out.end(), seq.as_array().items.begin(), seq.as_array().items.end());
    return Value::array(std::move(out), seq.as_array().is_tuple);
}

int64_t checked(bool overflow, int64_t v) {
    if (overflow) throw EvalError("integer overflow (spool's templates use 64-bit integers)");
    return v;
}

}  // namespace

Value binary_arith(std::string_view op, const Value& a, const Value& b) {
    if (a.is_undefined() || b.is_undefined()) {
        const Value& u = a.is_undefined() ? a : b;
        throw EvalError(u.undefined_hint().empty() ? "undefined value used in arithmetic" : u.undefined_hint());
    }
    const bool numbers = a.is_number() && b.is_number();
    const bool ints = numbers && !a.is_float() && !b.is_float();
    if (op == "+") {
        if (ints) {
            int64_t r = 0;
            const bool overflow = __builtin_add_overflow(a.to_int(), b.to_int(), &r);
            return checked(overflow, r);
        }
        if (numbers) return a.to_double() + b.to_double();
        if (a.is_string() && b.is_string()) {
            // markupsafe: Markup + str escapes the plain str, and the result stays Markup.
            if (a.is_markup() || b.is_markup())
                return Value::markup((a.is_markup() ? a.as_string() : html_escape(a.as_string())) +
                                     (b.is_markup() ? b.as_string() : html_escape(b.as_string())));
            return a.as_string() + b.as_string();
        }
        if (a.is_array() && b.is_array() && a.as_array().is_tuple == b.as_array().is_tuple) {
            std::vector<Value> out = a.as_array().items;
            out.insert(out.end(), b.as_array().items.begin(), b.as_array().items.end());
            return Value::array(std::move(out), a.as_array().is_tuple);
        }
        if (a.is_string())
            throw EvalError("can only concatenate str (not \"" + b.type_name() + "\") to str");
        unsupported(op, a, b);
    }
    if (op == "-") {
        if (ints) {
            int64_t r = 0;
            const bool overflow = __builtin_sub_overflow(a.to_int(), b.to_int(), &r);
            return checked(overflow, r);
        }
        if (numbers) return a.to_double() - b.to_double();
        unsupported(op, a, b);
    }
    if (op == "*") {
        if (ints) {
            int64_t r = 0;
            const bool overflow = __builtin_mul_overflow(a.to_int(), b.to_int(), &r);
            return checked(overflow, r);
        }
        if (numbers) return a.to_double() * b.to_double();
        if ((a.is_string() || a.is_array()) && (b.is_int() || b.is_bool())) return repeat(a, b);
        if ((b.is_string() || b.is_array()) && (a.is_int() || a.is_bool())) return repeat(b, a);
        unsupported(op, a, b);
    }
    if (!numbers) unsupported(op, a, b);
    if (op == "/") {
        if (b.to_double() == 0.0) throw EvalError("division by zero");
        return a.to_double() / b.to_double();
    }
    if (op == "//" || op == "%") {
        if (b.to_double() == 0.0) throw EvalError(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
        if (ints) {
            const int64_t x = a.to_int(), y = b.to_int();
            int64_t q = x / y, r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) {
                q -= 1;
                r += y;
            }
            return op == "//" ? Value(q) : Value(r);
        }
        const double x = a.to_double(), y = b.to_double();
        double r = std::fmod(x, y);
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        if (op == "%") return r;
        return std::floor(x / y);
    }
    if (op == "**") {
        if (ints && b.to_int() >= 0) {
            int64_t r = 1, base = a.to_int();
            for (int64_t e = b.to_int(); e > 0; --e) {
                const bool overflow = __builtin_mul_overflow(r, base, &r);
                checked(overflow, r);
            }
            return r;
        }
        return std::pow(a.to_double(), b.to_double());
    }
    throw EvalError("unknown operator '" + std::string(op) + "'");
}

Value negate(const Value& v) {
    if (v.is_float()) return -v.as_float();
    if (v.is_int() || v.is_bool()) return -v.to_int();
    if (v.is_undefined()) throw EvalError(v.undefined_hint().empty() ? "undefined value negated" : v.undefined_hint());
    throw EvalError("bad operand type for unary -: '" + v.type_name() + "'");
}

}  // namespace spool::jinja
