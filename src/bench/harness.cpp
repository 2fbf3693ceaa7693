// The bench harness. Timing uses steady_clock around synchronous target calls (logits are on the host when a
// call returns). The order is fixed: residency, load, warm-up, timed runs, quality run, peak memory, reloads.
#include "bench/harness.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "bench/quality_hash.h"
#include "core/progress.h"
#include "spool/errors.h"

namespace spool::bench {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

constexpr int kWarmupDecodes = 2;  // decode steps in the warm-up, after its prefill and first token

void track_device(const BenchTarget& t, BenchResult& r) {
    if (const auto used = t.device_memory_used()) {
        r.peak_device_bytes = std::max(r.peak_device_bytes.value_or(0), *used);
    }
}

}  // namespace

MachineInfo describe_machine() { return MachineInfo{cpu_model(), logical_cpus(), os_description()}; }

std::vector<int32_t> timing_prompt(int32_t n_vocab, int32_t bos, int n_tokens) {
    std::vector<int32_t> ids;
    ids.reserve(static_cast<size_t>(std::max(n_tokens, 0)));
    uint64_t state = 0x5eed5eed5eed5eedull;
    for (int i = 0; i < n_tokens; ++i) {
        if (i == 0 && bos >= 0) {
            ids.push_back(bos);
            continue;
        }
        state += 0x9e3779b97f4a7c15ull;  // splitmix64
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        ids.push_back(static_cast<int32_t>(z % static_cast<uint64_t>(n_vocab)));
    }
    return ids;
}

BenchResult run_bench(const TargetLoader& load, const std::filesystem::path& model_path,
                      const BenchSettings& settings, const BuildInfo& build) {
    if (settings.n_prompt < 1 || settings.n_gen < 1 || settings.reps < 1) {
        throw UsageError("spool bench needs -p >= 1, -n >= 1 and -r >= 1 (got -p " + std::to_string(settings.n_prompt) +
                         ", -n " + std::to_string(settings.n_gen) + ", -r " + std::to_string(settings.reps) + ")");
    }
    BenchResult r;
    r.timestamp = utc_timestamp();
    r.build = build;
    r.machine = describe_machine();
    r.settings = settings;

    const bool have_file = !model_path.empty();
    if (have_file && settings.drop_cache) {
        drop_page_cache(model_path);
        r.cache_dropped = true;
    }
    if (have_file) r.residency_before = page_residency(model_path);

    const int reloads = settings.reload ? settings.reps : 0;
    Progress progress("bench", static_cast<uint64_t>(settings.reps + 2 + reloads), Progress::Unit::count,
                      settings.progress);

    auto t0 = Clock::now();
    std::unique_ptr<BenchTarget> target = load();
    r.first_load_ms = ms_since(t0);
    r.model = target->model();
    r.device = target->device();
    track_device(*target, r);

    const std::vector<int32_t> prompt = timing_prompt(target->n_vocab(), target->bos(), settings.n_prompt);
    r.quality_prompt_ids = target->tokenize(kQualityPrompt);
    SequenceOptions seq;
    seq.n_ctx = std::max<int64_t>(settings.n_prompt + settings.n_gen + 1,
                                  static_cast<int64_t>(r.quality_prompt_ids.size()) + kQualityTokens);
    seq.batch_size = settings.batch_size;
    seq.kv_type = settings.kv_type;
    seq.kv_type_v = settings.kv_type_v;
    seq.temperature = 0;

    // Warm-up (excluded): faults the weights in and lets caches, allocators and clocks settle.
    target->reset(seq);
    t0 = Clock::now();
    target->prefill(prompt);
    r.warmup_prefill_ms = ms_since(t0);
    int32_t token = target->sample();
    for (int i = 0; i < kWarmupDecodes; ++i) {
        target->decode(token);
        token = target->sample();
    }
    track_device(*target, r);
    progress.add(1);

    for (int rep = 0; rep < settings.reps; ++rep) {
        target->reset(seq);
        t0 = Clock::now();
        target->prefill(prompt);
        const double prefill_ms = ms_since(t0);
        token = target->sample();
        const double ttft_ms = ms_since(t0);
        track_device(*target, r);
        // Forward and sampling are timed apart as well: two clock reads per step cost well under a microsecond.
        double forward_ms = 0, sample_ms = 0;
        target->take_decode_step_device_ms();  // the prefill's and warm-up's steps are not timed
        const auto t1 = Clock::now();
        for (int i = 0; i < settings.n_gen; ++i) {
            const auto a = Clock::now();
            target->decode(token);
            const auto b = Clock::now();
            token = target->sample();
            forward_ms += std::chrono::duration<double, std::milli>(b - a).count();
            sample_ms += std::chrono::duration<double, std::milli>(Clock::now() - b).count();
        }
        const double decode_ms = ms_since(t1);
        track_device(*target, r);
        r.prefill_ms.push_back(prefill_ms);
        r.prefill_tok_s.push_back(settings.n_prompt / (prefill_ms / 1000.0));
        r.ttft_ms.push_back(ttft_ms);
        r.decode_ms.push_back(decode_ms);
        r.decode_tok_s.push_back(settings.n_gen / (decode_ms / 1000.0));
        r.forward_tok_s.push_back(settings.n_gen / (forward_ms / 1000.0));
        r.sample_ms_per_token.push_back(sample_ms / settings.n_gen);
        if (const std::optional<double> step_ms = target->take_decode_step_device_ms()) {
            r.step_device_ms.push_back(*step_ms);
        }
        progress.add(1);
    }

    // The quality run: greedy continuation of the fixed prompt.
    target->reset(seq);
    target->prefill(r.quality_prompt_ids);
    for (int i = 0; i < kQualityTokens; ++i) {
        token = target->sample();
        r.quality_ids.push_back(token);
        r.quality_pieces.push_back(target->token_text(token));
        if (i + 1 < kQualityTokens) target->decode(token);
    }
    r.quality_hash = quality_hash(r.quality_ids);
    progress.add(1);

    r.peak_rss_bytes = peak_rss_bytes();
    if (have_file) r.residency_after = page_residency(model_path);
    target.reset();

    for (int i = 0; i < reloads; ++i) {
        t0 = Clock::now();
        std::unique_ptr<BenchTarget> again = load();
        r.reload_ms.push_back(ms_since(t0));
        again.reset();
        progress.add(1);
    }
    progress.finish();
    return r;
}

}  // namespace spool::bench
