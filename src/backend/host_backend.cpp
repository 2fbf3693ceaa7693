// Host memory for the ref and cpu backends: aligned_alloc, memcpy, and sysinfo(2) for capacity.
#include "backend/host_backend.h"

#include <sys/sysinfo.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/ref/ops.h"
#include "spool/errors.h"

namespace spool {

MemoryInfo HostBackend::memory() const {
    struct sysinfo info {};
    if (sysinfo(&info) != 0) return {};
    MemoryInfo m;
    m.free_bytes = static_cast<uint64_t>(info.freeram + info.bufferram) * info.mem_unit;
    m.total_bytes = static_cast<uint64_t>(info.totalram) * info.mem_unit;
    return m;
}

Buffer HostBackend::allocate(size_t bytes) {
    // 64-byte alignment makes every SIMD load legal and keeps rows off shared cache lines.
    constexpr size_t kAlign = 64;
    const size_t rounded = bytes == 0 ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign;
    void* data = std::aligned_alloc(kAlign, rounded);
    if (data == nullptr) {
        const MemoryInfo m = memory();
        throw ResourceError(name() + " backend: cannot allocate " + std::to_string(bytes) + " bytes of host memory (" +
                                std::to_string(m.free_bytes) + " free); use a smaller context or batch",
                            bytes, m.free_bytes);
    }
    return make_buffer(data, bytes);
}

void HostBackend::upload(void* dst, const void* host_src, size_t bytes) {
    if (bytes != 0 && dst != host_src) std::memcpy(dst, host_src, bytes);
}

void HostBackend::download(void* host_dst, const void* src, size_t bytes) {
    if (bytes != 0 && host_dst != src) std::memcpy(host_dst, src, bytes);
}

Buffer HostBackend::register_host(void* host_ptr, size_t bytes) { return make_buffer(host_ptr, bytes, true); }

void HostBackend::release(void* data, size_t, bool host_registration) noexcept {
    if (!host_registration) std::free(data);
}

void HostBackend::top_k(const float* x, int64_t n_rows, int64_t n, int k, float* values, int32_t* ids,
                        double* lse) {
    kernels::ref::top_k(x, n_rows, n, k, values, ids, lse);
}

}  // namespace spool
