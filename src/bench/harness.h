// The `spool bench` measurement: load (cold or warm page cache told apart), a warm-up run, `reps` timed runs of
// prefill + first token + decode, the quality-hash run, peak memory, and timed reloads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "bench/result.h"
#include "bench/target.h"

namespace spool::bench {

// Deterministic prompt tokens for timing: BOS (when the vocabulary adds one) then splitmix64 draws in
// [0, n_vocab) from a fixed seed, so every run and every build prefills the same ids.
std::vector<int32_t> timing_prompt(int32_t n_vocab, int32_t bos, int n_tokens);

// Runs the benchmark. `model_path` is the file whose page-cache residency is reported (and dropped with
// settings.drop_cache); pass an empty path to skip those checks (a fake target). Throws UsageError for
// n_prompt < 1, n_gen < 1 or reps < 1, and whatever the target throws.
BenchResult run_bench(const TargetLoader& load, const std::filesystem::path& model_path,
                      const BenchSettings& settings, const BuildInfo& build);

}  // namespace spool::bench
