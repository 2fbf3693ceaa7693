// spool's version (the git commit is compiled into the executable, see src/tools/main.cpp).
#pragma once
#include <string_view>

namespace spool {
std::string_view version() noexcept;
}  // namespace spool
