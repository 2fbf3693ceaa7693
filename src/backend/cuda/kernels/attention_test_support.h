// The CUDA attention tests' and benches' host side (attention_test.cpp, attention_bench_test.cpp): a KV cache of a
// key and a value type on the host and its copy on the device, head shapes and their AttentionParams.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_test_support.h"
#include "quant/types.h"
#include "test_support.h"

namespace spool::cuda::attention_test {

// The keys' and the values' cache types.
struct CacheTypes {
    GgmlType k{}, v{};
};

inline std::string cache_text(CacheTypes types) {
    if (types.k == types.v) return std::string(type_name(types.k));
    return "K " + std::string(type_name(types.k)) + " V " + std::string(type_name(types.v));
}

// A KV cache on the host: stored bytes (what the GPU gets) and their exact dequantized values (what the float64
// reference reads). Rows at or past `filled` hold NaN, so any kernel that reads them poisons its output.
struct HostCache {
    CacheTypes types;
    int64_t n_ctx = 0, row_width = 0;
    size_t k_row_bytes = 0, v_row_bytes = 0;
    std::vector<uint8_t> k_bytes, v_bytes;
    std::vector<float> k, v;  // [n_ctx, row_width], dequantized

    void store_row(int64_t row, const float* k_src, const float* v_src) {
        const TypeInfo& k_info = type_info(types.k);
        const TypeInfo& v_info = type_info(types.v);
        uint8_t* kb = k_bytes.data() + row * k_row_bytes;
        uint8_t* vb = v_bytes.data() + row * v_row_bytes;
        k_info.quantize_row(k_src, kb, row_width);
        v_info.quantize_row(v_src, vb, row_width);
        k_info.dequantize_row(kb, k.data() + row * row_width, row_width);
        v_info.dequantize_row(vb, v.data() + row * row_width, row_width);
    }
};

inline HostCache make_cache(CacheTypes types, int64_t n_ctx, int64_t row_width, int64_t filled, uint64_t seed) {
    HostCache c;
    c.types = types;
    c.n_ctx = n_ctx;
    c.row_width = row_width;
    c.k_row_bytes = row_bytes(types.k, row_width);
    c.v_row_bytes = row_bytes(types.v, row_width);
    c.k_bytes.assign(static_cast<size_t>(n_ctx) * c.k_row_bytes, 0);
    c.v_bytes.assign(static_cast<size_t>(n_ctx) * c.v_row_bytes, 0);
    c.k.assign(static_cast<size_t>(n_ctx * row_width), 0.0f);
    c.v.assign(c.k.size(), 0.0f);
    const auto k_src = testing::random_floats(static_cast<size_t>(filled * row_width), seed);
    const auto v_src = testing::random_floats(static_cast<size_t>(filled * row_width), seed + 1);
    for (int64_t r = 0; r < filled; ++r) c.store_row(r, k_src.data() + r * row_width, v_src.data() + r * row_width);
    const std::vector<float> nan_row(static_cast<size_t>(row_width), std::numeric_limits<float>::quiet_NaN());
    for (int64_t r = filled; r < n_ctx; ++r) c.store_row(r, nan_row.data(), nan_row.data());
    return c;
}

struct DeviceCache {
    gpu_test::DeviceVector<uint8_t> k, v;
    KvView view;
    explicit DeviceCache(const HostCache& c) : k(c.k_bytes), v(c.v_bytes) {
        view.k = k.data();
        view.v = v.data();
        view.type = c.types.k;
        view.n_ctx = c.n_ctx;
        view.row_width = c.row_width;
        view.row_bytes = c.k_row_bytes;
        view.v_type = c.types.v;
        view.v_row_bytes = c.v_row_bytes;
    }
};

struct HeadShape {
    int n_head, n_head_kv, head_dim;
};

inline AttentionParams params_for(const HeadShape& s, int window) {
    AttentionParams p;
    p.n_head = s.n_head;
    p.n_head_kv = s.n_head_kv;
    p.head_dim = s.head_dim;
    p.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    p.window = window;
    return p;
}

inline std::vector<int32_t> consecutive(int32_t first, int64_t n) {
    std::vector<int32_t> p(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) p[i] = first + static_cast<int32_t>(i);
    return p;
}

}  // namespace spool::cuda::attention_test
