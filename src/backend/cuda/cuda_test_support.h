// Helpers for GPU tests: skip cleanly where no GPU exists (CI), and RAII device arrays for test data.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_info.h"

// Skips the test (with the reason in the log) on machines without a CUDA device or driver.
#define SPOOL_REQUIRE_GPU()                                                                                   \
    do {                                                                                                      \
        if (::spool::cuda::list_devices().empty())                                                            \
            GTEST_SKIP() << "no CUDA device here: GPU tests run on the device machine (scripts/device.sh)";   \
    } while (0)

namespace spool::cuda::gpu_test {

// n elements of T in device memory, freed on destruction; upload/download are synchronous.
template <class T>
class DeviceVector {
public:
    explicit DeviceVector(size_t n) : n_(n) { SPOOL_CUDA_CHECK(cudaMalloc(&data_, std::max<size_t>(n, 1) * sizeof(T))); }
    explicit DeviceVector(std::span<const T> host) : DeviceVector(host.size()) { upload(host); }
    explicit DeviceVector(const std::vector<T>& host) : DeviceVector(std::span<const T>(host)) {}
    DeviceVector(const DeviceVector&) = delete;
    DeviceVector& operator=(const DeviceVector&) = delete;
    DeviceVector(DeviceVector&& other) noexcept : data_(std::exchange(other.data_, nullptr)), n_(other.n_) {}
    DeviceVector& operator=(DeviceVector&&) = delete;
    ~DeviceVector() { cudaFree(data_); }

    T* data() const noexcept { return data_; }
    size_t size() const noexcept { return n_; }
    void upload(std::span<const T> host) {
        SPOOL_CUDA_CHECK(cudaMemcpy(data_, host.data(), host.size_bytes(), cudaMemcpyHostToDevice));
    }
    std::vector<T> download() const {
        std::vector<T> out(n_);
        SPOOL_CUDA_CHECK(cudaDeviceSynchronize());
        SPOOL_CUDA_CHECK(cudaMemcpy(out.data(), data_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
        return out;
    }

private:
    T* data_ = nullptr;
    size_t n_;
};

}  // namespace spool::cuda::gpu_test
