// The CUDA backend's factory: the class itself lives in backend_cuda.cu so that callers (the registry, tests)
// need neither nvcc nor CUDA headers.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace spool::cuda {

struct CudaBackendOptions {
    int device = 0;            // CUDA device index
    bool use_graphs = true;    // replay decode steps as CUDA graphs ($SPOOL_CUDA_GRAPHS=0 turns them off)
};

// Throws UnsupportedError when the device does not exist (naming the devices found) or is older than sm_80.
std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options);

}  // namespace spool::cuda
