// Jinja's builtin tests (`x is defined`, `x is string`, ...) with Jinja 3.1 semantics (jinja2/tests.py): note that
// bool counts as a number, and Undefined is iterable and a sequence (it iterates as empty).
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/text.h"

namespace spool::jinja {
namespace {

using TestFn = bool (*)(const Value&, const CallArgs&);

const Value& one_arg(const CallArgs& args, const char* name) {
    const ArgReader a(args, "test", name, {"other"});
    if (!a.get(0)) a.fail("needs one argument");
    return *a.get(0);
}

void no_args(const CallArgs& args, const char* name) { ArgReader(args, "test", name, {}); }

bool t_defined(const Value& v, const CallArgs& a) { return no_args(a, "defined"), !v.is_undefined(); }
bool t_undefined(const Value& v, const CallArgs& a) { return no_args(a, "undefined"), v.is_undefined(); }
bool t_none(const Value& v, const CallArgs& a) { return no_args(a, "none"), v.is_none(); }
bool t_boolean(const Value& v, const CallArgs& a) { return no_args(a, "boolean"), v.is_bool(); }
bool t_true(const Value& v, const CallArgs& a) { return no_args(a, "true"), v.is_bool() && v.as_bool(); }
bool t_false(const Value& v, const CallArgs& a) { return no_args(a, "false"), v.is_bool() && !v.as_bool(); }
bool t_integer(const Value& v, const CallArgs& a) { return no_args(a, "integer"), v.is_int(); }
bool t_float(const Value& v, const CallArgs& a) { return no_args(a, "float"), v.is_float(); }
bool t_number(const Value& v, const CallArgs& a) { return no_args(a, "number"), v.is_number(); }
bool t_string(const Value& v, const CallArgs& a) { return no_args(a, "string"), v.is_string(); }
bool t_mapping(const Value& v, const CallArgs& a) { return no_args(a, "mapping"), v.is_object() && !v.as_object().is_namespace; }
bool t_callable(const Value& v, const CallArgs& a) { return no_args(a, "callable"), v.is_function(); }
bool t_escaped(const Value&, const CallArgs& a) { return no_args(a, "escaped"), false; }

bool t_iterable(const Value& v, const CallArgs& a) {
    no_args(a, "iterable");
    return v.is_undefined() || v.is_string() || v.is_array() || v.is_object();
}

bool t_sequence(const Value& v, const CallArgs& a) {
    no_args(a, "sequence");
    return v.is_undefined() || v.is_string() || v.is_array() || (v.is_object() && !v.as_object().is_namespace);
}

int64_t need_int(const Value& v, const char* test) {
    if (!v.is_int() && !v.is_bool()) throw EvalError(std::string("test '") + test + "' needs an integer, got " + v.type_name());
    return v.to_int();
}

bool t_odd(const Value& v, const CallArgs& a) { return no_args(a, "odd"), need_int(v, "odd") % 2 != 0; }
bool t_even(const Value& v, const CallArgs& a) { return no_args(a, "even"), need_int(v, "even") % 2 == 0; }

bool t_divisibleby(const Value& v, const CallArgs& a) {
    const Value& n = one_arg(a, "divisibleby");
    return values_equal(binary_arith("%", v, n), Value(0));
}

bool t_eq(const Value& v, const CallArgs& a) { return values_equal(v, one_arg(a, "eq")); }
bool t_ne(const Value& v, const CallArgs& a) { return !values_equal(v, one_arg(a, "ne")); }
bool t_lt(const Value& v, const CallArgs& a) { return compare_values(v, one_arg(a, "lt")) < 0; }
bool t_le(const Value& v, const CallArgs& a) { return compare_values(v, one_arg(a, "le")) <= 0; }
bool t_gt(const Value& v, const CallArgs& a) { return compare_values(v, one_arg(a, "gt")) > 0; }
bool t_ge(const Value& v, const CallArgs& a) { return compare_values(v, one_arg(a, "ge")) >= 0; }
bool t_in(const Value& v, const CallArgs& a) { return contains(one_arg(a, "in"), v); }
bool t_sameas(const Value& v, const CallArgs& a) { return v.same_object(one_arg(a, "sameas")); }
bool t_lower(const Value& v, const CallArgs& a) { return no_args(a, "lower"), py_islower(to_str(v)); }
bool t_upper(const Value& v, const CallArgs& a) { return no_args(a, "upper"), py_isupper(to_str(v)); }
bool t_filter(const Value& v, const CallArgs& a) { return no_args(a, "filter"), v.is_string() && has_filter(v.as_string()); }
bool t_test(const Value& v, const CallArgs& a) { return no_args(a, "test"), v.is_string() && has_test(v.as_string()); }

const std::unordered_map<std::string, TestFn>& table() {
    static const std::unordered_map<std::string, TestFn> tests = {
        {"boolean", t_boolean}, {"callable", t_callable}, {"defined", t_defined},   {"divisibleby", t_divisibleby},
        {"eq", t_eq},           {"equalto", t_eq},        {"==", t_eq},             {"escaped", t_escaped},
        {"even", t_even},       {"false", t_false},       {"filter", t_filter},     {"float", t_float},
        {"ge", t_ge},           {">=", t_ge},             {"gt", t_gt},             {"greaterthan", t_gt},
        {">", t_gt},            {"in", t_in},             {"integer", t_integer},   {"iterable", t_iterable},
        {"le", t_le},           {"<=", t_le},             {"lower", t_lower},       {"lt", t_lt},
        {"lessthan", t_lt},     {"<", t_lt},              {"mapping", t_mapping},   {"ne", t_ne},
        {"!=", t_ne},           {"none", t_none},         {"number", t_number},     {"odd", t_odd},
        {"sameas", t_sameas},   {"sequence", t_sequence}, {"string", t_string},     {"test", t_test},
        {"true", t_true},       {"undefined", t_undefined}, {"upper", t_upper},
    };
    return tests;
}

}  // namespace

bool has_test(const std::string& name) { return table().count(name) > 0; }

bool apply_test(const std::string& name, const Value& input, const CallArgs& args) {
    const auto it = table().find(name);
    if (it == table().end()) throw EvalError("unknown test '" + name + "'");
    return it->second(input, args);
}

}  // namespace spool::jinja
