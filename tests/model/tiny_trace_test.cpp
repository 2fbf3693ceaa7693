// Layer-by-layer check of the tiny F32 model on prompt 0 against the float64 trace in ../shared/reference/tiny
// (trace-F32.json/.bin, README "Layer-by-layer trace"): the first stage that departs names the broken op.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "backend/registry.h"
#include "model/activations.h"
#include "model/model.h"
#include "model/reference.h"
#include "runtime/kv_cache.h"
#include "spool/engine.h"

namespace spool::testing {
namespace {

// Relative to the entry's largest magnitude: float32 rounding through a few ops of a 4-layer model.
constexpr double kTraceRelative = 1e-5;

struct TraceEntry {
    std::string name;
    int64_t rows = 0, cols = 0;
    std::vector<float> data;
};

std::vector<TraceEntry> load_trace(std::vector<int32_t>& tokens) {
    const auto dir = shared_dir() / "reference" / "tiny";
    std::ifstream in(dir / "trace-F32.json");
    const nlohmann::json j = nlohmann::json::parse(in);
    tokens = j.at("tokens").get<std::vector<int32_t>>();
    const std::vector<float> bin = read_f32_file(dir / "trace-F32.bin");
    std::vector<TraceEntry> entries;
    for (const nlohmann::json& e : j.at("entries")) {
        TraceEntry t;
        t.name = e.at("name").get<std::string>();
        t.rows = e.at("shape")[0].get<int64_t>();
        t.cols = e.at("shape")[1].get<int64_t>();
        const size_t offset = e.at("offset").get<size_t>() / sizeof(float);
        t.data.assign(bin.begin() + static_cast<std::ptrdiff_t>(offset),
                      bin.begin() + static_cast<std::ptrdiff_t>(offset + static_cast<size_t>(t.rows * t.cols)));
        entries.push_back(std::move(t));
    }
    return entries;
}

class TinyTrace : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyTrace, EveryStageMatchesFloat64Trace) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    SPOOL_REQUIRE_SHARED("reference/tiny/trace-F32.json");
    std::vector<int32_t> tokens;
    const std::vector<TraceEntry> trace = load_trace(tokens);

    EngineOptions options;
    options.backend = GetParam();
    Engine engine(tiny_model_path("F32"), options);
    Backend& backend = engine.backend();
    const model::HParams& hp = engine.hparams();
    const auto n = static_cast<int64_t>(tokens.size());

    runtime::KvCache kv(backend, hp.n_layer, hp.n_head_kv, hp.head_dim, n, GgmlType::F32);
    model::Activations act(backend, hp, n);
    Buffer ids = backend.allocate(tokens.size() * sizeof(int32_t));
    Buffer positions = backend.allocate(tokens.size() * sizeof(int32_t));
    Buffer logits = backend.allocate(static_cast<size_t>(hp.n_vocab) * sizeof(float));
    std::vector<int32_t> pos(tokens.size());
    for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int32_t>(i);
    backend.upload(ids.data(), tokens.data(), tokens.size() * sizeof(int32_t));
    backend.upload(positions.data(), pos.data(), pos.size() * sizeof(int32_t));

    std::map<std::string, std::vector<float>> stages;
    const model::StageObserver observer = [&](std::string_view name, const float* data, int64_t rows, int64_t cols) {
        std::vector<float> host(static_cast<size_t>(rows * cols));
        backend.download(host.data(), data, host.size() * sizeof(float));
        stages[std::string(name)] = std::move(host);
    };
    model::ForwardBatch batch;
    batch.n_tokens = n;
    batch.token_ids = ids.as<const int32_t>();
    batch.positions = positions.as<const int32_t>();
    batch.n_outputs = 1;
    batch.logits = logits.as<float>();
    batch.observer = &observer;
    engine.model().forward(backend, batch, kv.layers(), act);

    double worst = 0;
    std::string worst_stage;
    for (const TraceEntry& e : trace) {
        ASSERT_TRUE(stages.count(e.name)) << "the forward pass did not report stage " << e.name;
        const std::vector<float>& got = stages[e.name];
        ASSERT_EQ(got.size(), e.data.size()) << e.name;
        double scale = 0;
        for (float v : e.data) scale = std::max(scale, std::fabs(static_cast<double>(v)));
        const Comparison c = compare(std::span<const float>(e.data), std::span<const float>(got));
        // Stops at the first stage that departs: later ones only inherit its error.
        ASSERT_LE(c.max_abs / scale, kTraceRelative)
            << GetParam() << " backend departs from the trace first at " << e.name << ": " << c.report()
            << " (row " << c.worst / static_cast<size_t>(e.cols) << ", column " << c.worst % static_cast<size_t>(e.cols)
            << "; largest magnitude " << scale << ")";
        if (c.max_abs / scale > worst) {
            worst = c.max_abs / scale;
            worst_stage = e.name;
        }
    }
    std::printf("[ trace %s ] %zu stages within %.0e; worst relative error %.3g at %s\n", GetParam().c_str(),
                trace.size(), kTraceRelative, worst, worst_stage.c_str());
}

INSTANTIATE_TEST_SUITE_P(Backends, TinyTrace, ::testing::Values("ref", "cpu"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace spool::testing
