// Jinja lexer: splits template source into text and tag tokens, applying whitespace control the way
// Hugging Face configures Jinja (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False) and the
// `-`/`+` tag modifiers. Source: the Jinja 3.1 lexer's documented behaviour (jinja2/lexer.py).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spool::jinja {

enum class TokenType {
    Text,        // template data, already whitespace-controlled
    VarBegin,    // {{
    VarEnd,      // }}
    BlockBegin,  // {%
    BlockEnd,    // %}
    Name,        // identifiers and keywords (if, for, in, not, ...)
    String,      // text holds the unescaped value
    Integer,
    Float,
    Operator,    // text holds the operator: + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : | ;
    End,         // end of the template
};

struct Token {
    TokenType type;
    std::string text;
    int line = 1;    // 1-based, in the template after newline normalization
    int column = 1;  // 1-based, in bytes
    int64_t int_value = 0;
    double float_value = 0;
};

// Throws SyntaxError (with line and column) for an unclosed tag, comment or string, or a stray character.
std::vector<Token> tokenize(std::string_view source);

}  // namespace spool::jinja
