// Runs llama-bench-style tests on BenchTargets: for each test a warm-up (the prompt, then one generated token),
// then `reps` timed samples of [prompt prefill][n_gen single-token decodes], with any depth prefilled untimed.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "bench/llama_bench.h"
#include "bench/result.h"
#include "bench/target.h"

namespace spool::bench {

// Loads the target for a test; called again only when model, backend or thread count change.
using InstanceLoader = std::function<std::unique_ptr<BenchTarget>(const LlamaBenchInstance&)>;

// Runs every test of make_llama_bench_instances(params) in order and passes the printer's text to `emit`
// (header first, each test as it finishes, footer last). Throws UsageError for reps < 1 or negative sizes, and
// whatever the target throws (UnsupportedError for a -ctk/-ctv pair its backend does not keep).
void run_llama_bench(const LlamaBenchParams& params, const InstanceLoader& load, const BuildInfo& build,
                     LlamaBenchPrinter& printer, const std::function<void(const std::string&)>& emit,
                     bool progress);

}  // namespace spool::bench
