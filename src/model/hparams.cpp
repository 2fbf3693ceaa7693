// Reads and checks the shared transformer hyperparameters from GGUF metadata.
#include "model/hparams.h"

#include "spool/errors.h"

namespace spool::model {
namespace {

class KeyReader {
public:
    KeyReader(const gguf::GgufFile& file, std::string arch) : file_(file), arch_(std::move(arch)) {}

    std::string key(const std::string& suffix) const { return arch_ + "." + suffix; }

    int64_t required(const std::string& suffix) const {
        const std::string k = key(suffix);
        if (file_.find(k) == nullptr) {
            throw FormatError(file_.path(), 0, k, "missing metadata key, required by architecture '" + arch_ + "'");
        }
        return positive(k, file_.get_u64(k, 0));
    }
    int64_t optional(const std::string& suffix, int64_t fallback) const {
        const std::string k = key(suffix);
        return file_.find(k) == nullptr ? fallback : positive(k, file_.get_u64(k, 0));
    }
    double optional_f64(const std::string& suffix, double fallback) const {
        return file_.get_f64(key(suffix), fallback);
    }
    std::string optional_string(const std::string& suffix, const std::string& fallback) const {
        return file_.get_string(key(suffix), fallback);
    }
    [[noreturn]] void fail(const std::string& suffix, const std::string& problem) const {
        throw FormatError(file_.path(), 0, key(suffix), problem);
    }

private:
    int64_t positive(const std::string& k, uint64_t v) const {
        constexpr uint64_t kLimit = uint64_t{1} << 31;  // no real dimension comes near; guards size arithmetic
        if (v == 0 || v >= kLimit) {
            throw FormatError(file_.path(), 0, k, "expected a value in [1, 2^31), got " + std::to_string(v));
        }
        return static_cast<int64_t>(v);
    }

    const gguf::GgufFile& file_;
    std::string arch_;
};

}  // namespace

HParams read_hparams(const gguf::GgufFile& file, RopeMode rope_mode) {
    HParams hp;
    hp.arch = file.architecture();
    const KeyReader keys(file, hp.arch);
    hp.n_ctx_train = keys.required("context_length");
    hp.n_embd = keys.required("embedding_length");
    hp.n_layer = keys.required("block_count");
    hp.n_ff = keys.required("feed_forward_length");
    hp.n_head = keys.required("attention.head_count");
    hp.n_head_kv = keys.optional("attention.head_count_kv", hp.n_head);
    hp.head_dim = keys.optional("attention.key_length", hp.n_embd / hp.n_head);
    const int64_t value_dim = keys.optional("attention.value_length", hp.head_dim);
    hp.rms_eps = static_cast<float>(keys.optional_f64("attention.layer_norm_rms_epsilon", 1e-5));
    hp.rope_mode = rope_mode;
    hp.n_rot = keys.optional("rope.dimension_count", hp.head_dim);
    hp.rope_freq_base = static_cast<float>(keys.optional_f64("rope.freq_base", 10000.0));

    if (const gguf::Value* tokens = file.find("tokenizer.ggml.tokens")) {
        hp.n_vocab = static_cast<int64_t>(tokens->as_array("tokenizer.ggml.tokens").size());
    } else {
        hp.n_vocab = keys.optional("vocab_size", 0);
    }
    if (hp.n_vocab <= 0) {
        throw FormatError(file.path(), 0, "tokenizer.ggml.tokens",
                          "missing: the vocabulary size comes from the token list (or " + keys.key("vocab_size") + ")");
    }

    if (hp.n_head % hp.n_head_kv != 0) {
        keys.fail("attention.head_count_kv", "expected a divisor of attention.head_count " +
                                                 std::to_string(hp.n_head) + ", got " + std::to_string(hp.n_head_kv));
    }
    if (keys.optional("attention.key_length", 0) == 0 && hp.n_embd % hp.n_head != 0) {
        keys.fail("attention.head_count", "embedding_length " + std::to_string(hp.n_embd) +
                                              " is not a multiple of the head count " + std::to_string(hp.n_head));
    }
    if (value_dim != hp.head_dim) {
        keys.fail("attention.value_length", "expected key_length " + std::to_string(hp.head_dim) + ", got " +
                                                std::to_string(value_dim) + " (separate value widths are not supported)");
    }
    if (hp.head_dim % 2 != 0 || hp.head_dim > 512) {
        keys.fail("attention.key_length", "expected an even head size of at most 512, got " + std::to_string(hp.head_dim));
    }
    if (hp.n_rot % 2 != 0 || hp.n_rot > hp.head_dim) {
        keys.fail("rope.dimension_count", "expected an even count of at most the head size " +
                                              std::to_string(hp.head_dim) + ", got " + std::to_string(hp.n_rot));
    }
    if (!(hp.rope_freq_base > 0.0f)) keys.fail("rope.freq_base", "expected a positive value");

    // Rope scaling: GGUF spells it rope.scaling.type + rope.scaling.factor (older files: rope.scale_linear).
    const std::string scaling = keys.optional_string("rope.scaling.type", "none");
    double factor = keys.optional_f64("rope.scaling.factor", 0.0);
    if (scaling == "none") {
        factor = keys.optional_f64("rope.scale_linear", 1.0);
    } else if (scaling != "linear") {
        throw UnsupportedError(file.path() + ": " + keys.key("rope.scaling.type") + " '" + scaling +
                               "' is not supported; supported: none, linear");
    }
    if (factor != 0.0 && factor != 1.0) {
        if (!(factor > 0.0)) keys.fail("rope.scaling.factor", "expected a positive factor, got " + std::to_string(factor));
        hp.rope_freq_scale = static_cast<float>(1.0 / factor);
    }
    return hp;
}

}  // namespace spool::model
