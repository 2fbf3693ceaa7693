// The memory half of the Backend interface for backends that compute on host memory (ref, cpu):
// 64-byte aligned allocations, memcpy uploads, no-op registration and synchronization; plus top_k, which
// sampling runs once per token and which neither backend needs its own kernel for.
#pragma once

#include "backend/backend.h"

namespace spool {

class HostBackend : public Backend {
public:
    MemoryInfo memory() const override;  // free and total RAM, from sysinfo(2)
    bool uses_host_memory() const override { return true; }
    // The cpu and ref kernels convert keys and values each by its own type, so any two kept types pair.
    bool supports_kv_cache(GgmlType k, GgmlType v) const override {
        return Backend::supports_kv_cache(k, k) && Backend::supports_kv_cache(v, v);
    }
    Buffer allocate(size_t bytes) override;  // throws ResourceError
    void upload(void* dst, const void* host_src, size_t bytes) override;
    void download(void* host_dst, const void* src, size_t bytes) override;
    Buffer register_host(void* host_ptr, size_t bytes) override;  // nothing to pin: a non-owning Buffer
    void synchronize() override {}
    // A heap of k candidates per row (kernels/ref/top_k.cpp): O(n log k), no allocation.
    void top_k(const float* x, int64_t n_rows, int64_t n, int k, float* values, int32_t* ids, double* lse) override;

protected:
    void release(void* data, size_t bytes, bool host_registration) noexcept override;
};

}  // namespace spool
