// Loads llama.cpp's reference outputs for the tiny models (../shared/reference/tiny, README sections 2-5)
// and the per-file tolerances of tests/tolerances.h.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.h"
#include "tolerances.h"

namespace spool::testing {

// The 11 tiny model types shared in ../shared/models/tiny.
inline const std::vector<std::string>& tiny_types() {
    static const std::vector<std::string> types = {"F32",  "F16",    "Q8_0", "Q6_K", "Q5_K_M", "Q5_1",
                                                   "Q5_0", "Q4_K_M", "Q4_1", "Q4_0", "Q2_K"};
    return types;
}

inline std::filesystem::path tiny_model_path(const std::string& type) {
    return shared_dir() / "models" / "tiny" / ("tiny-" + type + ".gguf");
}
inline std::filesystem::path tiny_reference_path(const std::string& type) {
    return shared_dir() / "reference" / "tiny" / ("tiny-" + type + ".json");
}

inline tolerance::LogitTolerance tiny_tolerance(const std::string& type) {
    if (type == "F32") return tolerance::kLogitsF32;
    if (type == "F16") return tolerance::kLogitsF16;
    if (type == "BF16") return tolerance::kLogitsBF16;
    if (type == "Q8_0") return tolerance::kLogitsQ8_0;
    return tolerance::kLogitsQuantized;
}

struct GreedyReference {
    std::vector<int32_t> tokens;         // [64]
    std::vector<double> top1_logit;      // [64]
    std::vector<double> top1_top2_gap;   // [64]
};

struct PromptReference {
    std::string text;
    std::vector<int32_t> tokens;                   // BOS included
    std::vector<std::vector<int32_t>> topk_ids;    // [n_tokens][20]
    std::vector<std::vector<double>> topk_logits;  // [n_tokens][20]
    std::vector<double> lse;                       // [n_tokens]
    std::vector<float> last_logits;                // [n_vocab], row n_tokens - 1
    GreedyReference greedy;
};

struct ModelReference {
    std::string kv_cache_type;  // "f32" or "f16"
    int64_t n_vocab = 0;
    std::vector<PromptReference> prompts;
};

inline std::vector<float> read_f32_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    in.seekg(0, std::ios::end);
    const auto bytes = static_cast<size_t>(in.tellg());
    in.seekg(0);
    std::vector<float> out(bytes / sizeof(float));
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size() * sizeof(float)));
    return out;
}

inline ModelReference load_tiny_reference(const std::string& type) {
    const std::filesystem::path path = tiny_reference_path(type);
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    const nlohmann::json j = nlohmann::json::parse(in);
    ModelReference ref;
    ref.kv_cache_type = j.at("kv_cache_type").get<std::string>();
    ref.n_vocab = j.at("n_vocab").get<int64_t>();
    for (const nlohmann::json& p : j.at("prompts")) {
        PromptReference pr;
        pr.text = p.at("text").get<std::string>();
        pr.tokens = p.at("tokens").get<std::vector<int32_t>>();
        pr.topk_ids = p.at("topk_ids").get<std::vector<std::vector<int32_t>>>();
        pr.topk_logits = p.at("topk_logits").get<std::vector<std::vector<double>>>();
        pr.lse = p.at("lse").get<std::vector<double>>();
        pr.last_logits = read_f32_file(path.parent_path() / p.at("last_logits_file").get<std::string>());
        const nlohmann::json& g = p.at("greedy");
        pr.greedy.tokens = g.at("tokens").get<std::vector<int32_t>>();
        pr.greedy.top1_logit = g.at("top1_logit").get<std::vector<double>>();
        pr.greedy.top1_top2_gap = g.at("top1_top2_gap").get<std::vector<double>>();
        ref.prompts.push_back(std::move(pr));
    }
    return ref;
}

// llama-perplexity's result for one tiny file (reference/tiny/perplexity.json, README section 5).
struct PerplexityReference {
    std::string kv_cache_type;
    double ln_ppl = 0;
    double ppl_pm_over_ppl = 0;
    int64_t n_ctx = 0, n_chunks = 0, tokens_scored = 0;
    std::vector<double> running_ppl;
};

inline PerplexityReference load_perplexity_reference(const std::string& type) {
    std::ifstream in(shared_dir() / "reference/tiny/perplexity.json");
    const nlohmann::json j = nlohmann::json::parse(in);
    for (const nlohmann::json& r : j.at("results")) {
        if (r.at("model").get<std::string>() != "tiny-" + type + ".gguf") continue;
        PerplexityReference ref;
        ref.kv_cache_type = r.at("kv_cache_type").get<std::string>();
        ref.ln_ppl = r.at("ln_ppl_mean_nll_nats").get<double>();
        ref.ppl_pm_over_ppl = r.at("final_ppl_pm").get<double>() / r.at("final_ppl").get<double>();
        ref.n_ctx = r.at("n_ctx").get<int64_t>();
        ref.n_chunks = r.at("n_chunks").get<int64_t>();
        ref.tokens_scored = r.at("tokens_scored").get<int64_t>();
        ref.running_ppl = r.at("running_ppl_after_chunk").get<std::vector<double>>();
        return ref;
    }
    throw std::runtime_error("no perplexity reference for tiny-" + type);
}

}  // namespace spool::testing
