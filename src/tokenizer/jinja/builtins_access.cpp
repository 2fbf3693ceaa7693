// Attribute, item and slice access with Jinja's sandbox rules, and the Python methods templates call on str, dict
// and list values (message.content.strip(), tool.items(), text.split('</think>')[-1], ...).
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/text.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <unordered_set>

namespace spool::jinja {

ArgReader::ArgReader(const CallArgs& args, std::string kind, std::string name, std::vector<std::string> params,
                     size_t extra_positional_from)
    : args_(args), what_(std::move(kind) + " '" + std::move(name) + "'"), params_(std::move(params)),
      extra_from_(extra_positional_from) {
    if (extra_from_ == SIZE_MAX && args_.positional.size() > params_.size())
        fail("takes at most " + std::to_string(params_.size()) + " arguments, got " +
             std::to_string(args_.positional.size()));
    for (const auto& [key, unused] : args_.named) {
        const auto it = std::find(params_.begin(), params_.end(), key);
        if (it == params_.end()) fail("got an unexpected keyword argument '" + key + "'");
        const size_t index = static_cast<size_t>(it - params_.begin());
        if (index < args_.positional.size() && index < extra_from_)
            fail("got multiple values for argument '" + key + "'");
    }
}

const Value* ArgReader::get(size_t index) const {
    if (index < args_.positional.size() && index < extra_from_) return &args_.positional[index];
    for (const auto& [key, value] : args_.named)
        if (index < params_.size() && key == params_[index]) return &value;
    return nullptr;
}

Value ArgReader::get_or(size_t index, Value fallback) const {
    const Value* v = get(index);
    return v ? *v : std::move(fallback);
}

std::vector<Value> ArgReader::rest() const {
    if (args_.positional.size() <= extra_from_) return {};
    return {args_.positional.begin() + static_cast<std::ptrdiff_t>(extra_from_), args_.positional.end()};
}

void ArgReader::fail(const std::string& problem) const { throw EvalError(what_ + " " + problem); }

namespace {

std::string need_str(const Value& v, const std::string& what) {
    if (!v.is_string()) throw EvalError(what + " must be a string, not " + v.type_name());
    return v.as_string();
}

int64_t need_int(const Value& v, const std::string& what) {
    if (!v.is_int() && !v.is_bool()) throw EvalError(what + " must be an integer, not " + v.type_name());
    return v.to_int();
}

// Byte offset of code point `index` (clamped to Python slice rules: negative counts from the end).
size_t byte_offset(const std::u32string& u, int64_t index) {
    const auto n = static_cast<int64_t>(u.size());
    if (index < 0) index = std::max<int64_t>(0, index + n);
    index = std::min(index, n);
    return u32_to_utf8(std::u32string_view(u).substr(0, static_cast<size_t>(index))).size();
}

Value str_array(const std::vector<std::string>& parts) {
    std::vector<Value> out(parts.begin(), parts.end());
    return Value::array(std::move(out));
}

// str.format with {} / {0} / {name} fields and {{ }} escapes; format specs are not supported.
std::string py_format(const std::string& fmt, const CallArgs& args) {
    std::string out;
    size_t auto_index = 0;
    for (size_t i = 0; i < fmt.size(); ++i) {
        const char c = fmt[i];
        if (c == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') {
            out += '{';
            ++i;
        } else if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
            out += '}';
            ++i;
        } else if (c == '{') {
            const size_t close = fmt.find('}', i);
            if (close == std::string::npos) throw EvalError("str.format(): single '{' encountered in format string");
            const std::string field = fmt.substr(i + 1, close - i - 1);
            if (field.find_first_of(":!") != std::string::npos)
                throw EvalError("str.format(): format specs and conversions ('" + field + "') are not supported");
            const Value* v = nullptr;
            if (field.empty() || std::all_of(field.begin(), field.end(), ::isdigit)) {
                const size_t index = field.empty() ? auto_index++ : std::stoul(field);
                if (index >= args.positional.size())
                    throw EvalError("str.format(): replacement index " + std::to_string(index) + " out of range");
                v = &args.positional[index];
            } else {
                for (const auto& [k, val] : args.named)
                    if (k == field) v = &val;
                if (!v) throw EvalError("str.format(): no argument named '" + field + "'");
            }
            out += to_str(*v);
            i = close;
        } else if (c == '}') {
            throw EvalError("str.format(): single '}' encountered in format string");
        } else {
            out += c;
        }
    }
    return out;
}

bool all_chars(const std::string& s, bool (*pred)(char32_t)) {
    const std::u32string u = utf8_to_u32(s);
    return !u.empty() && std::all_of(u.begin(), u.end(), pred);
}

bool affix_match(const std::string& s, const Value& affix, bool prefix, const ArgReader& a) {
    const std::u32string u = utf8_to_u32(s);
    const size_t from = byte_offset(u, a.get(1) && !a.get(1)->is_none() ? need_int(*a.get(1), "start") : 0);
    const size_t to = a.get(2) && !a.get(2)->is_none() ? byte_offset(u, need_int(*a.get(2), "end")) : s.size();
    const std::string_view window = to > from ? std::string_view(s).substr(from, to - from) : std::string_view();
    auto one = [&](const Value& v) {
        const std::string x = need_str(v, prefix ? "startswith() argument" : "endswith() argument");
        return prefix ? window.substr(0, x.size()) == x
                      : window.size() >= x.size() && window.substr(window.size() - x.size()) == x;
    };
    if (affix.is_array()) return std::any_of(affix.as_array().items.begin(), affix.as_array().items.end(), one);
    return one(affix);
}

Value string_method(const std::string& s, const std::string& name, const CallArgs& args) {
    auto reader = [&](std::vector<std::string> params) { return ArgReader(args, "str method", name, std::move(params)); };
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        const ArgReader a = reader({"chars"});
        const Value chars = a.get_or(0, Value::none());
        const bool use = !chars.is_none();
        return py_strip(s, name != "rstrip", name != "lstrip", use, use ? need_str(chars, "chars") : "");
    }
    if (name == "split" || name == "rsplit") {
        const ArgReader a = reader({"sep", "maxsplit"});
        const Value sep = a.get_or(0, Value::none());
        const int64_t maxsplit = need_int(a.get_or(1, -1), "maxsplit");
        const std::string sep_s = sep.is_none() ? "" : need_str(sep, "sep");
        return str_array(name == "split" ? py_split(s, !sep.is_none(), sep_s, maxsplit)
                                         : py_rsplit(s, !sep.is_none(), sep_s, maxsplit));
    }
    if (name == "splitlines") return (reader({}), str_array(py_splitlines(s)));
    if (name == "startswith" || name == "endswith") {
        const ArgReader a = reader({"prefix", "start", "end"});
        if (!a.get(0)) a.fail("takes at least 1 argument");
        return affix_match(s, *a.get(0), name == "startswith", a);
    }
    if (name == "upper") return (reader({}), py_upper(s));
    if (name == "lower") return (reader({}), py_lower(s));
    if (name == "title") return (reader({}), py_title(s));
    if (name == "capitalize") return (reader({}), py_capitalize(s));
    if (name == "replace") {
        const ArgReader a = reader({"old", "new", "count"});
        if (!a.get(0) || !a.get(1)) a.fail("takes at least 2 arguments");
        return py_replace(s, need_str(*a.get(0), "old"), need_str(*a.get(1), "new"), need_int(a.get_or(2, -1), "count"));
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
        const ArgReader a = reader({"sub"});
        if (!a.get(0)) a.fail("takes exactly 1 argument");
        const std::string sub = need_str(*a.get(0), "sub");
        if (name == "count") {
            if (sub.empty()) return static_cast<int64_t>(utf8_length(s) + 1);
            int64_t n = 0;
            for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
            return n;
        }
        const size_t hit = name[0] == 'r' ? s.rfind(sub) : s.find(sub);
        if (hit == std::string::npos) {
            if (name == "index" || name == "rindex") throw EvalError("substring not found");
            return static_cast<int64_t>(-1);
        }
        return static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, hit)));
    }
    if (name == "join") {
        const ArgReader a = reader({"iterable"});
        if (!a.get(0)) a.fail("takes exactly 1 argument");
        std::string out;
        bool first = true;
        for (const Value& v : iterate(*a.get(0))) {
            if (!first) out += s;
            first = false;
            out += need_str(v, "str.join() item");
        }
        return out;
    }
    if (name == "removeprefix" || name == "removesuffix") {
        const ArgReader a = reader({"affix"});
        if (!a.get(0)) a.fail("takes exactly 1 argument");
        const std::string x = need_str(*a.get(0), "argument");
        if (name == "removeprefix") return s.compare(0, x.size(), x) == 0 ? s.substr(x.size()) : s;
        return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0 ? s.substr(0, s.size() - x.size()) : s;
    }
    if (name == "isdigit") return (reader({}), all_chars(s, [](char32_t c) { return bool(u_isdigit(static_cast<UChar32>(c))); }));
    if (name == "isalpha") return (reader({}), all_chars(s, [](char32_t c) { return bool(u_isalpha(static_cast<UChar32>(c))); }));
    if (name == "isalnum")
        return (reader({}), all_chars(s, [](char32_t c) { return bool(u_isalnum(static_cast<UChar32>(c))); }));
    if (name == "isspace") return (reader({}), all_chars(s, is_py_space));
    if (name == "islower") return (reader({}), py_islower(s));
    if (name == "isupper") return (reader({}), py_isupper(s));
    if (name == "format") return py_format(s, args);
    throw EvalError("'str' object has no method '" + name + "'");
}

const std::unordered_set<std::string>& string_methods() {
    static const std::unordered_set<std::string> names = {
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
        "title", "capitalize", "replace", "find", "rfind", "index", "rindex", "count", "join", "removeprefix",
        "removesuffix", "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper", "format"};
    return names;
}

Value dict_method(const Value& self, const std::string& name, const CallArgs& args) {
    const Object& obj = self.as_object();
    if (name == "get") {
        const ArgReader a(args, "dict method", name, {"key", "default"});
        if (!a.get(0)) a.fail("takes at least 1 argument");
        const Value* hit = a.get(0)->is_hashable() ? obj.find(*a.get(0)) : nullptr;
        return hit ? *hit : a.get_or(1, Value::none());
    }
    const ArgReader a(args, "dict method", name, {});
    std::vector<Value> out;
    for (const auto& [k, v] : obj.entries) {
        if (name == "keys") out.push_back(k);
        else if (name == "values") out.push_back(v);
        else out.push_back(Value::array({k, v}, true));
    }
    return Value::array(std::move(out));
}

Value list_method(const Value& self, const std::string& name, const CallArgs& args) {
    const ArgReader a(args, "list method", name, {"value"});
    if (!a.get(0)) a.fail("takes exactly 1 argument");
    const auto& items = self.as_array().items;
    int64_t n = 0;
    for (size_t i = 0; i < items.size(); ++i) {
        if (!values_equal(items[i], *a.get(0))) continue;
        if (name == "index") return static_cast<int64_t>(i);
        ++n;
    }
    if (name == "index") throw EvalError(to_repr(*a.get(0)) + " is not in list");
    return n;
}

Value bound(const Value& self, const std::string& name, Value (*method)(const Value&, const std::string&, const CallArgs&)) {
    return Value::function(name, [self, name, method](const CallArgs& args) { return method(self, name, args); });
}

std::string object_description(const Value& v) {
    if (v.is_none()) return "None";
    return "'" + v.type_name() + " object'";
}

}  // namespace

Value get_attribute(const Value& object, const std::string& name) {
    if (!name.empty() && name[0] == '_')
        return Value::undefined("access to attribute '" + name + "' of " + object_description(object) +
                                " is unsafe (sandboxed)");
    if (object.is_string() && string_methods().count(name))
        return Value::function(name, [s = object.as_string(), name](const CallArgs& args) {
            return string_method(s, name, args);
        });
    if (object.is_object()) {
        const Object& obj = object.as_object();
        if (!obj.is_namespace && (name == "get" || name == "items" || name == "keys" || name == "values"))
            return bound(object, name, dict_method);
        if (const Value* hit = obj.find_str(name)) return *hit;
    }
    if (object.is_array() && (name == "index" || name == "count")) return bound(object, name, list_method);
    return Value::undefined(object_description(object) + " has no attribute '" + name + "'");
}

Value get_item(const Value& object, const Value& key) {
    if (object.is_object() && key.is_hashable()) {
        if (const Value* hit = object.as_object().find(key)) return *hit;
    } else if ((object.is_array() || object.is_string()) && (key.is_int() || key.is_bool())) {
        int64_t i = key.to_int();
        if (object.is_array()) {
            const auto n = static_cast<int64_t>(object.as_array().items.size());
            if (i < 0) i += n;
            if (i >= 0 && i < n) return object.as_array().items[static_cast<size_t>(i)];
        } else {
            const std::u32string u = utf8_to_u32(object.as_string());
            const auto n = static_cast<int64_t>(u.size());
            if (i < 0) i += n;
            if (i >= 0 && i < n) return u32_to_utf8(std::u32string_view(u).substr(static_cast<size_t>(i), 1));
        }
        return Value::undefined(object_description(object) + " has no element " + std::to_string(key.to_int()));
    }
    // Jinja falls back to the attribute of that name (so message['items'] finds nothing but dict.items).
    if (key.is_string()) return get_attribute(object, key.as_string());
    return Value::undefined(object_description(object) + " has no element " + to_repr(key));
}

Value slice(const Value& object, const Value& start, const Value& stop, const Value& step) {
    auto part = [](const Value& v, const char* what) -> std::optional<int64_t> {
        if (v.is_undefined() || v.is_none()) return std::nullopt;
        return need_int(v, std::string("slice ") + what);
    };
    const std::optional<int64_t> s0 = part(start, "start"), s1 = part(stop, "stop"), s2 = part(step, "step");
    const int64_t st = s2.value_or(1);
    if (st == 0) throw EvalError("slice step cannot be zero");
    std::u32string chars;
    size_t n_items;
    if (object.is_string()) {
        chars = utf8_to_u32(object.as_string());
        n_items = chars.size();
    } else if (object.is_array()) {
        n_items = object.as_array().items.size();
    } else if (object.is_object()) {
        throw EvalError("unhashable type: 'slice' (a dict cannot be sliced)");
    } else {
        // Jinja compiles slices to plain Python subscripts, so these fail instead of giving Undefined.
        throw EvalError("'" + object.type_name() + "' object is not subscriptable");
    }
    // Python's slice.indices().
    const auto n = static_cast<int64_t>(n_items);
    const int64_t lower = st > 0 ? 0 : -1, upper = st > 0 ? n : n - 1;
    auto clamp = [&](std::optional<int64_t> v, int64_t fallback) {
        if (!v) return fallback;
        int64_t x = *v;
        if (x < 0) x = std::max(x + n, lower);
        else x = std::min(x, upper);
        return x;
    };
    const int64_t begin = clamp(s0, st > 0 ? lower : upper), end = clamp(s1, st > 0 ? upper : lower);
    std::vector<size_t> picks;
    for (int64_t i = begin; st > 0 ? i < end : i > end; i += st) picks.push_back(static_cast<size_t>(i));
    if (object.is_string()) {
        std::u32string out;
        for (size_t i : picks) out += chars[i];
        return u32_to_utf8(out);
    }
    std::vector<Value> out;
    for (size_t i : picks) out.push_back(object.as_array().items[i]);
    return Value::array(std::move(out), object.as_array().is_tuple);
}

Value get_path(const Value& object, const std::string& path) {
    Value v = object;
    size_t pos = 0;
    while (true) {
        const size_t dot = path.find('.', pos);
        const std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
        v = numeric ? get_item(v, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(v, Value(part));
        if (dot == std::string::npos) return v;
        pos = dot + 1;
    }
}

}  // namespace spool::jinja
