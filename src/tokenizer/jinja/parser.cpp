// Recursive-descent Jinja parser, statements: text, {{ }} output and the tags (for, if, set, macro, with, filter,
// generation, break, continue). Expressions are in parser_expr.cpp; the Parser class is in parser_impl.h.
#include "tokenizer/jinja/parser.h"

#include "tokenizer/jinja/parser_impl.h"

namespace spool::jinja {

// Parses until a block tag whose name is in `until` (left unconsumed, positioned at that name) or the end.
Body Parser::parse_body(std::initializer_list<const char*> until, const Token* opener) {
    Body body;
    while (true) {
        const Token& t = cur();
        if (t.type == TokenType::End) {
            if (until.size() == 0) return body;
            fail(opener ? *opener : t, std::string("'") + (opener ? opener->text : std::string("block")) +
                                           "' tag is never closed (expected '{% " + *until.begin() + " %}')");
        }
        if (t.type == TokenType::Text) {
            auto n = make_node(Node::Kind::Text, t);
            n->text = t.text;
            body.push_back(std::move(n));
            next();
        } else if (t.type == TokenType::VarBegin) {
            next();
            auto n = make_node(Node::Kind::Output, t);
            n->expr = parse_tuple(true);
            if (cur().type != TokenType::VarEnd) fail(cur(), "expected '}}', got " + describe(cur()));
            next();
            body.push_back(std::move(n));
        } else if (t.type == TokenType::BlockBegin) {
            const Token& name = peek();
            if (name.type == TokenType::Name)
                for (const char* end : until)
                    if (name.text == end) {
                        next();  // leave the stream at the end tag's name
                        return body;
                    }
            next();
            body.push_back(parse_statement());
        } else {
            fail(t, "unexpected " + describe(t));
        }
    }
}

NodePtr Parser::parse_statement() {
    const DepthGuard guard(*this);
    const Token& t = cur();
    if (t.type != TokenType::Name) fail(t, "expected a tag name after '{%', got " + describe(t));
    const std::string tag = t.text;
    if (tag == "for") return parse_for();
    if (tag == "if") return parse_if();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "with") return parse_with();
    if (tag == "filter") return parse_filter_block();
    if (tag == "generation") {
        next();
        expect_block_end("generation");
        auto n = make_node(Node::Kind::Generation, t);
        n->body = parse_body({"endgeneration"}, &t);
        next();
        expect_block_end("endgeneration");
        return n;
    }
    if (tag == "break" || tag == "continue") {
        if (loop_depth_ == 0) fail(t, "'" + tag + "' is only allowed inside a for loop");
        next();
        expect_block_end(tag.c_str());
        return make_node(tag == "break" ? Node::Kind::Break : Node::Kind::Continue, t);
    }
    for (const char* unsupported : {"extends", "block", "include", "import", "from", "call", "autoescape"})
        if (tag == unsupported)
            fail(t, "the '" + tag + "' tag is not supported by spool's chat-template interpreter");
    fail(t, "unknown or misplaced tag '" + tag + "'");
}

std::vector<std::string> Parser::parse_targets(const char* tag) {
    std::vector<std::string> names;
    const bool parens = skip_op("(");
    do {
        names.push_back(expect_name("a variable name"));
    } while (skip_op(","));
    if (parens) expect_op(")");
    if (names.empty()) fail(cur(), std::string("'") + tag + "' needs a target name");
    return names;
}

NodePtr Parser::parse_for() {
    const Token& t = cur();
    next();
    auto n = make_node(Node::Kind::For, t);
    n->targets = parse_targets("for");
    if (!skip_name("in")) fail(cur(), "expected 'in' in the for tag, got " + describe(cur()));
    n->expr = parse_tuple(false);
    if (skip_name("if")) n->condition = parse_expression(true);
    if (is_name("recursive")) fail(cur(), "recursive for loops are not supported by spool's interpreter");
    expect_block_end("for");
    ++loop_depth_;
    n->body = parse_body({"endfor", "else"}, &t);
    --loop_depth_;
    if (skip_name("else")) {
        expect_block_end("else");
        n->else_body = parse_body({"endfor"}, &t);
    }
    next();  // endfor
    expect_block_end("endfor");
    return n;
}

NodePtr Parser::parse_if() {
    const Token& t = cur();
    next();
    auto n = make_node(Node::Kind::If, t);
    ExprPtr condition = parse_tuple(false);
    expect_block_end("if");
    while (true) {
        Body body = parse_body({"elif", "else", "endif"}, &t);
        n->branches.emplace_back(std::move(condition), std::move(body));
        if (skip_name("elif")) {
            condition = parse_tuple(false);
            expect_block_end("elif");
            continue;
        }
        if (skip_name("else")) {
            expect_block_end("else");
            n->branches.emplace_back(nullptr, parse_body({"endif"}, &t));
        }
        next();  // endif
        expect_block_end("endif");
        return n;
    }
}

NodePtr Parser::parse_set() {
    const Token& t = cur();
    next();
    if (cur().type == TokenType::Name && peek().type == TokenType::Operator && peek().text == "." &&
        peek(2).type == TokenType::Name) {
        auto n = make_node(Node::Kind::Set, t);
        n->targets.push_back(cur().text);
        next();
        next();
        n->text = cur().text;  // namespace attribute
        next();
        expect_op("=");
        n->expr = parse_tuple(true);
        expect_block_end("set");
        return n;
    }
    std::vector<std::string> targets = parse_targets("set");
    if (skip_op("=")) {
        auto n = make_node(Node::Kind::Set, t);
        n->targets = std::move(targets);
        n->expr = parse_tuple(true);
        expect_block_end("set");
        return n;
    }
    if (targets.size() != 1) fail(t, "a block set ({% set x %}...{% endset %}) takes exactly one name");
    auto n = make_node(Node::Kind::SetBlock, t);
    n->targets = std::move(targets);
    if (is_op("|")) n->expr = parse_filters(make(Expr::Kind::Literal, cur()));
    expect_block_end("set");
    n->body = parse_body({"endset"}, &t);
    next();
    expect_block_end("endset");
    return n;
}

NodePtr Parser::parse_macro() {
    const Token& t = cur();
    next();
    auto n = make_node(Node::Kind::Macro, t);
    n->text = expect_name("a macro name");
    expect_op("(");
    while (!is_op(")")) {
        if (!n->targets.empty()) expect_op(",");
        if (is_op(")")) break;
        n->targets.push_back(expect_name("a parameter name"));
        n->defaults.push_back(skip_op("=") ? parse_expression(true) : nullptr);
    }
    expect_op(")");
    expect_block_end("macro");
    const int saved_depth = loop_depth_;
    loop_depth_ = 0;  // a macro body is not inside the enclosing loop
    n->body = parse_body({"endmacro"}, &t);
    loop_depth_ = saved_depth;
    next();
    expect_block_end("endmacro");
    return n;
}

NodePtr Parser::parse_with() {
    const Token& t = cur();
    next();
    auto n = make_node(Node::Kind::With, t);
    while (cur().type != TokenType::BlockEnd) {
        if (!n->targets.empty()) expect_op(",");
        n->targets.push_back(expect_name("a variable name"));
        expect_op("=");
        n->defaults.push_back(parse_expression(true));
    }
    expect_block_end("with");
    n->body = parse_body({"endwith"}, &t);
    next();
    expect_block_end("endwith");
    return n;
}

NodePtr Parser::parse_filter_block() {
    const Token t = cur();  // a copy: the token is overwritten below
    auto n = make_node(Node::Kind::FilterBlock, t);
    // `{% filter upper | trim %}` reads like `x | upper | trim`; reuse the filter parser on a placeholder.
    tokens_[pos_] = Token{TokenType::Operator, "|", t.line, t.column};
    n->expr = parse_filters(make(Expr::Kind::Literal, t));
    expect_block_end("filter");
    n->body = parse_body({"endfilter"}, &t);
    next();
    expect_block_end("endfilter");
    return n;
}

std::shared_ptr<const Program> parse(std::string_view source) { return Parser(tokenize(source)).run(); }

}  // namespace spool::jinja
