// The `spool bench` command line. It is parsed here rather than by CLI11 because llama-bench's flags have
// multi-letter short names (-pg, -ub, -ctk, -ngl) and take comma lists or repeats (-p 128,512 -p 1024).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bench/llama_bench.h"

namespace spool::bench {

struct BenchArgs {
    bool help = false;
    bool llama_mode = false;  // -o, --llama-bench, -pg or -d given: llama-bench tests and output
    LlamaBenchParams lb;      // models, backends, -p/-n/-pg/-d/-b/-ub/-ctk/-ctv/-t/-ngl/-r/-o (both modes read it)
    bool n_prompt_given = false, n_gen_given = false, batch_given = false, ngl_given = false;
    std::string cpu_isa;      // --cpu-isa
    bool quiet = false;       // --quiet: no progress bar
    bool json = false;        // --json: the record as JSON on stdout (spool mode)
    // spool mode
    std::string title, change, log_file = "BENCHMARKS.md";
    std::string compare_title;  // --compare T
    bool drop_cache = false;
    bool no_reload = false;
    std::optional<double> bandwidth_gbs;
    bool measure_bandwidth = false;
};

// Parses the arguments after "bench". Throws UsageError naming the flag for an unknown flag, a missing or bad
// value, or a combination that does not fit (several values per flag outside llama-bench mode, --title without
// --change, no model).
BenchArgs parse_bench_args(const std::vector<std::string>& args);
std::string bench_usage();

}  // namespace spool::bench
