// spool's entry point: parses the subcommand and reports any spool::Error as a one-line message.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "spool/errors.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
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
