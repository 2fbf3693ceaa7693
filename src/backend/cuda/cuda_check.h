// Checked CUDA runtime calls: a failure throws spool::Error naming the call, file:line, the error and the device.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "spool/errors.h"

namespace spool::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);

}  // namespace spool::cuda

// A macro only because the message needs the call's text and __FILE__/__LINE__.
#define SPOOL_CUDA_CHECK(call)                                                           \
    do {                                                                                 \
        const cudaError_t spool_cuda_err_ = (call);                                      \
        if (spool_cuda_err_ != cudaSuccess)                                              \
            ::spool::cuda::throw_cuda_error(spool_cuda_err_, #call, __FILE__, __LINE__); \
    } while (0)
