// The -ngl stage plan (llama.cpp: layers >= n_layer - n_gpu_layers are offloaded).
#include "runtime/layer_split.h"

#include "spool/errors.h"

namespace spool::runtime {

std::vector<StagePlan> plan_stages(const EngineOptions& options, int64_t n_layer) {
    const int n = options.n_gpu_layers;
    if (n < -1) {
        throw UsageError("-ngl " + std::to_string(n) +
                         " is not a layer count: give the number of layers for the GPU (the last ones), or leave "
                         "-ngl out (or -1) for all of them");
    }
    const bool splits = options.backend == "cuda" || !options.cpu_layers_backend.empty();
    const std::string cpu_backend = options.cpu_layers_backend.empty() ? "cpu" : options.cpu_layers_backend;
    if (!splits || n < 0 || n >= n_layer) return {StagePlan{options.backend, 0}};
    if (n == 0) {
        throw UsageError("-ngl 0 puts no layer on the " + options.backend + " backend: use --backend " + cpu_backend +
                         " (or leave -ngl out with --backend " + options.backend + ")");
    }
    return {StagePlan{cpu_backend, 0}, StagePlan{options.backend, n_layer - n}};
}

}  // namespace spool::runtime
