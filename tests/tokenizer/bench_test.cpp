// Tokenizer throughput (MB/s of input text) and build time, disabled by default because speed is measured,
// never asserted. Run: test_tokenizer --gtest_also_run_disabled_tests --gtest_filter='*TokenizerBench*'
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <ctime>

#include "tokenizer/vocab_files.h"

namespace spool::testing {
namespace {

// Thread CPU time: the machine is shared, and wall time would count other processes' turns.
struct Clock {
    using time_point = double;
    static double now() {
        timespec t;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
    }
};

double seconds_since(double t0) { return Clock::now() - t0; }

TEST(DISABLED_TokenizerBench, ThroughputOnLongPrompt) {
    SPOOL_REQUIRE_SHARED("reference/prompts.json");
    const nlohmann::json prompts = nlohmann::json::parse(read_bytes(shared_dir() / "reference/prompts.json"));
    const std::string long_text = prompts.at("prompts").at(1).at("text");  // long_paragraph, 953 bytes
    std::string corpus;  // the long prompt repeated to 256 KiB, as one text
    while (corpus.size() < (256u << 10)) corpus += long_text + "\n";
    const std::string ppl = read_bytes(shared_dir() / "reference/ppl.txt");

    for (const std::string& name : vocab_names()) {
        const auto t0 = Clock::now();
        const gguf::GgufFile file = gguf::GgufFile::open(vocab_path(name));
        const double open_s = seconds_since(t0);
        const auto t1 = Clock::now();
        const tokenizer::Tokenizer tok(file);
        const double build_s = seconds_since(t1);

        // Many short encodes of the prompt itself, then one long text, then ppl.txt (markdown and code).
        size_t bytes = 0, n_ids = 0;
        auto t2 = Clock::now();
        while (seconds_since(t2) < 0.5) {
            n_ids += tok.encode(long_text, true).size();
            bytes += long_text.size();
        }
        const double prompt_mbps = static_cast<double>(bytes) / seconds_since(t2) / 1e6;
        t2 = Clock::now();
        const std::vector<int32_t> ids = tok.encode(corpus, false);
        const double corpus_mbps = static_cast<double>(corpus.size()) / seconds_since(t2) / 1e6;
        t2 = Clock::now();
        const std::string back = tok.decode(ids);
        const double decode_mbps = static_cast<double>(back.size()) / seconds_since(t2) / 1e6;
        t2 = Clock::now();
        size_t ppl_bytes = 0;
        while (seconds_since(t2) < 0.3) {
            tok.encode(ppl, true);
            ppl_bytes += ppl.size();
        }
        const double ppl_mbps = static_cast<double>(ppl_bytes) / seconds_since(t2) / 1e6;
        std::printf("%-15s n_vocab %6d  open %6.1f ms  build %6.1f ms  encode: prompt %6.2f MB/s, 256 KiB %6.2f MB/s, ppl.txt %6.2f MB/s  decode %7.1f MB/s\n",
                    name.c_str(), tok.n_vocab(), open_s * 1e3, build_s * 1e3, prompt_mbps, corpus_mbps, ppl_mbps, decode_mbps);
        EXPECT_GT(n_ids, 0u);
    }
}

}  // namespace
}  // namespace spool::testing
