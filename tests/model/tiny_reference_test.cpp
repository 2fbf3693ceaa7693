// Every tiny model file against llama.cpp's reference of the same file (../shared/reference/README.md §4, §6):
// prompt token ids, logits at the reference top-20 ids at every prompt position, lse, the full last row, and
// greedy tokens (free-running for F32/F16, teacher-forced where the reference gap exceeds the tolerance otherwise).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "backend/registry.h"
#include "model/reference.h"
#include "spool/engine.h"
#include "spool/session.h"
#include "tokenizer/tokenizer.h"

namespace spool::testing {
namespace {

// The largest error of one kind and where it happened.
struct WorstError {
    double value = 0;
    std::string where;
    void update(double v, const std::string& at) {
        if (v > value || std::isnan(v)) {
            value = std::isnan(v) ? INFINITY : v;
            where = at;
        }
    }
};

struct LogitErrors {
    WorstError top20, last_row, last_row_rms, lse;
};

double log_sum_exp(std::span<const float> row) {
    double max = -INFINITY;
    for (float v : row) max = std::max(max, static_cast<double>(v));
    double sum = 0;
    for (float v : row) sum += std::exp(static_cast<double>(v) - max);
    return max + std::log(sum);
}

int32_t argmax(std::span<const float> row) {
    return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());  // first max: lowest id
}

// Compares rows [n_tokens, n_vocab] of one prompt (all positions) with its reference.
void compare_prompt(const PromptReference& ref, size_t prompt, std::span<const float> rows, int64_t n_vocab,
                    LogitErrors& errors) {
    const size_t n_tokens = ref.tokens.size();
    for (size_t p = 0; p < n_tokens; ++p) {
        const std::span<const float> row = rows.subspan(p * static_cast<size_t>(n_vocab), static_cast<size_t>(n_vocab));
        for (size_t k = 0; k < ref.topk_ids[p].size(); ++k) {
            const int32_t id = ref.topk_ids[p][k];
            errors.top20.update(std::fabs(row[static_cast<size_t>(id)] - ref.topk_logits[p][k]),
                                "p" + std::to_string(prompt) + " pos " + std::to_string(p) + " id " +
                                    std::to_string(id) + " (ref " + std::to_string(ref.topk_logits[p][k]) + ", got " +
                                    std::to_string(row[static_cast<size_t>(id)]) + ")");
        }
        errors.lse.update(std::fabs(log_sum_exp(row) - ref.lse[p]), "p" + std::to_string(prompt) + " pos " +
                                                                         std::to_string(p));
    }
    const std::span<const float> last = rows.subspan((n_tokens - 1) * static_cast<size_t>(n_vocab),
                                                     static_cast<size_t>(n_vocab));
    const Comparison c = compare(std::span<const float>(ref.last_logits), last);
    errors.last_row.update(c.max_abs, "p" + std::to_string(prompt) + " id " + std::to_string(c.worst) + " (ref " +
                                          std::to_string(c.expected_at_worst) + ", got " +
                                          std::to_string(c.actual_at_worst) + ")");
    errors.last_row_rms.update(c.rmse, "p" + std::to_string(prompt));
}

void expect_within(const LogitErrors& e, const tolerance::LogitTolerance& tol, const std::string& file) {
    EXPECT_LE(e.top20.value, tol.max_abs) << file << ": top-20 logits, worst at " << e.top20.where;
    EXPECT_LE(e.last_row.value, tol.max_abs) << file << ": last row, worst at " << e.last_row.where;
    EXPECT_LE(e.last_row_rms.value, tol.rms_last_row) << file << ": last row RMS, worst at " << e.last_row_rms.where;
    EXPECT_LE(e.lse.value, tol.lse) << file << ": lse, worst at " << e.lse.where;
}

// (weight type, backend): every file on the cpu backend, and on cuda where this build has it and a GPU exists.
using TinyCase = std::tuple<std::string, std::string>;

std::vector<std::string> tested_backends() {
    std::vector<std::string> out{"cpu"};
    for (const std::string& name : available_backends()) {
        if (name == "cuda") out.push_back(name);
    }
    return out;
}

class TinyModel : public ::testing::TestWithParam<TinyCase> {};

TEST_P(TinyModel, MatchesLlamaCppReference) {
    const std::string type = std::get<0>(GetParam());
    const std::string backend = std::get<1>(GetParam());
    const std::string file = "tiny-" + type;
    SPOOL_REQUIRE_SHARED("models/tiny/" + file + ".gguf");
    SPOOL_REQUIRE_SHARED("reference/tiny/" + file + ".json");
    const ModelReference ref = load_tiny_reference(type);
    const tolerance::LogitTolerance tol = tiny_tolerance(type);
    const bool exact_greedy = type == "F32" || type == "F16";

    EngineOptions engine_options;
    engine_options.backend = backend;
    Engine engine(tiny_model_path(type), engine_options);
    SessionOptions options;
    options.kv_type = parse_kv_cache_type(ref.kv_cache_type);
    options.n_ctx = 512;
    const int64_t n_vocab = ref.n_vocab;

    LogitErrors errors;
    int greedy_checked = 0, greedy_steps = 0, greedy_mismatches = 0;
    double greedy_logit_max = 0;
    for (size_t i = 0; i < ref.prompts.size(); ++i) {
        const PromptReference& pr = ref.prompts[i];
        SCOPED_TRACE(file + " prompt " + std::to_string(i));
        EXPECT_EQ(engine.tokenizer().encode(pr.text, true, false), pr.tokens) << "prompt token ids differ";

        Session session(engine, options);
        const size_t n_tokens = pr.tokens.size();
        const std::vector<int32_t>& greedy = pr.greedy.tokens;
        // Teacher forcing: the prompt and the reference greedy tokens but the last go in as one batch;
        // row n_tokens - 1 + s is the row that chose greedy[s].
        std::vector<int32_t> forced = pr.tokens;
        forced.insert(forced.end(), greedy.begin(), greedy.end() - 1);
        session.prefill(forced, Logits::all);
        compare_prompt(pr, i, session.logits(), n_vocab, errors);
        for (size_t s = 0; s < greedy.size(); ++s) {
            const std::span<const float> row = session.logits_row(static_cast<int64_t>(n_tokens - 1 + s));
            ++greedy_steps;
            greedy_logit_max =
                std::max(greedy_logit_max, std::fabs(row[static_cast<size_t>(greedy[s])] - pr.greedy.top1_logit[s]));
            // F32/F16 must agree at every step. Rows do not depend on the batch they are computed in
            // (DecodeRowsEqualPrefillRows), so this is the same as an identical free-running continuation.
            // Quantized files: a swap of the top two is within tolerance where the reference gap is small.
            if (!exact_greedy && pr.greedy.top1_top2_gap[s] <= tol.max_abs) continue;
            ++greedy_checked;
            const int32_t got = argmax(row);
            if (got != greedy[s]) {
                ++greedy_mismatches;
                ADD_FAILURE() << "greedy step " << s << ": argmax " << got << ", reference " << greedy[s]
                              << " (reference gap " << pr.greedy.top1_top2_gap[s] << ")";
            }
        }
        if (exact_greedy && i == 0) {
            // And free-running through decode steps on the short prompt.
            session.truncate(static_cast<int64_t>(n_tokens));
            session.decode(greedy[0]);
            std::vector<int32_t> got = {greedy[0]};
            while (got.size() < greedy.size()) {
                got.push_back(argmax(session.last_logits()));
                if (got.size() < greedy.size()) session.decode(got.back());
            }
            EXPECT_EQ(got, greedy) << "free-running greedy continuation (decode steps) differs";
        }
    }
    expect_within(errors, tol, file + " on " + backend);
    std::printf("[ %-12s %-4s ] top20 max %.3g (tol %.3g) | last row max %.3g (tol %.3g) rms %.3g (tol %.3g) | lse max %.3g "
                "(tol %.3g) | greedy (%s): %d/%d steps checked, %d mismatches, chosen-logit max diff %.3g\n",
                file.c_str(), backend.c_str(), errors.top20.value, tol.max_abs, errors.last_row.value, tol.max_abs,
                errors.last_row_rms.value, tol.rms_last_row, errors.lse.value, tol.lse,
                exact_greedy ? "all steps" : "gap > tol", greedy_checked, greedy_steps, greedy_mismatches,
                greedy_logit_max);
    RecordProperty("top20_max_abs", std::to_string(errors.top20.value));
    RecordProperty("last_row_max_abs", std::to_string(errors.last_row.value));
    RecordProperty("last_row_rms", std::to_string(errors.last_row_rms.value));
    RecordProperty("lse_max_abs", std::to_string(errors.lse.value));
}

INSTANTIATE_TEST_SUITE_P(AllFiles, TinyModel,
                         ::testing::Combine(::testing::ValuesIn(tiny_types()), ::testing::ValuesIn(tested_backends())),
                         [](const ::testing::TestParamInfo<TinyCase>& info) {
                             return std::get<0>(info.param) + "_" + std::get<1>(info.param);
                         });

// The ref backend (float64 loops, activations never rounded) on the short prompt: the oracle itself must agree
// with llama.cpp within the same tolerances (README §6: they hold for float32 activations too).
class TinyModelRefBackend : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyModelRefBackend, ShortPromptMatchesLlamaCpp) {
    const std::string type = GetParam();
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-" + type + ".gguf");
    SPOOL_REQUIRE_SHARED("reference/tiny/tiny-" + type + ".json");
    const ModelReference ref = load_tiny_reference(type);
    const PromptReference& pr = ref.prompts[0];
    EngineOptions engine_options;
    engine_options.backend = "ref";
    Engine engine(tiny_model_path(type), engine_options);
    SessionOptions options;
    options.kv_type = parse_kv_cache_type(ref.kv_cache_type);
    options.n_ctx = 64;
    Session session(engine, options);
    session.prefill(pr.tokens, Logits::all);
    LogitErrors errors;
    compare_prompt(pr, 0, session.logits(), ref.n_vocab, errors);
    // Four greedy decode steps (where the reference gap exceeds the tolerance, as for the cpu backend).
    const tolerance::LogitTolerance tol = tiny_tolerance(type);
    for (size_t s = 0; s < 4; ++s) {
        if (pr.greedy.top1_top2_gap[s] > tol.max_abs) {
            EXPECT_EQ(argmax(session.last_logits()), pr.greedy.tokens[s]) << "greedy step " << s;
        }
        session.decode(pr.greedy.tokens[s]);
    }
    expect_within(errors, tol, "tiny-" + type + " (ref backend)");
    std::printf("[ ref backend %-6s p0 ] top20 max %.3g | last row max %.3g rms %.3g | lse max %.3g\n", type.c_str(),
                errors.top20.value, errors.last_row.value, errors.last_row_rms.value, errors.lse.value);
}

INSTANTIATE_TEST_SUITE_P(Files, TinyModelRefBackend, ::testing::Values("F32", "Q4_K_M"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace spool::testing
