// A BenchTarget that runs no model: it counts calls and "generates" ids from a fixed rule, so the harness, the
// llama-bench runner and the sweep can be tested fast and exactly.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bench/target.h"
#include "spool/errors.h"

namespace spool::bench::testing {

struct FakeCounters {
    int loads = 0, resets = 0, prefills = 0, decodes = 0, samples = 0;
    int64_t prefill_tokens = 0;
    std::vector<SequenceOptions> reset_options;
};

class FakeTarget final : public BenchTarget {
public:
    // step_device_ms > 0: a GPU-like target whose decode steps each take that long on the "device".
    explicit FakeTarget(FakeCounters* counters, int32_t eog_id = -1, double step_device_ms = 0)
        : c_(counters), eog_(eog_id), step_device_ms_(step_device_ms) {
        ++c_->loads;
        info_.file_name = "fake.gguf";
        info_.architecture = "llama";
        info_.file_type = "Q8_0";
        info_.n_layer = 4;
        info_.n_embd = 256;
        info_.n_vocab = 1000;
        info_.weight_bytes = 1000000;
        info_.n_params = 900000;
        info_.weight_bytes_per_token = 1000000;
        info_.llama_model_type = "llama ?B Q8_0";
    }
    const ModelInfo& model() const override { return info_; }
    DeviceInfo device() const override { return DeviceInfo{"cpu", "avx2", 3, "", ""}; }
    int32_t n_vocab() const override { return 1000; }
    int32_t bos() const override { return 1; }
    std::vector<int32_t> tokenize(std::string_view text) const override {
        std::vector<int32_t> ids{1};
        for (const char ch : text) ids.push_back(static_cast<unsigned char>(ch));
        return ids;
    }
    std::string token_text(int32_t id) const override { return "<" + std::to_string(id) + ">"; }
    bool is_end_of_generation(int32_t id) const override { return id == eog_; }

    void reset(const SequenceOptions& o) override {
        ++c_->resets;
        c_->reset_options.push_back(o);
        n_ctx_ = o.n_ctx;
        history_.clear();
    }
    void prefill(std::span<const int32_t> tokens) override {
        ++c_->prefills;
        c_->prefill_tokens += static_cast<int64_t>(tokens.size());
        push(tokens);
    }
    void decode(int32_t token) override {
        ++c_->decodes;
        ++timed_steps_;
        push(std::span<const int32_t>(&token, 1));
    }
    std::optional<double> take_decode_step_device_ms() override {
        const int steps = std::exchange(timed_steps_, 0);
        if (step_device_ms_ <= 0 || !std::exchange(timing_, true) || steps == 0) return std::nullopt;
        return step_device_ms_;
    }
    // The next id is (sum of the sequence) mod 1000: deterministic and history-dependent.
    int32_t sample() override {
        ++c_->samples;
        int64_t sum = 0;
        for (const int32_t t : history_) sum += t;
        return static_cast<int32_t>(sum % 1000);
    }

private:
    void push(std::span<const int32_t> tokens) {
        if (static_cast<int64_t>(history_.size() + tokens.size()) > n_ctx_) {
            throw UsageError("fake target: context overflow");
        }
        for (const int32_t t : tokens) {
            if (t < 0 || t >= 1000) throw UsageError("fake target: id out of range");
            history_.push_back(t);
        }
    }

    FakeCounters* c_;
    int32_t eog_;
    double step_device_ms_;
    bool timing_ = false;
    int timed_steps_ = 0;
    ModelInfo info_;
    int64_t n_ctx_ = 0;
    std::vector<int32_t> history_;
};

}  // namespace spool::bench::testing
