// The value type of the Jinja interpreter: Python's objects as Jinja templates see them (None, bool, int,
// float, str, list/tuple, insertion-ordered dict, callable) plus Jinja's Undefined. Lists and dicts are shared by
// reference as in Python; only namespace() objects are ever mutated (HF renders in an immutable sandbox).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace spool::jinja {

class Value;

// A list or a tuple (tuples come from `a, b` literals and dict.items(); they differ only in how they print).
struct Array {
    std::vector<Value> items;
    bool is_tuple = false;
};

// A dict that keeps insertion order (Python dicts and JSON objects both do). Keys are hashable values: strings
// from JSON, and ints, floats, bools, None or tuples from template literals such as {0: 'a'}; 1, 1.0 and True are
// the same key, as in Python. namespace() objects are dicts whose attributes `{% set ns.attr = ... %}` assigns.
struct Object {
    std::vector<std::pair<Value, Value>> entries;
    bool is_namespace = false;

    const Value* find(const Value& key) const;
    const Value* find_str(std::string_view key) const;
    void set(Value key, Value value);  // replaces an existing key in place, or appends; throws for unhashable keys
};

// Arguments of a call, filter or test: positional then keyword, in source order.
struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> named;
};

// A builtin, a bound method (str.strip) or a macro.
struct Function {
    std::string name;
    std::function<Value(const CallArgs&)> call;
};

// Thrown by value operations, filters and methods (Python's TypeError/ValueError); the interpreter adds the
// template position and rethrows it as RenderError.
class EvalError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Value {
public:
    enum class Kind { Undefined, None, Bool, Int, Float, String, Array, Object, Function };

    Value() : data_(UndefinedData{}) {}
    Value(bool b) : data_(b) {}                          // NOLINT: implicit by design, like Python literals
    Value(int v) : data_(static_cast<int64_t>(v)) {}     // NOLINT
    Value(int64_t v) : data_(v) {}                       // NOLINT
    Value(double v) : data_(v) {}                        // NOLINT
    Value(std::string s) : data_(std::move(s)) {}        // NOLINT
    Value(const char* s) : data_(std::string(s)) {}      // NOLINT
    Value(std::string_view s) : data_(std::string(s)) {} // NOLINT

    // `hint` is the error text used when the undefined value is used in a way that needs a real value,
    // for example "'message' is undefined" or "'dict object' has no attribute 'tool_calls'".
    static Value undefined(std::string hint = {});
    static Value none();
    static Value array(std::vector<Value> items = {}, bool is_tuple = false);
    static Value object(std::vector<std::pair<Value, Value>> entries = {});
    // A string marked safe (markupsafe.Markup, from the safe and escape filters): `markup + str` HTML-escapes
    // the plain operand, as Jinja does even without autoescaping.
    static Value markup(std::string s);
    static Value function(std::string name, std::function<Value(const CallArgs&)> call);

    Kind kind() const noexcept { return static_cast<Kind>(data_.index()); }
    bool is_undefined() const noexcept { return kind() == Kind::Undefined; }
    bool is_none() const noexcept { return kind() == Kind::None; }
    bool is_bool() const noexcept { return kind() == Kind::Bool; }
    bool is_int() const noexcept { return kind() == Kind::Int; }
    bool is_float() const noexcept { return kind() == Kind::Float; }
    bool is_number() const noexcept { return is_bool() || is_int() || is_float(); }  // Python: bool is an int
    bool is_string() const noexcept { return kind() == Kind::String; }
    bool is_array() const noexcept { return kind() == Kind::Array; }
    bool is_object() const noexcept { return kind() == Kind::Object; }
    bool is_function() const noexcept { return kind() == Kind::Function; }
    bool is_markup() const noexcept { return markup_ && is_string(); }
    bool is_hashable() const;  // usable as a dict key: None, bool, int, float, str, or a tuple of those

    bool as_bool() const { return std::get<bool>(data_); }
    int64_t as_int() const { return std::get<int64_t>(data_); }
    double as_float() const { return std::get<double>(data_); }
    const std::string& as_string() const { return std::get<std::string>(data_); }
    const Array& as_array() const { return *std::get<std::shared_ptr<Array>>(data_); }
    const Object& as_object() const { return *std::get<std::shared_ptr<Object>>(data_); }
    Object& mutable_object() const { return *std::get<std::shared_ptr<Object>>(data_); }
    const Function& as_function() const { return *std::get<std::shared_ptr<Function>>(data_); }
    const std::string& undefined_hint() const { return std::get<UndefinedData>(data_).hint; }

    // Numbers as double / int64 (bool counts as 0/1); precondition: is_number().
    double to_double() const;
    int64_t to_int() const;

    // Python's bool(x); Undefined is false.
    bool truthy() const;
    // Python's type name ("str", "int", "NoneType", "list", "dict", "Undefined", ...), for error messages.
    std::string type_name() const;
    // The same object (Python `is`): equal scalars, or the same shared list/dict/function.
    bool same_object(const Value& other) const;

private:
    struct UndefinedData {
        std::string hint;
    };
    struct NoneData {};
    std::variant<UndefinedData, NoneData, bool, int64_t, double, std::string, std::shared_ptr<Array>,
                 std::shared_ptr<Object>, std::shared_ptr<Function>>
        data_;
    bool markup_ = false;
};

// Python semantics used throughout the interpreter (value_ops.cpp).
bool values_equal(const Value& a, const Value& b);           // ==, deep for lists and dicts
int compare_values(const Value& a, const Value& b);          // <0, 0, >0; throws EvalError for unorderable types
bool contains(const Value& container, const Value& item);    // `item in container`
size_t length_of(const Value& v);                            // len(); strings count code points
std::vector<Value> iterate(const Value& v);                  // for-loop items: list, dict keys, str chars
Value binary_arith(std::string_view op, const Value& a, const Value& b);  // + - * / // % **
Value negate(const Value& v);

// Text forms (value_format.cpp).
std::string to_str(const Value& v);           // Python str(); Undefined is ""
std::string to_repr(const Value& v);          // Python repr()
std::string format_float(double d);           // Python float repr: 0.5, 2.0, 1e+20, 1e-05
std::string html_escape(std::string_view s);  // markupsafe.escape: & < > " '
struct JsonOptions {
    std::optional<std::string> indent;        // unset: one line; else the string repeated per level
    std::string item_separator = ", ";        // Python's defaults; "," when indent is set
    std::string key_separator = ": ";
    bool sort_keys = false;
    bool ensure_ascii = false;
};
std::string to_json(const Value& v, const JsonOptions& options);  // Python json.dumps (HF's tojson filter)

// Conversion from nlohmann JSON (order kept for ordered_json).
Value from_json(const nlohmann::ordered_json& j);

}  // namespace spool::jinja
