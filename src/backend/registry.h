// Picks a backend by name ("cpu", "ref", "cuda") and availability.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"

namespace spool {

struct BackendOptions {
    size_t n_threads = 0;  // cpu: worker threads, the caller included; 0 = one per hardware thread
    std::string cpu_isa;   // cpu: kernel set ("auto", "scalar", "avx2", "avx512", "amx"); "" = $SPOOL_CPU_ISA, else auto
    int cuda_device = 0;   // cuda: device index
};

// Throws UnsupportedError for an unknown name (listing the available ones), a backend this build lacks or a
// CPU kernel set this CPU cannot run; UsageError for an unknown kernel set name.
std::unique_ptr<Backend> make_backend(std::string_view name, const BackendOptions& options = {});
std::vector<std::string> available_backends();

}  // namespace spool
