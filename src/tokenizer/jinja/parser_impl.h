// The Jinja parser's class, shared by parser.cpp (statements) and parser_expr.cpp (expressions).
// Internal to the jinja module.
#pragma once

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/errors.h"
#include "tokenizer/jinja/lexer.h"

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace spool::jinja {

class Parser {
public:
    explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

    std::shared_ptr<const Program> run() {
        auto program = std::make_shared<Program>();
        program->body = parse_body({});
        return program;
    }

private:
    std::vector<Token> tokens_;
    size_t pos_ = 0;
    int loop_depth_ = 0;

    const Token& cur() const { return tokens_[pos_]; }
    const Token& peek(size_t n = 1) const { return tokens_[std::min(pos_ + n, tokens_.size() - 1)]; }
    void next() {
        if (pos_ + 1 < tokens_.size()) ++pos_;
    }

    [[noreturn]] void fail(const Token& at, const std::string& problem) const {
        throw SyntaxError(at.line, at.column, problem);
    }

    static std::string describe(const Token& t) {
        switch (t.type) {
            case TokenType::Text: return "template text";
            case TokenType::VarBegin: return "'{{'";
            case TokenType::VarEnd: return "'}}'";
            case TokenType::BlockBegin: return "'{%'";
            case TokenType::BlockEnd: return "'%}'";
            case TokenType::String: return "string literal";
            case TokenType::Integer:
            case TokenType::Float: return "number " + t.text;
            case TokenType::End: return "end of template";
            default: return "'" + t.text + "'";
        }
    }

    bool is_op(const char* op) const { return cur().type == TokenType::Operator && cur().text == op; }
    bool is_name(const char* name) const { return cur().type == TokenType::Name && cur().text == name; }
    bool skip_op(const char* op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool skip_name(const char* name) {
        if (!is_name(name)) return false;
        next();
        return true;
    }
    void expect_op(const char* op) {
        if (!skip_op(op)) fail(cur(), std::string("expected '") + op + "', got " + describe(cur()));
    }
    std::string expect_name(const char* what) {
        if (cur().type != TokenType::Name) fail(cur(), std::string("expected ") + what + ", got " + describe(cur()));
        std::string name = cur().text;
        next();
        return name;
    }
    void expect_block_end(const char* tag) {
        if (cur().type != TokenType::BlockEnd)
            fail(cur(), std::string("expected '%}' to end the '") + tag + "' tag, got " + describe(cur()));
        next();
    }

    ExprPtr make(Expr::Kind kind, const Token& at) const {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->line = at.line;
        e->column = at.column;
        return e;
    }
    NodePtr make_node(Node::Kind kind, const Token& at) const {
        auto n = std::make_unique<Node>();
        n->kind = kind;
        n->line = at.line;
        n->column = at.column;
        return n;
    }

    // Nesting limit: a hostile template must not exhaust the stack (Jinja itself relies on Python's limit).
    static constexpr int kMaxDepth = 256;
    int depth_ = 0;
    class DepthGuard {
    public:
        explicit DepthGuard(Parser& p) : p_(p) {
            if (++p_.depth_ > kMaxDepth) p_.fail(p_.cur(), "template nests deeper than " + std::to_string(kMaxDepth) + " levels");
        }
        ~DepthGuard() { --p_.depth_; }
        DepthGuard(const DepthGuard&) = delete;
        DepthGuard& operator=(const DepthGuard&) = delete;

    private:
        Parser& p_;
    };

    // Statements (parser.cpp).
    Body parse_body(std::initializer_list<const char*> until, const Token* opener = nullptr);
    NodePtr parse_statement();
    std::vector<std::string> parse_targets(const char* tag);
    NodePtr parse_for();
    NodePtr parse_if();
    NodePtr parse_set();
    NodePtr parse_macro();
    NodePtr parse_with();
    NodePtr parse_filter_block();

    // Expressions (parser_expr.cpp).
    ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens = false);
    ExprPtr parse_expression(bool with_condexpr);
    ExprPtr binary(const Token& at, std::string op, ExprPtr left, ExprPtr right);
    ExprPtr parse_or();
    ExprPtr parse_and();
    ExprPtr parse_not();
    ExprPtr parse_compare();
    ExprPtr parse_math1();
    ExprPtr parse_concat();
    ExprPtr parse_math2();
    ExprPtr parse_pow();
    ExprPtr parse_unary(bool with_filter);
    ExprPtr parse_primary();
    ExprPtr parse_list();
    ExprPtr parse_dict();
    ExprPtr parse_postfix(ExprPtr node);
    ExprPtr parse_subscript(const Token& at, ExprPtr object);
    void parse_call_args(Expr& e);
    ExprPtr parse_call(ExprPtr callee);
    ExprPtr parse_filters(ExprPtr node);
};

}  // namespace spool::jinja
