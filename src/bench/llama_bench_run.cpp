// The llama-bench-style runner. Token ids are deterministic (timing_prompt) where llama-bench draws std::rand():
// the speed of a forward pass does not depend on which ids it sees, and fixed ids make runs repeatable.
#include "bench/llama_bench_run.h"

#include <algorithm>
#include <chrono>

#include "bench/harness.h"
#include "bench/machine.h"
#include "core/progress.h"
#include "spool/errors.h"

namespace spool::bench {
namespace {

using Clock = std::chrono::steady_clock;

void check_params(const LlamaBenchParams& p) {
    if (p.reps < 1) throw UsageError("-r must be at least 1, got " + std::to_string(p.reps));
    if (p.models.empty()) throw UsageError("no model given: pass -m MODEL.gguf");
    auto non_negative = [](const std::vector<int>& v, const char* flag) {
        for (const int x : v) {
            if (x < 0) throw UsageError(std::string(flag) + " values must be >= 0, got " + std::to_string(x));
        }
    };
    non_negative(p.n_prompt, "-p");
    non_negative(p.n_gen, "-n");
    non_negative(p.n_depth, "-d");
    for (const int x : p.n_batch) {
        if (x < 1) throw UsageError("-b values must be >= 1, got " + std::to_string(x));
    }
    for (const int x : p.n_ubatch) {
        if (x < 1) throw UsageError("-ub values must be >= 1, got " + std::to_string(x));
    }
}

}  // namespace

void run_llama_bench(const LlamaBenchParams& params, const InstanceLoader& load, const BuildInfo& build,
                     LlamaBenchPrinter& printer, const std::function<void(const std::string&)>& emit,
                     bool progress_enabled) {
    check_params(params);
    const std::vector<LlamaBenchInstance> instances = make_llama_bench_instances(params);
    const std::string cpu = cpu_model();
    Progress progress("bench", static_cast<uint64_t>(instances.size()) * static_cast<uint64_t>(params.reps + 1),
                      Progress::Unit::count, progress_enabled);
    emit(printer.header());

    std::unique_ptr<BenchTarget> target;
    const LlamaBenchInstance* loaded = nullptr;
    for (const LlamaBenchInstance& inst : instances) {
        if (!target || loaded->model != inst.model || loaded->backend != inst.backend ||
            loaded->n_threads != inst.n_threads || loaded->n_gpu_layers != inst.n_gpu_layers) {
            target.reset();
            target = load(inst);
            loaded = &inst;
        }
        const ModelInfo& m = target->model();
        const DeviceInfo d = target->device();

        LlamaBenchTest t;
        t.inst = inst;
        t.inst.n_threads = static_cast<int>(d.n_threads);
        t.build_commit = build.commit;
        t.build_number = 0;  // spool has no build counter
        t.cpu_info = cpu;
        t.gpu_info = d.gpu;
        t.model_type = m.llama_model_type;
        t.model_size = m.weight_bytes;
        t.model_n_params = m.n_params;
        t.test_time = utc_timestamp();

        const int32_t n_vocab = target->n_vocab();
        const int32_t bos = target->bos();
        const std::vector<int32_t> depth = timing_prompt(n_vocab, bos, inst.n_depth);
        const std::vector<int32_t> prompt = timing_prompt(n_vocab, inst.n_depth > 0 ? -1 : bos, inst.n_prompt);
        const bool gen_first_bos = inst.n_depth == 0 && inst.n_prompt == 0;
        std::vector<int32_t> gen = timing_prompt(n_vocab, gen_first_bos ? bos : -1, inst.n_gen + 1);

        SequenceOptions seq;
        seq.n_ctx = static_cast<int64_t>(inst.n_depth) + inst.n_prompt + inst.n_gen + 1;
        seq.batch_size = std::min(inst.n_batch, inst.n_ubatch);
        seq.kv_type = inst.type_k;
        seq.kv_type_v = inst.type_v;

        // Warm-up, as llama-bench: the prompt, then one generated token.
        target->reset(seq);
        if (inst.n_prompt > 0) target->prefill(prompt);
        if (inst.n_gen > 0) target->decode(gen[0]);
        progress.add(1);

        for (int rep = 0; rep < params.reps; ++rep) {
            target->reset(seq);
            if (!depth.empty()) target->prefill(depth);
            const auto t0 = Clock::now();
            if (inst.n_prompt > 0) target->prefill(prompt);
            for (int i = 0; i < inst.n_gen; ++i) target->decode(gen[static_cast<size_t>(i)]);
            const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
            t.samples_ns.push_back(static_cast<uint64_t>(std::max<int64_t>(ns, 1)));
            progress.add(1);
        }
        emit(printer.test(t));
    }
    progress.finish();
    emit(printer.footer());
}

}  // namespace spool::bench
