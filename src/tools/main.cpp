// spool's entry point: parses the subcommand and reports any spool::Error as a one-line message.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "spool/errors.h"
#include "tools/commands.h"

namespace {

// llama.cpp's multi-letter single-dash flags that CLI11 cannot name (it allows one letter after a single dash),
// rewritten to their long forms for run, chat and perplexity. bench parses its llama-bench flags itself.
std::vector<std::string> with_long_flag_names(int argc, char** argv) {
    std::vector<std::string> args(argv, argv + argc);
    const bool generation = argc > 1 && (args[1] == "run" || args[1] == "chat");
    const bool perplexity = argc > 1 && args[1] == "perplexity";
    for (std::string& a : args) {
        if ((generation || perplexity) && a == "-ngl") a = "--n-gpu-layers";
        if ((generation || perplexity) && a == "-ctk") a = "--cache-type-k";
        if ((generation || perplexity) && a == "-ctv") a = "--cache-type-v";
    }
    return args;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> arg_strings = with_long_flag_names(argc, argv);
    std::vector<char*> arg_pointers;
    for (std::string& a : arg_strings) arg_pointers.push_back(a.data());
    argv = arg_pointers.data();
    CLI::App app{"spool: run GGUF language models on the CPU and GPU, and measure them honestly"};
    app.set_version_flag("--version", std::string("spool ") + SPOOL_VERSION + " (" + SPOOL_GIT_COMMIT + ")");
    app.require_subcommand(1);
    spool::tools::register_inspect(app);
    spool::tools::register_quantize(app);
    spool::tools::register_synth(app);
    spool::tools::register_tokenize(app);
    spool::tools::register_bench(app);
    spool::tools::register_sweep(app);
    spool::tools::register_run(app);
    spool::tools::register_chat(app);
    spool::tools::register_perplexity(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const spool::UsageError& e) {
        std::fprintf(stderr, "spool: usage error: %s\n", e.what());
        return 2;
    } catch (const spool::Error& e) {
        std::fprintf(stderr, "spool: error: %s\n", e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "spool: error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "spool: internal error: %s\n", e.what());
        return 3;
    }
    return 0;
}
