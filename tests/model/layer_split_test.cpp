// A model split between two backends (-ngl, EngineOptions::cpu_layers_backend) on machines without a GPU: the
// first layers on "cpu", the last N and the head on "cpu" again (bit-identical to the unsplit run) or on "ref"
// (the same greedy tokens, logits within the file's tolerance of llama.cpp), at several split points, through
// chunked prefill and decode steps; cpu | cuda where a GPU is present; and the stage layout and errors of bad
// splits.
#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "backend/ref/backend_ref.h"
#include "backend/registry.h"
#include "gguf/file.h"
#include "model/reference.h"
#include "model/registry.h"
#include "spool/engine.h"
#include "spool/errors.h"
#include "spool/session.h"

namespace spool::testing {
namespace {

constexpr int64_t kTinyLayers = 4;
constexpr size_t kDecodeSteps = 6;

struct SequenceRun {
    std::vector<float> prefill_rows;  // [n_prompt, n_vocab]
    std::vector<float> decode_rows;   // [kDecodeSteps, n_vocab]: the row each decode step produced
    std::vector<int32_t> greedy;      // [kDecodeSteps + 1]: argmax after the prefill and after each step
};

int32_t argmax(std::span<const float> row) {
    return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

// Prefills `prompt` in chunks of 5 (so one chunk boundary falls inside it), then decodes greedily.
SequenceRun run_sequence(const Engine& engine, const std::vector<int32_t>& prompt, KvCacheType kv_type) {
    SessionOptions options;
    options.n_ctx = 64;
    options.batch_size = 5;
    options.kv_type = kv_type;
    Session session(engine, options);
    session.prefill(prompt, Logits::all);
    SequenceRun run;
    const std::span<const float> rows = session.logits();
    run.prefill_rows.assign(rows.begin(), rows.end());
    run.greedy.push_back(argmax(session.last_logits()));
    for (size_t s = 0; s < kDecodeSteps; ++s) {
        session.decode(run.greedy.back());
        const std::span<const float> row = session.last_logits();
        run.decode_rows.insert(run.decode_rows.end(), row.begin(), row.end());
        run.greedy.push_back(argmax(row));
    }
    return run;
}

EngineOptions split_options(const std::string& offload_backend, int n_gpu_layers) {
    EngineOptions o;
    o.backend = offload_backend;
    o.n_gpu_layers = n_gpu_layers;
    o.cpu_layers_backend = "cpu";
    return o;
}

class LayerSplit : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        SPOOL_REQUIRE_SHARED("models/tiny/tiny-" + GetParam() + ".gguf");
        SPOOL_REQUIRE_SHARED("reference/tiny/tiny-" + GetParam() + ".json");
        ref_ = load_tiny_reference(GetParam());
        kv_type_ = parse_kv_cache_type(ref_.kv_cache_type);
        Engine unsplit(tiny_model_path(GetParam()));
        baseline_ = run_sequence(unsplit, ref_.prompts[0].tokens, kv_type_);
    }
    // The split engine's greedy tokens equal the unsplit run's, and its last prompt row is within the file's
    // tolerance of llama.cpp's.
    void expect_matches_unsplit_and_reference(const Engine& engine) const {
        const PromptReference& pr = ref_.prompts[0];
        const tolerance::LogitTolerance tol = tiny_tolerance(GetParam());
        const SequenceRun split = run_sequence(engine, pr.tokens, kv_type_);
        EXPECT_EQ(split.greedy, baseline_.greedy) << "greedy tokens differ from the unsplit cpu run";
        const size_t n_vocab = static_cast<size_t>(ref_.n_vocab);
        const std::span<const float> last_row =
            std::span<const float>(split.prefill_rows).subspan((pr.tokens.size() - 1) * n_vocab, n_vocab);
        const Comparison c = compare(std::span<const float>(pr.last_logits), last_row);
        EXPECT_LE(c.max_abs, tol.max_abs) << "last prompt row vs llama.cpp: " << c.report();
        EXPECT_LE(c.rmse, tol.rms_last_row) << "last prompt row vs llama.cpp: " << c.report();
    }

    ModelReference ref_;
    KvCacheType kv_type_ = KvCacheType::f16;
    SequenceRun baseline_;  // the whole model on the cpu backend
};

// cpu | cpu: the split moves the residual stream between two backends of the same kind, so every row must be the
// same bits as the unsplit run's: the handoff copies exactly, and each stage's cache holds the right layers.
TEST_P(LayerSplit, CpuToCpuSplitIsBitIdentical) {
    for (const int n : {1, 2, 3}) {
        SCOPED_TRACE("-ngl " + std::to_string(n));
        Engine engine(tiny_model_path(GetParam()), split_options("cpu", n));
        ASSERT_EQ(engine.model().stages().size(), 2u);
        const SequenceRun split = run_sequence(engine, ref_.prompts[0].tokens, kv_type_);
        EXPECT_TRUE(split.prefill_rows == baseline_.prefill_rows) << "prefill rows differ";
        EXPECT_TRUE(split.decode_rows == baseline_.decode_rows) << "decode-step rows differ";
        EXPECT_EQ(split.greedy, baseline_.greedy);
    }
}

// cpu | ref: two different backends; the split run gives the unsplit run's greedy tokens and llama.cpp's,
// with the last prompt row within the file's tolerance of llama.cpp's.
TEST_P(LayerSplit, CpuToRefSplitMatchesUnsplitGreedyAndReference) {
    const PromptReference& pr = ref_.prompts[0];
    const std::vector<int32_t> reference_greedy(pr.greedy.tokens.begin(),
                                                pr.greedy.tokens.begin() + static_cast<long>(kDecodeSteps + 1));
    EXPECT_EQ(baseline_.greedy, reference_greedy) << "the unsplit cpu run itself";
    for (const int n : {1, 2, 3}) {
        SCOPED_TRACE("-ngl " + std::to_string(n));
        const Engine engine(tiny_model_path(GetParam()), split_options("ref", n));
        expect_matches_unsplit_and_reference(engine);
    }
}

// cpu | cuda, the split -ngl makes on a GPU machine (skipped elsewhere): decode steps run as CUDA graphs on the
// GPU stage, after the residual upload. Same checks as cpu | ref.
TEST_P(LayerSplit, CpuToCudaSplitMatchesUnsplitGreedyAndReference) {
    const std::vector<std::string> backends = available_backends();
    if (std::find(backends.begin(), backends.end(), "cuda") == backends.end()) {
        GTEST_SKIP() << "needs a CUDA build and a GPU";
    }
    for (const int n : {1, 2, 3}) {
        SCOPED_TRACE("-ngl " + std::to_string(n));
        EngineOptions options;
        options.backend = "cuda";
        options.n_gpu_layers = n;
        const Engine engine(tiny_model_path(GetParam()), options);
        ASSERT_EQ(engine.model().stages().size(), 2u);
        EXPECT_EQ(engine.model().stages()[0].backend->name(), "cpu");
        expect_matches_unsplit_and_reference(engine);
    }
}

INSTANTIATE_TEST_SUITE_P(ExactFiles, LayerSplit, ::testing::Values("F32", "F16"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(LayerSplitLayout, LastNLayersAndTheHeadGoToTheOffloadBackend) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    for (const int n : {1, 2, 3}) {
        Engine engine(tiny_model_path("F32"), split_options("ref", n));
        const std::span<const model::Stage> stages = engine.model().stages();
        ASSERT_EQ(stages.size(), 2u) << "-ngl " << n;
        EXPECT_EQ(stages[0].backend->name(), "cpu");
        EXPECT_EQ(stages[0].layer_begin, 0);
        EXPECT_EQ(stages[0].layer_end, kTinyLayers - n);
        EXPECT_EQ(stages[1].backend->name(), "ref");
        EXPECT_EQ(stages[1].layer_begin, kTinyLayers - n);
        EXPECT_EQ(stages[1].layer_end, kTinyLayers);
        EXPECT_EQ(engine.backend().name(), "ref") << "engine.backend() is the head's";
    }
    // All layers (or more, or -1) leave nothing on the cpu: one stage, the head included.
    for (const int n : {-1, 4, 99}) {
        Engine engine(tiny_model_path("F32"), split_options("ref", n));
        ASSERT_EQ(engine.model().stages().size(), 1u) << "-ngl " << n;
        EXPECT_EQ(engine.model().stages()[0].backend->name(), "ref");
        EXPECT_EQ(engine.model().stages()[0].layer_end, kTinyLayers);
    }
}

template <class E>
std::string error_of(const EngineOptions& options) {
    try {
        Engine engine(tiny_model_path("F32"), options);
    } catch (const E& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("wrong exception type: ") + e.what();
    }
    return "no error";
}

TEST(LayerSplitLayout, BadSplitsAreClearErrors) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    EXPECT_NE(error_of<UsageError>(split_options("ref", 0)).find("no layer on the ref backend: use --backend cpu"),
              std::string::npos);
    EXPECT_NE(error_of<UsageError>(split_options("ref", -2)).find("-ngl -2 is not a layer count"), std::string::npos);
    // -ngl 0 with cuda is refused before any backend is made, so on every build.
    EngineOptions cuda_none;
    cuda_none.backend = "cuda";
    cuda_none.n_gpu_layers = 0;
    EXPECT_NE(error_of<UsageError>(cuda_none).find("--backend cpu"), std::string::npos);
    EngineOptions unknown = split_options("ref", 2);
    unknown.cpu_layers_backend = "nope";
    EXPECT_NE(error_of<UnsupportedError>(unknown).find("nope"), std::string::npos);
}

// The binding refuses stages that do not partition the layers.
TEST(LayerSplitLayout, BindingRefusesStagesThatDoNotFitTheLayers) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    const gguf::GgufFile file = gguf::GgufFile::open(tiny_model_path("F32"));
    RefBackend backend;
    auto bind = [&](const std::vector<int64_t>& begins) -> std::string {
        std::vector<model::StagePlacement> stages;
        for (const int64_t b : begins) {
            stages.push_back({&backend, [](const gguf::TensorInfo& t) -> const void* { return t.data; }, b});
        }
        try {
            model::load_model(file, std::move(stages));
        } catch (const UsageError& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_NE(bind({1}).find("must begin at layer 0"), std::string::npos);
    EXPECT_NE(bind({0, 2, 2}).find("after the one before it"), std::string::npos);
    EXPECT_NE(bind({0, kTinyLayers}).find("has only 4 layers"), std::string::npos);
    EXPECT_NE(bind({}).find("at least one"), std::string::npos);
    EXPECT_EQ(bind({0, 1, 3}), "") << "three stages partition 4 layers";
}

}  // namespace
}  // namespace spool::testing
