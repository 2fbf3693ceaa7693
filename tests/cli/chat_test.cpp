// `spool chat` with piped input: turns, /reset, /exit and end of input; the KV cache is reused between turns;
// the model's template, or chatml with a warning; SmolLM2-135M-Instruct (when present) holds a conversation.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "test_support.h"

namespace spool::testing {
namespace {

std::string tiny_f32() { return (shared_dir() / "models/tiny/tiny-F32.gguf").string(); }

// Runs `spool ARGS < input` and captures stdout, stderr and the exit code.
CliResult run_spool_with_input(const std::vector<std::string>& args, const std::string& input) {
    ScratchDir dir;
    {
        std::ofstream(dir / "stdin.txt", std::ios::binary) << input;
    }
    std::string cmd = shell_quote(SPOOL_BINARY);
    for (const std::string& a : args) cmd += " " + shell_quote(a);
    cmd += " <" + shell_quote(dir / "stdin.txt") + " 2>" + shell_quote(dir / "stderr.txt");
    CliResult r;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (!pipe) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
    const int status = ::pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = read_text(dir / "stderr.txt");
    return r;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
        out.push_back(text.substr(start, nl - start));
    }
    if (start < text.size()) out.push_back(text.substr(start));
    return out;
}

size_t count(const std::string& text, const std::string& part) {
    size_t n = 0;
    for (size_t pos = text.find(part); pos != std::string::npos; pos = text.find(part, pos + 1)) ++n;
    return n;
}

std::vector<std::string> chat_args(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"chat", "-m", tiny_f32(), "-n", "6", "--temp", "0", "-t", "2", "--verbose"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

TEST(CliChat, TwoTurnsResetAndEndOfInput) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    const CliResult r = run_spool_with_input(chat_args({"--system", "You are terse."}),
                                             "Hello there\nTell me more\n/reset\nHello there\n");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    // Piped input: no "> " prompts, one line per reply.
    const std::vector<std::string> replies = lines_of(r.out);
    ASSERT_EQ(replies.size(), 3u) << describe(r);
    for (const std::string& reply : replies) EXPECT_FALSE(reply.empty()) << describe(r);
    // After /reset the same first message gets the same greedy reply.
    EXPECT_EQ(replies[2], replies[0]) << describe(r);
    EXPECT_NE(r.err.find("[conversation cleared]"), std::string::npos) << describe(r);
    // The tiny model has no chat template: chatml, with a warning.
    EXPECT_NE(r.err.find("warning"), std::string::npos) << describe(r);
    EXPECT_NE(r.err.find("chatml"), std::string::npos) << describe(r);
    // Turn 2 reuses the cached first turn; after /reset only the system part still matches.
    EXPECT_EQ(count(r.err, "[prompt: "), 3u) << describe(r);
    EXPECT_EQ(count(r.err, " 0 reused"), 1u) << describe(r);  // only the first turn starts cold
    EXPECT_EQ(count(r.err, "stop: n_predict"), 3u) << describe(r);
}

TEST(CliChat, ExitCommandAndEmptyInput) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    const CliResult r = run_spool_with_input(chat_args({"--chat-template", "llama2"}), "\nhi\n/exit\nnot read\n");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(lines_of(r.out).size(), 1u) << describe(r);
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << describe(r);  // an explicit template

    const CliResult empty = run_spool_with_input(chat_args(), "");
    EXPECT_EQ(empty.exit_code, 0) << describe(empty);
    EXPECT_TRUE(empty.out.empty()) << describe(empty);

    const CliResult bad = run_spool_with_input(chat_args({"--chat-template", "/nonexistent/template.jinja"}), "hi\n");
    EXPECT_NE(bad.exit_code, 0) << describe(bad);
    EXPECT_NE(bad.err.find("neither a builtin"), std::string::npos) << describe(bad);
}

TEST(CliChat, AConversationThatOutgrowsTheContextKeepsGoing) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    // 64 positions: the second long message no longer fits; the program says so and goes on after /reset.
    std::string long_message;
    for (int i = 0; i < 40; ++i) long_message += "lorem ipsum ";
    const CliResult r = run_spool_with_input(chat_args({"-c", "64"}),
                                             "hi\n" + long_message + "\n/reset\nhi\n");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.err.find("the message was dropped"), std::string::npos) << describe(r);
    EXPECT_EQ(lines_of(r.out).size(), 2u) << describe(r);
}

// SmolLM2-135M-Instruct keeps a two-turn conversation (the second question only makes sense after the first). The
// builtin chatml template, without a system message, as in CliRun.SmolLM2KnowsTheCapitalOfFrance (see there why).
TEST(CliChat, SmolLM2HoldsAConversation) {
    const std::filesystem::path model = source_dir() / "models/SmolLM2-135M-Instruct.Q4_1.gguf";
    if (!std::filesystem::exists(model)) {
        GTEST_SKIP() << "needs " << model.string() << " (scripts/setup.sh downloads it)";
    }
    const CliResult r = run_spool_with_input(
        {"chat", "-m", model.string(), "--chat-template", "chatml", "--temp", "0", "-n", "32", "--verbose"},
        "What is the capital of France?\nAnd of Italy?\n");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    const std::vector<std::string> replies = lines_of(r.out);
    ASSERT_EQ(replies.size(), 2u) << describe(r);
    EXPECT_NE(replies[0].find("Paris"), std::string::npos) << describe(r);
    EXPECT_NE(replies[1].find("Rome"), std::string::npos) << describe(r);
    EXPECT_EQ(count(r.err, " 0 reused"), 1u) << describe(r);  // the second turn reuses the first
    std::printf("SmolLM2 chat:\n%s", r.out.c_str());

    // Without --chat-template the model's own template is used: no fallback warning.
    const CliResult own = run_spool_with_input({"chat", "-m", model.string(), "--temp", "0", "-n", "1"}, "Hi\n");
    ASSERT_EQ(own.exit_code, 0) << describe(own);
    EXPECT_EQ(own.err.find("warning"), std::string::npos) << describe(own);
}

}  // namespace
}  // namespace spool::testing
