// KV cache allocation: one backend buffer split into per-layer key and value planes.
#include "runtime/kv_cache.h"

#include <string>

#include "quant/types.h"
#include "spool/errors.h"

namespace spool::runtime {
namespace {

// The cache types of kKvCacheTypes that `backend` keeps, as -ctk spells them ("f32, f16, ...").
std::string kept_types(const Backend& backend) {
    std::string names;
    for (const auto& [type, name] : kKvCacheTypes) {
        if (!backend.supports(Op::attention, type) || !backend.supports(Op::kv_append, type)) continue;
        names += (names.empty() ? "" : ", ") + std::string(name);
    }
    return names;
}

}  // namespace

std::string kv_cache_type_names() {
    std::string names;
    for (const auto& [type, name] : kKvCacheTypes) names += (names.empty() ? "" : ", ") + std::string(name);
    return names;
}

KvCache::KvCache(Backend& backend, int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t n_ctx, GgmlType type)
    : n_ctx_(n_ctx), type_(type) {
    const TypeInfo& info = type_info(type);
    if (!backend.supports(Op::attention, type) || !backend.supports(Op::kv_append, type)) {
        throw UnsupportedError("the " + backend.name() + " backend cannot keep a KV cache of type " +
                               std::string(info.name) + "; KV cache types it keeps: " + kept_types(backend));
    }
    if (head_dim % info.block_size != 0) {
        throw UnsupportedError("a " + std::string(info.name) + " KV cache needs the head size to be a multiple of " +
                               std::to_string(info.block_size) + ", but this model's is " + std::to_string(head_dim) +
                               "; use an f16 or f32 cache");
    }
    const int64_t row_width = n_head_kv * head_dim;
    const size_t row = row_bytes(type, row_width);
    const size_t plane = (row * static_cast<size_t>(n_ctx) + 63) / 64 * 64;  // 64-byte aligned planes
    buffer_ = backend.allocate(plane * 2 * static_cast<size_t>(n_layer));
    auto* base = static_cast<uint8_t*>(buffer_.data());
    for (int64_t l = 0; l < n_layer; ++l) {
        KvView view;
        view.k = base + plane * static_cast<size_t>(2 * l);
        view.v = base + plane * static_cast<size_t>(2 * l + 1);
        view.type = type;
        view.n_ctx = n_ctx;
        view.row_width = row_width;
        view.row_bytes = row;
        layers_.push_back(view);
    }
}

}  // namespace spool::runtime
