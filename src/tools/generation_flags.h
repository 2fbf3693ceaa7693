// The flags `spool run` and `spool chat` share (model, threads, context, sampling, stop strings, backend),
// with llama.cpp's names and defaults, and what they turn into: engine, session and generation options,
// chat prompts, and the llama.cpp-style timing report.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/generator.h"
#include "spool/engine.h"
#include "spool/session.h"
#include "tokenizer/chat_template.h"

namespace CLI {
class App;
}
namespace spool::tokenizer {
class Tokenizer;
}

namespace spool::tools {

struct GenerationFlags {
    std::string model;
    int64_t n_predict = -1;  // -1: until end of generation or a full context
    int n_threads = 0;       // 0: one per hardware thread
    int64_t n_ctx = 0;       // 0: the model's training context, at most 4096
    int64_t batch_size = 512;
    float temperature = 0.8f;
    int top_k = 40;
    float top_p = 0.95f;
    float min_p = 0.05f;
    float typical_p = 1.0f;
    float repeat_penalty = 1.0f;
    int repeat_last_n = 64;
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    int64_t seed = -1;  // -1: random (the one used is printed)
    std::vector<std::string> stop;
    bool ignore_eos = false;
    bool no_bos = false;
    std::string backend = "cpu";
    bool backend_given = false;  // --backend was on the command line (else -ngl may pick cuda, as in llama.cpp)
    int n_gpu_layers = -1;       // -ngl; -1: not given
    std::string cpu_layers_backend;  // hidden, for tests and diagnostics: EngineOptions::cpu_layers_backend
    std::string cache_type = "f16";
    std::string cache_type_v;  // -ctv; "" = cache_type
    std::string cpu_isa;
    std::string system;         // system message for chat prompts
    std::string chat_template;  // builtin name or file; "" = the model's own
};

// Adds the shared flags to a subcommand; values land in `flags`, which must outlive parsing.
void add_generation_flags(CLI::App& cmd, GenerationFlags& flags);
// Adds only --cache-type-k / --cache-type-v (-ctk / -ctv), for subcommands that take no other generation flags.
void add_cache_type_flags(CLI::App& cmd, GenerationFlags& flags);

// Checks what CLI11's types cannot (ranges, the model file); throws UsageError naming the flag.
void check_generation_flags(const GenerationFlags& flags);

uint64_t resolve_seed(const GenerationFlags& flags);  // --seed, or a random one when -1
EngineOptions engine_options(const GenerationFlags& flags);
SessionOptions session_options(const GenerationFlags& flags, uint64_t seed);
runtime::GenerationOptions generation_options(const GenerationFlags& flags);

// Opens the model; `load_ms` gets the time it took. A -ngl split is reported on stderr (as llama.cpp's
// "offloaded N/M layers to GPU").
std::unique_ptr<Engine> load_engine(const GenerationFlags& flags, double& load_ms);

// The chat template for `engine` (--chat-template, else the model's, else chatml with a warning on stderr).
ChatTemplate choose_chat_template(const Engine& engine, const GenerationFlags& flags);
// Renders `messages` (plus the assistant header) and tokenizes with special tokens parsed. BOS is added when
// the vocabulary asks for it (and --no-bos is off) unless the template already printed it; never an EOS.
std::vector<int32_t> chat_prompt_tokens(const Engine& engine, const ChatTemplate& chat_template,
                                        const std::vector<ChatMessage>& messages, bool no_bos);

// The bytes of a prompt file; throws UsageError when it cannot be read.
std::string read_prompt_file(const std::string& path);

// llama.cpp-style report: load, prompt eval, eval, time to first token, total, stop reason; lines end in '\n'.
std::string format_timings(const runtime::GenerationResult& result);

}  // namespace spool::tools
