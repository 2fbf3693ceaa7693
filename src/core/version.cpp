// spool's version string, for --version and benchmark records.
#include "core/version.h"

namespace spool {
std::string_view version() noexcept { return "0.1.0"; }
}  // namespace spool
