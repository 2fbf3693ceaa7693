// `spool quantize IN OUT TYPE [-t N] [--quiet] [--pure]`: converts a whole model to a type or a llama.cpp
// mixture (Q4_K_M, ...). Output layout follows llama-quantize: tensors sorted by layer then name, split keys
// dropped, general.quantization_version and general.file_type last, every tensor padded to the alignment.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/thread_pool.h"
#include "gguf/file.h"
#include "gguf/writer.h"
#include "quant/mixtures.h"
#include "quant/types.h"
#include "spool/errors.h"
#include "tools/commands.h"
#include "tools/format.h"
#include "tools/output_path.h"

namespace spool::tools {
namespace {

namespace fs = std::filesystem;
using gguf::GgufFile;
using gguf::TensorInfo;
using gguf::Value;

constexpr uint32_t kQuantizationVersion = 2;  // llama.cpp's GGML_QNT_VERSION
constexpr int64_t kElementsPerChunk = 1 << 16;  // work unit for the thread pool: large enough to amortise

struct QuantizeOptions {
    std::string in, out, type;
    size_t threads = 0;
    bool quiet = false;
    bool pure = false;
};

struct PlannedTensor {
    const TensorInfo* in;
    quant::TensorChoice choice;
    bool convert() const { return choice.type != in->type; }
};

std::string valid_type_names() {
    std::string s;
    for (std::string_view name : quant::quant_target_names()) s += (s.empty() ? "" : ", ") + std::string(name);
    return s;
}

quant::QuantTarget parse_target_or_throw(const std::string& name) {
    auto target = quant::parse_quant_target(name);
    if (!target) {
        throw UsageError("unknown TYPE '" + name + "'; valid types: " + valid_type_names() +
                         " (Q3_K, Q4_K and Q5_K give every matrix that type; the others are llama.cpp mixtures)");
    }
    return *target;
}

// An integer hyperparameter; some architectures store per-layer arrays, of which layer 0 counts here.
int int_key(const GgufFile& f, const std::string& key, int fallback) {
    const Value* v = f.find(key);
    if (!v) return fallback;
    if (v->is_array()) {
        const auto items = v->as_i64s(key);
        return items.empty() ? fallback : static_cast<int>(items.front());
    }
    return static_cast<int>(v->as_u64(key));
}

quant::ModelFacts facts_of(const GgufFile& f) {
    quant::ModelFacts m;
    m.arch = f.architecture();
    m.n_layer = int_key(f, m.arch + ".block_count", 0);
    m.n_head = int_key(f, m.arch + ".attention.head_count", 0);
    m.n_head_kv = int_key(f, m.arch + ".attention.head_count_kv", m.n_head);
    m.n_expert = int_key(f, m.arch + ".expert_count", 0);
    m.has_output = f.find_tensor("output.weight") != nullptr;
    return m;
}

// llama.cpp's load order: tensors outside blocks first, then block by block, each group sorted by name.
int layer_key(const std::string& name) {
    int layer = -1;
    if (name.rfind("blk.", 0) == 0) std::sscanf(name.c_str() + 4, "%d", &layer);
    return layer;
}

std::vector<PlannedTensor> plan(const GgufFile& f, const quant::QuantTarget& target) {
    const quant::ModelFacts facts = facts_of(f);
    std::vector<PlannedTensor> planned;
    for (const TensorInfo& t : f.tensors()) {
        planned.push_back({&t, quant::choose_tensor_type(target, facts, t.name, t.ne, t.type)});
    }
    std::stable_sort(planned.begin(), planned.end(), [](const PlannedTensor& a, const PlannedTensor& b) {
        const int la = layer_key(a.in->name), lb = layer_key(b.in->name);
        return la != lb ? la < lb : a.in->name < b.in->name;
    });
    for (const PlannedTensor& p : planned) {
        if (!p.convert()) continue;
        const TypeInfo& from = type_info(p.in->type);
        const TypeInfo& to = type_info(p.choice.type);
        if (!from.dequantize_row) {
            throw UnsupportedError("tensor '" + p.in->name + "' is " + std::string(from.name) +
                                   ", which spool cannot read back to floats yet; quantize from an F32, F16 or "
                                   "BF16 file instead");
        }
        if (!to.quantize_row) {
            throw UnsupportedError("tensor '" + p.in->name + "' would become " + std::string(to.name) +
                                   ", which spool cannot write yet");
        }
    }
    return planned;
}

// Dequantizes each row of `in` to floats and quantizes it to `to`, rows spread over the pool.
void convert_tensor(const TensorInfo& in, GgmlType to, uint8_t* dst, ThreadPool& pool, Progress& progress) {
    const int64_t n_per_row = in.ne[0];
    const int64_t n_rows = in.n_rows();
    const size_t src_row = row_bytes(in.type, n_per_row);
    const size_t dst_row = row_bytes(to, n_per_row);
    const TypeInfo& from_info = type_info(in.type);
    const TypeInfo& to_info = type_info(to);
    const int64_t grain = std::max<int64_t>(1, kElementsPerChunk / n_per_row);
    pool.parallel_for(n_rows, grain, [&](int64_t begin, int64_t end) {
        std::vector<float> row(static_cast<size_t>(n_per_row));  // [n_per_row]
        for (int64_t r = begin; r < end; ++r) {
            from_info.dequantize_row(in.data + static_cast<size_t>(r) * src_row, row.data(), n_per_row);
            to_info.quantize_row(row.data(), dst + static_cast<size_t>(r) * dst_row, n_per_row);
        }
        progress.add(static_cast<uint64_t>((end - begin) * n_per_row));
    });
}

void copy_tensor(const TensorInfo& in, uint8_t* dst, ThreadPool& pool, Progress& progress) {
    constexpr int64_t kBytesPerChunk = 1 << 22;
    const auto n = static_cast<int64_t>(in.n_bytes);
    pool.parallel_for(n, kBytesPerChunk, [&](int64_t begin, int64_t end) {
        std::memcpy(dst + begin, in.data + begin, static_cast<size_t>(end - begin));
    });
    progress.add(in.n_elements);
}

void print_summary(const GgufFile& in, const fs::path& out_path, const quant::QuantTarget& target,
                   const std::vector<PlannedTensor>& planned, double seconds, uint64_t params) {
    const GgufFile out = GgufFile::open(out_path);  // proves the result loads
    std::map<std::string, std::pair<int, uint64_t>> by_type;  // type -> tensors, bytes
    for (const TensorInfo& t : out.tensors()) {
        auto& e = by_type[std::string(type_name(t.type))];
        ++e.first;
        e.second += t.n_bytes;
    }
    uint64_t in_bytes = 0, out_bytes = 0;
    for (const TensorInfo& t : in.tensors()) in_bytes += t.n_bytes;
    for (const TensorInfo& t : out.tensors()) out_bytes += t.n_bytes;
    auto bpw = [&](uint64_t bytes) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f", params ? 8.0 * static_cast<double>(bytes) / params : 0.0);
        return std::string(buf);
    };
    Table t({Table::Align::left, Table::Align::right, Table::Align::right});
    t.add({"type", "tensors", "bytes"});
    for (const auto& [name, e] : by_type) t.add({name, std::to_string(e.first), human_bytes(e.second)});

    std::string s = "wrote " + out_path.string() + " (" + target.name + ", file type " +
                    std::to_string(static_cast<uint32_t>(target.file_type)) + ") in " + format_seconds(seconds) + "\n";
    s += "  tensors: " + human_bytes(in_bytes) + " (" + bpw(in_bytes) + " bits/weight) -> " + human_bytes(out_bytes) +
         " (" + bpw(out_bytes) + " bits/weight); file " + human_bytes(out.file_bytes()) + "\n";
    s += t.render();
    int fallbacks = 0;
    const PlannedTensor* example = nullptr;
    for (const PlannedTensor& p : planned) {
        if (!p.choice.fallback) continue;
        ++fallbacks;
        if (!example) example = &p;
    }
    if (example) {
        s += "note: " + std::to_string(fallbacks) + " tensor(s) have rows the chosen type cannot store and use a " +
             "compatible type, as llama.cpp does; e.g. " + example->in->name + " (" +
             std::to_string(example->in->ne[0]) + " per row): " + std::string(type_name(example->choice.preferred)) +
             " -> " + std::string(type_name(example->choice.type)) + "\n";
    }
    std::fputs(s.c_str(), stdout);
}

void run_quantize(const QuantizeOptions& opt) {
    quant::QuantTarget target = parse_target_or_throw(opt.type);
    target.pure = target.pure || opt.pure;
    const GgufFile in = GgufFile::open(opt.in);
    check_output_path(opt.out, opt.in);
    if (in.tensors().empty()) {
        throw UsageError("'" + opt.in + "' has no tensors (a vocabulary-only file?); there is nothing to quantize");
    }
    const std::vector<PlannedTensor> planned = plan(in, target);

    int requantized = 0;
    for (const PlannedTensor& p : planned) requantized += p.convert() && type_info(p.in->type).is_quantized;
    if (requantized && !opt.quiet) {
        std::fprintf(stderr,
                     "warning: %d tensor(s) of '%s' are already quantized; requantizing adds a second rounding "
                     "error, so the result is worse than quantizing the F16/F32 original to %s\n",
                     requantized, opt.in.c_str(), target.name.c_str());
    }

    gguf::GgufWriter writer(in.alignment());
    for (const auto& [key, value] : in.metadata()) {
        if (key.rfind("split.", 0) == 0 || key == "general.quantization_version" || key == "general.file_type") {
            continue;
        }
        writer.set(key, value);
    }
    writer.set("general.quantization_version", Value(kQuantizationVersion));
    writer.set("general.file_type", Value(static_cast<uint32_t>(target.file_type)));
    uint64_t params = 0;
    for (const PlannedTensor& p : planned) {
        writer.add_tensor(p.in->name, p.choice.type, p.in->ne);
        params += p.in->n_elements;
    }

    ThreadPool pool(opt.threads);
    Progress progress("quantize " + target.name, params, Progress::Unit::count, !opt.quiet);
    const auto start = std::chrono::steady_clock::now();
    // dst holds exactly rows x row_bytes of the planned type: the writer sized it from add_tensor.
    writer.write(opt.out, [&](size_t i, uint8_t* dst, size_t) {
        const PlannedTensor& p = planned[i];
        if (p.convert()) {
            convert_tensor(*p.in, p.choice.type, dst, pool, progress);
        } else {
            copy_tensor(*p.in, dst, pool, progress);
        }
    });
    progress.finish();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!opt.quiet) print_summary(in, opt.out, target, planned, seconds, params);
}

}  // namespace

void register_quantize(CLI::App& app) {
    auto opt = std::make_shared<QuantizeOptions>();
    CLI::App* cmd = app.add_subcommand("quantize", "Convert a GGUF model to another type or a llama.cpp mixture "
                                                   "(Q4_K_M, Q8_0, ...)");
    cmd->add_option("IN", opt->in, "Input GGUF model (F32, F16, BF16 or already quantized)")->required();
    cmd->add_option("OUT", opt->out, "Output GGUF file")->required();
    cmd->add_option("TYPE", opt->type, "Target: " + valid_type_names())->required();
    cmd->add_option("-t,--threads", opt->threads, "Worker threads (default: one per hardware thread)");
    cmd->add_flag("-q,--quiet", opt->quiet, "No progress bar, summary or warnings");
    cmd->add_flag("--pure", opt->pure, "Give every matrix TYPE's base type (no per-tensor mixture rules)");
    cmd->callback([opt] { run_quantize(*opt); });
}

}  // namespace spool::tools
