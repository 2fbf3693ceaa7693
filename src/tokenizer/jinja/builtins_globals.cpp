// The global functions a chat template can call: Jinja's range, namespace and dict, and the two Hugging Face adds,
// raise_exception(message) and strftime_now(format) (transformers' chat_template_utils.py).
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/errors.h"

#include <ctime>

namespace spool::jinja {
namespace {

// Jinja's sandbox refuses ranges longer than this (jinja2/sandbox.py MAX_RANGE).
constexpr int64_t kMaxRange = 100000;

Value range(const CallArgs& args) {
    if (!args.named.empty()) throw EvalError("range() takes no keyword arguments");
    std::vector<int64_t> p;
    for (const Value& v : args.positional) {
        if (!v.is_int() && !v.is_bool()) throw EvalError("range() arguments must be integers, not " + v.type_name());
        p.push_back(v.to_int());
    }
    if (p.empty() || p.size() > 3) throw EvalError("range() takes 1 to 3 arguments");
    const int64_t start = p.size() == 1 ? 0 : p[0], stop = p.size() == 1 ? p[0] : p[1], step = p.size() == 3 ? p[2] : 1;
    if (step == 0) throw EvalError("range() arg 3 must not be zero");
    std::vector<Value> out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (static_cast<int64_t>(out.size()) >= kMaxRange)
            throw EvalError("range too big: the sandbox blocks ranges longer than " + std::to_string(kMaxRange));
        out.emplace_back(i);
    }
    return Value::array(std::move(out));
}

// dict(**kwargs) and namespace(**kwargs); one positional mapping is merged first, as in Python.
Value make_dict(const CallArgs& args, const char* what, bool is_namespace) {
    Value out = Value::object();
    Object& obj = out.mutable_object();
    obj.is_namespace = is_namespace;
    if (args.positional.size() > 1) throw EvalError(std::string(what) + "() takes at most 1 positional argument");
    if (args.positional.size() == 1) {
        const Value& init = args.positional[0];
        if (init.is_object()) {
            for (const auto& [k, v] : init.as_object().entries) obj.set(k, v);
        } else {
            for (const Value& pair : iterate(init)) {
                const std::vector<Value> kv = iterate(pair);
                if (kv.size() != 2) throw EvalError(std::string(what) + "() needs (key, value) pairs");
                obj.set(kv[0], kv[1]);
            }
        }
    }
    for (const auto& [k, v] : args.named) obj.set(k, v);
    return out;
}

Value strftime_now(const CallArgs& args, const std::optional<std::tm>& fixed) {
    const ArgReader a(args, "function", "strftime_now", {"format"});
    if (!a.get(0) || !a.get(0)->is_string()) a.fail("takes one string argument (the format)");
    std::tm tm{};
    if (fixed) {
        tm = *fixed;
    } else {
        const std::time_t t = std::time(nullptr);
        localtime_r(&t, &tm);
    }
    // Python's datetime.now() is naive, so %z and %Z print nothing and %f is the microseconds (0 here).
    std::string fmt;
    const std::string& in = a.get(0)->as_string();
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 1 < in.size()) {
            const char c = in[i + 1];
            if (c == 'z' || c == 'Z') {
                ++i;
                continue;
            }
            if (c == 'f') {
                fmt += "000000";
                ++i;
                continue;
            }
            fmt += in[i];
            fmt += c;
            ++i;
            continue;
        }
        fmt += in[i];
    }
    if (fmt.empty()) return std::string();
    std::string out(256 + fmt.size() * 8, '\0');
    const size_t n = std::strftime(out.data(), out.size(), fmt.c_str(), &tm);
    if (n == 0) throw EvalError("strftime_now(): the format '" + in + "' produced no output or too much");
    out.resize(n);
    return out;
}

}  // namespace

std::unordered_map<std::string, Value> make_globals(std::optional<std::tm> now) {
    std::unordered_map<std::string, Value> g;
    g["range"] = Value::function("range", range);
    g["dict"] = Value::function("dict", [](const CallArgs& a) { return make_dict(a, "dict", false); });
    g["namespace"] = Value::function("namespace", [](const CallArgs& a) { return make_dict(a, "namespace", true); });
    g["raise_exception"] = Value::function("raise_exception", [](const CallArgs& a) -> Value {
        const ArgReader r(a, "function", "raise_exception", {"message"});
        throw RaisedError(to_str(r.get_or(0, Value(""))));
    });
    g["strftime_now"] = Value::function("strftime_now", [now](const CallArgs& a) { return strftime_now(a, now); });
    return g;
}

}  // namespace spool::jinja
