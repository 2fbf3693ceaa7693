// `spool synth --shape NAME --type TYPE --vocab VOCAB.gguf -o OUT [--seed S] [-t N]`: a random-weight model with
// the exact tensor shapes of a real one, for benchmarks. Values come from a counter-based RNG keyed by
// (seed, tensor name, row), so any thread can make any row, the bytes do not depend on -t, and two types made
// with one seed hold the same underlying weights. Rows are quantized as they are made and written tensor by tensor.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/thread_pool.h"
#include "gguf/file.h"
#include "gguf/writer.h"
#include "model/shapes.h"
#include "quant/mixtures.h"
#include "quant/types.h"
#include "spool/errors.h"
#include "tools/commands.h"
#include "tools/format.h"
#include "tools/output_path.h"

namespace spool::tools {
namespace {

using gguf::Value;
using model::ModelShape;
using model::TensorRole;
using model::TensorSpec;

constexpr uint32_t kQuantizationVersion = 2;     // llama.cpp's GGML_QNT_VERSION
constexpr int64_t kElementsPerChunk = 1 << 16;   // rows per thread-pool chunk = this / row length
constexpr int32_t kTokenTypeUnused = 5;          // llama.cpp's LLAMA_TOKEN_TYPE_UNUSED, for padding tokens

struct SynthOptions {
    std::string shape, type = "F16", vocab, out;
    uint64_t seed = 1;
    size_t threads = 0;
    int64_t n_vocab = 0;  // 0: the vocab file's token count
    bool quiet = false;
    bool list_shapes = false;
};

// splitmix64's finaliser: a bijection on 64 bits with good avalanche, so mix(key + i * golden) is a
// counter-based stream: element i of a row needs no state from element i - 1.
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;
constexpr uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t name_hash(std::string_view s) {  // FNV-1a
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    return h;
}

// n normal(mean, std) values for one row, by Box-Muller on 23-bit uniforms. u1 lies in (0, 1), so the
// radius is finite and never exactly 0: a matrix value is never exactly zero before rounding.
void fill_normal(uint64_t row_key, float mean, float std_dev, float* out, int64_t n) {
    constexpr float kTwoPi = 2.0f * std::numbers::pi_v<float>;
    for (int64_t i = 0; i < n; i += 2) {
        const uint64_t bits = mix64(row_key + static_cast<uint64_t>(i / 2 + 1) * kGolden);
        const float u1 = (static_cast<float>(bits >> 41) + 0.5f) * 0x1p-23f;
        const float u2 = static_cast<float>(bits & 0x7fffff) * 0x1p-23f;
        const float r = std::sqrt(-2.0f * std::log(u1));
        out[i] = mean + std_dev * r * std::cos(kTwoPi * u2);
        if (i + 1 < n) out[i + 1] = mean + std_dev * r * std::sin(kTwoPi * u2);
    }
}

// The distribution of each role: matrices N(0, 1/fan_in) as in common initialisations, the embedding at the
// 0.02 that GPT-style inits use, norms around 1 and biases small.
struct Distribution {
    float mean, std_dev;
};
Distribution distribution_of(const TensorSpec& t) {
    switch (t.role) {
        case TensorRole::token_embd: return {0.0f, 0.02f};
        case TensorRole::norm: return {1.0f, 0.1f};
        case TensorRole::bias: return {0.0f, 0.02f};
        case TensorRole::output:
        case TensorRole::matrix:
        case TensorRole::rope_freqs: break;
    }
    return {0.0f, 1.0f / std::sqrt(static_cast<float>(t.ne[0]))};
}

struct Vocab {
    std::vector<std::pair<std::string, Value>> keys;  // every tokenizer.* key, in file order
    int64_t n_tokens = 0;
    std::string summary;  // "llama, pre default"
};

// Copies the tokenizer keys; pads tokens, scores and token types to n_vocab with unused "[PADi]" tokens,
// as llama.cpp's converter does for models whose embedding has more rows than the tokenizer has tokens.
Vocab read_vocab(const std::string& path, int64_t n_vocab_wanted, int64_t& n_vocab) {
    const gguf::GgufFile f = gguf::GgufFile::open(path);
    Vocab v;
    const Value* tokens = f.find("tokenizer.ggml.tokens");
    if (!tokens || !tokens->is_array() || tokens->as_array().element_type != gguf::ValueType::STRING) {
        throw UsageError("'" + path + "' has no tokenizer.ggml.tokens string array; pass a GGUF that holds a "
                         "vocabulary, e.g. a ggml-vocab-*.gguf or any llama.cpp model");
    }
    v.n_tokens = static_cast<int64_t>(tokens->as_array().size());
    n_vocab = n_vocab_wanted ? n_vocab_wanted : v.n_tokens;
    if (n_vocab < v.n_tokens) {
        throw UsageError("--n-vocab " + std::to_string(n_vocab) + " is smaller than the " +
                         std::to_string(v.n_tokens) + " tokens of '" + path +
                         "'; synth pads a vocabulary but never cuts one");
    }
    const auto pad = static_cast<size_t>(n_vocab - v.n_tokens);
    for (const auto& [key, value] : f.metadata()) {
        if (key.rfind("tokenizer.", 0) != 0) continue;
        Value copy = value;
        if (pad && value.is_array() && static_cast<int64_t>(value.as_array().size()) == v.n_tokens) {
            gguf::Array a = value.as_array();
            if (auto* strings = std::get_if<std::vector<std::string>>(&a.items); strings && key == "tokenizer.ggml.tokens") {
                for (size_t i = 0; i < pad; ++i) strings->push_back("[PAD" + std::to_string(v.n_tokens + i) + "]");
            } else if (auto* scores = std::get_if<std::vector<float>>(&a.items)) {
                scores->resize(scores->size() + pad, 0.0f);
            } else if (auto* types = std::get_if<std::vector<int32_t>>(&a.items)) {
                types->resize(types->size() + pad, kTokenTypeUnused);
            } else {
                throw UnsupportedError("cannot pad '" + key + "' of '" + path + "' (an array of " +
                                       std::string(gguf::value_type_name(a.element_type)) +
                                       " per token); run without --n-vocab");
            }
            copy = Value(std::move(a));
        }
        v.keys.emplace_back(key, std::move(copy));
    }
    v.summary = f.get_string("tokenizer.ggml.model", "?") + ", pre " + f.get_string("tokenizer.ggml.pre", "default");
    return v;
}

void set_model_metadata(gguf::GgufWriter& w, const ModelShape& s, const quant::QuantTarget& target,
                        uint64_t seed, int64_t n_vocab) {
    const std::string a = std::string(s.arch) + ".";
    auto u32 = [](int64_t v) { return Value(static_cast<uint32_t>(v)); };
    w.set("general.architecture", Value(std::string(s.arch)));
    w.set("general.name", Value("synth-" + std::string(s.name)));
    w.set("general.description", Value("random weights with the tensor shapes of " + std::string(s.description) +
                                       "; made by spool synth --seed " + std::to_string(seed) +
                                       "; not a trained model"));
    w.set(a + "block_count", u32(s.n_layer));
    w.set(a + "context_length", u32(s.n_ctx_train));
    w.set(a + "embedding_length", u32(s.n_embd));
    w.set(a + "feed_forward_length", u32(s.n_ff));
    w.set(a + "attention.head_count", u32(s.n_head));
    w.set(a + "attention.head_count_kv", u32(s.n_head_kv));
    w.set(a + "rope.freq_base", Value(static_cast<float>(s.rope_freq_base)));
    w.set(a + "attention.layer_norm_rms_epsilon", Value(s.norm_eps));
    w.set("general.file_type", Value(static_cast<uint32_t>(target.file_type)));
    w.set(a + "vocab_size", u32(n_vocab));
    w.set(a + "rope.dimension_count", u32(s.head_dim()));
}

// Makes the bytes of one tensor: rows of random values (or the exact rope factors), stored as `type`.
void fill_tensor(const TensorSpec& t, GgmlType type, const ModelShape& shape, uint64_t seed, uint8_t* dst,
                 ThreadPool& pool, Progress& progress) {
    const int64_t n_per_row = t.ne[0];
    int64_t n_rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) n_rows *= t.ne[d];
    const TypeInfo& info = type_info(type);
    const size_t dst_row = row_bytes(type, n_per_row);
    if (t.role == TensorRole::rope_freqs) {
        const std::vector<float> factors = model::llama3_rope_factors(shape);
        info.quantize_row(factors.data(), dst, static_cast<int64_t>(factors.size()));
        progress.add(dst_row);
        return;
    }
    const Distribution dist = distribution_of(t);
    const uint64_t tensor_key = mix64(seed ^ mix64(name_hash(t.name)));
    const int64_t grain = std::max<int64_t>(1, kElementsPerChunk / n_per_row);
    pool.parallel_for(n_rows, grain, [&](int64_t begin, int64_t end) {
        std::vector<float> row(static_cast<size_t>(n_per_row));  // [n_per_row]
        for (int64_t r = begin; r < end; ++r) {
            fill_normal(mix64(tensor_key + static_cast<uint64_t>(r)), dist.mean, dist.std_dev, row.data(), n_per_row);
            info.quantize_row(row.data(), dst + static_cast<size_t>(r) * dst_row, n_per_row);
        }
        progress.add(static_cast<uint64_t>(end - begin) * dst_row);
    });
}

std::string list_shapes_text() {
    Table t({Table::Align::left, Table::Align::left, Table::Align::right, Table::Align::right, Table::Align::right,
             Table::Align::right, Table::Align::right, Table::Align::right, Table::Align::right, Table::Align::left});
    t.add({"shape", "arch", "n_embd", "layers", "heads", "kv", "n_ff", "vocab", "params", "model"});
    for (const ModelShape& s : model::all_shapes()) {
        t.add({std::string(s.name), std::string(s.arch), std::to_string(s.n_embd), std::to_string(s.n_layer),
               std::to_string(s.n_head), std::to_string(s.n_head_kv), std::to_string(s.n_ff),
               std::to_string(s.n_vocab), human_count(static_cast<uint64_t>(model::parameter_count(s, s.n_vocab))),
               std::string(s.description)});
    }
    return t.render();
}

const ModelShape& shape_or_throw(const std::string& name) {
    if (const ModelShape* s = model::find_shape(name)) return *s;
    std::string names;
    for (const ModelShape& s : model::all_shapes()) names += (names.empty() ? "" : ", ") + std::string(s.name);
    throw UsageError("unknown shape '" + name + "'; known shapes: " + names + " (spool synth --list-shapes)");
}

void run_synth(const SynthOptions& opt) {
    if (opt.list_shapes) {
        std::fputs(list_shapes_text().c_str(), stdout);
        return;
    }
    if (opt.shape.empty()) throw UsageError("synth needs --shape NAME (see spool synth --list-shapes)");
    if (opt.vocab.empty()) throw UsageError("synth needs --vocab VOCAB.gguf, a GGUF whose tokenizer.* keys to copy");
    if (opt.out.empty()) throw UsageError("synth needs -o OUT, the GGUF file to write");
    const ModelShape& shape = shape_or_throw(opt.shape);
    check_output_path(opt.out);
    const auto target = quant::parse_quant_target(opt.type);
    if (!target) {
        std::string names;
        for (std::string_view n : quant::quant_target_names()) names += (names.empty() ? "" : ", ") + std::string(n);
        throw UsageError("unknown --type '" + opt.type + "'; valid types: " + names);
    }
    if (opt.n_vocab < 0) throw UsageError("--n-vocab must be positive, got " + std::to_string(opt.n_vocab));
    int64_t n_vocab = 0;
    const Vocab vocab = read_vocab(opt.vocab, opt.n_vocab, n_vocab);

    gguf::GgufWriter writer;
    set_model_metadata(writer, shape, *target, opt.seed, n_vocab);
    for (const auto& [key, value] : vocab.keys) writer.set(key, value);
    writer.set("general.quantization_version", Value(kQuantizationVersion));

    const std::vector<TensorSpec> specs = model::tensor_specs(shape, n_vocab);
    const quant::ModelFacts facts{std::string(shape.arch), static_cast<int>(shape.n_layer),
                                  static_cast<int>(shape.n_head), static_cast<int>(shape.n_head_kv), 0,
                                  !shape.tied_embeddings};
    std::vector<GgmlType> types;
    int fallbacks = 0;
    for (const TensorSpec& t : specs) {
        const quant::TensorChoice c = quant::choose_tensor_type(*target, facts, t.name, t.ne, GgmlType::F32);
        if (!type_info(c.type).quantize_row) {
            throw UnsupportedError("tensor '" + t.name + "' would be " + std::string(type_name(c.type)) +
                                   ", which spool cannot write yet");
        }
        types.push_back(c.type);
        fallbacks += c.fallback;
        writer.add_tensor(t.name, c.type, t.ne);
    }
    uint64_t total_bytes = 0;
    for (const auto& p : writer.tensors()) total_bytes += p.n_bytes;
    const int64_t params = model::parameter_count(shape, n_vocab);

    if (!opt.quiet) {
        std::string s = "synth " + std::string(shape.name) + " as " + target->name + " -> " + opt.out + "\n";
        Table t({Table::Align::left, Table::Align::left});
        t.add({"shape", std::string(shape.description)});
        t.add({"", "n_embd " + std::to_string(shape.n_embd) + ", " + std::to_string(shape.n_layer) + " layers, " +
                       std::to_string(shape.n_head) + " heads (" + std::to_string(shape.n_head_kv) + " kv), n_ff " +
                       std::to_string(shape.n_ff) + ", context " + std::to_string(shape.n_ctx_train)});
        t.add({"vocab", opt.vocab + ": " + with_commas(static_cast<uint64_t>(vocab.n_tokens)) + " tokens (" +
                            vocab.summary + ")"});
        t.add({"size", std::to_string(specs.size()) + " tensors, " + human_count(static_cast<uint64_t>(params)) +
                           " params, " + human_bytes(total_bytes)});
        s += t.render();
        if (n_vocab != shape.n_vocab) {
            s += "note: n_vocab is " + std::to_string(n_vocab) + (opt.n_vocab ? " (--n-vocab)" : " (the vocab's tokens)") +
                 "; the real model has " + std::to_string(shape.n_vocab) + ", so token_embd" +
                 (shape.tied_embeddings ? "" : " and output") + " differ from its shapes" +
                 (opt.n_vocab ? "" : "; --n-vocab " + std::to_string(shape.n_vocab) + " pads the vocabulary to them") +
                 "\n";
        } else if (n_vocab > vocab.n_tokens) {
            s += "note: padded the vocabulary with " + std::to_string(n_vocab - vocab.n_tokens) +
                 " unused [PAD] tokens to n_vocab " + std::to_string(n_vocab) + "\n";
        }
        if (fallbacks) {
            s += "note: " + std::to_string(fallbacks) + " tensor(s) have rows that " + target->name +
                 "'s preferred types cannot store; they use compatible types, as llama.cpp does\n";
        }
        std::fputs(s.c_str(), stdout);
        std::fflush(stdout);
    }

    ThreadPool pool(opt.threads);
    Progress progress("synth " + std::string(shape.name), total_bytes, Progress::Unit::bytes, !opt.quiet);
    const auto start = std::chrono::steady_clock::now();
    writer.write(opt.out, [&](size_t i, uint8_t* dst, size_t) {
        fill_tensor(specs[i], types[i], shape, opt.seed, dst, pool, progress);
    });
    progress.finish();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!opt.quiet) {
        char bpw[32];
        std::snprintf(bpw, sizeof bpw, "%.2f", 8.0 * static_cast<double>(total_bytes) / static_cast<double>(params));
        std::printf("wrote %s in %s: %s (%s bits/weight), seed %llu, %zu threads\n", opt.out.c_str(),
                    format_seconds(seconds).c_str(), human_bytes(total_bytes).c_str(), bpw,
                    static_cast<unsigned long long>(opt.seed), pool.size());
    }
}

}  // namespace

void register_synth(CLI::App& app) {
    auto opt = std::make_shared<SynthOptions>();
    CLI::App* cmd = app.add_subcommand("synth", "Make a random-weight model with the exact shapes of a real one "
                                                "(for benchmarks)");
    cmd->add_option("--shape", opt->shape, "Model shape, e.g. llama2-7b (see --list-shapes)");
    cmd->add_option("--type", opt->type, "Weight type or llama.cpp mixture (F16, Q8_0, Q4_K_M, ...)")
        ->capture_default_str();
    cmd->add_option("--vocab", opt->vocab, "GGUF file whose tokenizer.* keys the model gets");
    cmd->add_option("-o,--output", opt->out, "Output GGUF file");
    cmd->add_option("--seed", opt->seed, "Random seed; one seed gives the same weights for every type and -t")
        ->capture_default_str();
    cmd->add_option("-t,--threads", opt->threads, "Worker threads (default: one per hardware thread)");
    cmd->add_option("--n-vocab", opt->n_vocab, "Embedding rows; pads the vocabulary with unused tokens "
                                               "(default: the vocab file's token count)");
    cmd->add_flag("-q,--quiet", opt->quiet, "No progress bar or summary");
    cmd->add_flag("--list-shapes", opt->list_shapes, "List the known shapes and exit");
    cmd->callback([opt] { run_synth(*opt); });
}

}  // namespace spool::tools
