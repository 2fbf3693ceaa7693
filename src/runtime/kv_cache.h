// The KV cache of one sequence: per layer, one row of keys and one of values per position, in backend memory,
// stored as F32, F16 (default), Q8_0 or Q4_0; keys and values may differ in type where the backend keeps the pair
// (llama.cpp's -ctk q8_0 -ctv q4_0).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
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
// A cache as -ctk k -ctv v name it, for headers and logs: "q8_0", or "K q8_0, V q4_0" where v names another type
// (v empty: the keys' type). Names compare as parse_kv_cache_type does, case aside.
std::string kv_cache_text(std::string_view k, std::string_view v);

class KvCache {
public:
    // Keys of k_type, values of v_type. Throws UnsupportedError when the backend does not keep that pair
    // (Backend::supports_kv_cache) or a head is not a whole number of a type's blocks (Q8_0 and Q4_0 need
    // head_dim % 32 == 0); ResourceError when the memory cannot be allocated.
    KvCache(Backend& backend, int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t n_ctx, GgmlType k_type,
            GgmlType v_type);
    KvCache(Backend& backend, int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t n_ctx, GgmlType type)
        : KvCache(backend, n_layer, n_head_kv, head_dim, n_ctx, type, type) {}

    std::span<const KvView> layers() const noexcept { return layers_; }  // [n_layer]
    int64_t n_ctx() const noexcept { return n_ctx_; }
    size_t bytes() const noexcept { return buffer_.bytes(); }

private:
    int64_t n_ctx_;
    Buffer buffer_;               // all layers: [n_layer][K, V][n_ctx][that half's row bytes], planes 64-byte aligned
    std::vector<KvView> layers_;
};

}  // namespace spool::runtime
