// BenchTarget: what the harness measures, kept small so statistics, reports and files can be tested with a fake
// target and any backend can be benchmarked the same way. engine_target.h adapts spool's Engine and Session.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/model_info.h"

namespace spool::bench {

// Where the target runs, for the record.
struct DeviceInfo {
    std::string backend;      // "cpu", "ref", "cuda"
    std::string isa;          // cpu kernel set in use ("avx512"); "" elsewhere
    size_t n_threads = 0;     // threads the backend computes with (cpu: its pool, the caller included)
    std::string gpu;          // GPU name(s) when the backend is one; "" otherwise
    std::string gpu_driver;   // driver version, "" when unknown
};

// One sequence's settings; reset() starts a new, empty sequence with them.
struct SequenceOptions {
    int64_t n_ctx = 0;           // positions needed (prompt + generated + depth)
    int64_t batch_size = 512;    // prefill chunk
    std::string kv_type = "f16"; // "f32", "f16", "q8_0", "q4_0": the keys', and the values' unless kv_type_v is set
    std::string kv_type_v = "";  // the values' type (-ctv); "" = kv_type
    float temperature = 0;       // <= 0: greedy; else llama.cpp's default chain (top-k 40, top-p 0.95, min-p 0.05)
    uint64_t seed = 0;           // sampling RNG seed
};

// A loaded model that runs one sequence at a time. Calls are synchronous: when prefill/decode return, the
// logits are on the host. Methods throw spool::Error on failure.
class BenchTarget {
public:
    virtual ~BenchTarget() = default;
    virtual const ModelInfo& model() const = 0;
    virtual DeviceInfo device() const = 0;

    virtual int32_t n_vocab() const = 0;
    virtual int32_t bos() const = 0;  // -1 when the vocabulary adds none
    virtual std::vector<int32_t> tokenize(std::string_view text) const = 0;  // BOS as the vocabulary asks
    virtual std::string token_text(int32_t id) const = 0;                    // the token's piece
    virtual bool is_end_of_generation(int32_t id) const = 0;

    virtual void reset(const SequenceOptions& options) = 0;
    virtual void prefill(std::span<const int32_t> tokens) = 0;  // keeps the last row of logits
    virtual void decode(int32_t token) = 0;
    virtual int32_t sample() = 0;  // from the last logits with the options' sampler, using the sequence as history

    // Device memory in use now (GPU backends); nullopt for host backends.
    virtual std::optional<uint64_t> device_memory_used() const { return std::nullopt; }
    // Mean device time of the decode steps since the last call, in ms (GPU backends: from each step's launch to its
    // end, by events); nullopt for host backends or when no step was timed. The first call switches the timing on
    // (it adds two events to each step, so runs that never ask, as llama-bench mode, go without).
    virtual std::optional<double> take_decode_step_device_ms() { return std::nullopt; }
};

// Loads a target; the harness calls it again to time reloads.
using TargetLoader = std::function<std::unique_ptr<BenchTarget>()>;

}  // namespace spool::bench
