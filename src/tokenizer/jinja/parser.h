// Jinja parser: tokens to a Program (ast.h), with Jinja 3.1's grammar and operator precedence.
#pragma once

#include "tokenizer/jinja/ast.h"

#include <memory>
#include <string_view>

namespace spool::jinja {

// Throws SyntaxError (line, column) for invalid templates and for tags spool does not implement
// (extends, block, include, import, call, recursive loops).
std::shared_ptr<const Program> parse(std::string_view source);

}  // namespace spool::jinja
