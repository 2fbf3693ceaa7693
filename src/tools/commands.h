// The spool subcommands. Each lives in its own file (src/tools/<name>.cpp) and registers itself on the
// top-level CLI11 app; its callback throws spool::Error on failure, which main() reports.
#pragma once

namespace CLI {
class App;
}

namespace spool::tools {

void register_inspect(CLI::App& app);
void register_quantize(CLI::App& app);
void register_synth(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_bench(CLI::App& app);
void register_sweep(CLI::App& app);
void register_run(CLI::App& app);
void register_chat(CLI::App& app);
void register_perplexity(CLI::App& app);

}  // namespace spool::tools
