// `spool chat -m MODEL [sampling flags] [--system TEXT] [--chat-template NAME|FILE]`: an interactive chat. One
// line of stdin is one user message; the whole conversation is rendered with the chat template each turn, and
// the KV cache is reused for the part that did not change. /reset clears the history, /exit or EOF quits.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "runtime/generator.h"
#include "spool/engine.h"
#include "spool/errors.h"
#include "spool/session.h"
#include "tools/commands.h"
#include "tools/generation_flags.h"
#include "tools/interrupt.h"

namespace spool::tools {
namespace {

struct ChatFlags {
    GenerationFlags gen;
    bool verbose = false;
};

void write_out(std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

void print_turn_stats(const runtime::GenerationResult& r) {
    const runtime::GenerationTimings& t = r.timings;
    std::fprintf(stderr,
                 "[prompt: %lld new tokens, %lld reused, %.1f ms (%.1f tok/s); reply: %lld tokens, %.1f ms "
                 "(%.1f tok/s); stop: %s]\n",
                 static_cast<long long>(t.n_prompt), static_cast<long long>(t.n_reused), t.prefill_ms,
                 t.prefill_tok_per_s(), static_cast<long long>(t.n_generated), t.decode_ms, t.decode_tok_per_s(),
                 runtime::stop_reason_name(r.stop_reason));
}

void run_chat(const ChatFlags& f) {
    check_generation_flags(f.gen);
    const uint64_t seed = resolve_seed(f.gen);
    double load_ms = 0;
    const std::unique_ptr<Engine> engine = load_engine(f.gen, load_ms);
    const ChatTemplate chat_template = choose_chat_template(*engine, f.gen);
    Session session(*engine, session_options(f.gen, seed));
    runtime::Generator generator(*engine, session);
    const runtime::GenerationOptions options = generation_options(f.gen);
    std::fprintf(stderr, "spool: seed = %llu, context %lld tokens, loaded in %.0f ms; /reset clears the "
                 "conversation, /exit or end of input quits\n",
                 static_cast<unsigned long long>(seed), static_cast<long long>(session.n_ctx()), load_ms);

    std::vector<ChatMessage> history;
    if (!f.gen.system.empty()) history.emplace_back("system", f.gen.system);
    const size_t n_fixed = history.size();
    const bool interactive = ::isatty(STDIN_FILENO) == 1;
    InterruptGuard interrupt;  // Ctrl-C stops a reply; at the prompt it ends the program
    std::string line;
    for (;;) {
        if (interactive) write_out("> ");
        if (!std::getline(std::cin, line)) {
            if (interactive) write_out("\n");
            break;
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line == "/exit") break;
        if (line == "/reset") {
            // The cache keeps the tokens; the next turn reuses whatever prefix (the system message) still matches.
            history.resize(n_fixed);
            std::fputs("[conversation cleared]\n", stderr);
            continue;
        }
        if (line.empty()) continue;

        history.emplace_back("user", line);
        runtime::GenerationResult result;
        interrupt.begin_reply();
        try {
            const std::vector<int32_t> prompt = chat_prompt_tokens(*engine, chat_template, history, f.gen.no_bos);
            result = generator.generate(prompt, options, write_out, &interrupt.cancel_flag());
        } catch (const UsageError& e) {
            // A conversation that no longer fits, or one the template rejects: say so and keep the program.
            interrupt.end_reply();
            history.pop_back();
            std::fprintf(stderr, "spool: %s\n(the message was dropped; /reset starts a new conversation)\n",
                         e.what());
            continue;
        }
        interrupt.end_reply();
        write_out("\n");
        if (result.stop_reason == runtime::StopReason::cancelled) std::fputs("[reply stopped]\n", stderr);
        if (result.stop_reason == runtime::StopReason::context_full) {
            std::fputs("[the context is full; /reset starts a new conversation]\n", stderr);
        }
        if (f.verbose) print_turn_stats(result);
        history.emplace_back("assistant", result.text);
    }
}

}  // namespace

void register_chat(CLI::App& app) {
    auto f = std::make_shared<ChatFlags>();
    CLI::App* cmd = app.add_subcommand("chat", "Chat with a model: one line of stdin per message (/reset, /exit)");
    add_generation_flags(*cmd, f->gen);
    cmd->add_flag("-v,--verbose", f->verbose, "After each reply, print token counts, timings and the stop reason");
    cmd->callback([f] { run_chat(*f); });
}

}  // namespace spool::tools
