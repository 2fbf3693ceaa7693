// EngineTarget: BenchTarget over spool::Engine and spool::Session. A session is kept while the sequence
// settings stay the same (a reset then only rewinds it and reseeds its RNG), so repetitions allocate nothing.
#include "bench/engine_target.h"

#include <optional>

#include "backend/backend.h"
#include "backend/cpu/backend_cpu.h"
#include "gguf/file.h"
#include "sampling/chain.h"
#include "sampling/rng.h"
#include "spool/engine.h"
#include "spool/errors.h"
#include "spool/session.h"
#include "tokenizer/tokenizer.h"
#ifdef SPOOL_HAVE_CUDA
#include "backend/cuda/device_info.h"
#endif

namespace spool::bench {
namespace {

EngineOptions engine_options(const EngineTargetOptions& o) {
    EngineOptions e;
    e.backend = o.backend;
    e.n_threads = o.n_threads;
    e.cpu_isa = o.cpu_isa;
    e.n_gpu_layers = o.n_gpu_layers;
    return e;
}

class EngineTarget final : public BenchTarget {
public:
    explicit EngineTarget(const EngineTargetOptions& o)
        : engine_(o.model_path, engine_options(o)),
          info_(describe_model(engine_.file())) {}

    const ModelInfo& model() const override { return info_; }

    DeviceInfo device() const override {
        DeviceInfo d;
        Backend& b = engine_.backend();
        d.backend = b.name();
        d.n_threads = 1;
        if (const auto* cpu = dynamic_cast<const CpuBackend*>(&b)) {
            d.isa = std::string(cpu::cpu_isa_name(cpu->isa()));
            d.n_threads = cpu->n_threads();
        }
#ifdef SPOOL_HAVE_CUDA
        if (!b.uses_host_memory()) {
            for (const cuda::DeviceInfo& g : cuda::list_devices()) {
                if (!d.gpu.empty()) d.gpu += ", ";
                d.gpu += g.name;
                d.gpu_driver = g.driver;
            }
        }
#endif
        return d;
    }

    int32_t n_vocab() const override { return engine_.tokenizer().n_vocab(); }
    int32_t bos() const override {
        const tokenizer::Tokenizer& t = engine_.tokenizer();
        return t.add_bos() ? t.bos() : -1;
    }
    std::vector<int32_t> tokenize(std::string_view text) const override {
        return engine_.tokenizer().encode(text, /*add_special=*/true);
    }
    std::string token_text(int32_t id) const override { return engine_.tokenizer().token_to_piece(id, true); }
    bool is_end_of_generation(int32_t id) const override { return engine_.tokenizer().is_eog(id); }

    void reset(const SequenceOptions& o) override {
        const bool same = session_ && o.n_ctx == options_.n_ctx && o.batch_size == options_.batch_size &&
                          o.kv_type == options_.kv_type && o.kv_type_v == options_.kv_type_v;
        if (same) {
            session_->truncate(0);
        } else {
            session_.reset();  // free the old cache before allocating the new one
            SessionOptions so;
            so.n_ctx = o.n_ctx;
            so.batch_size = o.batch_size;
            so.kv_type = parse_kv_cache_type(o.kv_type);
            if (!o.kv_type_v.empty()) so.kv_type_v = parse_kv_cache_type(o.kv_type_v);
            so.seed = o.seed;
            session_ = std::make_unique<Session>(engine_, so);
        }
        session_->rng().reseed(o.seed);
        sampling::SamplingParams p = sampling::SamplingParams::greedy();
        if (o.temperature > 0) {
            p = sampling::SamplingParams{};
            p.temperature = o.temperature;
        }
        chain_.emplace(p);
        options_ = o;
    }

    // A session leaves a GPU's last logit row on the device (copied only when read), so its calls may return
    // before the device is done: wait for it, so a timed prefill or decode is the whole forward pass.
    void prefill(std::span<const int32_t> tokens) override {
        live().prefill(tokens, Logits::last);
        engine_.backend().synchronize();
    }
    void decode(int32_t token) override {
        live().decode(token);
        engine_.backend().synchronize();
    }
    int32_t sample() override { return live().sample(*chain_); }

    std::optional<double> take_decode_step_device_ms() override {
        Backend& b = engine_.backend();
        if (b.uses_host_memory()) return std::nullopt;
        if (!step_timing_) {
            b.set_step_timing(true);
            step_timing_ = true;
            return std::nullopt;
        }
        const Backend::StepTime t = b.take_step_time();
        if (t.steps == 0) return std::nullopt;
        return t.device_ms / static_cast<double>(t.steps);
    }

    std::optional<uint64_t> device_memory_used() const override {
        const Backend& b = engine_.backend();
        if (b.uses_host_memory()) return std::nullopt;
        const MemoryInfo m = b.memory();
        return m.total_bytes - m.free_bytes;
    }

private:
    Session& live() {
        if (!session_) throw UsageError("benchmark target: reset() must start a sequence first");
        return *session_;
    }

    Engine engine_;
    ModelInfo info_;
    SequenceOptions options_;
    std::unique_ptr<Session> session_;
    bool step_timing_ = false;
    std::optional<sampling::SamplerChain> chain_;
};

}  // namespace

std::unique_ptr<BenchTarget> load_engine_target(const EngineTargetOptions& options) {
    return std::make_unique<EngineTarget>(options);
}

}  // namespace spool::bench
