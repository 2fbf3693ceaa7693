// `spool sweep`: a latency study over prompts x output lengths x temperatures x runs (x models x backends).
// Each run is one real generation: prefill the prompt, sample up to max_tokens (stopping at end of generation
// unless told not to), timing the first token and the whole.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/prompts.h"
#include "bench/target.h"

namespace spool::bench {

struct SweepConfig {
    std::vector<std::string> models;
    std::vector<std::string> backends{"cpu"};
    std::vector<Prompt> prompts;
    std::vector<int> max_tokens{32, 64, 128};
    std::vector<float> temperatures{0.0f, 0.7f};
    int runs = 3;
    uint64_t seed = 1;         // run r samples with seed + r
    bool ignore_eos = false;   // generate exactly max_tokens
    int64_t batch_size = 512;
    bool progress = true;
};

struct SweepRow {
    std::string model;       // file name
    std::string backend;
    std::string prompt_id;
    int prompt_tokens = 0;
    int max_tokens = 0;
    float temperature = 0;
    int run = 0;             // 1-based
    double latency_s = 0;    // prefill + every generated token
    double ttft_s = 0;       // prefill + first token
    int tokens_out = 0;
    double tok_s = 0;        // tokens_out / latency_s
    double decode_tok_s = 0; // (tokens_out - 1) / (latency_s - ttft_s); 0 when one token
    std::string stop;        // "length" or "eog"
};

// Loads the target for (model path, backend).
using SweepLoader = std::function<std::unique_ptr<BenchTarget>(const std::string& model, const std::string& backend)>;

// Total generations the sweep will run.
size_t sweep_size(const SweepConfig& c);
// Runs the sweep. Order: model, backend, then run-major (run, prompt, max_tokens, temperature), so slow drift of
// the machine spreads over all settings instead of landing on one. Each target gets one excluded warm-up
// generation. Throws UsageError for an empty axis or values out of range, and whatever the target throws.
// `devices`, when given, receives one line per loaded target: "a.gguf / cpu: cpu (avx2), 2 threads".
std::vector<SweepRow> run_sweep(const SweepConfig& c, const SweepLoader& load,
                                std::vector<std::string>* devices = nullptr);

}  // namespace spool::bench
