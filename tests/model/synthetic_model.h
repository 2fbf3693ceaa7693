// Small synthetic GGUF models for model-level unit tests: metadata and float32 tensors written with spool's
// GgufWriter into a temporary file, plus a helper that runs a forward pass on any backend.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "gguf/file.h"
#include "gguf/writer.h"
#include "model/activations.h"
#include "model/registry.h"
#include "runtime/kv_cache.h"
#include "test_support.h"

namespace spool::testing {

struct SyntheticTensor {
    std::vector<int64_t> ne;
    std::vector<float> values;  // stored as F32
};

struct SyntheticModel {
    std::string arch = "llama";
    int64_t n_embd = 64, n_head = 2, n_head_kv = 1, n_ff = 96, n_layer = 1, n_vocab = 40;
    std::map<std::string, gguf::Value> extra_keys;  // set after (and overriding) the standard ones
    std::map<std::string, SyntheticTensor> tensors;

    int64_t head_dim() const { return n_embd / n_head; }

    // A full set of llama-family tensors with seeded random values (N(0, 1/fan_in) matrices, norms near 1).
    void add_llama_tensors(uint64_t seed) {
        const int64_t q = n_head * head_dim(), kv = n_head_kv * head_dim();
        auto matrix = [&](const std::string& name, int64_t n_in, int64_t n_out) {
            tensors[name] = {{n_in, n_out},
                             random_floats(static_cast<size_t>(n_in * n_out), seed++, 1.0f / std::sqrt(float(n_in)))};
        };
        auto vec = [&](const std::string& name, int64_t n, float stddev, float mean) {
            tensors[name] = {{n}, random_floats(static_cast<size_t>(n), seed++, stddev, mean)};
        };
        tensors["token_embd.weight"] = {{n_embd, n_vocab},
                                        random_floats(static_cast<size_t>(n_embd * n_vocab), seed++)};
        vec("output_norm.weight", n_embd, 0.1f, 1.0f);
        for (int64_t l = 0; l < n_layer; ++l) {
            const std::string p = "blk." + std::to_string(l) + ".";
            vec(p + "attn_norm.weight", n_embd, 0.1f, 1.0f);
            matrix(p + "attn_q.weight", n_embd, q);
            matrix(p + "attn_k.weight", n_embd, kv);
            matrix(p + "attn_v.weight", n_embd, kv);
            matrix(p + "attn_output.weight", q, n_embd);
            vec(p + "ffn_norm.weight", n_embd, 0.1f, 1.0f);
            matrix(p + "ffn_gate.weight", n_embd, n_ff);
            matrix(p + "ffn_up.weight", n_embd, n_ff);
            matrix(p + "ffn_down.weight", n_ff, n_embd);
        }
    }

    // Writes the model to a file under the test temp dir and opens it.
    gguf::GgufFile write(const std::string& file_name) const {
        gguf::GgufWriter writer;
        writer.set("general.architecture", gguf::Value(arch));
        writer.set(arch + ".context_length", gguf::Value(uint32_t{256}));
        writer.set(arch + ".embedding_length", gguf::Value(static_cast<uint32_t>(n_embd)));
        writer.set(arch + ".block_count", gguf::Value(static_cast<uint32_t>(n_layer)));
        writer.set(arch + ".feed_forward_length", gguf::Value(static_cast<uint32_t>(n_ff)));
        writer.set(arch + ".attention.head_count", gguf::Value(static_cast<uint32_t>(n_head)));
        writer.set(arch + ".attention.head_count_kv", gguf::Value(static_cast<uint32_t>(n_head_kv)));
        writer.set(arch + ".attention.layer_norm_rms_epsilon", gguf::Value(1e-5f));
        writer.set(arch + ".rope.freq_base", gguf::Value(10000.0f));
        gguf::Array tokens;
        tokens.element_type = gguf::ValueType::STRING;
        std::vector<std::string> texts;
        for (int64_t i = 0; i < n_vocab; ++i) texts.push_back("t" + std::to_string(i));
        tokens.items = texts;
        writer.set("tokenizer.ggml.tokens", gguf::Value(tokens));
        for (const auto& [key, value] : extra_keys) writer.set(key, value);
        std::vector<const SyntheticTensor*> order;
        for (const auto& [name, t] : tensors) {
            writer.add_tensor(name, GgmlType::F32, t.ne);
            order.push_back(&t);
        }
        const std::filesystem::path path =
            std::filesystem::path(::testing::TempDir()) / ("spool_" + file_name + ".gguf");
        writer.write(path, [&](size_t i, uint8_t* dst, size_t n) { std::memcpy(dst, order[i]->values.data(), n); });
        return gguf::GgufFile::open(path);
    }
};

// Binds `file` for `backend` (weights used in place) and returns every row of logits for `tokens`.
inline std::vector<float> run_all_logits(const gguf::GgufFile& file, Backend& backend,
                                         const std::vector<int32_t>& tokens) {
    const auto model = model::load_model(file, backend, [](const gguf::TensorInfo& t) { return t.data; });
    const model::HParams& hp = model->hparams();
    const auto n = static_cast<int64_t>(tokens.size());
    runtime::KvCache kv(backend, hp.n_layer, hp.n_head_kv, hp.head_dim, n, GgmlType::F32);
    model::Activations act(backend, hp, n);
    std::vector<int32_t> positions(tokens.size());
    for (size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<int32_t>(i);
    Buffer ids = backend.allocate(tokens.size() * 4), pos = backend.allocate(tokens.size() * 4);
    Buffer logits = backend.allocate(static_cast<size_t>(n * hp.n_vocab) * sizeof(float));
    backend.upload(ids.data(), tokens.data(), tokens.size() * 4);
    backend.upload(pos.data(), positions.data(), positions.size() * 4);
    model::ForwardBatch batch;
    batch.n_tokens = n;
    batch.token_ids = ids.as<const int32_t>();
    batch.positions = pos.as<const int32_t>();
    batch.n_outputs = n;
    batch.logits = logits.as<float>();
    model->forward(backend, batch, kv.layers(), act);
    std::vector<float> out(static_cast<size_t>(n * hp.n_vocab));
    backend.download(out.data(), logits.data(), out.size() * sizeof(float));
    return out;
}

}  // namespace spool::testing
