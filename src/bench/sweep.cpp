// The sweep runner. One session size per target (the longest prompt + the largest max_tokens), so the cache is
// allocated once and no run pays for an allocation inside its timing.
#include "bench/sweep.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "core/progress.h"
#include "spool/errors.h"

namespace spool::bench {
namespace {

using Clock = std::chrono::steady_clock;

void check(const SweepConfig& c) {
    if (c.models.empty()) throw UsageError("no model given: pass -m MODEL.gguf");
    if (c.backends.empty()) throw UsageError("no backend given");
    if (c.prompts.empty()) throw UsageError("no prompts");
    if (c.max_tokens.empty()) throw UsageError("--max-tokens needs at least one value");
    if (c.temperatures.empty()) throw UsageError("--temps needs at least one value");
    if (c.runs < 1) throw UsageError("--runs must be at least 1, got " + std::to_string(c.runs));
    for (const int m : c.max_tokens) {
        if (m < 1) throw UsageError("--max-tokens values must be >= 1, got " + std::to_string(m));
    }
    for (const float t : c.temperatures) {
        if (t < 0) throw UsageError("--temps values must be >= 0, got " + std::to_string(t));
    }
}

}  // namespace

size_t sweep_size(const SweepConfig& c) {
    return c.models.size() * c.backends.size() * c.prompts.size() * c.max_tokens.size() * c.temperatures.size() *
           static_cast<size_t>(std::max(c.runs, 0));
}

std::vector<SweepRow> run_sweep(const SweepConfig& c, const SweepLoader& load, std::vector<std::string>* devices) {
    check(c);
    std::vector<SweepRow> rows;
    Progress progress("sweep", sweep_size(c), Progress::Unit::count, c.progress);
    const int max_gen = *std::max_element(c.max_tokens.begin(), c.max_tokens.end());
    for (const std::string& model : c.models) {
        for (const std::string& backend : c.backends) {
            std::unique_ptr<BenchTarget> target = load(model, backend);
            if (devices) {
                const DeviceInfo d = target->device();
                devices->push_back(std::filesystem::path(model).filename().string() + " / " + backend + ": " + d.backend +
                                   (d.isa.empty() ? "" : " (" + d.isa + ")") + (d.gpu.empty() ? "" : " on " + d.gpu) +
                                   ", " + std::to_string(d.n_threads) + " threads");
            }
            std::vector<std::vector<int32_t>> ids;
            size_t longest = 0;
            for (const Prompt& p : c.prompts) {
                ids.push_back(target->tokenize(p.text));
                if (ids.back().empty()) throw UsageError("prompt " + p.id + " gives no tokens");
                longest = std::max(longest, ids.back().size());
            }
            SequenceOptions seq;
            seq.n_ctx = static_cast<int64_t>(longest) + max_gen + 1;
            seq.batch_size = c.batch_size;

            // Warm-up (excluded): one short generation.
            target->reset(seq);
            target->prefill(ids[0]);
            int32_t tok = target->sample();
            for (int i = 0; i < 4; ++i) {
                target->decode(tok);
                tok = target->sample();
            }

            const std::string model_name = std::filesystem::path(model).filename().string();
            for (int run = 1; run <= c.runs; ++run) {
                for (size_t p = 0; p < c.prompts.size(); ++p) {
                    for (const int max_tokens : c.max_tokens) {
                        for (const float temp : c.temperatures) {
                            seq.temperature = temp;
                            seq.seed = c.seed + static_cast<uint64_t>(run);
                            target->reset(seq);
                            SweepRow r;
                            r.model = model_name;
                            r.backend = backend;
                            r.prompt_id = c.prompts[p].id;
                            r.prompt_tokens = static_cast<int>(ids[p].size());
                            r.max_tokens = max_tokens;
                            r.temperature = temp;
                            r.run = run;
                            const auto t0 = Clock::now();
                            target->prefill(ids[p]);
                            tok = target->sample();
                            r.ttft_s = std::chrono::duration<double>(Clock::now() - t0).count();
                            r.tokens_out = 1;
                            r.stop = "length";
                            while (r.tokens_out < max_tokens) {
                                if (!c.ignore_eos && target->is_end_of_generation(tok)) {
                                    r.stop = "eog";
                                    break;
                                }
                                target->decode(tok);
                                tok = target->sample();
                                ++r.tokens_out;
                            }
                            if (r.stop == "length" && !c.ignore_eos && target->is_end_of_generation(tok)) r.stop = "eog";
                            r.latency_s = std::chrono::duration<double>(Clock::now() - t0).count();
                            r.tok_s = r.tokens_out / r.latency_s;
                            r.decode_tok_s = r.tokens_out > 1 ? (r.tokens_out - 1) / (r.latency_s - r.ttft_s) : 0.0;
                            rows.push_back(r);
                            progress.add(1);
                        }
                    }
                }
            }
        }
    }
    progress.finish();
    return rows;
}

}  // namespace spool::bench
