// The shared run/chat flags: CLI11 registration with llama.cpp's names and defaults, their checks, and the
// options, prompts and timing report built from them.
#include "tools/generation_flags.h"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <sstream>

#include "gguf/file.h"
#include "model/model.h"
#include "spool/errors.h"
#include "tokenizer/tokenizer.h"

namespace spool::tools {
namespace {

// "   10.20 ms /    13 tokens (    0.78 ms per token,  1274.51 tokens per second)"
std::string rate_line(const char* label, double ms, int64_t n, const char* unit) {
    char buf[256];
    const double per = n > 0 ? ms / static_cast<double>(n) : 0.0;
    const double rate = ms > 0 ? 1000.0 * static_cast<double>(n) / ms : 0.0;
    std::snprintf(buf, sizeof buf, "%-17s= %10.2f ms / %5lld %-6s (%8.2f ms per token, %9.2f tokens per second)\n",
                  label, ms, static_cast<long long>(n), unit, per, rate);
    return buf;
}

}  // namespace

void add_cache_type_flags(CLI::App& cmd, GenerationFlags& f) {
    cmd.add_option("--cache-type-k", f.cache_type,
                   "-ctk: KV cache type of the keys (and of the values without -ctv): f16, f32, q8_0 or q4_0")
        ->capture_default_str();
    cmd.add_option("--cache-type-v", f.cache_type_v,
                   "-ctv: KV cache type of the values, as -ctk (default: -ctk's); cpu keeps any pair, cuda q8_0 "
                   "keys with q4_0 values besides equal types");
}

void add_generation_flags(CLI::App& cmd, GenerationFlags& f) {
    cmd.add_option("-m,--model", f.model, "GGUF model file")->required();
    cmd.add_option("-n,--n-predict", f.n_predict,
                   "Tokens to generate at most; -1 = until end of generation or a full context")
        ->capture_default_str();
    cmd.add_option("-t,--threads", f.n_threads, "CPU threads; 0 = one per hardware thread")->capture_default_str();
    cmd.add_option("-c,--ctx-size", f.n_ctx, "Context size in tokens; 0 = the model's, at most 4096")
        ->capture_default_str();
    cmd.add_option("-b,--batch-size", f.batch_size, "Prompt tokens per prefill chunk")->capture_default_str();
    cmd.add_option("--temp", f.temperature, "Temperature; 0 = greedy")->capture_default_str();
    cmd.add_option("--top-k", f.top_k, "Top-k sampling; 0 = off")->capture_default_str();
    cmd.add_option("--top-p", f.top_p, "Top-p (nucleus) sampling; 1 = off")->capture_default_str();
    cmd.add_option("--min-p", f.min_p, "Min-p sampling; 0 = off")->capture_default_str();
    cmd.add_option("--typical", f.typical_p, "Locally typical sampling; 1 = off")->capture_default_str();
    cmd.add_option("--repeat-penalty", f.repeat_penalty, "Penalty on repeated tokens; 1 = off")
        ->capture_default_str();
    cmd.add_option("--repeat-last-n", f.repeat_last_n,
                   "Recent tokens the penalties look at; 0 = off, -1 = the whole context")
        ->capture_default_str();
    cmd.add_option("--presence-penalty", f.presence_penalty, "Presence penalty; 0 = off")->capture_default_str();
    cmd.add_option("--frequency-penalty", f.frequency_penalty, "Frequency penalty; 0 = off")->capture_default_str();
    cmd.add_option("-s,--seed", f.seed, "Sampling seed; -1 = random (the seed used is printed)")
        ->capture_default_str();
    cmd.add_option("--stop", f.stop, "Stop when the text reaches TEXT (repeatable); TEXT itself is not printed")
        ->allow_extra_args(false);
    cmd.add_flag("--ignore-eos", f.ignore_eos, "Do not stop at end-of-generation tokens");
    cmd.add_flag("--no-bos", f.no_bos, "Do not add the BOS token the vocabulary asks for");
    cmd.add_option_function<std::string>(
           "--backend",
           [&f](const std::string& name) {
               f.backend = name;
               f.backend_given = true;
           },
           "Compute backend: cpu (default), cuda (when built, with a GPU) or ref (slow float64 oracle)");
    cmd.add_option("--n-gpu-layers", f.n_gpu_layers,
                   "-ngl N: layers on the GPU (cuda backend): the last N layers and the output head; the others run "
                   "on the CPU. N >= the layer count (or -1) runs all of them on the GPU, 0 = cpu")
        ->capture_default_str();
    // Hidden: lets a machine without a GPU split a model between two host backends (--backend ref -ngl N).
    cmd.add_option("--cpu-layers-backend", f.cpu_layers_backend,
                   "Backend of the layers -ngl keeps off --backend (tests and diagnostics); default: cpu")
        ->group("");
    add_cache_type_flags(cmd, f);
    cmd.add_option("--cpu-isa", f.cpu_isa, "CPU kernel set: auto, scalar, avx2, avx512, amx (default: auto)");
    cmd.add_option("--system", f.system, "System message for the chat template");
    cmd.add_option("--chat-template", f.chat_template,
                   "Chat template: a builtin name (chatml, llama3, ...) or a Jinja file; default: the model's");
}

void check_generation_flags(const GenerationFlags& f) {
    if (f.n_predict < -1) {
        throw UsageError("-n/--n-predict = " + std::to_string(f.n_predict) +
                         " is negative; give the number of tokens to generate, or -1 for no limit");
    }
    if (f.n_threads < 0) throw UsageError("-t/--threads = " + std::to_string(f.n_threads) + " must be >= 0");
    if (f.n_ctx < 0) throw UsageError("-c/--ctx-size = " + std::to_string(f.n_ctx) + " must be >= 0 (0 = the model's)");
    if (f.batch_size < 1) throw UsageError("-b/--batch-size = " + std::to_string(f.batch_size) + " must be >= 1");
    if (f.n_gpu_layers < -1) {
        throw UsageError("-ngl " + std::to_string(f.n_gpu_layers) +
                         " is not a layer count: give the number of layers for the GPU (the last ones), or leave -ngl "
                         "out for all of them");
    }
    if (f.seed < -1) throw UsageError("--seed = " + std::to_string(f.seed) + " must be >= 0, or -1 for a random seed");
    for (const std::string& s : f.stop) {
        if (s.empty()) throw UsageError("--stop needs a non-empty text");
    }
    std::error_code ec;
    if (!std::filesystem::is_regular_file(f.model, ec)) {
        throw UsageError("model file '" + f.model + "' does not exist or is not a file; give a GGUF model with -m");
    }
    parse_kv_cache_type(f.cache_type);  // throws UsageError listing the accepted types
    if (!f.cache_type_v.empty()) parse_kv_cache_type(f.cache_type_v);
    // Sampling ranges are checked by SamplerChain (UsageError naming the parameter); do it now, before loading.
    sampling::SamplerChain check(generation_options(f).sampling);
}

uint64_t resolve_seed(const GenerationFlags& f) {
    if (f.seed >= 0) return static_cast<uint64_t>(f.seed);
    std::random_device device;
    return device();
}

EngineOptions engine_options(const GenerationFlags& f) {
    EngineOptions o;
    o.backend = f.backend;
    // llama.cpp habit: -ngl N > 0 without --backend means "on the GPU"; -ngl 0 means the CPU.
    if (f.n_gpu_layers > 0 && !f.backend_given) o.backend = "cuda";
    if (f.n_gpu_layers == 0 && !f.backend_given) o.backend = "cpu";
    // -ngl with --backend cpu (or ref) changes nothing: there is no GPU to offload to.
    if (o.backend == "cuda" || !f.cpu_layers_backend.empty()) o.n_gpu_layers = f.n_gpu_layers;
    o.cpu_layers_backend = f.cpu_layers_backend;
    o.n_threads = static_cast<size_t>(f.n_threads);
    o.cpu_isa = f.cpu_isa;
    return o;
}

SessionOptions session_options(const GenerationFlags& f, uint64_t seed) {
    SessionOptions o;
    o.n_ctx = f.n_ctx;
    o.kv_type = parse_kv_cache_type(f.cache_type);
    if (!f.cache_type_v.empty()) o.kv_type_v = parse_kv_cache_type(f.cache_type_v);
    o.batch_size = f.batch_size;
    o.seed = seed;
    return o;
}

runtime::GenerationOptions generation_options(const GenerationFlags& f) {
    runtime::GenerationOptions o;
    o.n_predict = f.n_predict;
    sampling::SamplingParams& p = o.sampling;
    p.temperature = f.temperature;
    p.top_k = f.top_k;
    p.top_p = f.top_p;
    p.min_p = f.min_p;
    p.typical_p = f.typical_p;
    p.repeat_penalty = f.repeat_penalty;
    p.penalty_last_n = f.repeat_last_n;
    p.presence_penalty = f.presence_penalty;
    p.frequency_penalty = f.frequency_penalty;
    o.stop = f.stop;
    o.ignore_eos = f.ignore_eos;
    return o;
}

std::unique_ptr<Engine> load_engine(const GenerationFlags& f, double& load_ms) {
    const auto start = std::chrono::steady_clock::now();
    auto engine = std::make_unique<Engine>(f.model, engine_options(f));
    load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const std::span<const model::Stage> stages = engine->model().stages();
    if (stages.size() > 1) {
        const model::Stage& last = stages.back();
        const int64_t n_layer = engine->hparams().n_layer;
        std::fprintf(stderr,
                     "spool: offloaded %lld/%lld layers to %s (layers %lld-%lld and the output head); layers 0-%lld "
                     "run on %s\n",
                     static_cast<long long>(n_layer - last.layer_begin), static_cast<long long>(n_layer),
                     last.backend->name().c_str(), static_cast<long long>(last.layer_begin),
                     static_cast<long long>(n_layer - 1), static_cast<long long>(last.layer_begin - 1),
                     stages.front().backend->name().c_str());
    }
    return engine;
}

ChatTemplate choose_chat_template(const Engine& engine, const GenerationFlags& f) {
    const std::string metadata = engine.file().get_string("tokenizer.chat_template", "");
    ChatTemplateChoice choice = ChatTemplate::for_model(metadata, f.chat_template);
    if (!choice.warning.empty()) std::fprintf(stderr, "spool: warning: %s\n", choice.warning.c_str());
    return std::move(choice.chat_template);
}

std::vector<int32_t> chat_prompt_tokens(const Engine& engine, const ChatTemplate& chat_template,
                                        const std::vector<ChatMessage>& messages, bool no_bos) {
    const tokenizer::Tokenizer& tok = engine.tokenizer();
    ChatOptions options;
    if (tok.bos() >= 0) options.bos_token = tok.token_text(tok.bos());
    if (tok.eos() >= 0) options.eos_token = tok.token_text(tok.eos());
    const std::string rendered = chat_template.apply(messages, /*add_generation_prompt=*/true, options);
    // Specials off in encode(): a template that prints the BOS text already gives the BOS id (parse_special),
    // and an EOS at the end of a prompt would end the conversation.
    std::vector<int32_t> ids = tok.encode(rendered, /*add_special=*/false, /*parse_special=*/true);
    if (!no_bos && tok.add_bos() && tok.bos() >= 0 && (ids.empty() || ids.front() != tok.bos())) {
        ids.insert(ids.begin(), tok.bos());
    }
    return ids;
}

std::string read_prompt_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw UsageError("cannot read prompt file '" + path + "': " + std::strerror(errno));
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (in.bad()) throw UsageError("error while reading prompt file '" + path + "'");
    return bytes.str();
}

std::string format_timings(const runtime::GenerationResult& r) {
    const runtime::GenerationTimings& t = r.timings;
    char buf[256];
    std::snprintf(buf, sizeof buf, "%-17s= %10.2f ms\n", "load time", t.load_ms);
    std::string out = buf;
    out += rate_line("prompt eval time", t.prefill_ms, t.n_prompt, "tokens");
    if (t.n_reused > 0) {
        out += "                   (and " + std::to_string(t.n_reused) + " prompt tokens reused from the cache)\n";
    }
    out += rate_line("eval time", t.decode_ms, t.n_decoded, "runs");
    std::snprintf(buf, sizeof buf, "%-17s= %10.2f ms (prompt eval and the first sample)\n", "first token", t.ttft_ms);
    out += buf;
    std::snprintf(buf, sizeof buf, "%-17s= %10.2f ms / %5lld tokens\n", "total time", t.load_ms + t.total_ms,
                  static_cast<long long>(t.n_prompt + t.n_generated));
    out += buf;
    out += std::string("stop reason      = ") + runtime::stop_reason_name(r.stop_reason);
    if (r.stop_reason == runtime::StopReason::stop_string) out += " (\"" + r.stop_string + "\")";
    return out + "\n";
}

}  // namespace spool::tools
