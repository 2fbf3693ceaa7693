// Model binding errors on synthetic files: unknown architecture, missing key, inconsistent hyperparameters,
// unsupported rope scaling, missing tensor and wrong shape, each with the message a user can act on.
#include <gtest/gtest.h>

#include <string>

#include "backend/ref/backend_ref.h"
#include "model/synthetic_model.h"
#include "spool/errors.h"

namespace spool::testing {
namespace {

std::string load_error(const SyntheticModel& m, const std::string& name) {
    const gguf::GgufFile file = m.write(name);
    RefBackend backend;
    try {
        model::load_model(file, backend, [](const gguf::TensorInfo& t) { return t.data; });
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(ModelBinding, BindsAndReadsHyperparameters) {
    SyntheticModel m;
    m.add_llama_tensors(1);
    const gguf::GgufFile file = m.write("binds");
    RefBackend backend;
    const auto model = model::load_model(file, backend, [](const gguf::TensorInfo& t) { return t.data; });
    const model::HParams& hp = model->hparams();
    EXPECT_EQ(hp.arch, "llama");
    EXPECT_EQ(hp.n_vocab, 40);
    EXPECT_EQ(hp.head_dim, 32);
    EXPECT_EQ(hp.n_rot, 32);
    EXPECT_EQ(hp.n_head_kv, 1);
    EXPECT_FLOAT_EQ(hp.rope_freq_scale, 1.0f);
}

TEST(ModelBinding, UnknownArchitectureListsSupported) {
    SyntheticModel m;
    m.arch = "gpt9";
    m.add_llama_tensors(1);
    const std::string error = load_error(m, "unknown_arch");
    EXPECT_TRUE(contains(error, "architecture 'gpt9' is not supported")) << error;
    EXPECT_TRUE(contains(error, "llama, qwen2, qwen3")) << error;
}

TEST(ModelBinding, WrongShapeNamesTensorExpectedAndGot) {
    SyntheticModel m;
    m.add_llama_tensors(1);
    m.tensors["blk.0.attn_q.weight"] = {{64, 32}, random_floats(64 * 32, 3)};
    const std::string error = load_error(m, "wrong_shape");
    EXPECT_TRUE(contains(error, "tensor 'blk.0.attn_q.weight' has wrong shape; expected [64, 64], got [64, 32]"))
        << error;
}

TEST(ModelBinding, MissingTensorIsNamed) {
    SyntheticModel m;
    m.add_llama_tensors(1);
    m.tensors.erase("blk.0.ffn_up.weight");
    const std::string error = load_error(m, "missing_tensor");
    EXPECT_TRUE(contains(error, "tensor 'blk.0.ffn_up.weight'")) << error;
    EXPECT_TRUE(contains(error, "[64, 96]")) << error;
}

TEST(ModelBinding, MissingKeyAndBadValuesAreNamed) {
    SyntheticModel m;
    m.add_llama_tensors(1);
    m.extra_keys["llama.attention.head_count_kv"] = gguf::Value(uint32_t{3});  // does not divide 2
    EXPECT_TRUE(contains(load_error(m, "bad_kv_heads"), "llama.attention.head_count_kv"));

    SyntheticModel yarn;
    yarn.add_llama_tensors(1);
    yarn.extra_keys["llama.rope.scaling.type"] = gguf::Value(std::string("yarn"));
    const std::string error = load_error(yarn, "yarn");
    EXPECT_TRUE(contains(error, "'yarn' is not supported; supported: none, linear")) << error;

    SyntheticModel linear;
    linear.add_llama_tensors(1);
    linear.extra_keys["llama.rope.scaling.type"] = gguf::Value(std::string("linear"));
    linear.extra_keys["llama.rope.scaling.factor"] = gguf::Value(4.0f);
    const gguf::GgufFile file = linear.write("linear");
    RefBackend backend;
    const auto model = model::load_model(file, backend, [](const gguf::TensorInfo& t) { return t.data; });
    EXPECT_FLOAT_EQ(model->hparams().rope_freq_scale, 0.25f);
}

TEST(ModelBinding, NormsMustBeF32Vectors) {
    SyntheticModel m;
    m.add_llama_tensors(1);
    m.tensors["output_norm.weight"] = {{64, 2}, random_floats(128, 4)};
    EXPECT_TRUE(contains(load_error(m, "norm_shape"), "tensor 'output_norm.weight' has wrong shape; expected [64]"));
}

}  // namespace
}  // namespace spool::testing
