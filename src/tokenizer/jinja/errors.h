// Errors of the Jinja interpreter. All are spool::UsageError: a chat template is user input (GGUF metadata or a
// --chat-template file), and the fix is a different template or conversation.
#pragma once

#include "spool/errors.h"

#include <string>

namespace spool::jinja {

// The template text is not valid Jinja (or uses a tag spool does not implement). Line and column are 1-based.
class SyntaxError : public UsageError {
public:
    // `where` names the template's origin (a file path, "GGUF metadata"); empty when unknown.
    SyntaxError(int line, int column, const std::string& problem, const std::string& where = {})
        : UsageError("chat template syntax error" + (where.empty() ? std::string() : " in " + where) + " at line " +
                     std::to_string(line) + ", column " + std::to_string(column) + ": " + problem),
          line_(line), column_(column), problem_(problem) {}
    int line() const noexcept { return line_; }
    int column() const noexcept { return column_; }
    const std::string& problem() const noexcept { return problem_; }

private:
    int line_, column_;
    std::string problem_;
};

// Rendering failed: a type error, an undefined value used where a real one is needed, a bad filter argument.
class RenderError : public UsageError {
public:
    RenderError(int line, int column, const std::string& problem)
        : UsageError("chat template error at line " + std::to_string(line) + ", column " + std::to_string(column) +
                     ": " + problem),
          line_(line), column_(column) {}
    int line() const noexcept { return line_; }
    int column() const noexcept { return column_; }

private:
    int line_, column_;
};

// The template called raise_exception(message): it rejects the conversation (for example a wrong role order).
class RaisedError : public UsageError {
public:
    explicit RaisedError(const std::string& message)
        : UsageError("the chat template rejected the conversation: " + message), message_(message) {}
    const std::string& template_message() const noexcept { return message_; }

private:
    std::string message_;
};

}  // namespace spool::jinja
