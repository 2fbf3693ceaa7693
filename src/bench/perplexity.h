// Perplexity of a model on a text, computed the way llama.cpp's llama-perplexity does, so the two tools' numbers
// can be compared: the text (tokenized with BOS) is cut into chunks of n_ctx tokens, each chunk's first token is
// replaced by BOS, each chunk runs in a fresh context, and only the second half of each chunk is scored (every
// scored token has at least n_ctx / 2 tokens of context): PPL = exp(mean over scored tokens of -log p(token)).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "spool/session.h"

namespace spool {
class Engine;
}

namespace spool::bench {

// How a text of n_tokens is cut. Throws UsageError when n_ctx < 4 (nothing left to score), when the text is shorter
// than two chunks (llama.cpp's rule: it needs 2 * n_ctx tokens), or when max_chunks < -1 or 0.
struct PerplexityPlan {
    int64_t n_ctx = 0;
    int64_t n_chunks = 0;      // whole chunks used; the rest of the text is ignored
    int64_t first_scored = 0;  // in each chunk, the logits of positions first_scored .. n_ctx - 2 are scored
    int64_t scored_per_chunk() const noexcept { return n_ctx - first_scored - 1; }
};
PerplexityPlan plan_perplexity(int64_t n_tokens, int64_t n_ctx, int64_t max_chunks = -1);

// -log softmax(row)[token]: the row's max subtracted first, the exponentials summed in float64.
double token_nll(std::span<const float> row, int32_t token);

// Running sums of negative log-likelihoods and the estimate llama-perplexity prints from them.
class NllStats {
public:
    void add(double nll) noexcept;
    int64_t count() const noexcept { return count_; }
    double mean_nll() const noexcept;  // ln PPL
    double ppl() const noexcept;       // exp(mean_nll())
    // The standard error of the mean NLL times PPL (first-order error propagation, as llama-perplexity's "+/-");
    // 0 with fewer than two values or no spread.
    double ppl_error() const noexcept;

private:
    double sum_ = 0, sum_sq_ = 0;
    int64_t count_ = 0;
};

struct PerplexityOptions {
    int64_t n_ctx = 512;
    int64_t max_chunks = -1;  // -1: every whole chunk of the text
    int64_t batch_size = 512;
    KvCacheType kv_type = KvCacheType::f16;
    std::optional<KvCacheType> kv_type_v = std::nullopt;  // the values' type where it differs (-ctv)
    // Score the second half of each chunk with one decode step per token (the decode path's kernels: on a GPU the
    // split attention and the one-token matvecs) instead of prefill batches. Slower; the same text and scores.
    bool score_by_decode = false;
    // Threads that score logit rows (-log softmax over the vocabulary: ~47 ms per 256 rows of 32,000 on one core,
    // more than a GPU's prefill of them); 0 = one per hardware thread. The sums keep row order whatever the count.
    size_t n_threads = 0;
};

struct PerplexityResult {
    PerplexityPlan plan;
    int64_t n_text_tokens = 0;
    NllStats stats;
    std::vector<double> running_ppl;  // after each chunk, as llama-perplexity's "[k]" values
    double seconds = 0;               // model evaluation and scoring, all chunks
    int64_t tokens_evaluated = 0;     // tokens the model ran: n_chunks * n_ctx (decode scoring: one fewer per chunk)
};

// Called after each chunk with its index (from 0) and the result so far.
using PerplexityProgress = std::function<void(int64_t chunk, const PerplexityResult& so_far)>;

// Runs the plan over `tokens` (the whole text, BOS first where the vocabulary adds one) on one session of `engine`.
// A chunk's first half is evaluated without keeping logits; its second half in batches of batch_size tokens (or one
// decode step per token) whose rows are scored as they come, so memory holds at most batch_size logit rows.
// Throws as plan_perplexity and as Session does (UsageError for an n_ctx above what the session can hold,
// ResourceError for memory).
PerplexityResult run_perplexity(const Engine& engine, std::span<const int32_t> tokens, const PerplexityOptions& options,
                                const PerplexityProgress& progress = {});

}  // namespace spool::bench
