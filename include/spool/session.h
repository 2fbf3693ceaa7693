// A Session runs one sequence on an Engine: its KV cache, scratch activations, position and sampling RNG.
// Prefill a prompt (in chunks), decode one token at a time, read logits, sample, and rewind with truncate().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace spool {

class Engine;
namespace sampling {
class SamplerChain;
class Rng;
}

enum class KvCacheType { f32, f16, q8_0, q4_0 };
// "f32", "f16", "q8_0", "q4_0" (any case). Throws UsageError listing the accepted names.
KvCacheType parse_kv_cache_type(std::string_view name);

// Where Session::sample reads the logit row from.
enum class SamplingPath {
    // On a GPU backend: a plain greedy chain runs as an argmax there (4 bytes come back), and a chain that
    // SamplerChain::sample_top can decide from the row's largest entries (top-k, top-p, min-p, temperature)
    // gets only those (Backend::top_k, at most kMaxTopK of them, and the row's log-sum-exp); anything else, or
    // candidates that do not provably decide the token, copies the whole row. Host backends read the row.
    automatic,
    full_row,        // always the whole row and the host chain (the reference the other paths must equal)
    top_candidates,  // automatic's candidate path on every backend, host ones included (tests, diagnostics)
};

// How a session's sample() calls went (SamplingPath::automatic's choices, for tests and diagnostics).
struct SampleCounts {
    int64_t argmax = 0;          // greedy on the backend
    int64_t top_candidates = 0;  // from the row's largest entries
    int64_t full_row = 0;        // from the whole row
    int64_t undecided = 0;       // of those, after top candidates that could not decide the token
};

struct SessionOptions {
    int64_t n_ctx = 0;                      // positions the KV cache holds; 0 = the model's, at most 4096
    KvCacheType kv_type = KvCacheType::f16;  // the keys' type, and the values' unless kv_type_v is set
    int64_t batch_size = 512;               // prefill runs in chunks of at most this many tokens
    uint64_t seed = 0;                      // sampling RNG seed: the same seed gives the same text
    SamplingPath sampling_path = SamplingPath::automatic;
    // The values' type (-ctv) where it differs from the keys': the cpu and ref backends keep any pair, cuda q8_0 keys
    // with q4_0 values (Session throws UnsupportedError for a pair its backend does not keep).
    std::optional<KvCacheType> kv_type_v = std::nullopt;
};

// Which logit rows a prefill keeps.
enum class Logits { last, all };

class Session {
public:
    // Throws UsageError (bad option), UnsupportedError (KV type), ResourceError (memory).
    explicit Session(const Engine& engine, const SessionOptions& options = {});
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Runs tokens at positions n_past() .. n_past() + size - 1 and appends them to the cache. With Logits::all
    // logits() then holds one row per token, else one row for the last token.
    // Throws UsageError for an empty span, an id outside [0, n_vocab), or a context overflow
    // (n_past() + size > n_ctx()); the session is unchanged then.
    void prefill(std::span<const int32_t> tokens, Logits want = Logits::last);
    // One decode step: prefill of a single token, keeping its logit row. Same errors.
    void decode(int32_t token);

    // The rows the last prefill/decode kept: [n_logit_rows(), n_vocab], row-major. Empty before any call.
    // On a GPU backend the last row is copied to the host on the first call that reads it (sample() with a
    // greedy chain never needs it); a failing copy throws spool::Error.
    std::span<const float> logits() const;
    std::span<const float> logits_row(int64_t row) const;  // throws UsageError when out of range
    std::span<const float> last_logits() const;            // throws UsageError when there are none
    int64_t n_logit_rows() const noexcept;

    int64_t n_past() const noexcept;            // tokens in the cache
    int64_t n_ctx() const noexcept;
    int64_t n_vocab() const noexcept;
    std::span<const int32_t> tokens() const noexcept;  // the cached sequence, [n_past()]
    // Drops every position >= n (for speculative decoding and retries); logits are cleared.
    // Throws UsageError when n > n_past() or n < 0.
    void truncate(int64_t n);

    // Draws the next token from last_logits() with `chain`, using tokens() as the penalty history and this
    // session's RNG. Throws UsageError when there are no logits. On a GPU backend a greedy chain without bias or
    // penalties runs as an argmax there, and top-k / top-p / min-p chains usually need only the row's largest
    // entries (SamplingPath::automatic); the token is the same on every path.
    int32_t sample(sampling::SamplerChain& chain);
    const SampleCounts& sample_counts() const noexcept;
    sampling::Rng& rng() noexcept;

private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace spool
