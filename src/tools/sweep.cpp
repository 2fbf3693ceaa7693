// `spool sweep`: a latency study over prompts x output lengths x temperatures x runs (x models x backends).
// Writes DIR/runs.csv, runs.json, summary.json, summary.md, five PNG figures (through scripts/plot_sweep.py when
// python3 with matplotlib is found) and DIR/report.md.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/engine_target.h"
#include "bench/harness.h"
#include "bench/machine.h"
#include "bench/prompts.h"
#include "bench/sweep.h"
#include "bench/sweep_report.h"
#include "spool/errors.h"
#include "tools/commands.h"

namespace spool::tools {
namespace {

using namespace spool::bench;
namespace fs = std::filesystem;

// The figures scripts/plot_sweep.py writes, in report order.
const std::vector<std::string> kFigures = {"fig_latency_by_model.png", "fig_throughput_by_model.png",
                                           "fig_latency_vs_length.png", "fig_temperature_effect.png",
                                           "fig_latency_hist.png"};

struct SweepOptions {
    std::vector<std::string> models;
    std::vector<std::string> backends{"cpu"};
    std::string prompts = "builtin";
    std::vector<int> max_tokens{32, 64, 128};
    std::vector<float> temps{0.0f, 0.7f};
    int runs = 3;
    std::string out;
    size_t threads = 0;
    uint64_t seed = 1;
    bool ignore_eos = false;
    std::string cpu_isa;
    bool no_plot = false;
    std::string python;
    bool quiet = false;
};

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// scripts/plot_sweep.py from the working directory, or from the source tree above the executable's build folder.
std::string find_plot_script() {
    std::vector<fs::path> candidates = {fs::path("scripts") / "plot_sweep.py"};
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        candidates.push_back(exe.parent_path().parent_path() / "scripts" / "plot_sweep.py");
        candidates.push_back(exe.parent_path() / "scripts" / "plot_sweep.py");
    }
    for (const fs::path& p : candidates) {
        if (fs::exists(p, ec)) return p.string();
    }
    return {};
}

// A python interpreter that imports matplotlib and numpy: --python, $SPOOL_PYTHON, python3, /usr/bin/python3.
std::string find_python(const std::string& requested) {
    std::vector<std::string> candidates;
    if (!requested.empty()) candidates.push_back(requested);
    if (const char* env = std::getenv("SPOOL_PYTHON")) candidates.push_back(env);
    candidates.push_back("python3");
    candidates.push_back("/usr/bin/python3");
    for (const std::string& py : candidates) {
        const std::string cmd = shell_quote(py) + " -c 'import matplotlib, numpy' >/dev/null 2>&1";
        if (std::system(cmd.c_str()) == 0) return py;
    }
    return {};
}

void run(const SweepOptions& o) {
    if (o.models.empty()) throw UsageError("spool sweep needs -m MODEL.gguf (repeat -m for several models)");
    if (o.out.empty()) throw UsageError("spool sweep needs -o DIR for its tables, figures and report");
    SweepConfig c;
    c.models = o.models;
    c.backends = o.backends;
    c.prompts = load_prompts(o.prompts);
    c.max_tokens = o.max_tokens;
    c.temperatures = o.temps;
    c.runs = o.runs;
    c.seed = o.seed;
    c.ignore_eos = o.ignore_eos;
    c.progress = !o.quiet;

    const fs::path dir(o.out);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw SystemError("cannot create the output directory " + o.out + ": " + ec.message());

    SweepContext ctx;
    ctx.timestamp = utc_timestamp();
    ctx.build = BuildInfo{SPOOL_VERSION, SPOOL_GIT_COMMIT};
    ctx.machine = describe_machine();
    const std::vector<SweepRow> rows = run_sweep(c, [&](const std::string& model, const std::string& backend) {
        EngineTargetOptions eo;
        eo.model_path = model;
        eo.backend = backend;
        eo.n_threads = o.threads;
        eo.cpu_isa = o.cpu_isa;
        return load_engine_target(eo);
    }, &ctx.devices);
    write_sweep_data(dir, c, rows, ctx);

    const std::string script = find_plot_script();
    const std::string manual = "python3 scripts/plot_sweep.py " + shell_quote(o.out) +
                               "  (needs matplotlib and numpy: apt-get install python3-matplotlib)";
    if (o.no_plot) {
        ctx.plot_note = "No figures (--no-plot). Make them with: " + manual;
    } else if (script.empty()) {
        ctx.plot_note = "No figures: scripts/plot_sweep.py was not found from here. Run from the spool source tree: " + manual;
    } else if (const std::string py = find_python(o.python); py.empty()) {
        ctx.plot_note = "No figures: no python3 with matplotlib and numpy was found (try --python PATH). Make them with: " +
                        manual;
    } else {
        const std::string cmd = shell_quote(py) + " " + shell_quote(script) + " " + shell_quote(o.out) + " >&2";
        if (std::system(cmd.c_str()) != 0) {
            ctx.plot_note = "plot_sweep.py failed (see its message above); rerun: " + manual;
        }
        for (const std::string& f : kFigures) {
            if (fs::exists(dir / f, ec)) ctx.figures.push_back(f);
        }
        if (ctx.plot_note.empty()) ctx.plot_note = "Figures made by scripts/plot_sweep.py from runs.csv.";
    }
    write_sweep_report(dir, c, rows, ctx);
    if (ctx.figures.empty()) std::fprintf(stderr, "spool sweep: %s\n", ctx.plot_note.c_str());
    if (!o.quiet) {
        std::printf("%zu generations; wrote %s/{runs.csv, runs.json, summary.json, summary.md, report.md}%s\n",
                    rows.size(), o.out.c_str(),
                    ctx.figures.empty() ? "" : (" and " + std::to_string(ctx.figures.size()) + " figures").c_str());
    }
}

}  // namespace

void register_sweep(CLI::App& app) {
    auto o = std::make_shared<SweepOptions>();
    CLI::App* cmd = app.add_subcommand("sweep", "Latency study over prompts x output lengths x temperatures x runs "
                                                "(x models x backends): tables, figures and a report");
    cmd->add_option("-m,--model", o->models, "GGUF model (repeat for several)");
    cmd->add_option("--backend", o->backends, "Backends, comma-separated: cpu, ref, cuda")->delimiter(',')
        ->capture_default_str();
    cmd->add_option("--prompts", o->prompts, "\"builtin\" (3 prompts) or a file: JSON array, or one prompt per line")
        ->capture_default_str();
    cmd->add_option("--max-tokens", o->max_tokens, "Output lengths, comma-separated")->delimiter(',')
        ->capture_default_str();
    cmd->add_option("--temps", o->temps, "Temperatures, comma-separated (0 = greedy)")->delimiter(',')
        ->capture_default_str();
    cmd->add_option("--runs", o->runs, "Runs of each setting")->capture_default_str();
    cmd->add_option("-o,--output", o->out, "Output directory");
    cmd->add_option("-t,--threads", o->threads, "Compute threads (default: one per logical CPU)");
    cmd->add_option("--seed", o->seed, "Sampling seed; run r uses seed + r")->capture_default_str();
    cmd->add_flag("--ignore-eos", o->ignore_eos, "Always generate max tokens (do not stop at end of generation)");
    cmd->add_option("--cpu-isa", o->cpu_isa, "cpu kernel set: auto, scalar, avx2, avx512, amx");
    cmd->add_flag("--no-plot", o->no_plot, "Skip the figures");
    cmd->add_option("--python", o->python, "Python interpreter with matplotlib for the figures");
    cmd->add_flag("-q,--quiet", o->quiet, "No progress bar or summary line");
    cmd->callback([o] { run(*o); });
}

}  // namespace spool::tools
