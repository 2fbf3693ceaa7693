// Recursive-descent Jinja parser, expressions. Precedence, lowest first, as in jinja2/parser.py: `a if c else b`,
// or, and, not, comparisons and `in` (chained), + -, ~, * / // %, **, unary - +, then postfix (.attr [index] (call))
// and filters/tests (| name, is name), so `x | trim + 'a'` filters x first and `not x is defined` negates the test.
#include "tokenizer/jinja/parser_impl.h"

namespace spool::jinja {

// `a, b` makes a tuple; a single expression stays itself. with_condexpr=false parses `x if y` as not a ternary
// (for-loop iterables and if conditions, as in Jinja).
ExprPtr Parser::parse_tuple(bool with_condexpr, bool explicit_parens) {
    const Token& start = cur();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
        if (!items.empty()) expect_op(",");
        if (cur().type == TokenType::VarEnd || cur().type == TokenType::BlockEnd || is_op(")")) break;
        items.push_back(with_condexpr ? parse_expression(true) : parse_or());
        if (is_op(",")) is_tuple = true;
        else break;
    }
    if (!is_tuple) {
        if (!items.empty()) return std::move(items[0]);
        if (!explicit_parens) fail(cur(), "expected an expression, got " + describe(cur()));
    }
    auto e = make(Expr::Kind::Tuple, start);
    e->children = std::move(items);
    return e;
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
    if (!with_condexpr) return parse_or();
    ExprPtr expr = parse_or();
    while (is_name("if")) {
        const Token& t = cur();
        next();
        auto e = make(Expr::Kind::Cond, t);
        e->children.push_back(parse_or());
        e->children.push_back(std::move(expr));
        e->children.push_back(skip_name("else") ? parse_expression(true) : nullptr);
        expr = std::move(e);
    }
    return expr;
}

ExprPtr Parser::binary(const Token& at, std::string op, ExprPtr left, ExprPtr right) {
    auto e = make(Expr::Kind::Binary, at);
    e->name = std::move(op);
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
}

ExprPtr Parser::parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
        const Token& t = cur();
        next();
        left = binary(t, "or", std::move(left), parse_and());
    }
    return left;
}

ExprPtr Parser::parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
        const Token& t = cur();
        next();
        left = binary(t, "and", std::move(left), parse_not());
    }
    return left;
}

ExprPtr Parser::parse_not() {
    if (is_name("not")) {
        const Token& t = cur();
        next();
        auto e = make(Expr::Kind::Unary, t);
        e->name = "not";
        e->children.push_back(parse_not());
        return e;
    }
    return parse_compare();
}

ExprPtr Parser::parse_compare() {
    const Token& start = cur();
    ExprPtr first = parse_math1();
    ExprPtr chain;
    while (true) {
        std::string op;
        if (cur().type == TokenType::Operator &&
            (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" ||
             cur().text == ">" || cur().text == ">=")) {
            op = cur().text;
            next();
        } else if (is_name("in")) {
            op = "in";
            next();
        } else if (is_name("not") && peek().type == TokenType::Name && peek().text == "in") {
            op = "not in";
            next();
            next();
        } else {
            break;
        }
        if (!chain) {
            chain = make(Expr::Kind::Compare, start);
            chain->children.push_back(std::move(first));
        }
        chain->ops.push_back(op);
        chain->children.push_back(parse_math1());
    }
    return chain ? std::move(chain) : std::move(first);
}

ExprPtr Parser::parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
        const Token& t = cur();
        next();
        left = binary(t, t.text, std::move(left), parse_concat());
    }
    return left;
}

ExprPtr Parser::parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
        const Token& t = cur();
        next();
        left = binary(t, "~", std::move(left), parse_math2());
    }
    return left;
}

ExprPtr Parser::parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
        const Token& t = cur();
        next();
        left = binary(t, t.text, std::move(left), parse_pow());
    }
    return left;
}

ExprPtr Parser::parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
        const Token& t = cur();
        next();
        left = binary(t, "**", std::move(left), parse_unary(true));
    }
    return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
    const DepthGuard guard(*this);
    const Token& t = cur();
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
        next();
        node = make(Expr::Kind::Unary, t);
        node->name = t.text;
        node->children.push_back(parse_unary(false));
    } else {
        node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filters(std::move(node));
    return node;
}

ExprPtr Parser::parse_primary() {
    const Token& t = cur();
    switch (t.type) {
        case TokenType::Name: {
            next();
            auto e = make(Expr::Kind::Literal, t);
            if (t.text == "true" || t.text == "True") e->value = true;
            else if (t.text == "false" || t.text == "False") e->value = false;
            else if (t.text == "none" || t.text == "None") e->value = Value::none();
            else {
                e->kind = Expr::Kind::Name;
                e->name = t.text;
            }
            return e;
        }
        case TokenType::String: {
            std::string s;
            while (cur().type == TokenType::String) {  // adjacent literals concatenate, as in Python
                s += cur().text;
                next();
            }
            auto e = make(Expr::Kind::Literal, t);
            e->value = std::move(s);
            return e;
        }
        case TokenType::Integer:
        case TokenType::Float: {
            next();
            auto e = make(Expr::Kind::Literal, t);
            e->value = t.type == TokenType::Integer ? Value(t.int_value) : Value(t.float_value);
            return e;
        }
        case TokenType::Operator:
            if (t.text == "(") {
                next();
                ExprPtr e = parse_tuple(true, true);
                expect_op(")");
                return e;
            }
            if (t.text == "[") return parse_list();
            if (t.text == "{") return parse_dict();
            break;
        default: break;
    }
    fail(t, "unexpected " + describe(t) + " in an expression");
}

ExprPtr Parser::parse_list() {
    auto e = make(Expr::Kind::List, cur());
    expect_op("[");
    while (!is_op("]")) {
        if (!e->children.empty()) expect_op(",");
        if (is_op("]")) break;
        e->children.push_back(parse_expression(true));
    }
    expect_op("]");
    return e;
}

ExprPtr Parser::parse_dict() {
    auto e = make(Expr::Kind::Dict, cur());
    expect_op("{");
    while (!is_op("}")) {
        if (!e->children.empty()) expect_op(",");
        if (is_op("}")) break;
        e->children.push_back(parse_expression(true));
        expect_op(":");
        e->children.push_back(parse_expression(true));
    }
    expect_op("}");
    return e;
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
    while (true) {
        const Token& t = cur();
        if (is_op(".")) {
            next();
            if (cur().type == TokenType::Name) {
                auto e = make(Expr::Kind::Attr, t);
                e->name = cur().text;
                e->children.push_back(std::move(node));
                node = std::move(e);
            } else if (cur().type == TokenType::Integer) {
                auto e = make(Expr::Kind::Index, t);
                e->children.push_back(std::move(node));
                auto index = make(Expr::Kind::Literal, cur());
                index->value = cur().int_value;
                e->children.push_back(std::move(index));
                node = std::move(e);
            } else {
                fail(cur(), "expected an attribute name after '.', got " + describe(cur()));
            }
            next();
        } else if (is_op("[")) {
            next();
            node = parse_subscript(t, std::move(node));
            expect_op("]");
        } else if (is_op("(")) {
            node = parse_call(std::move(node));
        } else {
            return node;
        }
    }
}

ExprPtr Parser::parse_subscript(const Token& at, ExprPtr object) {
    ExprPtr parts[3];
    int n_parts = 0;
    bool is_slice = false;
    while (true) {
        if (is_op(":")) {
            is_slice = true;
            next();
            ++n_parts;
            if (n_parts > 2) fail(cur(), "a slice takes at most start:stop:step");
            continue;
        }
        if (is_op("]")) break;
        if (parts[n_parts]) fail(cur(), "expected ':' or ']' in a subscript, got " + describe(cur()));
        parts[n_parts] = parse_expression(true);
    }
    if (!is_slice) {
        if (!parts[0]) fail(cur(), "empty subscript '[]'");
        auto e = make(Expr::Kind::Index, at);
        e->children.push_back(std::move(object));
        e->children.push_back(std::move(parts[0]));
        return e;
    }
    auto e = make(Expr::Kind::Slice, at);
    e->children.push_back(std::move(object));
    for (auto& p : parts) e->children.push_back(std::move(p));
    return e;
}

void Parser::parse_call_args(Expr& e) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
        if (!first) expect_op(",");
        first = false;
        if (is_op(")")) break;
        if (is_op("*") || is_op("**")) fail(cur(), "*args and **kwargs in calls are not supported");
        if (cur().type == TokenType::Name && peek().type == TokenType::Operator && peek().text == "=") {
            std::string key = cur().text;
            next();
            next();
            e.kwargs.emplace_back(std::move(key), parse_expression(true));
        } else {
            if (!e.kwargs.empty()) fail(cur(), "positional argument after a keyword argument");
            e.children.push_back(parse_expression(true));
        }
    }
    expect_op(")");
}

ExprPtr Parser::parse_call(ExprPtr callee) {
    auto e = make(Expr::Kind::Call, cur());
    e->children.push_back(std::move(callee));
    parse_call_args(*e);
    return e;
}

ExprPtr Parser::parse_filters(ExprPtr node) {
    while (true) {
        const Token& t = cur();
        if (is_op("|")) {
            next();
            auto e = make(Expr::Kind::Filter, t);
            e->name = expect_name("a filter name");
            while (is_op(".") && peek().type == TokenType::Name) {
                next();
                e->name += "." + cur().text;
                next();
            }
            e->children.push_back(std::move(node));
            if (is_op("(")) parse_call_args(*e);
            node = std::move(e);
        } else if (is_name("is")) {
            next();
            auto e = make(Expr::Kind::Test, t);
            e->negated = skip_name("not");
            e->name = expect_name("a test name");
            e->children.push_back(std::move(node));
            if (is_op("(")) {
                parse_call_args(*e);
            } else if ((cur().type == TokenType::Name || cur().type == TokenType::String ||
                        cur().type == TokenType::Integer || cur().type == TokenType::Float || is_op("[") ||
                        is_op("{")) &&
                       !is_name("else") && !is_name("or") && !is_name("and")) {
                if (is_name("is")) fail(cur(), "tests cannot be chained with 'is'");
                e->children.push_back(parse_postfix(parse_primary()));  // `x is divisibleby 3`
            }
            node = std::move(e);
        } else if (is_op("(")) {
            node = parse_call(std::move(node));
        } else {
            return node;
        }
    }
}

}  // namespace spool::jinja
