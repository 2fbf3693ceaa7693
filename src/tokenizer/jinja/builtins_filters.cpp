// Jinja's builtin filters with Jinja 3.1 semantics (jinja2/filters.py), and tojson as Hugging Face redefines it:
// json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False), which does not escape HTML.
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/text.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>

namespace spool::jinja {
namespace {

using FilterFn = Value (*)(const Value&, const CallArgs&);

ArgReader reader(const CallArgs& args, const char* name, std::vector<std::string> params,
                 size_t extra_from = SIZE_MAX) {
    return ArgReader(args, "filter", name, std::move(params), extra_from);
}

// Jinja's ignore_case: strings compare lower-cased unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
    return !case_sensitive && v.is_string() ? Value(py_lower(v.as_string())) : v;
}

Value key_of(const Value& item, const Value& attribute, bool case_sensitive) {
    const Value v = attribute.is_none() || attribute.is_undefined() ? item : get_path(item, to_str(attribute));
    return sort_key(v, case_sensitive);
}

Value f_abs(const Value& v, const CallArgs& args) {
    reader(args, "abs", {});
    if (v.is_float()) return std::fabs(v.as_float());
    if (v.is_int() || v.is_bool()) return v.to_int() < 0 ? -v.to_int() : v.to_int();
    throw EvalError("bad operand type for abs(): '" + v.type_name() + "'");
}

Value f_attr(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "attr", {"name"});
    return get_attribute(v, to_str(a.get_or(0, Value(""))));
}

Value f_capitalize(const Value& v, const CallArgs& args) { return (reader(args, "capitalize", {}), py_capitalize(to_str(v))); }
Value f_lower(const Value& v, const CallArgs& args) { return (reader(args, "lower", {}), py_lower(to_str(v))); }
Value f_upper(const Value& v, const CallArgs& args) { return (reader(args, "upper", {}), py_upper(to_str(v))); }
Value f_title(const Value& v, const CallArgs& args) { return (reader(args, "title", {}), jinja_title(to_str(v))); }
Value f_string(const Value& v, const CallArgs& args) { return (reader(args, "string", {}), to_str(v)); }
Value f_safe(const Value& v, const CallArgs& args) { return (reader(args, "safe", {}), Value::markup(to_str(v))); }
Value f_length(const Value& v, const CallArgs& args) {
    return (reader(args, "length", {}), static_cast<int64_t>(length_of(v)));
}

Value f_trim(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "trim", {"chars"});
    const Value chars = a.get_or(0, Value::none());
    return py_strip(to_str(v), true, true, !chars.is_none(), chars.is_none() ? "" : to_str(chars));
}

Value f_default(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "default", {"default_value", "boolean"});
    if (v.is_undefined() || (a.get_or(1, false).truthy() && !v.truthy())) return a.get_or(0, Value(""));
    return v;
}

Value f_escape(const Value& v, const CallArgs& args) {
    reader(args, "escape", {});
    return v.is_markup() ? v : Value::markup(html_escape(to_str(v)));
}

Value f_forceescape(const Value& v, const CallArgs& args) {
    reader(args, "forceescape", {});
    return Value::markup(html_escape(to_str(v)));
}

Value f_first(const Value& v, const CallArgs& args) {
    reader(args, "first", {});
    const std::vector<Value> items = iterate(v);
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(const Value& v, const CallArgs& args) {
    reader(args, "last", {});
    const std::vector<Value> items = iterate(v);
    return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

// Removes the underscores Python allows between digits; false when one is misplaced.
bool strip_underscores(std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '_') {
            out += s[i];
            continue;
        }
        if (i == 0 || i + 1 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i - 1])) ||
            !std::isxdigit(static_cast<unsigned char>(s[i + 1])))
            return false;
    }
    s = std::move(out);
    return true;
}

// Python's int(str, base): surrounding whitespace, a sign, a 0x/0o/0b prefix matching the base (base 0 picks it).
bool parse_int(const std::string& text, int base, int64_t& out) {
    std::string s = py_strip(text, true, true);
    if (!strip_underscores(s)) return false;
    size_t i = 0;
    bool neg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i + 1 < s.size() && s[i] == '0') {
        const char p = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i + 1])));
        const int prefix_base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
        if (prefix_base && (base == 0 || base == prefix_base)) {
            base = prefix_base;
            i += 2;
        }
    }
    if (base == 0) base = 10;
    if (base < 2 || base > 36 || i == s.size()) return false;
    int64_t v = 0;
    for (; i < s.size(); ++i) {
        const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
        const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : 99;
        if (d >= base) return false;
        if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v)) return false;
    }
    out = neg ? -v : v;
    return true;
}

// Python's float(str): decimal or exponent notation, inf/infinity/nan; no hexadecimal (which strtod would take).
bool parse_float(const std::string& text, double& out) {
    std::string s = py_strip(text, true, true);
    if (s.empty() || s.find_first_of("xXpP") != std::string::npos || !strip_underscores(s)) return false;
    char* end = nullptr;
    out = std::strtod(s.c_str(), &end);
    return end == s.c_str() + s.size();
}

Value f_int(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "int", {"default", "base"});
    const Value fallback = a.get_or(0, Value(0));
    if (v.is_int() || v.is_bool() || v.is_float()) {
        if (v.is_float() && !std::isfinite(v.as_float())) return fallback;
        return v.to_int();
    }
    if (v.is_string()) {
        int64_t i;
        if (parse_int(v.as_string(), static_cast<int>(a.get_or(1, Value(10)).to_int()), i)) return i;
        double d;
        if (parse_float(v.as_string(), d) && std::isfinite(d)) return static_cast<int64_t>(d);
    }
    return fallback;
}

Value f_float(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "float", {"default"});
    if (v.is_number()) return v.to_double();
    double d;
    if (v.is_string() && parse_float(v.as_string(), d)) return d;
    return a.get_or(0, Value(0.0));
}

Value f_items(const Value& v, const CallArgs& args) {
    reader(args, "items", {});
    if (v.is_undefined()) return Value::array();
    if (!v.is_object()) throw EvalError("Can only get item pairs from a mapping.");
    std::vector<Value> out;
    for (const auto& [k, item] : v.as_object().entries) out.push_back(Value::array({k, item}, true));
    return Value::array(std::move(out));
}

Value f_dictsort(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "dictsort", {"case_sensitive", "by", "reverse"});
    if (!v.is_object()) throw EvalError("dictsort needs a mapping, got " + v.type_name());
    const bool cs = a.get_or(0, false).truthy(), rev = a.get_or(2, false).truthy();
    const size_t pos = to_str(a.get_or(1, Value("key"))) == "value" ? 1 : 0;
    std::vector<Value> pairs = f_items(v, {}).as_array().items;
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
        const int c = compare_values(sort_key(x.as_array().items[pos], cs), sort_key(y.as_array().items[pos], cs));
        return rev ? c > 0 : c < 0;
    });
    return Value::array(std::move(pairs));
}

Value f_indent(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "indent", {"width", "first", "blank"});
    const Value width = a.get_or(0, Value(4));
    const std::string pad = width.is_string() ? width.as_string() : std::string(static_cast<size_t>(std::max<int64_t>(0, width.to_int())), ' ');
    const std::vector<std::string> lines = py_splitlines(to_str(v) + "\n");
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i > 0) out += '\n';
        const bool indent = i > 0 && (a.get_or(2, false).truthy() || !lines[i].empty());
        out += (indent ? pad : "") + lines[i];
    }
    if (a.get_or(1, false).truthy()) out = pad + out;
    return out;
}

Value f_join(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "join", {"d", "attribute"});
    const std::string sep = to_str(a.get_or(0, Value("")));
    const Value attribute = a.get_or(1, Value::none());
    std::string out;
    bool first = true;
    for (const Value& item : iterate(v)) {
        if (!first) out += sep;
        first = false;
        out += to_str(attribute.is_none() ? item : get_path(item, to_str(attribute)));
    }
    return out;
}

Value f_list(const Value& v, const CallArgs& args) { return (reader(args, "list", {}), Value::array(iterate(v))); }

Value f_map(const Value& v, const CallArgs& args) {
    std::vector<Value> out;
    if (!v.truthy()) return Value::array();  // Jinja maps nothing over a falsy value, None included
    if (args.positional.empty()) {
        const ArgReader a = reader(args, "map", {"attribute", "default"});
        if (!a.get(0)) a.fail("needs a filter name or attribute=");
        const std::string path = to_str(*a.get(0));
        const Value* fallback = a.get(1);
        for (const Value& item : iterate(v)) {
            Value x = get_path(item, path);
            out.push_back(fallback && x.is_undefined() ? *fallback : x);
        }
        return Value::array(std::move(out));
    }
    const std::string name = to_str(args.positional[0]);
    const CallArgs rest{std::vector<Value>(args.positional.begin() + 1, args.positional.end()), args.named};
    for (const Value& item : iterate(v)) out.push_back(apply_filter(name, item, rest));
    return Value::array(std::move(out));
}

Value select_common(const Value& v, const CallArgs& args, bool keep, bool by_attribute) {
    if (!v.truthy()) return Value::array();  // as Jinja: `none | selectattr(...)` is empty, not an error
    const size_t off = by_attribute ? 1 : 0;
    if (by_attribute && args.positional.empty()) throw EvalError("selectattr/rejectattr need an attribute name");
    const bool has_test = args.positional.size() > off;
    const std::string test = has_test ? to_str(args.positional[off]) : "";
    const CallArgs test_args{
        has_test ? std::vector<Value>(args.positional.begin() + static_cast<std::ptrdiff_t>(off) + 1, args.positional.end())
                 : std::vector<Value>{},
        args.named};
    std::vector<Value> out;
    for (const Value& item : iterate(v)) {
        const Value x = by_attribute ? get_path(item, to_str(args.positional[0])) : item;
        const bool pass = has_test ? apply_test(test, x, test_args) : x.truthy();
        if (pass == keep) out.push_back(item);
    }
    return Value::array(std::move(out));
}

Value f_select(const Value& v, const CallArgs& a) { return select_common(v, a, true, false); }
Value f_reject(const Value& v, const CallArgs& a) { return select_common(v, a, false, false); }
Value f_selectattr(const Value& v, const CallArgs& a) { return select_common(v, a, true, true); }
Value f_rejectattr(const Value& v, const CallArgs& a) { return select_common(v, a, false, true); }

Value min_max(const Value& v, const CallArgs& args, const char* name, bool want_max) {
    const ArgReader a = reader(args, name, {"case_sensitive", "attribute"});
    const bool cs = a.get_or(0, false).truthy();
    const Value attribute = a.get_or(1, Value::none());
    const std::vector<Value> items = iterate(v);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    size_t best = 0;
    for (size_t i = 1; i < items.size(); ++i) {
        const int c = compare_values(key_of(items[i], attribute, cs), key_of(items[best], attribute, cs));
        if (want_max ? c > 0 : c < 0) best = i;
    }
    return items[best];
}
Value f_max(const Value& v, const CallArgs& a) { return min_max(v, a, "max", true); }
Value f_min(const Value& v, const CallArgs& a) { return min_max(v, a, "min", false); }

Value f_replace(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "replace", {"old", "new", "count"});
    if (!a.get(0) || !a.get(1)) a.fail("needs old and new strings");
    const Value count = a.get_or(2, Value::none());
    return py_replace(to_str(v), to_str(*a.get(0)), to_str(*a.get(1)), count.is_none() ? -1 : count.to_int());
}

Value f_reverse(const Value& v, const CallArgs& args) {
    reader(args, "reverse", {});
    if (v.is_string()) {
        std::u32string u = utf8_to_u32(v.as_string());
        std::reverse(u.begin(), u.end());
        return u32_to_utf8(u);
    }
    std::vector<Value> items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::array(std::move(items));
}

Value f_round(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "round", {"precision", "method"});
    const double scale = std::pow(10.0, static_cast<double>(a.get_or(0, Value(0)).to_int()));
    const std::string method = to_str(a.get_or(1, Value("common")));
    if (!v.is_number()) throw EvalError("round needs a number, got " + v.type_name());
    const double x = v.to_double() * scale;
    if (method == "common") return std::nearbyint(x) / scale;  // Python rounds half to even
    if (method == "ceil") return std::ceil(x) / scale;
    if (method == "floor") return std::floor(x) / scale;
    throw EvalError("round: method must be 'common', 'ceil' or 'floor'");
}

Value f_sort(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "sort", {"reverse", "case_sensitive", "attribute"});
    const bool rev = a.get_or(0, false).truthy(), cs = a.get_or(1, false).truthy();
    const Value attribute = a.get_or(2, Value::none());
    std::vector<Value> items = iterate(v);
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
        const int c = compare_values(key_of(x, attribute, cs), key_of(y, attribute, cs));
        return rev ? c > 0 : c < 0;
    });
    return Value::array(std::move(items));
}

Value f_sum(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "sum", {"attribute", "start"});
    const Value attribute = a.get_or(0, Value::none());
    Value total = a.get_or(1, Value(0));
    for (const Value& item : iterate(v))
        total = binary_arith("+", total, attribute.is_none() ? item : get_path(item, to_str(attribute)));
    return total;
}

Value f_unique(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "unique", {"case_sensitive", "attribute"});
    const bool cs = a.get_or(0, false).truthy();
    const Value attribute = a.get_or(1, Value::none());
    std::vector<Value> out, seen;
    for (const Value& item : iterate(v)) {
        const Value key = key_of(item, attribute, cs);
        if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return values_equal(s, key); })) continue;
        seen.push_back(key);
        out.push_back(item);
    }
    return Value::array(std::move(out));
}

Value f_tojson(const Value& v, const CallArgs& args) {
    const ArgReader a = reader(args, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
    JsonOptions o;
    o.ensure_ascii = a.get_or(0, false).truthy();
    const Value indent = a.get_or(1, Value::none());
    if (indent.is_string()) o.indent = indent.as_string();
    else if (indent.is_int() || indent.is_bool()) o.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, indent.to_int())), ' ');
    else if (!indent.is_none()) a.fail("indent must be an integer or a string");
    if (o.indent) o.item_separator = ",";
    const Value separators = a.get_or(2, Value::none());
    if (!separators.is_none()) {
        const std::vector<Value> parts = iterate(separators);
        if (parts.size() != 2 || !parts[0].is_string() || !parts[1].is_string())
            a.fail("separators must be a pair of strings (item, key)");
        o.item_separator = parts[0].as_string();
        o.key_separator = parts[1].as_string();
    }
    o.sort_keys = a.get_or(3, false).truthy();
    return to_json(v, o);
}

const std::unordered_map<std::string, FilterFn>& table() {
    static const std::unordered_map<std::string, FilterFn> filters = {
        {"abs", f_abs},         {"attr", f_attr},           {"capitalize", f_capitalize},
        {"count", f_length},    {"d", f_default},           {"default", f_default},
        {"dictsort", f_dictsort}, {"e", f_escape},          {"escape", f_escape},
        {"first", f_first},     {"float", f_float},         {"forceescape", f_forceescape},
        {"indent", f_indent},   {"int", f_int},             {"items", f_items},
        {"join", f_join},       {"last", f_last},           {"length", f_length},
        {"list", f_list},       {"lower", f_lower},         {"map", f_map},
        {"max", f_max},         {"min", f_min},             {"reject", f_reject},
        {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},
        {"round", f_round},     {"safe", f_safe},           {"select", f_select},
        {"selectattr", f_selectattr}, {"sort", f_sort},     {"string", f_string},
        {"sum", f_sum},         {"title", f_title},         {"tojson", f_tojson},
        {"trim", f_trim},       {"unique", f_unique},       {"upper", f_upper},
    };
    return filters;
}

}  // namespace

bool has_filter(const std::string& name) { return table().count(name) > 0; }

Value apply_filter(const std::string& name, const Value& input, const CallArgs& args) {
    const auto it = table().find(name);
    if (it == table().end())
        throw EvalError("unknown filter '" + name + "' (spool implements Jinja's common filters; see builtins_filters.cpp)");
    return it->second(input, args);
}

}  // namespace spool::jinja
