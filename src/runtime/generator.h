// The generation loop: prompt tokens -> prefill -> (sample -> decode)* -> text pieces, with stop conditions
// (end of generation, token budget, stop strings, cancel flag, full context) and llama.cpp-style timings.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sampling/chain.h"

namespace spool {
class Engine;
class Session;
}  // namespace spool

namespace spool::runtime {

enum class StopReason {
    eog,          // the model sampled an end-of-generation token (EOS, EOT, <|im_end|>, ...)
    n_predict,    // GenerationOptions::n_predict tokens were generated
    stop_string,  // the text reached one of GenerationOptions::stop
    cancelled,    // the caller's cancel flag was set
    context_full, // n_predict < 0 and the KV cache filled up (see Generator::generate)
};
// "eog", "n_predict", "stop_string", "cancelled", "context_full".
const char* stop_reason_name(StopReason reason) noexcept;

struct GenerationOptions {
    int64_t n_predict = -1;             // tokens to generate at most; -1: until end of generation or context full
    sampling::SamplingParams sampling;  // temperature 0 = greedy
    std::vector<std::string> stop;      // stop strings (non-empty); the text is cut before the first one found
    bool ignore_eos = false;            // end-of-generation tokens get a -inf logit bias, as llama.cpp does
};

// Times in milliseconds. load_ms is measured by the caller (the generator never loads a model).
struct GenerationTimings {
    double load_ms = 0;
    int64_t n_reused = 0;        // prompt tokens already in the session's cache (common prefix), not prefilled
    int64_t n_prompt = 0;        // prompt tokens prefilled
    double prefill_ms = 0;
    int64_t n_generated = 0;     // tokens sampled (an end-of-generation token included)
    int64_t n_decoded = 0;       // single-token decode steps: each generated token but the last one is decoded
    double decode_ms = 0;        // decode steps and the sampling after each
    double sample_ms = 0;        // sampling alone (part of ttft_ms and decode_ms)
    double ttft_ms = 0;          // generate() start to the first sampled token: prefill + first sample
    double total_ms = 0;         // the whole generate() call

    double prefill_tok_per_s() const noexcept { return prefill_ms > 0 ? 1000.0 * n_prompt / prefill_ms : 0; }
    double decode_tok_per_s() const noexcept { return decode_ms > 0 ? 1000.0 * n_decoded / decode_ms : 0; }
};

struct GenerationResult {
    std::vector<int32_t> tokens;  // generated ids; an end-of-generation token is not included
    std::string text;             // everything passed to the text callback, concatenated (valid UTF-8)
    StopReason stop_reason = StopReason::n_predict;
    std::string stop_string;      // the stop string found, when stop_reason == stop_string
    GenerationTimings timings;
};

// Called with each piece of text as soon as it is final: valid UTF-8, never part of a stop string.
using TextCallback = std::function<void(std::string_view piece)>;

// Holds back text that could still turn into a stop string. push() returns the text that is safe to show;
// once a stop string appears, stopped() is true and the text before it is the last thing returned.
class StopStringFilter {
public:
    // Throws UsageError for an empty stop string.
    explicit StopStringFilter(std::vector<std::string> stops);

    std::string push(std::string_view text);  // returns "" once stopped
    std::string flush();                      // the held-back tail (text that ended as a prefix of a stop string)
    bool stopped() const noexcept { return stopped_; }
    const std::string& found() const noexcept { return found_; }  // the stop string that stopped it

private:
    std::vector<std::string> stops_;
    std::string pending_;
    bool stopped_ = false;
    std::string found_;
};

class Generator {
public:
    // The engine and session must outlive the generator; the session must belong to the engine.
    Generator(const Engine& engine, Session& session);

    // Generates a continuation of `prompt` (the whole token sequence, BOS and any earlier turns included).
    // The session may already hold tokens: the longest common prefix of its cache and `prompt` is kept and
    // only the rest is prefilled (at least one token, for fresh logits), so a chat re-sends the whole
    // conversation each turn at the cost of the new part only.
    // Context policy: the prompt must fit in n_ctx, and with n_predict >= 0 so must prompt + n_predict
    // (checked before any work: UsageError saying how many positions are missing and which flags help).
    // With n_predict = -1 generation stops with StopReason::context_full when the cache is full.
    // `cancel` (may be null) is polled before each prefill/decode step; when set the run stops with
    // StopReason::cancelled and keeps the text generated so far. Text pieces go to `on_text` (may be empty).
    // Throws UsageError (empty prompt, bad ids, bad options, context too small), and whatever the
    // session's backend throws.
    GenerationResult generate(std::span<const int32_t> prompt, const GenerationOptions& options,
                              const TextCallback& on_text = {}, const std::atomic<bool>* cancel = nullptr);

private:
    const Engine& engine_;
    Session& session_;
};

}  // namespace spool::runtime
