// Prompts for `spool sweep`: a small built-in set, or a file (JSON array of strings or {"id", "text"} objects,
// or plain text with one prompt per non-empty line; lines starting with '#' are comments).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace spool::bench {

struct Prompt {
    std::string id;
    std::string text;
};

std::vector<Prompt> builtin_prompts();  // three prompts of increasing length: short, medium, long
// "builtin" or a path. Throws UsageError for an empty set, SystemError when the file cannot be read,
// FormatError for malformed JSON.
std::vector<Prompt> load_prompts(const std::string& spec);
std::vector<Prompt> parse_prompts(const std::string& text, bool json, const std::string& name);

}  // namespace spool::bench
