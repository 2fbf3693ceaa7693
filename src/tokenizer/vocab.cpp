// Reads tokenizer.* metadata into a Vocab, with llama.cpp's defaults and text-based special-token detection
// (llama_vocab::impl::load, snapshot 2025-02-20) so that end-of-generation and control sets agree with it.
#include "tokenizer/vocab.h"

#include <algorithm>
#include <cctype>

#include "gguf/file.h"
#include "spool/errors.h"
#include "tokenizer/pre_tokenizer.h"

namespace spool::tokenizer {

namespace {

constexpr std::string_view kModelKey = "tokenizer.ggml.model";

FormatError metadata_error(const gguf::GgufFile& file, std::string_view key, const std::string& problem) {
    return FormatError(file.path(), 0, std::string(key), problem);
}

// Reads an optional token id key; out-of-range ids are an error for the ids the engine relies on.
void read_id(const gguf::GgufFile& file, std::string_view key, int32_t n_tokens, int32_t& id, bool strict) {
    const gguf::Value* v = file.find(key);
    if (!v) return;
    const uint64_t value = v->as_u64(key);
    if (value >= static_cast<uint64_t>(n_tokens)) {
        if (!strict) return;  // pad/sep/mask never steer tokenizing; llama.cpp also ignores bad ones
        throw metadata_error(file, key, "token id " + std::to_string(value) + " is out of range; the vocabulary has " +
                                            std::to_string(n_tokens) + " tokens");
    }
    id = static_cast<int32_t>(value);
}

TokenType token_type_from(int64_t t) {
    return t >= 0 && t <= 6 ? static_cast<TokenType>(t) : TokenType::Undefined;
}

// Finds the first of `texts` present in the vocabulary (llama.cpp walks its hash map instead, so with two
// candidates present its choice depends on hash order; spool takes the first in this list).
int32_t find_first(const Vocab& vocab, std::initializer_list<std::string_view> texts) {
    for (std::string_view text : texts) {
        const int32_t id = vocab.find(text);
        if (id != kNoToken) return id;
    }
    return kNoToken;
}

void make_control(Vocab& vocab, int32_t id) {
    if (id != kNoToken) vocab.tokens[id].type = TokenType::Control;
}

// Detects EOT/EOM/FIM tokens by text when the file does not name them, and builds the EOG set.
void detect_special_by_text(Vocab& vocab) {
    auto detect = [&](int32_t& id, std::initializer_list<std::string_view> texts) {
        if (id != kNoToken) return;
        id = find_first(vocab, texts);
        make_control(vocab, id);  // a control-looking token that is not control is a conversion bug
    };
    detect(vocab.eot, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
                       "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"});  // DeepSeek <｜end▁of▁sentence｜>
    detect(vocab.eom, {"<|eom_id|>"});
    detect(vocab.fim_pre, {"<|fim_prefix|>", "<fim-prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>"});
    detect(vocab.fim_suf, {"<|fim_suffix|>", "<fim-suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>", "<SUF>"});
    detect(vocab.fim_mid, {"<|fim_middle|>", "<fim-middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>"});
    detect(vocab.fim_pad, {"<|fim_pad|>", "<fim-pad>", "<PAD>"});
    detect(vocab.fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"});
    detect(vocab.fim_sep, {"<|file_sep|>"});

    std::vector<int32_t> eog;
    for (int32_t id : {vocab.fim_pad, vocab.fim_rep, vocab.fim_sep}) {
        if (id != kNoToken) eog.push_back(id);
    }
    for (std::string_view text : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"}) {
        const int32_t id = vocab.find(text);
        if (id == kNoToken) continue;
        eog.push_back(id);
        make_control(vocab, id);
    }
    for (int32_t id : {vocab.eos, vocab.eot, vocab.eom}) {
        if (id != kNoToken) eog.push_back(id);
    }
    std::sort(eog.begin(), eog.end());
    eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
    vocab.eog = std::move(eog);
}

// Per-model strip attributes that llama.cpp sets by name because GGUF does not store them.
void set_strip_flags(Vocab& vocab, const gguf::GgufFile& file) {
    std::string name = file.get_string("general.name", "");
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (vocab.pre.find("jina-v2-de") != std::string::npos || vocab.pre.find("jina-v2-es") != std::string::npos ||
        vocab.pre.find("jina-v2-code") != std::string::npos) {
        if (const int32_t id = vocab.find("<mask>"); id != kNoToken) vocab.tokens[id].strip |= kStripLeft;
    } else if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
        for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
            if (vocab.is_special(id)) vocab.tokens[id].strip |= kStripRight;
        }
        if (const int32_t id = vocab.find("</s>"); id != kNoToken) vocab.tokens[id].strip |= kStripRight;
        for (std::string_view text : {"<unk>", "<s>", "<|endoftext|>"}) {
            if (const int32_t id = vocab.find(text); id != kNoToken) vocab.tokens[id].strip &= ~kStripRight;
        }
    }
}

}  // namespace

std::string supported_models_text() {
    return "llama (SentencePiece-style BPE with byte fallback), gpt2 (byte-level BPE)";
}

Vocab load_vocab(const gguf::GgufFile& file) {
    Vocab vocab;
    vocab.model = file.at(kModelKey).as_string(kModelKey);
    vocab.pre = file.get_string("tokenizer.ggml.pre", "");

    const PreConfig* pre_config = nullptr;
    if (vocab.model == "llama") {
        vocab.kind = VocabKind::Spm;
        vocab.bos = 1, vocab.eos = 2, vocab.unk = 0;
        vocab.add_space_prefix = true;
        vocab.add_bos = true;
    } else if (vocab.model == "gpt2") {
        vocab.kind = VocabKind::Bpe;
        vocab.bos = 11, vocab.eos = 11;
        pre_config = find_pre_config(vocab.pre);
        if (!pre_config) {
            throw UnsupportedError(file.path() + ": pre-tokenizer '" + vocab.pre +
                                   "' (tokenizer.ggml.pre) is not supported; supported: " + supported_pres_text());
        }
        vocab.clean_spaces = pre_config->clean_spaces;
        vocab.ignore_merges = pre_config->ignore_merges;
        vocab.add_bos = pre_config->add_bos;
        if (pre_config->no_bos) vocab.bos = kNoToken;
    } else {
        std::string what = vocab.model;
        if (vocab.model == "bert") what += " (WordPiece)";
        if (vocab.model == "t5") what += " (Unigram)";
        if (vocab.model == "rwkv") what += " (RWKV world)";
        if (vocab.model == "no_vocab" || vocab.model == "none") what += " (no vocabulary)";
        throw UnsupportedError(file.path() + ": tokenizer model '" + what + "' (" + std::string(kModelKey) +
                               ") is not supported; supported: " + supported_models_text());
    }

    constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
    const std::vector<std::string>& texts = file.at(kTokensKey).as_strings(kTokensKey);
    if (texts.empty() || texts.size() > static_cast<size_t>(INT32_MAX)) {
        throw metadata_error(file, kTokensKey, "expected 1 to 2^31-1 tokens, got " + std::to_string(texts.size()));
    }
    const auto n_tokens = static_cast<int32_t>(texts.size());
    std::vector<float> scores;
    if (const gguf::Value* v = file.find("tokenizer.ggml.scores")) scores = v->as_f32s("tokenizer.ggml.scores");
    std::vector<int64_t> types;
    if (const gguf::Value* v = file.find("tokenizer.ggml.token_type")) types = v->as_i64s("tokenizer.ggml.token_type");
    if (!scores.empty() && scores.size() != texts.size()) {
        throw metadata_error(file, "tokenizer.ggml.scores", "has " + std::to_string(scores.size()) + " entries; expected one per token (" +
                                                               std::to_string(texts.size()) + ")");
    }
    if (!types.empty() && types.size() != texts.size()) {
        throw metadata_error(file, "tokenizer.ggml.token_type", "has " + std::to_string(types.size()) +
                                                                    " entries; expected one per token (" + std::to_string(texts.size()) + ")");
    }

    vocab.tokens.resize(texts.size());
    vocab.token_to_id.reserve(texts.size());
    for (int32_t i = 0; i < n_tokens; ++i) {
        TokenData& t = vocab.tokens[i];
        t.text = texts[i].empty() ? "[EMPTY_" + std::to_string(i) + "]" : texts[i];
        t.score = scores.empty() ? 0.0f : scores[i];
        t.type = types.empty() ? TokenType::Normal : token_type_from(types[i]);
        vocab.token_to_id.assign(t.text, i);
    }

    if (vocab.kind == VocabKind::Bpe) {
        constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";
        const gguf::Value* merges = file.find(kMergesKey);
        if (!merges) throw metadata_error(file, kMergesKey, "missing: a gpt2 (BPE) vocabulary needs its merges");
        vocab.merges = merges->as_strings(kMergesKey);
    }

    read_id(file, "tokenizer.ggml.bos_token_id", n_tokens, vocab.bos, true);
    read_id(file, "tokenizer.ggml.eos_token_id", n_tokens, vocab.eos, true);
    read_id(file, "tokenizer.ggml.eot_token_id", n_tokens, vocab.eot, true);
    read_id(file, "tokenizer.ggml.eom_token_id", n_tokens, vocab.eom, true);
    read_id(file, "tokenizer.ggml.unknown_token_id", n_tokens, vocab.unk, true);
    read_id(file, "tokenizer.ggml.seperator_token_id", n_tokens, vocab.sep, false);  // GGUF's own spelling
    read_id(file, "tokenizer.ggml.separator_token_id", n_tokens, vocab.sep, false);
    read_id(file, "tokenizer.ggml.padding_token_id", n_tokens, vocab.pad, false);
    read_id(file, "tokenizer.ggml.mask_token_id", n_tokens, vocab.mask, false);
    read_id(file, "tokenizer.ggml.fim_pre_token_id", n_tokens, vocab.fim_pre, false);
    read_id(file, "tokenizer.ggml.fim_suf_token_id", n_tokens, vocab.fim_suf, false);
    read_id(file, "tokenizer.ggml.fim_mid_token_id", n_tokens, vocab.fim_mid, false);
    read_id(file, "tokenizer.ggml.fim_pad_token_id", n_tokens, vocab.fim_pad, false);
    read_id(file, "tokenizer.ggml.fim_rep_token_id", n_tokens, vocab.fim_rep, false);
    read_id(file, "tokenizer.ggml.fim_sep_token_id", n_tokens, vocab.fim_sep, false);
    read_id(file, "tokenizer.ggml.prefix_token_id", n_tokens, vocab.fim_pre, false);  // deprecated names
    read_id(file, "tokenizer.ggml.suffix_token_id", n_tokens, vocab.fim_suf, false);
    read_id(file, "tokenizer.ggml.middle_token_id", n_tokens, vocab.fim_mid, false);
    // The built-in defaults (SPM 0/1/2, BPE 11) may not exist in a small vocabulary.
    for (int32_t* id : {&vocab.bos, &vocab.eos, &vocab.unk}) {
        if (*id >= n_tokens) *id = kNoToken;
    }

    vocab.add_bos = file.get_bool("tokenizer.ggml.add_bos_token", vocab.add_bos);
    vocab.add_eos = file.get_bool("tokenizer.ggml.add_eos_token", vocab.add_eos);
    vocab.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix", vocab.add_space_prefix);
    if (vocab.add_bos && vocab.bos == kNoToken) {
        throw metadata_error(file, "tokenizer.ggml.add_bos_token",
                             "a BOS token is to be added (this key, or the default of model '" + vocab.model + "' / pre '" +
                                 vocab.pre + "') but the vocabulary has none; set tokenizer.ggml.bos_token_id or add_bos_token = false");
    }
    if (vocab.add_eos && vocab.eos == kNoToken) {
        throw metadata_error(file, "tokenizer.ggml.add_eos_token",
                             "is true but the vocabulary has no EOS token; set tokenizer.ggml.eos_token_id");
    }

    detect_special_by_text(vocab);
    set_strip_flags(vocab, file);
    return vocab;
}

}  // namespace spool::tokenizer
