// The backend registry: name -> constructor. CUDA joins this table when its backend class exists.
#include "backend/registry.h"

#include <cstdlib>

#include "backend/cpu/backend_cpu.h"
#ifdef SPOOL_HAVE_CUDA
#include "backend/cuda/backend_cuda.h"
#include "backend/cuda/device_info.h"
#endif
#include "backend/ref/backend_ref.h"
#include "spool/errors.h"

namespace spool {

// cuda is listed only where this build has it and a device is present, so callers (parity tests, sweeps) can
// iterate over the list without special cases.
std::vector<std::string> available_backends() {
    std::vector<std::string> names{"cpu", "ref"};
#ifdef SPOOL_HAVE_CUDA
    if (!cuda::list_devices().empty()) names.emplace_back("cuda");
#endif
    return names;
}

std::unique_ptr<Backend> make_backend(std::string_view name, const BackendOptions& options) {
    if (name == "cpu") {
        std::string isa = options.cpu_isa;
        if (isa.empty()) {
            const char* env = std::getenv("SPOOL_CPU_ISA");
            if (env != nullptr) isa = env;
        }
        return std::make_unique<CpuBackend>(CpuBackendOptions{options.n_threads, isa});
    }
    if (name == "ref") return std::make_unique<RefBackend>();
    if (name == "cuda") {
#ifdef SPOOL_HAVE_CUDA
        return cuda::make_cuda_backend(cuda::CudaBackendOptions{options.cuda_device, true});
#else
        throw UnsupportedError("backend 'cuda' is not in this build (configured without SPOOL_CUDA: nvcc was not "
                               "found); available backends: cpu, ref");
#endif
    }
    std::string names;
    for (const std::string& n : available_backends()) names += (names.empty() ? "" : ", ") + n;
    throw UnsupportedError("unknown backend '" + std::string(name) + "'; available backends: " + names);
}

}  // namespace spool
