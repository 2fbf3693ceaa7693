// Jinja's builtin filters, tests, attribute/item access, Python str/dict methods and global functions, as used by
// Hugging Face chat templates. Each throws EvalError on a bad argument; the interpreter adds the position.
#pragma once

#include "tokenizer/jinja/value.h"

#include <ctime>
#include <optional>
#include <string>
#include <unordered_map>

namespace spool::jinja {

// Reads positional-or-keyword arguments of a builtin by parameter position, checking that no argument is
// unknown or given twice. `kind` and `name` name the builtin in errors ("filter 'join'").
class ArgReader {
public:
    ArgReader(const CallArgs& args, std::string kind, std::string name, std::vector<std::string> params,
              size_t extra_positional_from = SIZE_MAX);
    const Value* get(size_t index) const;  // nullptr when not given
    Value get_or(size_t index, Value fallback) const;
    // Positional arguments past the declared ones (for *args filters such as select and map).
    std::vector<Value> rest() const;
    [[noreturn]] void fail(const std::string& problem) const;

private:
    const CallArgs& args_;
    std::string what_;
    std::vector<std::string> params_;
    size_t extra_from_;
};

// Filters (builtins_filters.cpp) and tests (builtins_tests.cpp). Unknown names throw EvalError.
bool has_filter(const std::string& name);
Value apply_filter(const std::string& name, const Value& input, const CallArgs& args);
bool has_test(const std::string& name);
bool apply_test(const std::string& name, const Value& input, const CallArgs& args);

// `obj.name` and `obj[key]` as Jinja's sandbox resolves them (builtins_access.cpp): methods of str and dict,
// dict keys, list and str indexes; a missing attribute, key or index gives Undefined with a hint.
Value get_attribute(const Value& object, const std::string& name);
Value get_item(const Value& object, const Value& key);
// Python slicing of a list, tuple or str; absent parts are Undefined values.
Value slice(const Value& object, const Value& start, const Value& stop, const Value& step);
// `attribute` of `object` where attribute may be dotted ("function.name") or an index ("0"), as in map/sort.
Value get_path(const Value& object, const std::string& path);

// The globals every template sees: range, namespace, dict, raise_exception, strftime_now.
// strftime_now formats `now` (the injected time, for reproducible tests) or else the local time.
std::unordered_map<std::string, Value> make_globals(std::optional<std::tm> now);

}  // namespace spool::jinja
