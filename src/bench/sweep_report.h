// Sweep outputs: runs.csv and runs.json (one row per generation), summary.json and summary.md (mean, sd, median,
// min, max overall, by output length, by temperature and by model), and report.md (numbers and figures together;
// the interpretation is left to the reader).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/result.h"
#include "bench/stats.h"
#include "bench/sweep.h"

namespace spool::bench {

// The runs.csv columns, in order.
const std::vector<std::string>& sweep_csv_columns();
std::string sweep_csv(const std::vector<SweepRow>& rows);
nlohmann::json sweep_rows_json(const std::vector<SweepRow>& rows);

struct SweepGroup {
    std::string key;  // "all", "32", "0.7", "tiny-Q8_0.gguf/cpu"
    Stats latency_s, ttft_s, tok_s, tokens_out;
};
// Groups in first-seen order. by: "all", "max_tokens", "temperature", "prompt" or "model" (model/backend).
std::vector<SweepGroup> group_sweep(const std::vector<SweepRow>& rows, const std::string& by);

struct SweepContext {
    std::string timestamp;
    BuildInfo build;
    MachineInfo machine;
    std::vector<std::string> devices;  // one line per model/backend: kernel set, GPU, threads
    std::vector<std::string> figures;  // PNG file names written next to the report
    std::string plot_note;             // why there are no figures, or how they were made
};

nlohmann::json sweep_summary_json(const SweepConfig& c, const std::vector<SweepRow>& rows, const SweepContext& ctx);
std::string sweep_summary_md(const std::vector<SweepRow>& rows);
std::string sweep_report_md(const SweepConfig& c, const std::vector<SweepRow>& rows, const SweepContext& ctx);

// Writes runs.csv, runs.json, summary.json and summary.md into dir (created if needed). Throws SystemError.
void write_sweep_data(const std::filesystem::path& dir, const SweepConfig& c, const std::vector<SweepRow>& rows,
                      const SweepContext& ctx);
// Writes dir/report.md. Throws SystemError.
void write_sweep_report(const std::filesystem::path& dir, const SweepConfig& c, const std::vector<SweepRow>& rows,
                        const SweepContext& ctx);

}  // namespace spool::bench
