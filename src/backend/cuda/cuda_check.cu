// Formats CUDA errors for SPOOL_CUDA_CHECK.
#include "backend/cuda/cuda_check.h"

namespace spool::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
    int device = -1;
    cudaGetDevice(&device);  // best effort: the device the failing call ran on
    throw Error(std::string("CUDA call ") + call + " failed at " + file + ":" + std::to_string(line) + " on device " +
                std::to_string(device) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

}  // namespace spool::cuda
