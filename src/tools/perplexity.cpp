// `spool perplexity -m MODEL -f TEXT [-c 512] [-b 512] [--chunks N] [-ctk TYPE -ctv TYPE] [--backend B] [--json]`:
// the model's perplexity on a text, computed as llama.cpp's llama-perplexity does (src/bench/perplexity.h), so the
// numbers line up with it for the same file, text and context. Running values go to stdout as "[k]ppl," like
// llama-perplexity's, then "Final estimate: PPL = X +/- Y"; --json prints one object instead.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "bench/perplexity.h"
#include "core/progress.h"
#include "model/hparams.h"
#include "runtime/kv_cache.h"
#include "spool/engine.h"
#include "spool/errors.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"
#include "tools/generation_flags.h"

namespace spool::tools {
namespace {

struct PerplexityFlags {
    GenerationFlags gen;  // model, threads, context, batch, backend, -ngl, cache type, cpu isa
    std::string file;
    int64_t chunks = -1;
    bool json = false;
    bool decode = false;
};

nlohmann::ordered_json result_json(const PerplexityFlags& f, const Engine& engine,
                                   const bench::PerplexityOptions& options, const bench::PerplexityResult& r,
                                   double load_ms) {
    nlohmann::ordered_json j;
    j["model"] = f.gen.model;
    j["text_file"] = f.file;
    j["backend"] = engine.backend().name();
    j["kv_cache_type"] = f.gen.cache_type;
    j["kv_cache_type_v"] = f.gen.cache_type_v.empty() ? f.gen.cache_type : f.gen.cache_type_v;
    j["n_ctx"] = r.plan.n_ctx;
    j["n_batch"] = options.batch_size;
    j["scored_by"] = options.score_by_decode ? "decode" : "prefill";
    j["text_tokens"] = r.n_text_tokens;
    j["n_chunks"] = r.plan.n_chunks;
    j["tokens_scored"] = r.stats.count();
    j["final_ppl"] = r.stats.ppl();
    j["final_ppl_pm"] = r.stats.ppl_error();
    j["ln_ppl_mean_nll_nats"] = r.stats.mean_nll();
    j["running_ppl_after_chunk"] = r.running_ppl;
    j["load_ms"] = load_ms;
    j["eval_seconds"] = r.seconds;
    j["eval_tok_per_s"] = r.seconds > 0 ? static_cast<double>(r.tokens_evaluated) / r.seconds : 0.0;
    return j;
}

void run_perplexity_tool(const PerplexityFlags& f) {
    if (f.file.empty()) throw UsageError("perplexity needs a text: -f FILE");
    check_generation_flags(f.gen);
    const std::string text = read_prompt_file(f.file);

    double load_ms = 0;
    const std::unique_ptr<Engine> engine = load_engine(f.gen, load_ms);
    const int64_t n_ctx_train = engine->hparams().n_ctx_train;
    const int64_t n_ctx = f.gen.n_ctx > 0 ? f.gen.n_ctx : n_ctx_train;  // 0: the model's, as llama.cpp's -c 0
    if (n_ctx > n_ctx_train) {
        throw UsageError("-c " + std::to_string(f.gen.n_ctx) + " is above the model's training context (" +
                         std::to_string(n_ctx_train) + "); give -c " + std::to_string(n_ctx_train) + " or less");
    }
    const std::vector<int32_t> tokens = engine->tokenizer().encode(text, /*add_special=*/true, /*parse_special=*/false);

    bench::PerplexityOptions options;
    options.n_ctx = n_ctx;
    options.max_chunks = f.chunks;
    options.batch_size = std::min(f.gen.batch_size, n_ctx);
    options.kv_type = parse_kv_cache_type(f.gen.cache_type);
    if (!f.gen.cache_type_v.empty()) options.kv_type_v = parse_kv_cache_type(f.gen.cache_type_v);
    options.score_by_decode = f.decode;
    options.n_threads = static_cast<size_t>(f.gen.n_threads);
    const bench::PerplexityPlan plan = bench::plan_perplexity(static_cast<int64_t>(tokens.size()), options.n_ctx,
                                                              options.max_chunks);
    if (!f.json) {
        const std::string scoring = options.score_by_decode ? std::string("scored by decode steps")
                                                            : "batch " + std::to_string(options.batch_size);
        std::fprintf(stderr,
                     "spool: perplexity over %lld chunks of %lld tokens (%lld text tokens, %lld scored per chunk), "
                     "%s, KV cache %s, backend %s\n",
                     static_cast<long long>(plan.n_chunks), static_cast<long long>(plan.n_ctx),
                     static_cast<long long>(tokens.size()), static_cast<long long>(plan.scored_per_chunk()),
                     scoring.c_str(), runtime::kv_cache_text(f.gen.cache_type, f.gen.cache_type_v).c_str(),
                     engine->backend().name().c_str());
    }

    // llama-perplexity's progress: the running values as each chunk ends, and an ETA after the first.
    const bench::PerplexityResult result = bench::run_perplexity(
        *engine, tokens, options, [&](int64_t chunk, const bench::PerplexityResult& so_far) {
            if (f.json) return;
            if (chunk == 0) {
                const double left = so_far.seconds * static_cast<double>(plan.n_chunks - 1);
                std::fprintf(stderr, "spool: %.2f s per chunk, ETA %s\n", so_far.seconds,
                             Progress::format_duration(left).c_str());
            }
            std::printf("[%lld]%.4f,", static_cast<long long>(chunk + 1), so_far.running_ppl.back());
            std::fflush(stdout);
        });

    if (f.json) {
        const std::string out = result_json(f, *engine, options, result, load_ms).dump(1) + "\n";
        std::fwrite(out.data(), 1, out.size(), stdout);
        return;
    }
    std::printf("\n");
    std::printf("Final estimate: PPL = %.4f +/- %.5f\n", result.stats.ppl(), result.stats.ppl_error());
    std::printf("ln PPL (mean NLL) = %.6f nats over %lld scored tokens\n", result.stats.mean_nll(),
                static_cast<long long>(result.stats.count()));
    const double rate = result.seconds > 0 ? static_cast<double>(result.tokens_evaluated) / result.seconds : 0.0;
    std::fprintf(stderr, "spool: load %.1f ms, evaluation %.2f s (%.1f tokens per second)\n", load_ms, result.seconds,
                 rate);
}

}  // namespace

void register_perplexity(CLI::App& app) {
    auto f = std::make_shared<PerplexityFlags>();
    f->gen.n_ctx = 512;
    CLI::App* cmd = app.add_subcommand(
        "perplexity", "Perplexity of a model on a text, as llama-perplexity computes it (chunks of -c tokens, the "
                      "second half of each scored)");
    cmd->add_option("-m,--model", f->gen.model, "GGUF model file")->required();
    cmd->add_option("-f,--file", f->file, "Text file to score")->required();
    cmd->add_option("-c,--ctx-size", f->gen.n_ctx,
                    "Tokens per chunk (each chunk is a fresh context); 0 = the model's training context")
        ->capture_default_str();
    cmd->add_option("-b,--batch-size", f->gen.batch_size, "Tokens per prefill batch (at most -c)")
        ->capture_default_str();
    cmd->add_option("--chunks", f->chunks, "Chunks to score at most; -1 = every whole chunk of the text")
        ->capture_default_str();
    cmd->add_option("-t,--threads", f->gen.n_threads, "CPU threads; 0 = one per hardware thread")
        ->capture_default_str();
    cmd->add_option_function<std::string>(
           "--backend",
           [f](const std::string& name) {
               f->gen.backend = name;
               f->gen.backend_given = true;
           },
           "Compute backend: cpu (default), cuda (when built, with a GPU) or ref (slow float64 oracle)");
    cmd->add_option("--n-gpu-layers", f->gen.n_gpu_layers,
                    "-ngl N: layers on the GPU (cuda backend), the last N and the output head; -1 = all")
        ->capture_default_str();
    add_cache_type_flags(*cmd, f->gen);
    cmd->add_option("--cpu-isa", f->gen.cpu_isa, "CPU kernel set: auto, scalar, avx2, avx512, amx (default: auto)");
    cmd->add_flag("--decode", f->decode,
                  "Score each chunk's second half by one decode step per token (the decode kernels) instead of "
                  "prefill batches");
    cmd->add_flag("--json", f->json, "Print one JSON object (final and running values, timings) instead");
    cmd->callback([f] { run_perplexity_tool(*f); });
}

}  // namespace spool::tools
