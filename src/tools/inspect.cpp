// `spool inspect FILE [--json] [--all-metadata]`: what a GGUF file holds - architecture, hyperparameters,
// tokenizer, metadata, a tensor table and totals (parameters, bytes, bits per weight, per-type counts).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>

#include "gguf/file.h"
#include "quant/mixtures.h"
#include "quant/types.h"
#include "tools/commands.h"
#include "tools/format.h"

namespace spool::tools {
namespace {

using gguf::GgufFile;
using gguf::Value;
using gguf::ValueType;
using Json = nlohmann::ordered_json;

constexpr size_t kShownArrayItems = 8;  // arrays are cut to this many items unless --all-metadata

struct InspectOptions {
    std::string path;
    bool json = false;
    bool all_metadata = false;
};

// llama.cpp's hyperparameter keys, relative to "<arch>.", with spool's names for them.
struct HparamKey {
    const char* label;
    const char* suffix;
};
constexpr HparamKey kHparams[] = {
    {"n_embd", "embedding_length"},
    {"n_layer", "block_count"},
    {"n_head", "attention.head_count"},
    {"n_head_kv", "attention.head_count_kv"},
    {"n_ff", "feed_forward_length"},
    {"n_ctx_train", "context_length"},
    {"rope_freq_base", "rope.freq_base"},
    {"rope_dims", "rope.dimension_count"},
    {"rope_scaling", "rope.scaling.type"},
    {"rope_scale", "rope.scaling.factor"},
    {"norm_rms_eps", "attention.layer_norm_rms_epsilon"},
    {"norm_eps", "attention.layer_norm_epsilon"},
    {"n_vocab", "vocab_size"},
    {"n_expert", "expert_count"},
    {"n_expert_used", "expert_used_count"},
    {"sliding_window", "attention.sliding_window"},
};

// A float32 as the shortest decimal that reads back as the same float (1e-05, not 9.99999974737875e-06).
double tidy_float(float f) {
    char buf[32];
    const auto res = std::to_chars(buf, buf + sizeof buf, f);
    *res.ptr = '\0';
    return std::strtod(buf, nullptr);
}

std::string display(const Value& v, bool all) {
    if (v.type() == ValueType::FLOAT32) return format_double(tidy_float(std::get<float>(v.storage())));
    return v.to_display(all ? std::numeric_limits<size_t>::max() : kShownArrayItems);
}

std::string type_label(const Value& v) {
    if (!v.is_array()) return std::string(gguf::value_type_name(v.type()));
    const gguf::Array& a = std::get<gguf::Array>(v.storage());
    return "array[" + std::string(gguf::value_type_name(a.element_type)) + "; " + std::to_string(a.size()) + "]";
}

Json scalar_json(const Value& v);

Json array_items_json(const gguf::Array& a, size_t limit) {
    Json items = Json::array();
    std::visit(
        [&](const auto& vec) {
            using Elem = typename std::decay_t<decltype(vec)>::value_type;
            for (size_t i = 0; i < vec.size() && i < limit; ++i) {
                if constexpr (std::is_same_v<Elem, Value>) {
                    items.push_back(scalar_json(vec[i]));
                } else if constexpr (std::is_same_v<Elem, float>) {
                    items.push_back(tidy_float(vec[i]));
                } else if constexpr (std::is_same_v<Elem, bool>) {
                    items.push_back(static_cast<bool>(vec[i]));
                } else {
                    items.push_back(vec[i]);
                }
            }
        },
        a.items);
    return items;
}

// A value's JSON: numbers, bools and strings as themselves; a (nested) array as its items.
Json scalar_json(const Value& v) {
    return std::visit(
        [&](const auto& x) -> Json {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, gguf::Array>) {
                return array_items_json(x, std::numeric_limits<size_t>::max());
            } else if constexpr (std::is_same_v<T, float>) {
                return tidy_float(x);
            } else {
                return x;
            }
        },
        v.storage());
}

// {"type": "uint32", "value": 256} or {"type": "array", "element_type": ..., "length": n, "items": [...]}.
Json metadata_entry_json(const Value& v, bool all) {
    Json entry;
    entry["type"] = gguf::value_type_name(v.type());
    if (!v.is_array()) {
        entry["value"] = scalar_json(v);
        return entry;
    }
    const gguf::Array& a = std::get<gguf::Array>(v.storage());
    entry["element_type"] = gguf::value_type_name(a.element_type);
    entry["length"] = a.size();
    entry["items"] = array_items_json(a, all ? std::numeric_limits<size_t>::max() : kShownArrayItems);
    entry["abbreviated"] = !all && a.size() > kShownArrayItems;
    return entry;
}

std::string shape_text(const std::vector<int64_t>& ne) {
    std::string s;
    for (size_t i = 0; i < ne.size(); ++i) s += (i ? " x " : "") + std::to_string(ne[i]);
    return s;
}

struct TypeTotals {
    uint64_t n_tensors = 0, n_params = 0, n_bytes = 0;
};

struct Totals {
    uint64_t n_params = 0, n_bytes = 0;
    std::map<std::string, TypeTotals> by_type;  // by type name, sorted
    double bits_per_weight() const { return n_params ? 8.0 * static_cast<double>(n_bytes) / n_params : 0.0; }
};

Totals totals_of(const GgufFile& f) {
    Totals t;
    for (const gguf::TensorInfo& info : f.tensors()) {
        t.n_params += info.n_elements;
        t.n_bytes += info.n_bytes;
        TypeTotals& tt = t.by_type[std::string(spool::type_name(info.type))];
        ++tt.n_tensors;
        tt.n_params += info.n_elements;
        tt.n_bytes += info.n_bytes;
    }
    return t;
}

struct TokenizerSummary {
    bool present = false;
    std::string model, pre;
    uint64_t n_tokens = 0, n_merges = 0;
    const Value* bos = nullptr;
    const Value* eos = nullptr;
    bool has_chat_template = false;
};

TokenizerSummary tokenizer_of(const GgufFile& f) {
    TokenizerSummary t;
    t.model = f.get_string("tokenizer.ggml.model", "");
    t.pre = f.get_string("tokenizer.ggml.pre", "");
    if (const Value* tokens = f.find("tokenizer.ggml.tokens"); tokens && tokens->is_array()) {
        t.n_tokens = tokens->as_array("tokenizer.ggml.tokens").size();
    }
    if (const Value* merges = f.find("tokenizer.ggml.merges"); merges && merges->is_array()) {
        t.n_merges = merges->as_array("tokenizer.ggml.merges").size();
    }
    t.bos = f.find("tokenizer.ggml.bos_token_id");
    t.eos = f.find("tokenizer.ggml.eos_token_id");
    t.has_chat_template = f.find("tokenizer.chat_template") != nullptr;
    t.present = !t.model.empty() || t.n_tokens != 0;
    return t;
}

// "1 \"<s>\"": a special token's id and its text, when the vocabulary has it.
std::string token_text(const GgufFile& f, const Value* id_value) {
    if (!id_value) return "-";
    const uint64_t id = id_value->as_u64("token id");
    std::string s = std::to_string(id);
    if (const Value* tokens = f.find("tokenizer.ggml.tokens");
        tokens && tokens->is_array() && tokens->as_array().element_type == ValueType::STRING) {
        const auto& list = tokens->as_strings("tokenizer.ggml.tokens");
        if (id < list.size()) s += " " + Value(list[id]).to_display();
    }
    return s;
}

std::string file_type_text(const GgufFile& f) {
    const Value* v = f.find("general.file_type");
    if (!v) return "";
    const uint64_t id = v->as_u64("general.file_type");
    const std::string_view name = quant::file_type_name(id <= UINT32_MAX ? static_cast<uint32_t>(id) : UINT32_MAX);
    return (name.empty() ? "unknown" : std::string(name)) + " (" + std::to_string(id) + ")";
}

void print_text(const GgufFile& f, const InspectOptions& opt) {
    const std::string arch = f.architecture();
    const Totals totals = totals_of(f);
    std::string out;

    Table head({Table::Align::left, Table::Align::left}, "");
    head.add({"file", f.path()});
    head.add({"size", human_bytes(f.file_bytes()) + " (" + with_commas(f.file_bytes()) + " bytes), GGUF v" +
                          std::to_string(f.version()) + ", " + std::to_string(f.n_splits()) +
                          (f.n_splits() == 1 ? " file" : " split parts") + ", alignment " +
                          std::to_string(f.alignment())});
    head.add({"name", f.get_string("general.name", "-")});
    head.add({"architecture", arch.empty() ? "-" : arch});
    if (const std::string ft = file_type_text(f); !ft.empty()) head.add({"file type", ft});
    out += head.render();

    out += "\nhyperparameters" + (arch.empty() ? std::string() : " (" + arch + ".*)") + "\n";
    Table hp({Table::Align::left, Table::Align::right, Table::Align::left});
    for (const HparamKey& k : kHparams) {
        const std::string key = arch + "." + k.suffix;
        if (const Value* v = f.find(key)) hp.add({k.label, display(*v, false), key});
    }
    const TokenizerSummary tok = tokenizer_of(f);
    if (!f.find(arch + ".vocab_size") && tok.n_tokens) {
        hp.add({"n_vocab", std::to_string(tok.n_tokens), "token count of tokenizer.ggml.tokens"});
    }
    out += hp.empty() ? "  none: the file has no " + arch + ".* hyperparameter keys\n" : hp.render();

    out += "\ntokenizer\n";
    if (!tok.present) {
        out += "  none: the file has no tokenizer.ggml.* keys\n";
    } else {
        Table t({Table::Align::left, Table::Align::left});
        t.add({"model", (tok.model.empty() ? "-" : tok.model) + (tok.pre.empty() ? "" : ", pre " + tok.pre)});
        t.add({"vocab", with_commas(tok.n_tokens) + " tokens, " + with_commas(tok.n_merges) + " merges"});
        t.add({"bos / eos", token_text(f, tok.bos) + " / " + token_text(f, tok.eos)});
        t.add({"chat template", tok.has_chat_template ? "yes" : "no"});
        out += t.render();
    }

    out += "\nmetadata (" + std::to_string(f.metadata().size()) + " keys)\n";
    Table md({Table::Align::left, Table::Align::left, Table::Align::left});
    for (const auto& [key, value] : f.metadata()) md.add({key, type_label(value), display(value, opt.all_metadata)});
    out += md.render();

    out += "\ntensors (" + std::to_string(f.tensors().size()) + ")\n";
    if (f.tensors().empty()) {
        out += "  none: a vocabulary-only file\n";
    } else {
        const bool split = f.n_splits() > 1;
        Table tt({Table::Align::right, Table::Align::left, Table::Align::left, Table::Align::right,
                  Table::Align::right, Table::Align::right, Table::Align::right});
        std::vector<std::string> header = {"#", "name", "type", "shape", "params", "bytes"};
        if (split) header.push_back("part");
        tt.add(header);
        size_t i = 0;
        for (const gguf::TensorInfo& t : f.tensors()) {
            std::vector<std::string> row = {std::to_string(i++), t.name, std::string(spool::type_name(t.type)),
                                            shape_text(t.ne), with_commas(t.n_elements), human_bytes(t.n_bytes)};
            if (split) row.push_back(std::to_string(t.split + 1));
            tt.add(std::move(row));
        }
        out += tt.render();
    }

    if (f.tensors().empty()) {
        std::fputs(out.c_str(), stdout);
        return;
    }
    out += "\ntotals\n";
    Table sum({Table::Align::left, Table::Align::left});
    sum.add({"parameters", with_commas(totals.n_params) + " (" + human_count(totals.n_params) + ")"});
    sum.add({"tensor bytes", with_commas(totals.n_bytes) + " (" + human_bytes(totals.n_bytes) + ")"});
    if (totals.n_params) {
        char bpw[32];
        std::snprintf(bpw, sizeof bpw, "%.3f", totals.bits_per_weight());
        sum.add({"bits per weight", bpw});
    }
    out += sum.render();
    if (!totals.by_type.empty()) {
        Table bt({Table::Align::left, Table::Align::right, Table::Align::right, Table::Align::right,
                  Table::Align::right});
        bt.add({"type", "tensors", "params", "bytes", "bits/weight"});
        for (const auto& [name, t] : totals.by_type) {
            char bpw[32];
            std::snprintf(bpw, sizeof bpw, "%.3f", t.n_params ? 8.0 * static_cast<double>(t.n_bytes) / t.n_params : 0.0);
            bt.add({name, std::to_string(t.n_tensors), with_commas(t.n_params), human_bytes(t.n_bytes), bpw});
        }
        out += "\nby type\n" + bt.render();
    }
    std::fputs(out.c_str(), stdout);
}

void print_json(const GgufFile& f, const InspectOptions& opt) {
    const std::string arch = f.architecture();
    Json j;
    j["file"] = f.path();
    j["file_bytes"] = f.file_bytes();
    j["gguf_version"] = f.version();
    j["n_splits"] = f.n_splits();
    j["alignment"] = f.alignment();
    j["name"] = f.find("general.name") ? Json(f.get_string("general.name", "")) : Json(nullptr);
    j["architecture"] = arch.empty() ? Json(nullptr) : Json(arch);
    if (const Value* ft = f.find("general.file_type")) {
        const uint64_t id = ft->as_u64("general.file_type");
        const auto name = quant::file_type_name(id <= UINT32_MAX ? static_cast<uint32_t>(id) : UINT32_MAX);
        j["file_type"] = {{"id", id}, {"name", name.empty() ? Json(nullptr) : Json(name)}};
    } else {
        j["file_type"] = nullptr;
    }
    Json hp = Json::object();
    for (const HparamKey& k : kHparams) {
        if (const Value* v = f.find(arch + "." + k.suffix)) hp[k.label] = scalar_json(*v);
    }
    const TokenizerSummary tok = tokenizer_of(f);
    if (!hp.contains("n_vocab") && tok.n_tokens) hp["n_vocab"] = tok.n_tokens;  // llama.cpp's n_vocab
    j["hparams"] = hp;

    if (tok.present) {
        j["tokenizer"] = {{"model", tok.model},
                          {"pre", tok.pre.empty() ? Json(nullptr) : Json(tok.pre)},
                          {"n_tokens", tok.n_tokens},
                          {"n_merges", tok.n_merges},
                          {"bos_token_id", tok.bos ? Json(tok.bos->as_u64("bos")) : Json(nullptr)},
                          {"eos_token_id", tok.eos ? Json(tok.eos->as_u64("eos")) : Json(nullptr)},
                          {"has_chat_template", tok.has_chat_template}};
    } else {
        j["tokenizer"] = nullptr;
    }

    Json md = Json::object();
    for (const auto& [key, value] : f.metadata()) md[key] = metadata_entry_json(value, opt.all_metadata);
    j["metadata"] = std::move(md);

    Json tensors = Json::array();
    for (const gguf::TensorInfo& t : f.tensors()) {
        tensors.push_back({{"name", t.name},
                           {"type", spool::type_name(t.type)},
                           {"shape", t.ne},
                           {"n_elements", t.n_elements},
                           {"n_bytes", t.n_bytes},
                           {"offset", t.offset},
                           {"split", t.split}});
    }
    j["tensors"] = std::move(tensors);

    const Totals totals = totals_of(f);
    Json by_type = Json::object();
    for (const auto& [name, t] : totals.by_type) {
        by_type[name] = {{"n_tensors", t.n_tensors}, {"n_params", t.n_params}, {"n_bytes", t.n_bytes}};
    }
    j["totals"] = {{"n_tensors", f.tensors().size()},
                   {"n_params", totals.n_params},
                   {"tensor_bytes", totals.n_bytes},
                   {"bits_per_weight", totals.n_params ? Json(totals.bits_per_weight()) : Json(nullptr)},
                   {"by_type", std::move(by_type)}};
    // Replace invalid UTF-8 instead of throwing: token texts may hold byte pieces.
    const std::string text = j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::fputs(text.c_str(), stdout);
    std::fputc('\n', stdout);
}

}  // namespace

void register_inspect(CLI::App& app) {
    auto opt = std::make_shared<InspectOptions>();
    CLI::App* cmd = app.add_subcommand("inspect", "Show what a GGUF file holds: hyperparameters, tokenizer, "
                                                  "metadata, tensors and size totals");
    cmd->add_option("FILE", opt->path, "GGUF file (for a split model, its first part)")->required();
    cmd->add_flag("--json", opt->json, "Print one JSON object instead of tables (for scripts)");
    cmd->add_flag("--all-metadata", opt->all_metadata, "Show every item of metadata arrays (tokens, merges, ...)");
    cmd->callback([opt] {
        const GgufFile file = GgufFile::open(opt->path);
        if (opt->json) {
            print_json(file, *opt);
        } else {
            print_text(file, *opt);
        }
    });
}

}  // namespace spool::tools
