// KV cache allocation: one backend buffer split into per-layer key and value planes.
#include "runtime/kv_cache.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "quant/types.h"
#include "spool/errors.h"

namespace spool::runtime {
namespace {

// The cache types of kKvCacheTypes that `backend` keeps for both halves alike, as -ctk spells them ("f32, f16, ...").
std::string kept_types(const Backend& backend) {
    std::string names;
    for (const auto& [type, name] : kKvCacheTypes) {
        if (!backend.supports_kv_cache(type, type)) continue;
        names += (names.empty() ? "" : ", ") + std::string(name);
    }
    return names;
}

// The pairs of different types of kKvCacheTypes that `backend` keeps ("q8_0 keys with q4_0 values, ..."); empty
// where it keeps one type for both halves only.
std::string kept_pairs(const Backend& backend) {
    std::string names;
    for (const auto& [k, k_name] : kKvCacheTypes) {
        for (const auto& [v, v_name] : kKvCacheTypes) {
            if (k == v || !backend.supports_kv_cache(k, v)) continue;
            names += (names.empty() ? "" : ", ") + std::string(k_name) + " keys with " + std::string(v_name) +
                     " values";
        }
    }
    return names;
}

std::string cache_type_name(GgmlType type) {
    for (const auto& [t, name] : kKvCacheTypes) {
        if (t == type) return name;
    }
    return std::string(type_info(type).name);
}

}  // namespace

std::string kv_cache_type_names() {
    std::string names;
    for (const auto& [type, name] : kKvCacheTypes) names += (names.empty() ? "" : ", ") + std::string(name);
    return names;
}

std::string kv_cache_text(std::string_view k, std::string_view v) {
    const auto same_letter = [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
    };
    if (v.empty() || std::ranges::equal(k, v, same_letter)) return std::string(k);
    return "K " + std::string(k) + ", V " + std::string(v);
}

KvCache::KvCache(Backend& backend, int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t n_ctx,
                 GgmlType k_type, GgmlType v_type)
    : n_ctx_(n_ctx) {
    if (!backend.supports_kv_cache(k_type, v_type)) {
        const bool each_kept = backend.supports_kv_cache(k_type, k_type) && backend.supports_kv_cache(v_type, v_type);
        const std::string what = k_type == v_type ? "a KV cache of type " + cache_type_name(k_type)
                                                  : "keys of type " + cache_type_name(k_type) +
                                                        " beside values of type " + cache_type_name(v_type);
        const std::string pairs = kept_pairs(backend);
        std::string pair_text;
        if (each_kept && k_type != v_type) {
            pair_text = pairs.empty() ? "; it keeps one type for both (-ctk equal to -ctv)"
                                      : "; besides one type for both, it keeps " + pairs;
        }
        throw UnsupportedError("the " + backend.name() + " backend cannot keep " + what + pair_text +
                               "; KV cache types it keeps: " + kept_types(backend));
    }
    for (const GgmlType type : {k_type, v_type}) {
        const TypeInfo& info = type_info(type);
        if (head_dim % info.block_size != 0) {
            throw UnsupportedError("a " + cache_type_name(type) +
                                   " KV cache needs the head size to be a multiple of " +
                                   std::to_string(info.block_size) + ", but this model's is " +
                                   std::to_string(head_dim) + "; use an f16 or f32 cache");
        }
    }
    const int64_t row_width = n_head_kv * head_dim;
    const size_t k_row = row_bytes(k_type, row_width), v_row = row_bytes(v_type, row_width);
    auto plane_bytes = [&](size_t row) { return (row * static_cast<size_t>(n_ctx) + 63) / 64 * 64; };
    const size_t k_plane = plane_bytes(k_row), v_plane = plane_bytes(v_row);  // 64-byte aligned planes
    buffer_ = backend.allocate((k_plane + v_plane) * static_cast<size_t>(n_layer));
    auto* base = static_cast<uint8_t*>(buffer_.data());
    for (int64_t l = 0; l < n_layer; ++l) {
        KvView view;
        view.k = base + (k_plane + v_plane) * static_cast<size_t>(l);
        view.v = static_cast<uint8_t*>(view.k) + k_plane;
        view.type = k_type;
        view.n_ctx = n_ctx;
        view.row_width = row_width;
        view.row_bytes = k_row;
        view.v_type = v_type;
        view.v_row_bytes = v_row;
        layers_.push_back(view);
    }
}

}  // namespace spool::runtime
