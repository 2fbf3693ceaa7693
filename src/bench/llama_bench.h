// llama-bench-compatible tests and output, so spool's numbers line up with llama-bench's row for row.
// Field names, order, value formats and test names follow llama.cpp's examples/llama-bench/llama-bench.cpp at
// snapshot c392e50 (2025-02-20, build 4748). Depth (-d) came to llama-bench later; with a depth other than 0
// spool adds an n_depth column after n_gen and the " @ d<N>" test-name suffix, as later llama-bench does.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace spool::bench {

// The CSV/JSON fields of llama-bench c392e50, in order (32 columns).
const std::vector<std::string>& llama_bench_fields();
// The fields spool prints: llama_bench_fields(), plus "n_depth" after "n_gen" when with_depth.
std::vector<std::string> llama_bench_output_fields(bool with_depth);

struct LlamaBenchParams {
    std::vector<std::string> models;
    std::vector<std::string> backends{"cpu"};  // spool's backend per test (llama-bench has one per build)
    std::vector<int> n_prompt{512};
    std::vector<int> n_gen{128};
    std::vector<std::pair<int, int>> n_pg;     // -pg pp,tg: prompt then generation, timed together
    std::vector<int> n_depth{0};               // tokens already in the cache before the timed part
    std::vector<int> n_batch{2048};
    std::vector<int> n_ubatch{512};
    std::vector<std::string> type_k{"f16"}, type_v{"f16"};
    std::vector<int> n_threads;                // default: one per logical CPU
    std::vector<int> n_gpu_layers{99};
    int reps = 5;
    std::string output = "md";                 // md, csv, json, jsonl
};

// One test: a point of the cross product of every flag's values.
struct LlamaBenchInstance {
    std::string model;
    std::string backend;
    int n_prompt = 0, n_gen = 0, n_depth = 0;
    int n_batch = 0, n_ubatch = 0;
    std::string type_k, type_v;
    int n_threads = 0;
    int n_gpu_layers = 0;
};

// The cross product in llama-bench's order: model, backend, n_gpu_layers, n_batch, n_ubatch, type_k, type_v,
// n_threads, n_depth; then within each, the -p tests, the -n tests, and the -pg tests (zero entries skipped).
std::vector<LlamaBenchInstance> make_llama_bench_instances(const LlamaBenchParams& p);

// "pp512", "tg128", "pp512+tg128", with " @ d4096" when n_depth > 0.
std::string llama_bench_test_name(int n_prompt, int n_gen, int n_depth);

// One finished test with what llama-bench records about it.
struct LlamaBenchTest {
    LlamaBenchInstance inst;
    std::string build_commit;
    int build_number = 0;
    std::string cpu_info, gpu_info;
    std::string model_type;      // "llama 1B Q4_K - Medium"
    uint64_t model_size = 0;     // bytes of all tensors
    uint64_t model_n_params = 0;
    std::string test_time;       // "2025-02-20T12:00:00Z"
    std::vector<uint64_t> samples_ns;

    uint64_t avg_ns() const;
    uint64_t stddev_ns() const;
    std::vector<double> samples_ts() const;  // (n_prompt + n_gen) / t per sample
    double avg_ts() const;
    double stddev_ts() const;
    std::vector<std::string> values(bool with_depth) const;  // in llama_bench_output_fields order
};

// Output formats. The printer is fed the tests in order; header and footer bracket them.
class LlamaBenchPrinter {
public:
    virtual ~LlamaBenchPrinter() = default;
    virtual std::string header() { return {}; }
    virtual std::string test(const LlamaBenchTest& t) = 0;
    virtual std::string footer() { return {}; }
};
// format: md, csv, json, jsonl. `params` decides the markdown columns (as llama-bench: flags given with values
// other than the defaults get a column). Throws UsageError for another format.
std::unique_ptr<LlamaBenchPrinter> make_llama_bench_printer(const std::string& format, const LlamaBenchParams& params,
                                                            bool with_depth);

}  // namespace spool::bench
