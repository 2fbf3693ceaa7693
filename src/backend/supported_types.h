// Which (op, type) pairs the host backends handle: weights of any type the quant table can dequantize and
// dot, and KV caches of F32, F16, Q8_0 or Q4_0. Other ops take float32 only.
#pragma once

#include "backend/backend.h"

namespace spool {

bool host_supports(Op op, GgmlType type) noexcept;

}  // namespace spool
