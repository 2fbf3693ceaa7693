// A compiled Jinja template: spool's own interpreter for the Jinja subset that Hugging Face chat templates use,
// rendered with HF's environment (trim_blocks, lstrip_blocks, loop controls, raise_exception, strftime_now, and
// a tojson that keeps non-ASCII and HTML characters).
#pragma once

#include "tokenizer/jinja/value.h"

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace spool::jinja {

struct Program;

struct RenderOptions {
    std::optional<std::tm> now;  // the time strftime_now() formats; unset: the local time at the call
};

class Template {
public:
    // Throws SyntaxError with the line and column of the problem.
    static Template parse(std::string_view source);

    // Renders with `context` (a dict Value) as the template's variables. Throws RenderError for type errors and
    // undefined values used where a real value is needed, RaisedError when the template calls raise_exception().
    std::string render(const Value& context, const RenderOptions& options = {}) const;

private:
    explicit Template(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
    std::shared_ptr<const Program> program_;
};

}  // namespace spool::jinja
