// Lists CUDA devices and runs a self-check kernel on one.
#include "backend/cuda/device_info.h"

#include <cuda_runtime.h>

#include "backend/cuda/cuda_check.h"

namespace spool::cuda {
namespace {

__global__ void add_kernel(const float* a, const float* b, float* out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a[i] + b[i];
}

struct DeviceBuffer {
    float* ptr = nullptr;
    explicit DeviceBuffer(size_t n) { SPOOL_CUDA_CHECK(cudaMalloc(&ptr, n * sizeof(float))); }
    ~DeviceBuffer() { cudaFree(ptr); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

}  // namespace

std::vector<DeviceInfo> list_devices() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no device / no driver" error
        return {};
    }
    int driver = 0;
    cudaDriverGetVersion(&driver);
    std::vector<DeviceInfo> out;
    for (int i = 0; i < count; ++i) {
        cudaDeviceProp prop{};
        SPOOL_CUDA_CHECK(cudaGetDeviceProperties(&prop, i));
        out.push_back({i, prop.name, prop.major, prop.minor, prop.totalGlobalMem, prop.multiProcessorCount,
                       std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10)});
    }
    return out;
}

int current_device_sm_count() {
    int device = 0, sms = 0;
    SPOOL_CUDA_CHECK(cudaGetDevice(&device));
    SPOOL_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    return sms;
}

std::vector<float> add_vectors_on_device(int device, const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) throw UsageError("add_vectors_on_device: inputs differ in length");
    const int n = static_cast<int>(a.size());
    SPOOL_CUDA_CHECK(cudaSetDevice(device));
    DeviceBuffer da(a.size()), db(a.size()), dout(a.size());
    SPOOL_CUDA_CHECK(cudaMemcpy(da.ptr, a.data(), a.size() * sizeof(float), cudaMemcpyHostToDevice));
    SPOOL_CUDA_CHECK(cudaMemcpy(db.ptr, b.data(), b.size() * sizeof(float), cudaMemcpyHostToDevice));
    add_kernel<<<(n + 255) / 256, 256>>>(da.ptr, db.ptr, dout.ptr, n);
    SPOOL_CUDA_CHECK(cudaGetLastError());
    std::vector<float> out(a.size());
    SPOOL_CUDA_CHECK(cudaMemcpy(out.data(), dout.ptr, out.size() * sizeof(float), cudaMemcpyDeviceToHost));
    return out;
}

}  // namespace spool::cuda
