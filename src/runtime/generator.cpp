// Generator: the prefill -> sample -> decode loop behind `spool run` and `spool chat`, with stop conditions,
// stop-string hold-back and timings that follow llama.cpp's (prompt eval, eval, time to first token).
#include "runtime/generator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "sampling/chain.h"
#include "spool/engine.h"
#include "spool/errors.h"
#include "spool/session.h"
#include "tokenizer/tokenizer.h"

namespace spool::runtime {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

bool is_set(const std::atomic<bool>* flag) { return flag != nullptr && flag->load(std::memory_order_relaxed); }

}  // namespace

const char* stop_reason_name(StopReason reason) noexcept {
    switch (reason) {
        case StopReason::eog: return "eog";
        case StopReason::n_predict: return "n_predict";
        case StopReason::stop_string: return "stop_string";
        case StopReason::cancelled: return "cancelled";
        case StopReason::context_full: return "context_full";
    }
    return "unknown";
}

StopStringFilter::StopStringFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {
    for (size_t i = 0; i < stops_.size(); ++i) {
        if (stops_[i].empty()) {
            throw UsageError("stop string " + std::to_string(i + 1) + " is empty; give --stop a non-empty text");
        }
    }
}

std::string StopStringFilter::push(std::string_view text) {
    if (stopped_) return {};
    pending_ += text;
    // Every occurrence of a stop string starts inside pending_: text released earlier never ended with a
    // prefix of one (that part is held back below).
    size_t first = std::string::npos;
    for (const std::string& s : stops_) {
        const size_t pos = pending_.find(s);
        if (pos < first) {
            first = pos;
            found_ = s;
        }
    }
    if (first != std::string::npos) {
        std::string out = pending_.substr(0, first);
        pending_.clear();
        stopped_ = true;
        return out;
    }
    // Hold back the longest tail that a stop string starts with. Stop strings and pending_ are valid UTF-8
    // when the decoder's output is, so the cut never splits a character (a tail cannot start with a
    // continuation byte that a stop string starts with).
    size_t keep = 0;
    for (const std::string& s : stops_) {
        for (size_t len = std::min(s.size() - 1, pending_.size()); len > keep; --len) {
            if (std::string_view(pending_).ends_with(std::string_view(s).substr(0, len))) {
                keep = len;
                break;
            }
        }
    }
    std::string out = pending_.substr(0, pending_.size() - keep);
    pending_.erase(0, pending_.size() - keep);
    return out;
}

std::string StopStringFilter::flush() {
    if (stopped_) return {};
    std::string out = std::move(pending_);
    pending_.clear();
    return out;
}

Generator::Generator(const Engine& engine, Session& session) : engine_(engine), session_(session) {}

GenerationResult Generator::generate(std::span<const int32_t> prompt, const GenerationOptions& options,
                                     const TextCallback& on_text, const std::atomic<bool>* cancel) {
    const Clock::time_point start = Clock::now();
    const tokenizer::Tokenizer& tok = engine_.tokenizer();
    const int64_t n_ctx = session_.n_ctx();
    const int64_t n_prompt = static_cast<int64_t>(prompt.size());

    // All checks first, so a bad request leaves the session as it was.
    if (prompt.empty()) throw UsageError("generation needs a prompt of at least one token");
    if (options.n_predict < -1) {
        throw UsageError("n_predict = " + std::to_string(options.n_predict) +
                         " is negative; give the number of tokens to generate, or -1 for no limit");
    }
    if (n_prompt > n_ctx) {
        throw UsageError("the prompt has " + std::to_string(n_prompt) + " tokens but the context holds " +
                         std::to_string(n_ctx) + "; use a larger context (-c/--ctx-size) or a shorter prompt");
    }
    if (options.n_predict >= 0 && n_prompt + options.n_predict > n_ctx) {
        throw UsageError("the prompt (" + std::to_string(n_prompt) + " tokens) plus n_predict (" +
                         std::to_string(options.n_predict) + ") needs " +
                         std::to_string(n_prompt + options.n_predict) + " positions but the context holds " +
                         std::to_string(n_ctx) + "; use a larger context (-c/--ctx-size), a smaller -n, or -n -1 "
                         "to stop when the context is full");
    }
    sampling::SamplingParams params = options.sampling;
    if (options.ignore_eos) {
        for (int32_t id : tok.eog_ids()) params.logit_bias.emplace_back(id, -INFINITY);
    }
    sampling::SamplerChain chain(std::move(params));
    StopStringFilter filter(options.stop);

    GenerationResult result;
    GenerationTimings& t = result.timings;
    const auto emit = [&](const std::string& piece) {
        if (piece.empty()) return;
        result.text += piece;
        if (on_text) on_text(piece);
    };
    const auto finish = [&](StopReason reason) {
        result.stop_reason = reason;
        t.total_ms = ms_since(start);
        return std::move(result);
    };

    // Keep the cached common prefix, but always prefill at least one token to get fresh logits.
    const std::span<const int32_t> cached = session_.tokens();
    const size_t limit = std::min(cached.size(), prompt.size() - 1);
    const size_t common = static_cast<size_t>(
        std::mismatch(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(limit), cached.begin()).first -
        prompt.begin());
    if (is_set(cancel)) return finish(StopReason::cancelled);
    session_.truncate(static_cast<int64_t>(common));
    t.n_reused = static_cast<int64_t>(common);
    t.n_prompt = n_prompt - t.n_reused;
    Clock::time_point step = Clock::now();
    session_.prefill(prompt.subspan(common), Logits::last);
    t.prefill_ms = ms_since(step);

    // Generated text continues the prompt, so its first piece keeps its leading space.
    tokenizer::StreamingDecoder decoder(tok, /*unparse_special=*/false, /*at_text_start=*/false);
    StopReason reason = StopReason::n_predict;
    bool stopped = options.n_predict == 0;
    while (!stopped) {
        if (is_set(cancel)) {
            reason = StopReason::cancelled;
            break;
        }
        step = Clock::now();
        const int32_t token = session_.sample(chain);
        const double sample_ms = ms_since(step);
        t.sample_ms += sample_ms;
        if (t.n_generated == 0) {
            t.ttft_ms = ms_since(start);
        } else {
            t.decode_ms += sample_ms;
        }
        ++t.n_generated;
        if (tok.is_eog(token)) {
            reason = StopReason::eog;
            break;
        }
        result.tokens.push_back(token);
        emit(filter.push(decoder.push(token)));
        if (filter.stopped()) {
            reason = StopReason::stop_string;
            break;
        }
        if (options.n_predict >= 0 && static_cast<int64_t>(result.tokens.size()) >= options.n_predict) break;
        if (session_.n_past() >= n_ctx) {
            reason = StopReason::context_full;
            break;
        }
        if (is_set(cancel)) {
            reason = StopReason::cancelled;
            break;
        }
        step = Clock::now();
        session_.decode(token);
        t.decode_ms += ms_since(step);
        ++t.n_decoded;
    }

    // The decoder may still hold bytes (an incomplete character, a space the clean-up had not decided on).
    if (reason != StopReason::stop_string) {
        emit(filter.push(decoder.flush()));
        if (filter.stopped()) reason = StopReason::stop_string;
        emit(filter.flush());
    }
    if (filter.stopped()) result.stop_string = filter.found();
    return finish(reason);
}

}  // namespace spool::runtime
