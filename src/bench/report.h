// `spool bench` output: the human report on stdout, the JSON record (--json), and the roofline figures
// (bytes moved per second and the fraction of a bandwidth) that sit next to every speed.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "bench/result.h"

namespace spool::bench {

// Bytes moved and the roofline. Decode reads weight_bytes_per_token per token; a prefill chunk reads every
// weight once, so prefill moves chunks * weight_bytes_per_token per repetition (KV-cache traffic excluded).
struct Roofline {
    double decode_gb_s = 0;      // mean forward-only decode tok/s * weight bytes per token / 1e9
    double prefill_gb_s = 0;     // weight bytes read by one prefill / its mean time / 1e9
    std::optional<double> bandwidth_gb_s;
    std::optional<double> decode_roofline_tok_s;  // bandwidth / weight bytes per token
    std::optional<double> decode_fraction;        // forward-only decode tok/s / roofline
    std::optional<double> prefill_fraction;       // prefill_gb_s / bandwidth (prefill is compute-bound: expect less)
};
Roofline roofline(const BenchResult& r);

// ", -ngl N" when the run was given -ngl, else "" (the settings line of the report and of the log).
std::string ngl_text(const BenchSettings& s);
std::string format_report(const BenchResult& r);   // several aligned lines, for a terminal
nlohmann::json to_json(const BenchResult& r);      // every field and every sample

// "12.34 GB/s", or three significant digits below 1 GB/s ("0.00342 GB/s"), so small rates do not read as zero.
std::string format_gbs(double gb_per_s);

// "12.34 MiB" with two decimals, always in MiB (BENCHMARKS.md and --compare read this unit).
std::string format_mib(uint64_t bytes);

}  // namespace spool::bench
