// fp16 -> float for every one of the 65536 bit patterns, built once (function-local static, thread-safe init).
// Kernels read block scales through it: a broadcast load from the table costs a load port and no vector ALU
// work, where F16C needs a GPR -> vector move and a conversion per scale (Q4_0 on AVX2 from L2: +12%). Real
// weights use few distinct scales, so the few table lines they touch stay cached.
#pragma once

#include <cstdint>

namespace spool::cpu {

// [65536] floats; table[h] == half_to_float(h) bit for bit (NaN payloads included).
const float* fp16_table() noexcept;

}  // namespace spool::cpu
