// The backend registry: name -> constructor. CUDA joins this table when its backend class exists.
#include "backend/registry.h"

#include <cstdlib>

#include "backend/cpu/backend_cpu.h"
#include "backend/ref/backend_ref.h"
#include "spool/errors.h"

namespace spool {

std::vector<std::string> available_backends() { return {"cpu", "ref"}; }

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
        // TODO(issue 5, CUDA part): construct the CUDA backend here when it implements backend.h.
        throw UnsupportedError("backend 'cuda' is not available in this build; available backends: cpu, ref");
    }
    throw UnsupportedError("unknown backend '" + std::string(name) + "'; available backends: cpu, ref");
}

}  // namespace spool
