// `spool bench` argument parsing: flags as llama-bench spells them plus spool's own long options.
#include "bench/bench_args.h"

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "runtime/kv_cache.h"
#include "spool/errors.h"

namespace spool::bench {
namespace {

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (true) {
        const size_t c = s.find(',', pos);
        out.push_back(s.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
        if (c == std::string::npos) break;
        pos = c + 1;
    }
    return out;
}

// The KV cache types spool keeps (runtime/kv_cache.h), spelled exactly as llama-bench's -ctk / -ctv take them.
void check_kv_type(const std::string& flag, const std::string& t) {
    for (const auto& [type, name] : runtime::kKvCacheTypes) {
        if (t == name) return;
    }
    throw UsageError(flag + " " + t + ": expected one of " + runtime::kv_cache_type_names());
}

int to_int(const std::string& flag, const std::string& s) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0 || v < -2147483647L || v > 2147483647L) {
        throw UsageError(flag + " expects an integer, got '" + s + "'");
    }
    return static_cast<int>(v);
}

double to_double(const std::string& flag, const std::string& s) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || !(v > 0)) throw UsageError(flag + " expects a positive number, got '" + s + "'");
    return v;
}

std::vector<int> int_list(const std::string& flag, const std::string& s) {
    std::vector<int> v;
    for (const std::string& x : split_commas(s)) v.push_back(to_int(flag, x));
    return v;
}

// Adds values to a list whose defaults are dropped by the first explicit value.
template <class T>
void add_values(std::vector<T>& list, bool& given, const std::vector<T>& values) {
    if (!given) list.clear();
    given = true;
    list.insert(list.end(), values.begin(), values.end());
}

}  // namespace

std::string bench_usage() {
    return R"(usage: spool bench -m MODEL [options]
       spool bench --compare TITLE [--log FILE]

Measures load time (cold or warm page cache), prefill and decode tok/s, time to first token, peak memory and a
quality hash (xxh64 of the first 16 greedy ids of a fixed prompt). A warm-up run is excluded; each number is
mean ± sd over -r repetitions, with median, min and max.

options:
  -m, --model FILE          GGUF model (llama-bench mode: several, comma-separated or repeated)
  --backend NAME            cpu (default), ref or cuda; llama-bench mode: a list
  -t, --threads N           compute threads (default: one per logical CPU)
  -r, --repetitions N       measured repetitions (default 5)
  -p, --n-prompt N          prompt tokens (default 512)
  -n, --n-gen N             generated tokens (default 128)
  -b, --batch-size N        prefill chunk (spool mode default 512)
  -ctk, -ctv TYPE           KV cache type: f32, f16 (default), q8_0, q4_0
  --cpu-isa NAME            cpu kernel set: auto, scalar, avx2, avx512, amx
  --drop-cache              drop the model's cached pages first (posix_fadvise DONTNEED) for a cold load
  --no-reload               skip the timed warm reloads
  --bandwidth-gbs B         memory bandwidth in GB/s for the roofline
  --measure-bandwidth       measure the bandwidth for the roofline (cpu: memory reads; cuda: device copy)
  --title T --change C      append this run to the log under "## T" as "### <UTC time> - C"
  --log FILE                the log (default BENCHMARKS.md)
  --compare T               compare every entry under "## T" with the first; no run
  --json                    print the record as JSON
  -q, --quiet               no progress bar
  -h, --help                this text

llama-bench mode (-o, --llama-bench, -pg or -d): llama-bench's tests and output, one row per point of the
cross product of all values (-p 128,512 -t 1,2 gives four tests):
  -o, --output FMT          md (default), csv, json, jsonl
  -pg PP,TG                 prompt then generation, timed together (test pp512+tg128)
  -d, --n-depth N           tokens already in the KV cache (test name gets " @ d<N>")
  -ub, --ubatch-size N      llama-bench's physical batch; spool prefills in chunks of min(-b, -ub)
  -ngl N                    with --backend cuda: the last N layers (and the head) on the GPU, the rest on the
                            CPU, as spool run -ngl (default 99: all); also in spool mode
)";
}

BenchArgs parse_bench_args(const std::vector<std::string>& raw) {
    BenchArgs a;
    bool models_given = false, backends_given = false, prompt_given = false, gen_given = false, depth_given = false,
         batch_given = false, ubatch_given = false, tk_given = false, tv_given = false, threads_given = false,
         ngl_given = false;
    for (size_t i = 0; i < raw.size(); ++i) {
        std::string flag = raw[i];
        std::string value;
        bool has_inline = false;
        if (flag.rfind("--", 0) == 0) {
            const size_t eq = flag.find('=');
            if (eq != std::string::npos) {
                value = flag.substr(eq + 1);
                flag = flag.substr(0, eq);
                has_inline = true;
            }
        }
        auto next = [&]() -> std::string {
            if (has_inline) return value;
            if (i + 1 >= raw.size()) throw UsageError(flag + " needs a value (see spool bench --help)");
            return raw[++i];
        };
        auto is = [&](std::initializer_list<std::string_view> names) {
            for (const std::string_view n : names) {
                if (flag == n) return true;
            }
            return false;
        };
        if (is({"-h", "--help"})) {
            a.help = true;
        } else if (is({"-m", "--model"})) {
            add_values(a.lb.models, models_given, split_commas(next()));
        } else if (is({"--backend"})) {
            add_values(a.lb.backends, backends_given, split_commas(next()));
        } else if (is({"-t", "--threads"})) {
            add_values(a.lb.n_threads, threads_given, int_list(flag, next()));
        } else if (is({"-r", "--repetitions"})) {
            a.lb.reps = to_int(flag, next());
        } else if (is({"-p", "--n-prompt"})) {
            add_values(a.lb.n_prompt, prompt_given, int_list(flag, next()));
        } else if (is({"-n", "--n-gen"})) {
            add_values(a.lb.n_gen, gen_given, int_list(flag, next()));
        } else if (is({"-pg"})) {
            const std::vector<int> v = int_list(flag, next());
            if (v.size() != 2) throw UsageError("-pg expects PP,TG (two numbers), got " + std::to_string(v.size()));
            a.lb.n_pg.emplace_back(v[0], v[1]);
            a.llama_mode = true;
        } else if (is({"-d", "--n-depth"})) {
            add_values(a.lb.n_depth, depth_given, int_list(flag, next()));
            a.llama_mode = true;
        } else if (is({"-b", "--batch-size"})) {
            add_values(a.lb.n_batch, batch_given, int_list(flag, next()));
        } else if (is({"-ub", "--ubatch-size"})) {
            add_values(a.lb.n_ubatch, ubatch_given, int_list(flag, next()));
        } else if (is({"-ctk", "--cache-type-k"})) {
            add_values(a.lb.type_k, tk_given, split_commas(next()));
        } else if (is({"-ctv", "--cache-type-v"})) {
            add_values(a.lb.type_v, tv_given, split_commas(next()));
        } else if (is({"-ngl", "--n-gpu-layers"})) {
            add_values(a.lb.n_gpu_layers, ngl_given, int_list(flag, next()));
        } else if (is({"-o", "--output"})) {
            a.lb.output = next();
            a.llama_mode = true;
        } else if (is({"--llama-bench"})) {
            a.llama_mode = true;
        } else if (is({"--cpu-isa"})) {
            a.cpu_isa = next();
        } else if (is({"-q", "--quiet"})) {
            a.quiet = true;
        } else if (is({"--json"})) {
            a.json = true;
        } else if (is({"--title"})) {
            a.title = next();
        } else if (is({"--change"})) {
            a.change = next();
        } else if (is({"--log"})) {
            a.log_file = next();
        } else if (is({"--compare"})) {
            a.compare_title = next();
        } else if (is({"--drop-cache"})) {
            a.drop_cache = true;
        } else if (is({"--no-reload"})) {
            a.no_reload = true;
        } else if (is({"--bandwidth-gbs"})) {
            a.bandwidth_gbs = to_double(flag, next());
        } else if (is({"--measure-bandwidth"})) {
            a.measure_bandwidth = true;
        } else {
            throw UsageError("unknown option '" + raw[i] + "' for spool bench (see spool bench --help)");
        }
    }
    a.n_prompt_given = prompt_given;
    a.n_gen_given = gen_given;
    a.batch_given = batch_given;
    a.ngl_given = ngl_given;
    if (a.help) return a;

    for (const std::string& t : a.lb.type_k) check_kv_type("-ctk", t);
    for (const std::string& t : a.lb.type_v) check_kv_type("-ctv", t);
    if (!a.compare_title.empty()) {
        if (!a.title.empty() || !a.change.empty()) {
            throw UsageError("--compare reads the log; it cannot be combined with --title/--change");
        }
        return a;
    }
    if (a.lb.models.empty()) throw UsageError("no model given: pass -m MODEL.gguf (or --compare TITLE)");
    if (a.title.empty() != a.change.empty()) {
        throw UsageError("--title and --change go together: the entry is filed under \"## TITLE\" as \"### <time> - CHANGE\"");
    }
    if (a.llama_mode) {
        if (!a.title.empty()) throw UsageError("--title/--change log spool-mode runs; drop -o/-pg/-d to use them");
        if (a.drop_cache || a.bandwidth_gbs || a.measure_bandwidth || a.json) {
            throw UsageError("--drop-cache, --bandwidth-gbs, --measure-bandwidth and --json belong to spool mode; "
                             "llama-bench mode writes -o md|csv|json|jsonl");
        }
        return a;
    }
    auto single = [](size_t n, const char* what) {
        if (n > 1) {
            throw UsageError(std::string("several values for ") + what +
                             " need llama-bench mode (add -o md, or -o csv|json|jsonl)");
        }
    };
    single(a.lb.models.size(), "-m");
    single(a.lb.backends.size(), "--backend");
    single(a.lb.n_threads.size(), "-t");
    single(a.lb.n_prompt.size(), "-p");
    single(a.lb.n_gen.size(), "-n");
    single(a.lb.n_batch.size(), "-b");
    single(a.lb.type_k.size(), "-ctk");
    single(a.lb.type_v.size(), "-ctv");
    single(a.lb.n_gpu_layers.size(), "-ngl");
    if (ubatch_given) throw UsageError("-ub belongs to llama-bench mode (add -o md)");
    return a;
}

}  // namespace spool::bench
