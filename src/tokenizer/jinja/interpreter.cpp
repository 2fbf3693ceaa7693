// Tree-walking interpreter for parsed Jinja templates, with Jinja's scoping: `set` in a for loop stays in that
// iteration (each iteration starts from the enclosing values), `if` opens no scope, macros see the scopes where
// they were defined, and namespace() objects are the way to carry values out of a loop.
// Known difference: Jinja resolves names per compiled scope, so a context variable that a template reads only
// inside a loop and also assigns at top level reads as undefined there; spool reads the context value. No
// published chat template seen relies on this (TODO: issue 4 follow-up, if one ever does).
#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/errors.h"
#include "tokenizer/jinja/parser.h"
#include "tokenizer/jinja/template.h"

#include <algorithm>
#include <unordered_map>

namespace spool::jinja {
namespace {

// Deep macro recursion would exhaust the C++ stack; Python's own limit is near 1000 frames.
constexpr int kMaxMacroDepth = 200;

class Interpreter {
public:
    Interpreter(const Value& context, const RenderOptions& options) {
        auto root = std::make_shared<Frame>(make_globals(options.now));
        if (!context.is_object()) throw UsageError("chat template context must be a dict of variables");
        for (const auto& [k, v] : context.as_object().entries) {
            if (!k.is_string()) throw UsageError("chat template context keys must be strings");
            (*root)[k.as_string()] = v;
        }
        frames_.push_back(std::move(root));
    }

    std::string run(const Program& program) {
        std::string out;
        exec_body(program.body, out);
        return out;
    }

private:
    using Frame = std::unordered_map<std::string, Value>;
    enum class Flow { Normal, Break, Continue };

    std::vector<std::shared_ptr<Frame>> frames_;  // innermost last; frames_[0] holds globals and the context
    int macro_depth_ = 0;

    // Pushes a scope for the lifetime of the guard.
    class Scope {
    public:
        explicit Scope(Interpreter& in) : in_(in) { in_.frames_.push_back(std::make_shared<Frame>()); }
        ~Scope() { in_.frames_.pop_back(); }
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;
        Frame& frame() { return *in_.frames_.back(); }

    private:
        Interpreter& in_;
    };

    Value lookup(const std::string& name) const {
        for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
            const auto hit = (*it)->find(name);
            if (hit != (*it)->end()) return hit->second;
        }
        return Value::undefined("'" + name + "' is undefined");
    }

    static void unpack(Frame& frame, const std::vector<std::string>& targets, const Value& v) {
        if (targets.size() == 1) {
            frame[targets[0]] = v;
            return;
        }
        const std::vector<Value> items = iterate(v);
        if (items.size() != targets.size())
            throw EvalError(std::string(items.size() > targets.size() ? "too many" : "not enough") +
                            " values to unpack (expected " + std::to_string(targets.size()) + ", got " +
                            std::to_string(items.size()) + ")");
        for (size_t i = 0; i < targets.size(); ++i) frame[targets[i]] = items[i];
    }

    // ---- statements ----

    Flow exec_body(const Body& body, std::string& out) {
        for (const NodePtr& n : body) {
            const Flow f = exec(*n, out);
            if (f != Flow::Normal) return f;
        }
        return Flow::Normal;
    }

    Flow exec(const Node& n, std::string& out) {
        try {
            return exec_inner(n, out);
        } catch (const EvalError& e) {
            throw RenderError(n.line, n.column, e.what());
        }
    }

    Flow exec_inner(const Node& n, std::string& out) {
        switch (n.kind) {
            case Node::Kind::Text: out += n.text; return Flow::Normal;
            case Node::Kind::Output: out += to_str(eval(*n.expr)); return Flow::Normal;
            case Node::Kind::If:
                for (const auto& [condition, body] : n.branches)
                    if (!condition || eval(*condition).truthy()) return exec_body(body, out);
                return Flow::Normal;
            case Node::Kind::For: return exec_for(n, out);
            case Node::Kind::Set: exec_set(n); return Flow::Normal;
            case Node::Kind::SetBlock: {
                std::string text;
                exec_body(n.body, text);
                unpack(*frames_.back(), n.targets, n.expr ? apply_filters(*n.expr, Value(text)) : Value(text));
                return Flow::Normal;
            }
            case Node::Kind::Macro: define_macro(n); return Flow::Normal;
            case Node::Kind::With: {
                Scope scope(*this);
                for (size_t i = 0; i < n.targets.size(); ++i) scope.frame()[n.targets[i]] = eval(*n.defaults[i]);
                return exec_body(n.body, out);
            }
            case Node::Kind::FilterBlock: {
                std::string text;
                const Flow f = exec_body(n.body, text);
                out += to_str(apply_filters(*n.expr, Value(text)));
                return f;
            }
            case Node::Kind::Generation: return exec_body(n.body, out);
            case Node::Kind::Break: return Flow::Break;
            case Node::Kind::Continue: return Flow::Continue;
        }
        return Flow::Normal;
    }

    Flow exec_for(const Node& n, std::string& out) {
        const Value iterable = eval(*n.expr);
        std::vector<Value> items = iterate(iterable);
        if (n.condition) {
            // The `if` of a for tag filters items before the loop runs, so loop.length counts only kept items.
            std::vector<Value> kept;
            for (const Value& item : items) {
                Scope scope(*this);
                unpack(scope.frame(), n.targets, item);
                if (eval(*n.condition).truthy()) kept.push_back(item);
            }
            items = std::move(kept);
        }
        if (items.empty()) return exec_body(n.else_body, out);
        const auto length = static_cast<int64_t>(items.size());
        for (int64_t i = 0; i < length; ++i) {
            Scope scope(*this);
            unpack(scope.frame(), n.targets, items[static_cast<size_t>(i)]);
            scope.frame()["loop"] = loop_object(items, i);
            const Flow f = exec_body(n.body, out);
            if (f == Flow::Break) break;
        }
        return Flow::Normal;
    }

    static Value loop_object(const std::vector<Value>& items, int64_t i) {
        const auto length = static_cast<int64_t>(items.size());
        Value loop = Value::object({{"index", i + 1},
                                    {"index0", i},
                                    {"revindex", length - i},
                                    {"revindex0", length - i - 1},
                                    {"first", i == 0},
                                    {"last", i == length - 1},
                                    {"length", length},
                                    {"depth", 1},
                                    {"depth0", 0}});
        Object& obj = loop.mutable_object();
        if (i > 0) obj.set("previtem", items[static_cast<size_t>(i - 1)]);
        if (i + 1 < length) obj.set("nextitem", items[static_cast<size_t>(i + 1)]);
        obj.set("cycle", Value::function("cycle", [i](const CallArgs& args) {
                    if (args.positional.empty()) throw EvalError("loop.cycle() needs at least one argument");
                    return args.positional[static_cast<size_t>(i) % args.positional.size()];
                }));
        return loop;
    }

    void exec_set(const Node& n) {
        Value value = eval(*n.expr);
        if (!n.text.empty()) {
            const Value target = lookup(n.targets[0]);
            if (!target.is_object() || !target.as_object().is_namespace)
                throw EvalError("cannot assign attribute '" + n.text + "' on '" + n.targets[0] +
                                "': it is not a namespace() object");
            target.mutable_object().set(n.text, std::move(value));
            return;
        }
        unpack(*frames_.back(), n.targets, value);
    }

    void define_macro(const Node& n) {
        // Weak references: the macro is stored in one of these frames, and a strong one would make a cycle.
        std::vector<std::weak_ptr<Frame>> closure(frames_.begin(), frames_.end());
        const Node* node = &n;
        (*frames_.back())[n.text] = Value::function(
            n.text, [this, closure, node](const CallArgs& args) { return call_macro(*node, closure, args); });
    }

    Value call_macro(const Node& n, const std::vector<std::weak_ptr<Frame>>& closure, const CallArgs& args) {
        if (macro_depth_ >= kMaxMacroDepth)
            throw EvalError("macro '" + n.text + "' recursed deeper than " + std::to_string(kMaxMacroDepth) + " calls");
        std::vector<std::shared_ptr<Frame>> saved = std::move(frames_);
        frames_.clear();
        ++macro_depth_;
        struct Restore {
            Interpreter& in;
            std::vector<std::shared_ptr<Frame>>& saved;
            ~Restore() {
                in.frames_ = std::move(saved);
                --in.macro_depth_;
            }
        } restore{*this, saved};
        for (const auto& weak : closure) {
            auto frame = weak.lock();
            if (!frame) throw EvalError("macro '" + n.text + "' was called after the scope defining it ended");
            frames_.push_back(std::move(frame));
        }
        Scope scope(*this);
        Frame& frame = scope.frame();
        std::vector<Value> varargs;
        for (size_t i = 0; i < args.positional.size(); ++i) {
            if (i < n.targets.size()) frame[n.targets[i]] = args.positional[i];
            else varargs.push_back(args.positional[i]);
        }
        Value kwargs = Value::object();
        for (const auto& [key, value] : args.named) {
            const auto it = std::find(n.targets.begin(), n.targets.end(), key);
            if (it == n.targets.end()) {
                kwargs.mutable_object().set(key, value);
            } else if (static_cast<size_t>(it - n.targets.begin()) < args.positional.size()) {
                throw EvalError("macro '" + n.text + "' got multiple values for argument '" + key + "'");
            } else {
                frame[key] = value;
            }
        }
        for (size_t i = 0; i < n.targets.size(); ++i) {
            if (frame.count(n.targets[i])) continue;
            frame[n.targets[i]] = n.defaults[i] ? eval(*n.defaults[i])
                                                : Value::undefined("parameter '" + n.targets[i] + "' of macro '" +
                                                                   n.text + "' was not provided");
        }
        frame["varargs"] = Value::array(std::move(varargs), true);
        frame["kwargs"] = kwargs;
        std::string out;
        exec_body(n.body, out);
        return out;
    }

    // ---- expressions ----

    Value eval(const Expr& e) {
        try {
            return eval_inner(e);
        } catch (const EvalError& err) {
            throw RenderError(e.line, e.column, err.what());
        }
    }

    static void require_defined(const Value& v) {
        if (v.is_undefined()) throw EvalError(v.undefined_hint().empty() ? "value is undefined" : v.undefined_hint());
    }

    CallArgs eval_args(const Expr& e, size_t first) {
        CallArgs args;
        for (size_t i = first; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i]));
        for (const auto& [key, expr] : e.kwargs) args.named.emplace_back(key, eval(*expr));
        return args;
    }

    // Applies a chain of Filter nodes whose innermost operand is a placeholder, to `input` (filter/set blocks).
    Value apply_filters(const Expr& chain, Value input) {
        if (chain.kind != Expr::Kind::Filter) return input;
        Value inner = apply_filters(*chain.children[0], std::move(input));
        try {
            return apply_filter(chain.name, inner, eval_args(chain, 1));
        } catch (const EvalError& err) {
            throw RenderError(chain.line, chain.column, err.what());
        }
    }

    Value eval_inner(const Expr& e) {
        switch (e.kind) {
            case Expr::Kind::Literal: return e.value;
            case Expr::Kind::Name: return lookup(e.name);
            case Expr::Kind::List:
            case Expr::Kind::Tuple: {
                std::vector<Value> items;
                for (const auto& c : e.children) items.push_back(eval(*c));
                return Value::array(std::move(items), e.kind == Expr::Kind::Tuple);
            }
            case Expr::Kind::Dict: {
                Value out = Value::object();
                for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
                    Value key = eval(*e.children[i]);
                    out.mutable_object().set(std::move(key), eval(*e.children[i + 1]));
                }
                return out;
            }
            case Expr::Kind::Attr: {
                const Value object = eval(*e.children[0]);
                require_defined(object);
                return get_attribute(object, e.name);
            }
            case Expr::Kind::Index: {
                const Value object = eval(*e.children[0]);
                require_defined(object);
                return get_item(object, eval(*e.children[1]));
            }
            case Expr::Kind::Slice: {
                const Value object = eval(*e.children[0]);
                require_defined(object);
                Value parts[3];
                for (int i = 0; i < 3; ++i)
                    if (e.children[static_cast<size_t>(i) + 1]) parts[i] = eval(*e.children[static_cast<size_t>(i) + 1]);
                return slice(object, parts[0], parts[1], parts[2]);
            }
            case Expr::Kind::Call: {
                const Value callee = eval(*e.children[0]);
                require_defined(callee);
                if (!callee.is_function()) throw EvalError("'" + callee.type_name() + "' object is not callable");
                return callee.as_function().call(eval_args(e, 1));
            }
            case Expr::Kind::Filter: {
                const Value input = eval(*e.children[0]);
                return apply_filter(e.name, input, eval_args(e, 1));
            }
            case Expr::Kind::Test: {
                const Value input = eval(*e.children[0]);
                return apply_test(e.name, input, eval_args(e, 1)) != e.negated;
            }
            case Expr::Kind::Unary: {
                const Value v = eval(*e.children[0]);
                if (e.name == "not") return !v.truthy();
                if (e.name == "-") return negate(v);
                require_defined(v);
                if (!v.is_number()) throw EvalError("bad operand type for unary +: '" + v.type_name() + "'");
                return v.is_bool() ? Value(v.to_int()) : v;
            }
            case Expr::Kind::Binary: {
                const Value left = eval(*e.children[0]);
                if (e.name == "and") return left.truthy() ? eval(*e.children[1]) : left;
                if (e.name == "or") return left.truthy() ? left : eval(*e.children[1]);
                const Value right = eval(*e.children[1]);
                if (e.name == "~") return to_str(left) + to_str(right);
                return binary_arith(e.name, left, right);
            }
            case Expr::Kind::Compare: {
                Value left = eval(*e.children[0]);
                for (size_t i = 0; i < e.ops.size(); ++i) {
                    Value right = eval(*e.children[i + 1]);
                    if (!compare(e.ops[i], left, right)) return false;
                    left = std::move(right);
                }
                return true;
            }
            case Expr::Kind::Cond:
                if (eval(*e.children[0]).truthy()) return eval(*e.children[1]);
                if (e.children[2]) return eval(*e.children[2]);
                return Value::undefined("the inline if-expression was false and has no else part");
        }
        return Value::undefined();
    }

    static bool compare(const std::string& op, const Value& a, const Value& b) {
        if (op == "==") return values_equal(a, b);
        if (op == "!=") return !values_equal(a, b);
        if (op == "in") return contains(b, a);
        if (op == "not in") return !contains(b, a);
        if (a.is_undefined() || b.is_undefined()) require_defined(a.is_undefined() ? a : b);
        const int c = compare_values(a, b);
        if (op == "<") return c < 0;
        if (op == "<=") return c <= 0;
        if (op == ">") return c > 0;
        return c >= 0;
    }
};

}  // namespace

Template Template::parse(std::string_view source) { return Template(jinja::parse(source)); }

std::string Template::render(const Value& context, const RenderOptions& options) const {
    return Interpreter(context, options).run(*program_);
}

}  // namespace spool::jinja
