// Generator tests: stop-string hold-back on fake text streams, then the whole loop on the tiny model (greedy
// tokens equal llama.cpp's reference, stop strings, seeds, cancel, context policy, KV reuse, EOG handling).
#include "runtime/generator.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <string>
#include <vector>

#include "spool/engine.h"
#include "spool/errors.h"
#include "spool/session.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace spool::runtime {
namespace {

using testing::shared_dir;

// Feeds pieces through a filter; returns what came out, piece by piece, and the flushed tail.
std::vector<std::string> run_filter(StopStringFilter& f, const std::vector<std::string>& pieces) {
    std::vector<std::string> out;
    for (const std::string& p : pieces) out.push_back(f.push(p));
    out.push_back(f.flush());
    return out;
}

TEST(StopStringFilter, CutsBeforeTheStopStringAcrossPieces) {
    StopStringFilter f({"world"});
    const auto out = run_filter(f, {"Hel", "lo, wor", "ld! more", "ignored"});
    EXPECT_EQ(out, (std::vector<std::string>{"Hel", "lo, ", "", "", ""}));
    EXPECT_TRUE(f.stopped());
    EXPECT_EQ(f.found(), "world");
}

TEST(StopStringFilter, ReleasesAHeldPrefixThatDidNotBecomeAStop) {
    StopStringFilter f({"\n\nUser:"});
    const auto out = run_filter(f, {"a\n", "\nUs", "ually", " b\n"});
    // "\n" may start the stop: held; "\n\nUs" still may; "ually" decides it is not.
    EXPECT_EQ(out, (std::vector<std::string>{"a", "", "\n\nUsually", " b", "\n"}));
    EXPECT_FALSE(f.stopped());
}

TEST(StopStringFilter, EarliestOfSeveralStopsWins) {
    StopStringFilter f({"xyz", "bc", "abcd"});
    const auto out = run_filter(f, {"0a", "bcd"});
    // Both "bc" and "abcd" complete in the second piece; "abcd" starts earlier, so the text ends before it.
    EXPECT_EQ(out[0] + out[1], "0");
    EXPECT_TRUE(f.stopped());
    EXPECT_EQ(f.found(), "abcd");
}

TEST(StopStringFilter, StopAtTheVeryStartAndMultibyteText) {
    StopStringFilter a({"STOP"});
    EXPECT_EQ(a.push("STOP and more"), "");
    EXPECT_TRUE(a.stopped());

    // "é" may start "été": held back whole (never half a character), then released.
    StopStringFilter b({"\xC3\xA9t\xC3\xA9"});  // "été"
    EXPECT_EQ(b.push("caf\xC3\xA9"), "caf");
    EXPECT_EQ(b.push("s"), "\xC3\xA9s");
    EXPECT_FALSE(b.stopped());
    // "été" spans the pieces " é" and "tés".
    StopStringFilter c({"\xC3\xA9t\xC3\xA9"});
    std::string text;
    for (const char* p : {"caf\xC3\xA9", " \xC3\xA9", "t\xC3\xA9s"}) text += c.push(p);
    EXPECT_TRUE(c.stopped());
    EXPECT_EQ(text, "caf\xC3\xA9 ");
    EXPECT_TRUE(tokenizer::utf8::is_valid(text));
}

TEST(StopStringFilter, EmptyStopStringIsAUsageError) {
    EXPECT_THROW(StopStringFilter({"ok", ""}), UsageError);
}

// --- the tiny model -------------------------------------------------------------------------------------

struct TinyPrompt {
    std::vector<int32_t> tokens;
    std::vector<int32_t> greedy;
};

TinyPrompt tiny_prompt0() {
    std::ifstream in(shared_dir() / "reference/tiny/tiny-F32.json");
    const nlohmann::json j = nlohmann::json::parse(in);
    const nlohmann::json& p = j.at("prompts").at(0);
    return {p.at("tokens").get<std::vector<int32_t>>(), p.at("greedy").at("tokens").get<std::vector<int32_t>>()};
}

class TinyGenerator : public ::testing::Test {
protected:
    void SetUp() override {
        if (!std::filesystem::exists(shared_dir() / "models/tiny/tiny-F32.gguf") ||
            !std::filesystem::exists(shared_dir() / "reference/tiny/tiny-F32.json")) {
            GTEST_SKIP() << "needs ../shared/models/tiny/tiny-F32.gguf and its reference (not present here)";
        }
        EngineOptions options;
        options.backend = "cpu";
        options.n_threads = 2;
        engine_ = std::make_unique<Engine>(shared_dir() / "models/tiny/tiny-F32.gguf", options);
        prompt_ = tiny_prompt0();
    }
    // The reference ran with an f32 KV cache.
    std::unique_ptr<Session> session(int64_t n_ctx = 128, uint64_t seed = 1) const {
        return std::make_unique<Session>(*engine_, SessionOptions{n_ctx, KvCacheType::f32, 512, seed});
    }
    static GenerationOptions greedy(int64_t n) {
        GenerationOptions o;
        o.n_predict = n;
        o.sampling = sampling::SamplingParams::greedy();
        return o;
    }

    std::unique_ptr<Engine> engine_;
    TinyPrompt prompt_;
};

TEST_F(TinyGenerator, GreedyEqualsReferenceAndStreamsValidText) {
    auto s = session();
    Generator gen(*engine_, *s);
    std::string streamed;
    int pieces = 0;
    const GenerationResult r = gen.generate(prompt_.tokens, greedy(16), [&](std::string_view piece) {
        EXPECT_TRUE(tokenizer::utf8::is_valid(piece));
        streamed += piece;
        ++pieces;
    });
    const std::vector<int32_t> want(prompt_.greedy.begin(), prompt_.greedy.begin() + 16);
    EXPECT_EQ(r.tokens, want);
    EXPECT_EQ(r.stop_reason, StopReason::n_predict);
    EXPECT_EQ(r.text, streamed);
    EXPECT_GT(pieces, 1);
    // The text is the continuation's decode, its leading space kept (it follows the prompt).
    EXPECT_EQ(r.text, " " + engine_->tokenizer().decode(r.tokens));
    EXPECT_EQ(r.timings.n_prompt, static_cast<int64_t>(prompt_.tokens.size()));
    EXPECT_EQ(r.timings.n_generated, 16);
    EXPECT_EQ(r.timings.n_decoded, 15);
    EXPECT_EQ(s->n_past(), static_cast<int64_t>(prompt_.tokens.size()) + 15);
    EXPECT_GT(r.timings.prefill_ms, 0);
    EXPECT_GE(r.timings.ttft_ms, r.timings.prefill_ms);
    EXPECT_GE(r.timings.total_ms, r.timings.ttft_ms + r.timings.decode_ms - 1.0);
}

TEST_F(TinyGenerator, StopStringCutsTheText) {
    // The greedy continuation is " quantities quantities ...".
    auto s = session();
    Generator gen(*engine_, *s);
    GenerationOptions o = greedy(16);
    o.stop = {"nothing like this", "ities q"};
    std::string streamed;
    const GenerationResult r = gen.generate(prompt_.tokens, o, [&](std::string_view p) { streamed += p; });
    EXPECT_EQ(r.stop_reason, StopReason::stop_string);
    EXPECT_EQ(r.stop_string, "ities q");
    EXPECT_EQ(r.text, " quant");
    EXPECT_EQ(streamed, " quant");
    EXPECT_EQ(r.tokens.size(), 2u);  // the second " quantities" completed the stop string

    // A stop string that never comes: the full text, nothing held back at the end.
    auto s2 = session();
    Generator gen2(*engine_, *s2);
    o.stop = {"quantities!"};
    const GenerationResult r2 = gen2.generate(prompt_.tokens, o);
    EXPECT_EQ(r2.stop_reason, StopReason::n_predict);
    EXPECT_EQ(r2.text, " " + engine_->tokenizer().decode(r2.tokens));
}

TEST_F(TinyGenerator, SameSeedSameTextOtherSeedOtherText) {
    const auto run = [&](uint64_t seed, float temperature) {
        auto s = session(128, seed);
        Generator gen(*engine_, *s);
        GenerationOptions o;
        o.n_predict = 24;
        o.sampling.temperature = temperature;
        return gen.generate(prompt_.tokens, o).text;
    };
    EXPECT_EQ(run(42, 0.8f), run(42, 0.8f));
    // The tiny model's logits are far apart (std ~16), so 0.8 is almost greedy; a hot temperature and no
    // top-k/min-p show that the seed does drive the draws.
    const auto hot = [&](uint64_t seed) {
        auto s = session(128, seed);
        Generator gen(*engine_, *s);
        GenerationOptions o;
        o.n_predict = 24;
        o.sampling.temperature = 50.0f;
        o.sampling.top_k = 0;
        o.sampling.top_p = 1.0f;
        o.sampling.min_p = 0.0f;
        return gen.generate(prompt_.tokens, o).tokens;
    };
    EXPECT_EQ(hot(7), hot(7));
    EXPECT_NE(hot(7), hot(8));
}

TEST_F(TinyGenerator, CancelStopsTheRun) {
    auto s = session();
    Generator gen(*engine_, *s);
    std::atomic<bool> cancel{false};
    const GenerationResult r = gen.generate(
        prompt_.tokens, greedy(32), [&](std::string_view) { cancel = true; }, &cancel);
    EXPECT_EQ(r.stop_reason, StopReason::cancelled);
    EXPECT_EQ(r.tokens.size(), 1u);
    EXPECT_EQ(r.timings.n_decoded, 0);

    auto s2 = session();
    Generator gen2(*engine_, *s2);
    const GenerationResult r2 = gen2.generate(prompt_.tokens, greedy(32), {}, &cancel);  // already set
    EXPECT_EQ(r2.stop_reason, StopReason::cancelled);
    EXPECT_TRUE(r2.tokens.empty());
    EXPECT_EQ(s2->n_past(), 0);
}

TEST_F(TinyGenerator, ContextPolicy) {
    const int64_t n_prompt = static_cast<int64_t>(prompt_.tokens.size());  // 13
    auto s = session(32);
    Generator gen(*engine_, *s);
    try {
        gen.generate(prompt_.tokens, greedy(20));
        FAIL() << "13 + 20 > 32 must be refused";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("33 positions"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("--ctx-size"), std::string::npos) << e.what();
    }
    EXPECT_EQ(s->n_past(), 0);  // nothing ran
    EXPECT_THROW(gen.generate(prompt_.tokens, greedy(-2)), UsageError);
    EXPECT_THROW(gen.generate({}, greedy(1)), UsageError);

    // -1: run until the cache is full; the last token sampled is not decoded.
    const GenerationResult r = gen.generate(prompt_.tokens, greedy(-1));
    EXPECT_EQ(r.stop_reason, StopReason::context_full);
    EXPECT_EQ(s->n_past(), 32);
    EXPECT_EQ(static_cast<int64_t>(r.tokens.size()), 32 - n_prompt + 1);
    EXPECT_EQ(std::vector<int32_t>(r.tokens.begin(), r.tokens.begin() + 16),
              std::vector<int32_t>(prompt_.greedy.begin(), prompt_.greedy.begin() + 16));

    auto small = session(8);
    Generator gen_small(*engine_, *small);
    EXPECT_THROW(gen_small.generate(prompt_.tokens, greedy(-1)), UsageError);
}

TEST_F(TinyGenerator, ReusesTheCachedPrefix) {
    auto s = session();
    Generator gen(*engine_, *s);
    const GenerationResult first = gen.generate(prompt_.tokens, greedy(4));
    // The next "turn": the old prompt, the reply, and two new tokens.
    std::vector<int32_t> next = prompt_.tokens;
    next.insert(next.end(), first.tokens.begin(), first.tokens.end());
    next.push_back(450);
    next.push_back(4996);
    const GenerationResult second = gen.generate(next, greedy(6));
    // The cache held the prompt and 3 decoded reply tokens; the 4th reply token was never decoded.
    EXPECT_EQ(second.timings.n_reused, static_cast<int64_t>(prompt_.tokens.size()) + 3);
    EXPECT_EQ(second.timings.n_prompt, 3);

    auto fresh = session();
    Generator gen_fresh(*engine_, *fresh);
    const GenerationResult expected = gen_fresh.generate(next, greedy(6));
    EXPECT_EQ(expected.timings.n_reused, 0);
    EXPECT_EQ(second.tokens, expected.tokens);

    // The same prompt again: everything but its last token is reused.
    const GenerationResult again = gen_fresh.generate(next, greedy(6));
    EXPECT_EQ(again.timings.n_reused, static_cast<int64_t>(next.size()) - 1);
    EXPECT_EQ(again.tokens, expected.tokens);
}

TEST_F(TinyGenerator, EndOfGenerationStopsUnlessIgnored) {
    const int32_t eos = engine_->tokenizer().eos();
    GenerationOptions o = greedy(8);
    o.sampling.logit_bias = {{eos, 1000.0f}};  // force EOS
    auto s = session();
    Generator gen(*engine_, *s);
    const GenerationResult r = gen.generate(prompt_.tokens, o);
    EXPECT_EQ(r.stop_reason, StopReason::eog);
    EXPECT_TRUE(r.tokens.empty());
    EXPECT_TRUE(r.text.empty());
    EXPECT_EQ(r.timings.n_generated, 1);

    o.ignore_eos = true;  // -inf wins over +1000
    auto s2 = session();
    Generator gen2(*engine_, *s2);
    const GenerationResult r2 = gen2.generate(prompt_.tokens, o);
    EXPECT_EQ(r2.stop_reason, StopReason::n_predict);
    EXPECT_EQ(r2.tokens.size(), 8u);
    for (int32_t id : r2.tokens) EXPECT_FALSE(engine_->tokenizer().is_eog(id));
}

}  // namespace
}  // namespace spool::runtime
