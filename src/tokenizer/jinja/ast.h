// Syntax tree of a parsed Jinja template: expressions (Expr) and statements (Node), each with the source
// position used in error messages. Built by parser.cpp, walked by interpreter.cpp.
#pragma once

#include "tokenizer/jinja/value.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace spool::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    enum class Kind {
        Literal,   // value
        Name,      // name
        List,      // children = items
        Tuple,     // children = items
        Dict,      // children = key0, value0, key1, value1, ...
        Attr,      // children[0].name
        Index,     // children[0][children[1]]
        Slice,     // children[0][children[1]:children[2]:children[3]]; absent parts are null
        Call,      // children[0](children[1..], kwargs)
        Filter,    // children[0] | name(children[1..], kwargs)
        Test,      // children[0] is [not] name(children[1..], kwargs)
        Unary,     // op children[0]: "-", "+" or "not"
        Binary,    // children[0] op children[1]: + - * / // % ** ~ and or in, "not in"
        Compare,   // children[0] ops[0] children[1] ops[1] children[2] ... (Python-style chains)
        Cond,      // children[1] if children[0] else children[2] (children[2] may be null)
    };
    Kind kind;
    int line = 0, column = 0;
    Value value;                 // Literal
    std::string name;            // Name, Attr, Filter, Test; the operator for Unary and Binary
    bool negated = false;        // Test: `is not`
    std::vector<ExprPtr> children;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;  // Call, Filter, Test
    std::vector<std::string> ops;                        // Compare
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
    enum class Kind {
        Text,      // text
        Output,    // {{ expr }}
        If,        // branches: (condition, body) pairs; condition null for `else`
        For,       // for targets in expr [if condition]: body [else: else_body]
        Set,       // set targets = expr, or set targets[0].attr = expr
        SetBlock,  // set targets[0] [| filters]: body endset; filters are in `expr` applied to a null Literal
        Macro,     // macro name(params): body
        With,      // with assignments: body
        FilterBlock,  // filter expr: body endfilter (expr is a Filter chain over a placeholder)
        Generation,   // Hugging Face's {% generation %}: renders its body
        Break,
        Continue,
    };
    Kind kind;
    int line = 0, column = 0;
    std::string text;                  // Text; Set's attribute name; Macro's name
    ExprPtr expr;                      // Output, For (iterable), Set (value), SetBlock/FilterBlock (filters)
    ExprPtr condition;                 // For's `if` filter
    std::vector<std::string> targets;  // For and Set names; Macro parameter names
    std::vector<ExprPtr> defaults;     // Macro parameter defaults (null where none); With values
    std::vector<std::pair<ExprPtr, Body>> branches;  // If
    Body body, else_body;
};

// A parsed template. Immutable once built, so one Program can be rendered many times.
struct Program {
    Body body;
};

}  // namespace spool::jinja
