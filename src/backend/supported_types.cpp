// The (op, type) pairs the host backends (ref, cpu) handle, read from the quant type table.
#include "backend/supported_types.h"

#include "quant/types.h"

namespace spool {

bool host_supports(Op op, GgmlType type) noexcept {
    const TypeInfo* info = find_type_info(static_cast<uint32_t>(type));
    if (info == nullptr) return false;
    switch (op) {
        case Op::embed:
            return info->dequantize_row != nullptr;
        case Op::matmul: {
            if (info->dequantize_row == nullptr || info->vec_dot == nullptr) return false;
            const TypeInfo& act = type_info(info->vec_dot_type);
            return act.quantize_row != nullptr;
        }
        case Op::kv_append:
        case Op::attention:
            return (type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::Q8_0 ||
                    type == GgmlType::Q4_0) &&
                   info->quantize_row != nullptr && info->dequantize_row != nullptr;
        default:
            return type == GgmlType::F32;
    }
}

}  // namespace spool
