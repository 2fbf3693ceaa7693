// Byte counts in error messages about memory, as whole MiB rounded up ("needs 513 MiB, 512 MiB free").
// C++17-clean so CUDA sources can include it.
#pragma once

#include <cstdint>
#include <string>

namespace spool {

inline std::string mib_text(uint64_t bytes) { return std::to_string((bytes + (uint64_t{1} << 20) - 1) >> 20) + " MiB"; }

}  // namespace spool
