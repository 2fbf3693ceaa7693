// `spool bench`: measures a model (load, prefill, decode, TTFT, peak memory, quality hash) and logs or compares
// the results (BENCHMARKS.md), or runs llama-bench's tests with its output formats. The measuring, formats and
// files live in src/bench; this file wires the command line to them.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#ifdef SPOOL_HAVE_CUDA
#include "backend/cuda/copy_bandwidth.h"
#endif
#include "bench/bandwidth.h"
#include "bench/bench_args.h"
#include "bench/bench_log.h"
#include "bench/compare.h"
#include "bench/engine_target.h"
#include "bench/harness.h"
#include "bench/llama_bench_run.h"
#include "bench/report.h"
#include "core/progress.h"
#include "spool/errors.h"
#include "tools/commands.h"

namespace spool::tools {
namespace {

using namespace spool::bench;

BuildInfo build_info() { return BuildInfo{SPOOL_VERSION, SPOOL_GIT_COMMIT}; }

void print(const std::string& s) {
    std::fputs(s.c_str(), stdout);
    std::fflush(stdout);
}

void run_compare(const BenchArgs& a) {
    std::ifstream in(a.log_file, std::ios::binary);
    if (!in) throw SystemError("cannot read the benchmark log " + a.log_file + " (pass --log FILE)");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    const std::vector<LogEntry> entries = parse_log_entries(text, a.compare_title);
    if (entries.empty()) {
        std::string titles;
        for (const std::string& t : log_titles(text)) titles += "\n  " + t;
        throw UsageError("no entries under \"## " + a.compare_title + "\" in " + a.log_file +
                         (titles.empty() ? std::string(" (it has no titles)") : "; its titles are:" + titles));
    }
    print(format_comparison(a.compare_title, entries, compare_log_entries(entries)));
}

void run_spool_mode(const BenchArgs& a) {
#ifndef SPOOL_HAVE_CUDA
    if (a.measure_bandwidth && a.lb.backends.front() == "cuda") {
        throw UsageError("--measure-bandwidth on cuda needs a CUDA build; pass the GPU's bandwidth with "
                         "--bandwidth-gbs (for example 3350 for an H100 SXM)");
    }
#endif
    EngineTargetOptions eo;
    eo.model_path = a.lb.models.front();
    eo.backend = a.lb.backends.front();
    eo.n_threads = a.lb.n_threads.empty() ? 0 : static_cast<size_t>(std::max(a.lb.n_threads.front(), 0));
    eo.cpu_isa = a.cpu_isa;
    if (a.ngl_given) eo.n_gpu_layers = a.lb.n_gpu_layers.front();
    BenchSettings s;
    s.n_prompt = a.n_prompt_given ? a.lb.n_prompt.front() : 512;
    s.n_gen = a.n_gen_given ? a.lb.n_gen.front() : 128;
    s.reps = a.lb.reps;
    s.batch_size = a.batch_given ? a.lb.n_batch.front() : 512;
    s.kv_type = a.lb.type_k.front();
    if (a.lb.type_v.front() != s.kv_type) s.kv_type_v = a.lb.type_v.front();
    if (a.ngl_given) s.n_gpu_layers = a.lb.n_gpu_layers.front();
    s.drop_cache = a.drop_cache;
    s.reload = !a.no_reload;
    s.progress = !a.quiet;
    if (s.batch_size < 1) throw UsageError("-b must be at least 1, got " + std::to_string(s.batch_size));

    BenchResult r = run_bench([&] { return load_engine_target(eo); }, eo.model_path, s, build_info());
    if (a.bandwidth_gbs) {
        r.bandwidth = Bandwidth{*a.bandwidth_gbs, "user (--bandwidth-gbs)"};
#ifdef SPOOL_HAVE_CUDA
    } else if (a.measure_bandwidth && eo.backend == "cuda") {
        const cuda::CopyBandwidth bw = cuda::measure_copy_bandwidth(0);
        r.bandwidth = Bandwidth{bw.gb_per_s, "measured: device-to-device copy of " + std::to_string(bw.bytes >> 20) +
                                                 " MiB, read + written bytes, best of " + std::to_string(bw.passes) +
                                                 " passes"};
#endif
    } else if (a.measure_bandwidth) {
        const BandwidthResult bw = measure_read_bandwidth(512ull << 20, 5, r.device.n_threads);
        r.bandwidth = Bandwidth{bw.gb_per_s, "measured: read " + std::to_string(bw.bytes >> 20) + " MiB with " +
                                                 std::to_string(bw.n_threads) + " threads, best of " +
                                                 std::to_string(bw.passes) + " passes"};
    }
    if (a.json) {
        print(to_json(r).dump(2) + "\n");
    } else {
        print(format_report(r));
    }
    if (!a.title.empty()) {
        append_log_entry(a.log_file, a.title, format_log_entry(r, a.change));
        std::fprintf(a.json ? stderr : stdout, "logged under \"## %s\" in %s\n", a.title.c_str(), a.log_file.c_str());
    }
}

void run_llama_mode(const BenchArgs& a) {
    std::unique_ptr<LlamaBenchPrinter> printer =
        make_llama_bench_printer(a.lb.output, a.lb, a.lb.n_depth != std::vector<int>{0});
    const std::string isa = a.cpu_isa;
    auto load = [&isa](const LlamaBenchInstance& i) {
        EngineTargetOptions eo;
        eo.model_path = i.model;
        eo.backend = i.backend;
        eo.n_threads = static_cast<size_t>(std::max(i.n_threads, 0));
        eo.cpu_isa = isa;
        eo.n_gpu_layers = i.n_gpu_layers;
        return load_engine_target(eo);
    };
    // While a progress bar redraws stderr on a terminal, rows on the same terminal would tear it: hold them.
    const bool hold = !a.quiet && Progress::stderr_is_terminal() && ::isatty(STDOUT_FILENO);
    std::string held;
    run_llama_bench(a.lb, load, build_info(), *printer, [&](const std::string& s) {
        if (hold) {
            held += s;
        } else {
            print(s);
        }
    },
                    !a.quiet);
    if (hold) print(held);
}

}  // namespace

void register_bench(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("bench", "Measure load, prefill, decode, TTFT, memory and a quality hash; log to "
                                                "BENCHMARKS.md, compare entries, or run llama-bench's tests "
                                                "(see spool bench --help)");
    // llama-bench's flags (-pg, -ngl, -ctk, comma lists) do not fit CLI11's rules, so src/bench parses them.
    cmd->allow_extras();
    cmd->set_help_flag();
    cmd->callback([cmd] {
        const BenchArgs a = parse_bench_args(cmd->remaining());
        if (a.help) {
            print(bench_usage());
        } else if (!a.compare_title.empty()) {
            run_compare(a);
        } else if (a.llama_mode) {
            run_llama_mode(a);
        } else {
            run_spool_mode(a);
        }
    });
}

}  // namespace spool::tools
