// The BenchTarget for spool itself: an Engine (mapped GGUF, tokenizer, backend, bound weights) and one Session.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "bench/target.h"

namespace spool::bench {

struct EngineTargetOptions {
    std::filesystem::path model_path;
    std::string backend = "cpu";  // "cpu", "ref", "cuda"
    size_t n_threads = 0;         // 0: one per hardware thread
    std::string cpu_isa;          // "" = $SPOOL_CPU_ISA or the best this CPU runs
    int n_gpu_layers = -1;        // as EngineOptions (-ngl): with "cuda", the last N layers on the GPU
};

// Loads the model (the Engine constructor: map, tokenizer, backend, weights). Throws what Engine throws.
std::unique_ptr<BenchTarget> load_engine_target(const EngineTargetOptions& options);

}  // namespace spool::bench
