// llama-bench-compatible instances, values and printers. Facts taken from llama-bench.cpp at c392e50 (read, not
// copied): the field list and types, the instance loop order, the sample-based avg/stddev, CSV quoting, the JSON
// and JSONL layouts, and the markdown column rules and widths. Fields for knobs spool lacks (cpu_mask, poll,
// split_mode, ...) carry llama-bench's defaults so the columns line up.
#include "bench/llama_bench.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "spool/errors.h"

namespace spool::bench {
namespace {

enum class FieldType { string, boolean, integer, floating };

FieldType field_type(const std::string& f) {
    static const char* kInt[] = {"build_number", "n_batch", "n_ubatch", "n_threads", "poll", "model_size",
                                 "model_n_params", "n_gpu_layers", "main_gpu", "n_prompt", "n_gen", "n_depth",
                                 "avg_ns", "stddev_ns"};
    static const char* kBool[] = {"no_kv_offload", "cpu_strict", "flash_attn", "use_mmap", "embeddings"};
    for (const char* k : kInt) {
        if (f == k) return FieldType::integer;
    }
    for (const char* k : kBool) {
        if (f == k) return FieldType::boolean;
    }
    if (f == "avg_ts" || f == "stddev_ts") return FieldType::floating;
    return FieldType::string;
}

template <class T>
std::string join(const std::vector<T>& v, const std::string& sep) {
    std::ostringstream os;
    for (size_t i = 0; i < v.size(); ++i) os << (i ? sep : "") << v[i];
    return os.str();
}

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string escape_csv(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string escape_json(const std::string& s) {
    std::string out;
    for (const char c : s) {
        if (c == '"') {
            out += "\\\"";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (static_cast<unsigned char>(c) <= 0x1f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

std::string json_value(const std::string& field, const std::string& value) {
    switch (field_type(field)) {
        case FieldType::string: return "\"" + escape_json(value) + "\"";
        case FieldType::boolean: return value == "0" ? "false" : "true";
        default: return value;
    }
}

// printf("%*s", width, s): right-aligned for width > 0, left-aligned for width < 0, counted in bytes.
std::string printf_pad(const std::string& s, int width) {
    const size_t w = static_cast<size_t>(std::abs(width));
    if (s.size() >= w) return s;
    return width > 0 ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
}

class CsvPrinter final : public LlamaBenchPrinter {
public:
    explicit CsvPrinter(bool with_depth) : with_depth_(with_depth) {}
    std::string header() override { return join(llama_bench_output_fields(with_depth_), ",") + "\n"; }
    std::string test(const LlamaBenchTest& t) override {
        std::vector<std::string> v = t.values(with_depth_);
        for (std::string& s : v) s = escape_csv(s);
        return join(v, ",") + "\n";
    }

private:
    bool with_depth_;
};

std::string json_fields(const LlamaBenchTest& t, bool with_depth, const std::string& before, const std::string& after) {
    const std::vector<std::string> f = llama_bench_output_fields(with_depth);
    const std::vector<std::string> v = t.values(with_depth);
    std::string s;
    for (size_t i = 0; i < f.size(); ++i) s += before + "\"" + f[i] + "\": " + json_value(f[i], v[i]) + after;
    return s;
}

class JsonPrinter final : public LlamaBenchPrinter {
public:
    explicit JsonPrinter(bool with_depth) : with_depth_(with_depth) {}
    std::string header() override { return "[\n"; }
    std::string test(const LlamaBenchTest& t) override {
        std::string s = first_ ? "" : ",\n";
        first_ = false;
        s += "  {\n" + json_fields(t, with_depth_, "    ", ",\n");
        s += "    \"samples_ns\": [ " + join(t.samples_ns, ", ") + " ],\n";
        s += "    \"samples_ts\": [ " + join(t.samples_ts(), ", ") + " ]\n  }";
        return s;
    }
    std::string footer() override { return "\n]\n"; }

private:
    bool with_depth_;
    bool first_ = true;
};

class JsonlPrinter final : public LlamaBenchPrinter {
public:
    explicit JsonlPrinter(bool with_depth) : with_depth_(with_depth) {}
    std::string test(const LlamaBenchTest& t) override {
        return "{" + json_fields(t, with_depth_, "", ", ") + "\"samples_ns\": [ " + join(t.samples_ns, ", ") +
               " ],\"samples_ts\": [ " + join(t.samples_ts(), ", ") + " ]}\n";
    }

private:
    bool with_depth_;
};

class MarkdownPrinter final : public LlamaBenchPrinter {
public:
    MarkdownPrinter(const LlamaBenchParams& p) {
        bool all_host = true;
        for (const std::string& b : p.backends) all_host = all_host && (b == "cpu" || b == "ref");
        fields_ = {"model", "size", "params", "backend"};
        if (!all_host) fields_.push_back("n_gpu_layers");
        if (all_host || !p.n_threads.empty()) fields_.push_back("n_threads");
        if (p.n_batch != std::vector<int>{2048}) fields_.push_back("n_batch");
        if (p.n_ubatch != std::vector<int>{512}) fields_.push_back("n_ubatch");
        if (p.type_k != std::vector<std::string>{"f16"}) fields_.push_back("type_k");
        if (p.type_v != std::vector<std::string>{"f16"}) fields_.push_back("type_v");
        fields_.push_back("test");
        fields_.push_back("t/s");
    }
    std::string header() override {
        std::string s = "|", rule = "|";
        for (const std::string& f : fields_) {
            const int w = width(f);
            s += " " + printf_pad(display_name(f), w) + " |";
            rule += " " + std::string(static_cast<size_t>(std::abs(w) - 1), '-') + (w > 0 ? ":" : "-") + " |";
        }
        return s + "\n" + rule + "\n";
    }
    std::string test(const LlamaBenchTest& t) override {
        build_commit_ = t.build_commit;
        build_number_ = t.build_number;
        std::string s = "|";
        for (const std::string& f : fields_) {
            char buf[128];
            std::string v;
            int w = width(f);
            if (f == "model") {
                v = t.model_type;
            } else if (f == "size") {
                const double mib = static_cast<double>(t.model_size) / 1024.0 / 1024.0;
                if (t.model_size < 1024ull * 1024 * 1024) {
                    std::snprintf(buf, sizeof buf, "%.2f MiB", mib);
                } else {
                    std::snprintf(buf, sizeof buf, "%.2f GiB", mib / 1024.0);
                }
                v = buf;
            } else if (f == "params") {
                if (t.model_n_params < 1000ull * 1000 * 1000) {
                    std::snprintf(buf, sizeof buf, "%.2f M", static_cast<double>(t.model_n_params) / 1e6);
                } else {
                    std::snprintf(buf, sizeof buf, "%.2f B", static_cast<double>(t.model_n_params) / 1e9);
                }
                v = buf;
            } else if (f == "backend") {
                v = upper(t.inst.backend);
            } else if (f == "n_gpu_layers") {
                v = std::to_string(t.inst.n_gpu_layers);
            } else if (f == "n_threads") {
                v = std::to_string(t.inst.n_threads);
            } else if (f == "n_batch") {
                v = std::to_string(t.inst.n_batch);
            } else if (f == "n_ubatch") {
                v = std::to_string(t.inst.n_ubatch);
            } else if (f == "type_k") {
                v = t.inst.type_k;
            } else if (f == "type_v") {
                v = t.inst.type_v;
            } else if (f == "test") {
                v = llama_bench_test_name(t.inst.n_prompt, t.inst.n_gen, t.inst.n_depth);
            } else if (f == "t/s") {
                std::snprintf(buf, sizeof buf, "%.2f ± %.2f", t.avg_ts(), t.stddev_ts());
                v = buf;
                w += 1;  // "±" is two bytes in UTF-8 and printf pads by bytes
            }
            s += " " + printf_pad(v, w) + " |";
        }
        return s + "\n";
    }
    std::string footer() override {
        return "\nbuild: " + build_commit_ + " (" + std::to_string(build_number_) + ")\n";
    }

private:
    static int width(const std::string& f) {
        if (f == "model") return -30;
        if (f == "t/s") return 20;
        if (f == "size" || f == "params") return 10;
        if (f == "n_gpu_layers") return 3;
        if (f == "n_threads" || f == "n_batch") return 7;
        if (f == "n_ubatch") return 8;
        if (f == "type_k" || f == "type_v") return 6;
        if (f == "test") return 13;
        const int w = std::max(static_cast<int>(f.size()), 10);
        return field_type(f) == FieldType::string ? -w : w;
    }
    static std::string display_name(const std::string& f) {
        if (f == "n_gpu_layers") return "ngl";
        if (f == "n_threads") return "threads";
        return f;
    }

    std::vector<std::string> fields_;
    std::string build_commit_ = "unknown";
    int build_number_ = 0;
};

}  // namespace

const std::vector<std::string>& llama_bench_fields() {
    static const std::vector<std::string> fields = {
        "build_commit", "build_number", "cpu_info",     "gpu_info",   "backends",       "model_filename",
        "model_type",   "model_size",   "model_n_params", "n_batch",  "n_ubatch",       "n_threads",
        "cpu_mask",     "cpu_strict",   "poll",         "type_k",     "type_v",         "n_gpu_layers",
        "split_mode",   "main_gpu",     "no_kv_offload", "flash_attn", "tensor_split",  "use_mmap",
        "embeddings",   "n_prompt",     "n_gen",        "test_time",  "avg_ns",         "stddev_ns",
        "avg_ts",       "stddev_ts",
    };
    return fields;
}

std::vector<std::string> llama_bench_output_fields(bool with_depth) {
    std::vector<std::string> f = llama_bench_fields();
    if (with_depth) f.insert(std::find(f.begin(), f.end(), "n_gen") + 1, "n_depth");
    return f;
}

std::vector<LlamaBenchInstance> make_llama_bench_instances(const LlamaBenchParams& p) {
    std::vector<LlamaBenchInstance> out;
    const std::vector<int> threads = p.n_threads.empty() ? std::vector<int>{0} : p.n_threads;
    for (const std::string& m : p.models)
    for (const std::string& be : p.backends)
    for (const int ngl : p.n_gpu_layers)
    for (const int nb : p.n_batch)
    for (const int nub : p.n_ubatch)
    for (const std::string& tk : p.type_k)
    for (const std::string& tv : p.type_v)
    for (const int nt : threads)
    for (const int nd : p.n_depth) {
        LlamaBenchInstance base{m, be, 0, 0, nd, nb, nub, tk, tv, nt, ngl};
        for (const int np : p.n_prompt) {
            if (np == 0) continue;
            LlamaBenchInstance i = base;
            i.n_prompt = np;
            out.push_back(i);
        }
        for (const int ng : p.n_gen) {
            if (ng == 0) continue;
            LlamaBenchInstance i = base;
            i.n_gen = ng;
            out.push_back(i);
        }
        for (const auto& [np, ng] : p.n_pg) {
            if (np == 0 && ng == 0) continue;
            LlamaBenchInstance i = base;
            i.n_prompt = np;
            i.n_gen = ng;
            out.push_back(i);
        }
    }
    return out;
}

std::string llama_bench_test_name(int n_prompt, int n_gen, int n_depth) {
    std::string s;
    if (n_prompt > 0 && n_gen == 0) {
        s = "pp" + std::to_string(n_prompt);
    } else if (n_gen > 0 && n_prompt == 0) {
        s = "tg" + std::to_string(n_gen);
    } else {
        s = "pp" + std::to_string(n_prompt) + "+tg" + std::to_string(n_gen);
    }
    if (n_depth > 0) s += " @ d" + std::to_string(n_depth);
    return s;
}

uint64_t LlamaBenchTest::avg_ns() const {
    if (samples_ns.empty()) return 0;
    uint64_t sum = 0;
    for (const uint64_t v : samples_ns) sum += v;
    return sum / samples_ns.size();
}

uint64_t LlamaBenchTest::stddev_ns() const {
    if (samples_ns.size() <= 1) return 0;
    const double mean = static_cast<double>(avg_ns());
    double sq = 0;
    for (const uint64_t v : samples_ns) sq += (static_cast<double>(v) - mean) * (static_cast<double>(v) - mean);
    return static_cast<uint64_t>(std::sqrt(sq / static_cast<double>(samples_ns.size() - 1)));
}

std::vector<double> LlamaBenchTest::samples_ts() const {
    std::vector<double> ts;
    const double n_tokens = inst.n_prompt + inst.n_gen;
    for (const uint64_t t : samples_ns) ts.push_back(1e9 * n_tokens / static_cast<double>(t));
    return ts;
}

double LlamaBenchTest::avg_ts() const {
    const std::vector<double> ts = samples_ts();
    if (ts.empty()) return 0;
    double sum = 0;
    for (const double v : ts) sum += v;
    return sum / static_cast<double>(ts.size());
}

double LlamaBenchTest::stddev_ts() const {
    const std::vector<double> ts = samples_ts();
    if (ts.size() <= 1) return 0;
    const double mean = avg_ts();
    double sq = 0;
    for (const double v : ts) sq += (v - mean) * (v - mean);
    return std::sqrt(sq / static_cast<double>(ts.size() - 1));
}

std::vector<std::string> LlamaBenchTest::values(bool with_depth) const {
    std::vector<std::string> v = {build_commit,
                                  std::to_string(build_number),
                                  cpu_info,
                                  gpu_info,
                                  upper(inst.backend),
                                  inst.model,
                                  model_type,
                                  std::to_string(model_size),
                                  std::to_string(model_n_params),
                                  std::to_string(inst.n_batch),
                                  std::to_string(inst.n_ubatch),
                                  std::to_string(inst.n_threads),
                                  "0x0",    // cpu_mask: spool pins no threads
                                  "0",      // cpu_strict
                                  "50",     // poll: llama-bench's default
                                  inst.type_k,
                                  inst.type_v,
                                  std::to_string(inst.n_gpu_layers),
                                  "layer",  // split_mode: one device
                                  "0",      // main_gpu
                                  "0",      // no_kv_offload
                                  "0",      // flash_attn
                                  "0.00",   // tensor_split: all zeros prints as one "0.00"
                                  "1",      // use_mmap: spool always maps the file
                                  "0",      // embeddings
                                  std::to_string(inst.n_prompt),
                                  std::to_string(inst.n_gen),
                                  test_time,
                                  std::to_string(avg_ns()),
                                  std::to_string(stddev_ns()),
                                  std::to_string(avg_ts()),
                                  std::to_string(stddev_ts())};
    if (with_depth) v.insert(v.begin() + 27, std::to_string(inst.n_depth));
    return v;
}

std::unique_ptr<LlamaBenchPrinter> make_llama_bench_printer(const std::string& format, const LlamaBenchParams& params,
                                                            bool with_depth) {
    if (format == "md") return std::make_unique<MarkdownPrinter>(params);
    if (format == "csv") return std::make_unique<CsvPrinter>(with_depth);
    if (format == "json") return std::make_unique<JsonPrinter>(with_depth);
    if (format == "jsonl") return std::make_unique<JsonlPrinter>(with_depth);
    throw UsageError("unknown output format '" + format + "'; expected one of: md, csv, json, jsonl");
}

}  // namespace spool::bench
