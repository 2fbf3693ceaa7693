// The KV cache of one sequence: per layer, one row of keys and one of values per position, in backend memory,
// stored as F32, F16 (default), Q8_0 or Q4_0.
#pragma once

#include <cstdint>
#include <string>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "quant/type_ids.h"

namespace spool::runtime {

// The KV cache types, in spool/session.h KvCacheType's order, with the names --cache-type-k and -ctk take.
struct KvCacheTypeName {
    GgmlType type;
    const char* name;
};
inline constexpr KvCacheTypeName kKvCacheTypes[] = {
    {GgmlType::F32, "f32"}, {GgmlType::F16, "f16"}, {GgmlType::Q8_0, "q8_0"}, {GgmlType::Q4_0, "q4_0"}};
// Their names for messages: "f32, f16, q8_0, q4_0".
std::string kv_cache_type_names();

class KvCache {
public:
    // Throws UnsupportedError when the backend lacks `type` for attention or a head is not a whole number of
    // the type's blocks (Q8_0 and Q4_0 need head_dim % 32 == 0); ResourceError when the memory cannot be allocated.
    KvCache(Backend& backend, int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t n_ctx, GgmlType type);

    std::span<const KvView> layers() const noexcept { return layers_; }  // [n_layer]
    int64_t n_ctx() const noexcept { return n_ctx_; }
    GgmlType type() const noexcept { return type_; }
    size_t bytes() const noexcept { return buffer_.bytes(); }

private:
    int64_t n_ctx_;
    GgmlType type_;
    Buffer buffer_;               // all layers: [n_layer][2][n_ctx][row_bytes]
    std::vector<KvView> layers_;
};

}  // namespace spool::runtime
