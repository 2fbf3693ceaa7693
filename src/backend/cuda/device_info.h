// Which CUDA devices this machine has. A machine without a GPU or driver has none: that is not an error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spool::cuda {

struct DeviceInfo {
    int index;
    std::string name;
    int sm_major, sm_minor;
    uint64_t total_bytes;
    int multiprocessors;
    std::string driver;  // driver version, "13.0" style
};

// Empty when no device or no driver is present.
std::vector<DeviceInfo> list_devices();

// Streaming multiprocessors of the calling thread's current device (for grid sizing). Throws spool::Error on a CUDA
// failure.
int current_device_sm_count();

// Launches a small kernel on `device` (out[i] = a[i] + b[i] over n elements) and returns the result:
// proves that code compiled here runs there. Throws spool::Error on any CUDA failure.
std::vector<float> add_vectors_on_device(int device, const std::vector<float>& a, const std::vector<float>& b);

}  // namespace spool::cuda
