// Hyperparameters of a decoder-only transformer, read from GGUF metadata under the architecture's prefix
// (<arch>.embedding_length, <arch>.attention.head_count, ...: the GGUF spec's "LLM" keys).
#pragma once

#include <cstdint>
#include <string>

#include "backend/backend.h"
#include "gguf/file.h"

namespace spool::model {

struct HParams {
    std::string arch;        // general.architecture
    int64_t n_vocab = 0;     // entries in tokenizer.ggml.tokens (or <arch>.vocab_size)
    int64_t n_ctx_train = 0; // <arch>.context_length
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_ff = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;    // <arch>.attention.key_length, default n_embd / n_head
    float rms_eps = 1e-5f;
    RopeMode rope_mode = RopeMode::norm;
    int64_t n_rot = 0;       // <arch>.rope.dimension_count, default head_dim
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear scaling

    int64_t q_width() const noexcept { return n_head * head_dim; }
    int64_t kv_width() const noexcept { return n_head_kv * head_dim; }
};

// Reads the keys every supported architecture shares; `rope_mode` is the architecture's (it is not in the file).
// Throws FormatError for a missing required key or inconsistent values (naming the key, expected vs got) and
// UnsupportedError for a rope scaling type other than none/linear.
HParams read_hparams(const gguf::GgufFile& file, RopeMode rope_mode);

}  // namespace spool::model
