// Session: one sequence's KV cache, scratch and RNG (per backend stage when -ngl splits the model); prefill in
// chunks, decode steps, truncate, sample.
#include "spool/session.h"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/activations.h"
#include "model/model.h"
#include "quant/types.h"
#include "runtime/kv_cache.h"
#include "runtime/residual_handoff.h"
#include "sampling/chain.h"
#include "sampling/rng.h"
#include "spool/engine.h"
#include "spool/errors.h"

namespace spool {
namespace {

constexpr int64_t kDefaultMaxContext = 4096;  // a default that fits small machines; ask for more explicitly

static_assert(std::size(runtime::kKvCacheTypes) == static_cast<size_t>(KvCacheType::q4_0) + 1,
              "kKvCacheTypes holds every KvCacheType, in order");

GgmlType to_ggml(KvCacheType t) {
    const auto i = static_cast<size_t>(t);
    return i < std::size(runtime::kKvCacheTypes) ? runtime::kKvCacheTypes[i].type : GgmlType::F16;
}

// Checks the options and returns the context size they ask for.
int64_t resolve_n_ctx(const SessionOptions& options, const model::HParams& hp) {
    if (options.n_ctx < 0) throw UsageError("n_ctx = " + std::to_string(options.n_ctx) + " is negative");
    if (options.batch_size < 1) {
        throw UsageError("batch_size = " + std::to_string(options.batch_size) + " must be at least 1");
    }
    return options.n_ctx > 0 ? options.n_ctx : std::min(hp.n_ctx_train, kDefaultMaxContext);
}

}  // namespace

KvCacheType parse_kv_cache_type(std::string_view name) {
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (size_t i = 0; i < std::size(runtime::kKvCacheTypes); ++i) {
        if (lower == runtime::kKvCacheTypes[i].name) return static_cast<KvCacheType>(i);
    }
    throw UsageError("unknown KV cache type '" + std::string(name) + "'; expected one of: " +
                     runtime::kv_cache_type_names());
}

namespace {

// What one stage of the model needs per session: its layers' KV cache, scratch and positions, on its backend.
struct StageState {
    model::Stage stage;
    runtime::KvCache kv;
    model::Activations act;
    Buffer positions;  // [batch_size] int32

    StageState(const model::Stage& st, const model::HParams& hp, int64_t n_ctx, int64_t batch_size, GgmlType k_type,
               GgmlType v_type)
        : stage(st),
          kv(*st.backend, st.layer_end - st.layer_begin, hp.n_head_kv, hp.head_dim, n_ctx, k_type, v_type),
          act(*st.backend, hp, batch_size),
          positions(st.backend->allocate(static_cast<size_t>(batch_size) * sizeof(int32_t))) {}
};

}  // namespace

struct Session::State {
    const model::Model& model;
    const model::HParams& hp;
    int64_t batch_size;
    std::vector<std::unique_ptr<StageState>> stages;  // [stage] of model.stages(): one, or two with a -ngl split
    Backend& backend;  // the last stage's: the output head, logits and backend-side sampling
    runtime::ResidualHandoff handoff;
    Buffer ids;            // [batch_size] int32, on the first stage's backend
    Buffer logits_device;  // [rows, n_vocab]: 1 row, or batch_size rows once Logits::all is asked for
    int64_t logits_device_rows = 0;
    std::vector<int32_t> tokens;      // the cached sequence
    std::vector<float> logits;        // [n_logit_rows, n_vocab]
    int64_t n_logit_rows = 0;
    bool last_row_on_device = false;  // logits' last row is still only in logits_device (row 0)
    Buffer argmax_device;             // [1] int32: greedy sampling on the backend
    // The last sample was a plain greedy one on the backend, so decode steps compute their row's argmax inside the
    // step (no launch of its own when the next sample is greedy too); argmax_ready: argmax_device holds the last
    // row's.
    bool greedy_expected = false;
    bool argmax_ready = false;
    // Backend::top_k's outputs for sampling from candidates: [lse: double][values: float x k][ids: int32 x k],
    // so one download brings all three back.
    Buffer top_device;
    std::vector<std::byte> top_host;
    std::vector<float> top_values;
    std::vector<int32_t> top_ids;
    SamplingPath sampling_path;
    SampleCounts counts;
    std::vector<int32_t> positions_host;
    sampling::Rng rng;

    State(const Engine& e, const SessionOptions& options, int64_t n_ctx)
        : model(e.model()),
          hp(e.hparams()),
          batch_size(std::clamp<int64_t>(options.batch_size, 1, n_ctx)),
          stages(make_stages(model, n_ctx, batch_size, to_ggml(options.kv_type),
                             to_ggml(options.kv_type_v.value_or(options.kv_type)))),
          backend(*stages.back()->stage.backend),
          ids(stages.front()->stage.backend->allocate(static_cast<size_t>(batch_size) * sizeof(int32_t))),
          argmax_device(backend.allocate(sizeof(int32_t))),
          top_device(backend.allocate(top_bytes(kMaxTopK))),
          top_host(top_bytes(kMaxTopK)),
          sampling_path(options.sampling_path),
          rng(options.seed) {
        ensure_logit_rows(1);
    }

    static std::vector<std::unique_ptr<StageState>> make_stages(const model::Model& model, int64_t n_ctx,
                                                                int64_t batch_size, GgmlType k_type,
                                                                GgmlType v_type) {
        std::vector<std::unique_ptr<StageState>> out;
        for (const model::Stage& st : model.stages()) {
            out.push_back(std::make_unique<StageState>(st, model.hparams(), n_ctx, batch_size, k_type, v_type));
        }
        return out;
    }

    void ensure_logit_rows(int64_t rows) {
        if (rows <= logits_device_rows) return;
        logits_device = backend.allocate(static_cast<size_t>(rows * hp.n_vocab) * sizeof(float));
        logits_device_rows = rows;
    }

    // Runs one chunk already validated; n_outputs rows of logits are appended to `logits` from `out_row`.
    // Stage by stage: each after the first starts from the residual stream the previous one left, copied over
    // BEFORE its decode-step bracket, so a step's bracket holds only its own backend's work (on cuda: one graph
    // that reads the copy from a fixed buffer, act.residual).
    void run_chunk(std::span<const int32_t> chunk, int64_t n_outputs, int64_t out_row) {
        const int64_t n = static_cast<int64_t>(chunk.size());
        const int64_t first_pos = static_cast<int64_t>(tokens.size());
        positions_host.resize(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) positions_host[static_cast<size_t>(i)] = static_cast<int32_t>(first_pos + i);
        const bool step = n == 1;
        model::ForwardBatch batch;
        batch.n_tokens = n;
        batch.n_outputs = n_outputs;
        batch.token_ids = ids.as<const int32_t>();
        batch.logits = logits_device.as<float>();
        for (size_t i = 0; i < stages.size(); ++i) {
            StageState& st = *stages[i];
            Backend& be = *st.stage.backend;
            if (i > 0) {
                const StageState& prev = *stages[i - 1];
                handoff.copy(*prev.stage.backend, prev.act.residual, be, st.act.residual,
                             static_cast<size_t>(n * hp.n_embd));
            }
            batch.positions = st.positions.as<const int32_t>();
            const bool with_argmax = step && i + 1 == stages.size() && greedy_expected && !be.uses_host_memory();
            // A decode step's ops depend only on the stage and these buffers (the token and position are read from
            // device memory), so a backend may repeat the last such step without the forward pass issuing them.
            const bool repeated = step && be.begin_step(step_key(st, i, batch, with_argmax));
            if (i == 0) be.upload(ids.data(), chunk.data(), chunk.size_bytes());
            be.upload(st.positions.data(), positions_host.data(), positions_host.size() * sizeof(int32_t));
            if (!repeated) {
                model.forward_layers(be, batch, st.stage.layer_begin, st.stage.layer_end, st.kv.layers(), st.act);
                if (with_argmax) be.argmax(logits_device.as<const float>(), 1, hp.n_vocab, argmax_device.as<int32_t>());
            }
            if (step) be.end_step();
            argmax_ready = with_argmax;
        }
        tokens.insert(tokens.end(), chunk.begin(), chunk.end());
        if (n_outputs == 1 && out_row == n_logit_rows - 1) {
            last_row_on_device = true;  // copied when read: a greedy sample on the backend never needs it
            return;
        }
        backend.download(logits.data() + out_row * hp.n_vocab, logits_device.data(),
                         static_cast<size_t>(n_outputs * hp.n_vocab) * sizeof(float));
    }

    // Backend::begin_step's repeat key of a one-token step of stage `index`: what its launches depend on besides the
    // model (the stage's state, and the batch's buffers and row count).
    static std::vector<uint64_t> step_key(const StageState& st, size_t index, const model::ForwardBatch& batch,
                                          bool with_argmax) {
        auto word = [](const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); };
        return {word(&st),
                with_argmax ? 1u : 0u,
                index,
                static_cast<uint64_t>(batch.n_tokens),
                static_cast<uint64_t>(batch.n_outputs),
                word(batch.token_ids),
                word(batch.positions),
                word(batch.logits),
                word(batch.observer)};
    }

    void fetch_last_row() {
        if (!last_row_on_device) return;
        backend.download(logits.data() + (n_logit_rows - 1) * hp.n_vocab, logits_device.data(),
                         static_cast<size_t>(hp.n_vocab) * sizeof(float));
        last_row_on_device = false;
    }

    int64_t n_ctx() const noexcept { return stages.front()->kv.n_ctx(); }

    static size_t top_bytes(int k) { return sizeof(double) + static_cast<size_t>(k) * (sizeof(float) + sizeof(int32_t)); }

    // The last row where the backend can read it, or null: still in logits_device, or (host backends) in `logits`.
    const float* last_row_for_backend() {
        if (last_row_on_device) return logits_device.as<const float>();
        if (!backend.uses_host_memory() || n_logit_rows == 0) return nullptr;
        return logits.data() + (n_logit_rows - 1) * hp.n_vocab;
    }

    // The chain's token from the row's largest entries (Backend::top_k), or nullopt when it needs the whole row.
    std::optional<int32_t> sample_from_top(sampling::SamplerChain& chain) {
        const int k = chain.candidates_wanted(hp.n_vocab, kMaxTopK);
        const float* row = last_row_for_backend();
        if (k == 0 || row == nullptr) return std::nullopt;
        std::byte* base = top_device.as<std::byte>();
        float* values = reinterpret_cast<float*>(base + sizeof(double));
        int32_t* ids = reinterpret_cast<int32_t*>(base + sizeof(double) + static_cast<size_t>(k) * sizeof(float));
        backend.top_k(row, 1, hp.n_vocab, k, values, ids, reinterpret_cast<double*>(base));
        backend.download(top_host.data(), base, top_bytes(k));
        double lse = 0.0;
        std::memcpy(&lse, top_host.data(), sizeof lse);
        top_values.resize(static_cast<size_t>(k));
        top_ids.resize(static_cast<size_t>(k));
        std::memcpy(top_values.data(), top_host.data() + sizeof(double), top_values.size() * sizeof(float));
        std::memcpy(top_ids.data(), top_host.data() + sizeof(double) + top_values.size() * sizeof(float),
                    top_ids.size() * sizeof(int32_t));
        const std::optional<int32_t> token = chain.sample_top(top_values, top_ids, hp.n_vocab, lse, rng);
        if (!token) ++counts.undecided;
        return token;
    }
};

Session::Session(const Engine& engine, const SessionOptions& options)
    : state_(std::make_unique<State>(engine, options, resolve_n_ctx(options, engine.hparams()))) {}

Session::~Session() = default;

void Session::prefill(std::span<const int32_t> tokens, Logits want) {
    State& s = *state_;
    const int64_t n = static_cast<int64_t>(tokens.size());
    if (n == 0) throw UsageError("prefill needs at least one token");
    if (n_past() + n > n_ctx()) {
        throw UsageError("context overflow: the session holds " + std::to_string(n_past()) + " of " +
                         std::to_string(n_ctx()) + " positions and " + std::to_string(n) +
                         " more tokens were given; use a larger context (n_ctx) or truncate the session");
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i] < 0 || tokens[i] >= s.hp.n_vocab) {
            throw UsageError("token " + std::to_string(i) + " has id " + std::to_string(tokens[i]) +
                             ", outside the vocabulary [0, " + std::to_string(s.hp.n_vocab) + ")");
        }
    }
    const bool all = want == Logits::all;
    if (all) s.ensure_logit_rows(std::min(n, s.batch_size));
    s.n_logit_rows = all ? n : 1;
    s.last_row_on_device = false;
    s.argmax_ready = false;
    // Every row that can be read is written below (or fetched from the device when read), so the rows are not
    // cleared: zeroing 32,000-128,000 floats per decode step was host time the GPU waited for.
    s.logits.resize(static_cast<size_t>(s.n_logit_rows * s.hp.n_vocab));
    for (int64_t begin = 0; begin < n; begin += s.batch_size) {
        const int64_t count = std::min(s.batch_size, n - begin);
        const bool last_chunk = begin + count == n;
        if (!all && !last_chunk) {
            // Earlier chunks of a Logits::last prefill only fill the cache; their one logit row is discarded.
            s.run_chunk(tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(count)), 1, 0);
            continue;
        }
        s.run_chunk(tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(count)), all ? count : 1,
                    all ? begin : 0);
    }
}

void Session::decode(int32_t token) { prefill(std::span<const int32_t>(&token, 1), Logits::last); }

std::span<const float> Session::logits() const {
    state_->fetch_last_row();
    return state_->logits;
}

std::span<const float> Session::logits_row(int64_t row) const {
    const State& s = *state_;
    if (row < 0 || row >= s.n_logit_rows) {
        throw UsageError("logit row " + std::to_string(row) + " requested, but the last call kept " +
                         std::to_string(s.n_logit_rows) + " rows");
    }
    if (row == s.n_logit_rows - 1) state_->fetch_last_row();
    return std::span<const float>(s.logits).subspan(static_cast<size_t>(row * s.hp.n_vocab),
                                                    static_cast<size_t>(s.hp.n_vocab));
}

std::span<const float> Session::last_logits() const {
    if (state_->n_logit_rows == 0) throw UsageError("no logits yet: call prefill or decode first");
    return logits_row(state_->n_logit_rows - 1);
}

int64_t Session::n_logit_rows() const noexcept { return state_->n_logit_rows; }
int64_t Session::n_past() const noexcept { return static_cast<int64_t>(state_->tokens.size()); }
int64_t Session::n_ctx() const noexcept { return state_->n_ctx(); }
int64_t Session::n_vocab() const noexcept { return state_->hp.n_vocab; }
std::span<const int32_t> Session::tokens() const noexcept { return state_->tokens; }

void Session::truncate(int64_t n) {
    if (n < 0 || n > n_past()) {
        throw UsageError("cannot truncate to " + std::to_string(n) + " tokens: the session holds " +
                         std::to_string(n_past()));
    }
    // Cache rows >= n are simply overwritten later: attention never reads past a query's position.
    state_->tokens.resize(static_cast<size_t>(n));
    state_->logits.clear();
    state_->n_logit_rows = 0;
    state_->last_row_on_device = false;
    state_->argmax_ready = false;
}

int32_t Session::sample(sampling::SamplerChain& chain) {
    State& s = *state_;
    if (s.n_logit_rows == 0) throw UsageError("no logits yet: call prefill or decode first");
    const sampling::SamplingParams& p = chain.params();
    const bool on_device = s.last_row_on_device && !s.backend.uses_host_memory();
    const bool automatic = s.sampling_path == SamplingPath::automatic;
    const bool plain_greedy = p.temperature <= 0 && p.logit_bias.empty() && p.repeat_penalty == 1.0f &&
                              p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f;
    if (automatic && plain_greedy && on_device) {
        // The logit row stays on the GPU: its argmax (ties to the lowest id, as the host chain) comes back alone.
        if (!s.argmax_ready) {
            s.backend.argmax(s.logits_device.as<const float>(), 1, s.hp.n_vocab, s.argmax_device.as<int32_t>());
        }
        int32_t token = 0;
        s.backend.download(&token, s.argmax_device.data(), sizeof token);
        ++s.counts.argmax;
        s.greedy_expected = true;
        return token;
    }
    s.greedy_expected = false;
    if ((automatic && on_device) || s.sampling_path == SamplingPath::top_candidates) {
        if (const std::optional<int32_t> token = s.sample_from_top(chain)) {
            ++s.counts.top_candidates;
            return *token;
        }
    }
    ++s.counts.full_row;
    return chain.sample(last_logits(), s.tokens, s.rng);
}

const SampleCounts& Session::sample_counts() const noexcept { return state_->counts; }

sampling::Rng& Session::rng() noexcept { return state_->rng; }

}  // namespace spool
