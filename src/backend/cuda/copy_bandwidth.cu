// measure_copy_bandwidth: best of several cudaMemcpyAsync device-to-device passes after a warm-up.
#include "backend/cuda/copy_bandwidth.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "backend/cuda/cuda_check.h"

namespace spool::cuda {
namespace {

struct DeviceBytes {
    void* ptr = nullptr;
    explicit DeviceBytes(uint64_t n) { SPOOL_CUDA_CHECK(cudaMalloc(&ptr, n)); }
    ~DeviceBytes() { cudaFree(ptr); }
    DeviceBytes(const DeviceBytes&) = delete;
    DeviceBytes& operator=(const DeviceBytes&) = delete;
};

struct Event {
    cudaEvent_t e = nullptr;
    Event() { SPOOL_CUDA_CHECK(cudaEventCreate(&e)); }
    ~Event() { cudaEventDestroy(e); }
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
};

}  // namespace

CopyBandwidth measure_copy_bandwidth(int device, uint64_t bytes, int passes) {
    SPOOL_CUDA_CHECK(cudaSetDevice(device));
    DeviceBytes src(bytes), dst(bytes);
    SPOOL_CUDA_CHECK(cudaMemset(src.ptr, 1, bytes));
    Event start, stop;
    SPOOL_CUDA_CHECK(cudaMemcpy(dst.ptr, src.ptr, bytes, cudaMemcpyDeviceToDevice));  // warm-up
    float best_ms = 0;
    for (int i = 0; i < passes; ++i) {
        SPOOL_CUDA_CHECK(cudaEventRecord(start.e));
        SPOOL_CUDA_CHECK(cudaMemcpyAsync(dst.ptr, src.ptr, bytes, cudaMemcpyDeviceToDevice));
        SPOOL_CUDA_CHECK(cudaEventRecord(stop.e));
        SPOOL_CUDA_CHECK(cudaEventSynchronize(stop.e));
        float ms = 0;
        SPOOL_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e, stop.e));
        best_ms = i == 0 ? ms : std::min(best_ms, ms);
    }
    return {2.0 * static_cast<double>(bytes) / (static_cast<double>(best_ms) * 1e6), bytes, passes};
}

}  // namespace spool::cuda
