// -ngl as llama.cpp reads it: which backend runs which layers of a model. The last n layers (and the output
// head) go to the offload backend, the first n_layer - n (and the token embedding) stay on the CPU.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spool/engine.h"

namespace spool::runtime {

// One backend's share: layers [layer_begin, the next stage's layer_begin, or n_layer for the last).
struct StagePlan {
    std::string backend;
    int64_t layer_begin = 0;
};

// One stage (options.backend, every layer) unless options ask for a split (EngineOptions::n_gpu_layers):
// then two, cpu_layers_backend (or "cpu") first. Throws UsageError for n_gpu_layers < -1, and for 0 where it
// would split (no layer left for the offload backend: the message names the backend to use instead).
std::vector<StagePlan> plan_stages(const EngineOptions& options, int64_t n_layer);

}  // namespace spool::runtime
