// The fp16 -> float table of fp16_table.h, filled from core/half.h (built without ISA flags).
#include "backend/cpu/kernels/fp16_table.h"

#include <array>

#include "core/half.h"

namespace spool::cpu {

const float* fp16_table() noexcept {
    static const std::array<float, 65536> table = [] {
        std::array<float, 65536> t{};
        for (uint32_t h = 0; h < 65536; ++h) t[h] = half_to_float(static_cast<uint16_t>(h));
        return t;
    }();
    return table.data();
}

}  // namespace spool::cpu
