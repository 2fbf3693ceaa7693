// `spool run -m MODEL (-p PROMPT | -f FILE) [-n N] [sampling flags] [--chat [--system TEXT]] [--json]`: generates
// a continuation of a prompt, streaming the text to stdout and llama.cpp-style timings to stderr (like llama-cli
// without its interactive mode); --json prints one object with ids, text, stop reason and timings instead.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "runtime/generator.h"
#include "spool/engine.h"
#include "spool/errors.h"
#include "spool/session.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"
#include "tools/generation_flags.h"
#include "tools/interrupt.h"

namespace spool::tools {
namespace {

struct RunFlags {
    GenerationFlags gen;
    std::string prompt;
    std::string file;
    bool chat = false;
    bool json = false;
};

nlohmann::ordered_json timings_json(const runtime::GenerationTimings& t) {
    return {{"load_ms", t.load_ms},
            {"prompt_tokens", t.n_prompt},
            {"prompt_tokens_reused", t.n_reused},
            {"prefill_ms", t.prefill_ms},
            {"prefill_tok_per_s", t.prefill_tok_per_s()},
            {"generated_tokens", t.n_generated},
            {"decode_steps", t.n_decoded},
            {"decode_ms", t.decode_ms},
            {"decode_tok_per_s", t.decode_tok_per_s()},
            {"sample_ms", t.sample_ms},
            {"ttft_ms", t.ttft_ms},
            {"total_ms", t.load_ms + t.total_ms}};
}

void run_run(const RunFlags& f) {
    const bool has_prompt = !f.prompt.empty(), has_file = !f.file.empty();
    if (has_prompt && has_file) throw UsageError("run takes the prompt from -p or from -f, not both");
    if (!has_prompt && !has_file) throw UsageError("run needs a prompt: -p TEXT or -f FILE");
    if (!f.chat && (!f.gen.system.empty() || !f.gen.chat_template.empty())) {
        throw UsageError("--system and --chat-template need --chat (they shape the chat template's prompt)");
    }
    check_generation_flags(f.gen);
    const std::string text = has_file ? read_prompt_file(f.file) : f.prompt;
    const uint64_t seed = resolve_seed(f.gen);

    double load_ms = 0;
    const std::unique_ptr<Engine> engine = load_engine(f.gen, load_ms);
    std::vector<int32_t> prompt;
    if (f.chat) {
        std::vector<ChatMessage> messages;
        if (!f.gen.system.empty()) messages.emplace_back("system", f.gen.system);
        messages.emplace_back("user", text);
        prompt = chat_prompt_tokens(*engine, choose_chat_template(*engine, f.gen), messages, f.gen.no_bos);
    } else {
        prompt = engine->tokenizer().encode(text, /*add_special=*/!f.gen.no_bos, /*parse_special=*/false);
    }
    Session session(*engine, session_options(f.gen, seed));
    runtime::Generator generator(*engine, session);
    if (!f.json) std::fprintf(stderr, "spool: seed = %llu\n", static_cast<unsigned long long>(seed));

    InterruptGuard interrupt;
    runtime::TextCallback stream;
    if (!f.json) {
        stream = [](std::string_view piece) {
            std::fwrite(piece.data(), 1, piece.size(), stdout);
            std::fflush(stdout);
        };
    }
    interrupt.begin_reply();
    runtime::GenerationResult result = generator.generate(prompt, generation_options(f.gen), stream,
                                                          &interrupt.cancel_flag());
    interrupt.end_reply();
    result.timings.load_ms = load_ms;

    if (f.json) {
        nlohmann::ordered_json j;
        j["model"] = f.gen.model;
        j["prompt"] = text;
        j["prompt_token_ids"] = prompt;
        j["token_ids"] = result.tokens;
        j["text"] = result.text;
        j["stop_reason"] = runtime::stop_reason_name(result.stop_reason);
        if (result.stop_reason == runtime::StopReason::stop_string) j["stop_string"] = result.stop_string;
        j["seed"] = seed;
        j["timings"] = timings_json(result.timings);
        // A prompt file need not be UTF-8; JSON shows its bad bytes as U+FFFD. The generated text always is.
        const std::string out = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
        std::fwrite(out.data(), 1, out.size(), stdout);
        return;
    }
    std::fputs("\n", stdout);
    std::fflush(stdout);
    std::fputs(("\n" + format_timings(result)).c_str(), stderr);
}

}  // namespace

void register_run(CLI::App& app) {
    auto f = std::make_shared<RunFlags>();
    CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt (like llama-cli); timings go to stderr");
    cmd->add_option("-p,--prompt", f->prompt, "Prompt text");
    cmd->add_option("-f,--file", f->file, "File whose bytes are the prompt");
    add_generation_flags(*cmd, f->gen);
    cmd->add_flag("--chat", f->chat, "Wrap the prompt in the model's chat template as one user message");
    cmd->add_flag("--json", f->json, "Print one JSON object (ids, text, stop reason, timings, seed) instead");
    cmd->callback([f] { run_run(*f); });
}

}  // namespace spool::tools
