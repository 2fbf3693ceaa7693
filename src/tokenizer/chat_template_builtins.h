// The builtin chat templates (chat_template_builtins.cpp): Jinja sources written for spool that produce the
// published prompt formats of common model families.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spool {

std::optional<std::string_view> builtin_chat_template_source(std::string_view name);
std::vector<std::string> builtin_chat_template_names();

}  // namespace spool
