#include "bench/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "core/thread_pool.h"
#include "spool/engine.h"
#include "spool/errors.h"
#include "tokenizer/tokenizer.h"

namespace spool::bench {

PerplexityPlan plan_perplexity(int64_t n_tokens, int64_t n_ctx, int64_t max_chunks) {
    if (n_ctx < 4) {
        throw UsageError("-c/--ctx-size = " + std::to_string(n_ctx) +
                         " is too small for perplexity: each chunk scores its second half, so give at least 4 (512 is "
                         "the usual value)");
    }
    if (max_chunks < -1 || max_chunks == 0) {
        throw UsageError("--chunks = " + std::to_string(max_chunks) + " must be positive, or -1 for the whole text");
    }
    if (n_tokens < 2 * n_ctx) {
        throw UsageError("the text has " + std::to_string(n_tokens) + " tokens; perplexity with a context of " +
                         std::to_string(n_ctx) + " needs at least " + std::to_string(2 * n_ctx) +
                         " (two chunks): give a longer text or a smaller -c");
    }
    PerplexityPlan plan;
    plan.n_ctx = n_ctx;
    plan.n_chunks = n_tokens / n_ctx;
    if (max_chunks > 0) plan.n_chunks = std::min(plan.n_chunks, max_chunks);
    plan.first_scored = n_ctx / 2;
    return plan;
}

double token_nll(std::span<const float> row, int32_t token) {
    if (token < 0 || static_cast<size_t>(token) >= row.size()) {
        throw UsageError("token id " + std::to_string(token) + " is outside the logit row of " +
                         std::to_string(row.size()) + " entries");
    }
    float max = row[0];
    for (float v : row) max = std::max(max, v);
    double sum = 0;
    for (float v : row) sum += std::exp(static_cast<double>(v) - static_cast<double>(max));
    return std::log(sum) - (static_cast<double>(row[static_cast<size_t>(token)]) - static_cast<double>(max));
}

void NllStats::add(double nll) noexcept {
    sum_ += nll;
    sum_sq_ += nll * nll;
    ++count_;
}

double NllStats::mean_nll() const noexcept { return count_ > 0 ? sum_ / static_cast<double>(count_) : 0.0; }

double NllStats::ppl() const noexcept { return std::exp(mean_nll()); }

double NllStats::ppl_error() const noexcept {
    if (count_ < 2) return 0.0;
    const double mean = mean_nll();
    const double variance = sum_sq_ / static_cast<double>(count_) - mean * mean;
    if (!(variance > 0)) return 0.0;
    return std::sqrt(variance / static_cast<double>(count_ - 1)) * ppl();
}

PerplexityResult run_perplexity(const Engine& engine, std::span<const int32_t> tokens, const PerplexityOptions& options,
                                const PerplexityProgress& progress) {
    if (options.batch_size < 1) {
        throw UsageError("-b/--batch-size = " + std::to_string(options.batch_size) + " must be >= 1");
    }
    PerplexityResult result;
    result.n_text_tokens = static_cast<int64_t>(tokens.size());
    result.plan = plan_perplexity(result.n_text_tokens, options.n_ctx, options.max_chunks);
    const PerplexityPlan& plan = result.plan;

    SessionOptions session_options;
    session_options.n_ctx = plan.n_ctx;
    session_options.kv_type = options.kv_type;
    session_options.kv_type_v = options.kv_type_v;
    session_options.batch_size = options.batch_size;
    Session session(engine, session_options);

    const tokenizer::Tokenizer& tok = engine.tokenizer();
    const bool bos_first = tok.add_bos() && tok.bos() >= 0;
    const auto start = std::chrono::steady_clock::now();
    ThreadPool pool(options.n_threads);
    std::vector<int32_t> chunk;
    std::vector<double> nll;
    for (int64_t c = 0; c < plan.n_chunks; ++c) {
        const auto begin = tokens.begin() + c * plan.n_ctx;
        chunk.assign(begin, begin + plan.n_ctx);
        if (bos_first) chunk[0] = tok.bos();  // every chunk starts a sequence, as llama-perplexity's do
        session.truncate(0);
        // The context half: no logit rows are scored here, so keep only the last.
        session.prefill(std::span<const int32_t>(chunk).first(static_cast<size_t>(plan.first_scored)), Logits::last);
        // The scored half: the row of position p predicts the token at p + 1.
        if (options.score_by_decode) {
            // The last token predicts nothing, so it is not decoded.
            for (int64_t p = plan.first_scored; p < plan.n_ctx - 1; ++p) {
                session.decode(chunk[static_cast<size_t>(p)]);
                result.stats.add(token_nll(session.last_logits(), chunk[static_cast<size_t>(p + 1)]));
            }
        } else {
            for (int64_t p = plan.first_scored; p < plan.n_ctx; p += options.batch_size) {
                const int64_t n = std::min(options.batch_size, plan.n_ctx - p);
                session.prefill(
                    std::span<const int32_t>(chunk).subspan(static_cast<size_t>(p), static_cast<size_t>(n)),
                    Logits::all);
                nll.resize(static_cast<size_t>(std::min(n, plan.n_ctx - 1 - p)));
                pool.parallel_for(static_cast<int64_t>(nll.size()), 8, [&](int64_t r0, int64_t r1) {
                    for (int64_t r = r0; r < r1; ++r) {
                        nll[static_cast<size_t>(r)] =
                            token_nll(session.logits_row(r), chunk[static_cast<size_t>(p + r + 1)]);
                    }
                });
                for (double v : nll) result.stats.add(v);
            }
        }
        result.tokens_evaluated += session.n_past();
        result.running_ppl.push_back(result.stats.ppl());
        result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (progress) progress(c, result);
    }
    return result;
}

}  // namespace spool::bench
