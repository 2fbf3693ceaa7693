// What one `spool bench` run measured, with everything needed to reproduce and judge it: the model, the device,
// the machine, the build, the settings, every sample, and the quality tokens.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/machine.h"
#include "bench/model_info.h"
#include "bench/stats.h"
#include "bench/target.h"

namespace spool::bench {

struct BuildInfo {
    std::string version = "unknown";  // SPOOL_VERSION of the executable
    std::string commit = "unknown";   // SPOOL_GIT_COMMIT of the executable
};

struct MachineInfo {
    std::string cpu;         // /proc/cpuinfo model name
    unsigned logical_cpus = 0;
    std::string os;
};
MachineInfo describe_machine();

struct BenchSettings {
    int n_prompt = 512;        // prompt tokens per prefill
    int n_gen = 128;           // tokens decoded after the first one
    int reps = 5;              // measured repetitions (a warm-up run comes first and is excluded)
    int64_t batch_size = 512;  // prefill chunk
    std::string kv_type = "f16";
    std::string kv_type_v = ""; // -ctv where it differs from kv_type (-ctk); "" = kv_type
    int n_gpu_layers = -1;     // -ngl as given (-1: not given, every layer on the backend)
    bool drop_cache = false;   // posix_fadvise(DONTNEED) on the model file before the first load
    bool reload = true;        // time `reps` reloads after the runs (warm page cache)
    bool progress = true;      // progress bar on stderr (still silent when stderr is not a terminal)
};

// The bandwidth the roofline divides by, and where it came from.
struct Bandwidth {
    double gb_per_s = 0;  // 1e9 bytes/s
    std::string source;   // "user (--bandwidth-gbs)" or "measured: 4 threads, best of 5 passes over 512 MiB"
};

struct BenchResult {
    std::string timestamp;  // UTC, ISO 8601
    BuildInfo build;
    MachineInfo machine;
    ModelInfo model;
    DeviceInfo device;
    BenchSettings settings;

    Residency residency_before;  // the model file's pages in the page cache before the first load
    Residency residency_after;   // after the runs
    bool cache_dropped = false;
    double first_load_ms = 0;
    std::vector<double> reload_ms;  // warm reloads
    double warmup_prefill_ms = 0;   // the excluded warm-up prefill (after a cold load it includes page faults)

    std::vector<double> prefill_ms, prefill_tok_s;  // per repetition
    std::vector<double> ttft_ms;                    // prefill + first sampled token
    std::vector<double> decode_ms, decode_tok_s;    // n_gen decode steps, each with its greedy sample
    // The same steps without the sampling: forward passes only (what memory bandwidth bounds), and the
    // mean time one greedy sample took.
    std::vector<double> forward_tok_s;
    std::vector<double> sample_ms_per_token;
    // GPU backends: the mean device time of a decode step, per repetition (from its launch to its end); the forward
    // time per token minus it is the host work and launch latency the device waited for.
    std::vector<double> step_device_ms;

    uint64_t peak_rss_bytes = 0;                   // VmHWM after the runs, before reloads
    std::optional<uint64_t> peak_device_bytes;     // GPU memory in use, highest sample

    std::vector<int32_t> quality_prompt_ids;
    std::vector<int32_t> quality_ids;              // kQualityTokens greedy ids
    std::vector<std::string> quality_pieces;       // their text
    uint64_t quality_hash = 0;

    std::optional<Bandwidth> bandwidth;

    Stats load_stats() const { return summarize(reload_ms); }
    Stats prefill_stats() const { return summarize(prefill_tok_s); }
    Stats decode_stats() const { return summarize(decode_tok_s); }
    Stats forward_stats() const { return summarize(forward_tok_s); }
    Stats ttft_stats() const { return summarize(ttft_ms); }
    // GPU backends, per repetition: a decode step's device time, and the forward time per token beyond it (us).
    std::vector<double> step_device_us() const {
        std::vector<double> us;
        for (const double ms : step_device_ms) us.push_back(1000.0 * ms);
        return us;
    }
    std::vector<double> step_host_us() const {
        std::vector<double> us;
        if (step_device_ms.size() != forward_tok_s.size()) return us;
        for (size_t i = 0; i < forward_tok_s.size(); ++i) {
            us.push_back(1e6 / forward_tok_s[i] - 1000.0 * step_device_ms[i]);
        }
        return us;
    }
    // Prefill chunks per repetition: each reads every weight once.
    int64_t prefill_chunks() const {
        return settings.batch_size > 0 ? (settings.n_prompt + settings.batch_size - 1) / settings.batch_size : 0;
    }
};

}  // namespace spool::bench
