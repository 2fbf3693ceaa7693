// Checks that a tool can create its output file, so a bad path fails before minutes of work, not after.
#pragma once

#include <filesystem>

namespace spool::tools {

// Throws UsageError if `out` is a directory or the same file as `in` (when given), and SystemError if its
// directory does not exist or is not writable.
void check_output_path(const std::filesystem::path& out, const std::filesystem::path& in = {});

}  // namespace spool::tools
