// The vocabulary as read from a GGUF's tokenizer.* metadata: token texts, scores and types, special token
// ids and the flags that steer encoding and decoding. Defaults and overrides follow llama.cpp's
// llama_vocab::impl::load (snapshot 2025-02), so that spool tokenizes the same files the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/flat_index.h"

namespace spool::gguf {
class GgufFile;
}

namespace spool::tokenizer {

inline constexpr int32_t kNoToken = -1;

// GGUF tokenizer.ggml.token_type values.
enum class TokenType : uint8_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

// Strip flags for special tokens (whitespace next to them is dropped before tokenizing the neighbours).
enum StripFlags : uint8_t { kStripNone = 0, kStripLeft = 1, kStripRight = 2 };

enum class VocabKind { Spm, Bpe };

struct TokenData {
    std::string text;
    float score = 0.0f;
    TokenType type = TokenType::Normal;
    uint8_t strip = kStripNone;
};

struct Vocab {
    VocabKind kind = VocabKind::Spm;
    std::string model;  // tokenizer.ggml.model
    std::string pre;    // tokenizer.ggml.pre ("" when absent)
    std::vector<TokenData> tokens;
    StringIndex token_to_id;          // a text stored twice maps to its last id, as in llama.cpp
    std::vector<std::string> merges;  // BPE only, "left right" in rank order

    int32_t bos = kNoToken, eos = kNoToken, eot = kNoToken, eom = kNoToken, unk = kNoToken;
    int32_t sep = kNoToken, pad = kNoToken, mask = kNoToken;
    int32_t fim_pre = kNoToken, fim_suf = kNoToken, fim_mid = kNoToken;
    int32_t fim_pad = kNoToken, fim_rep = kNoToken, fim_sep = kNoToken;
    std::vector<int32_t> eog;  // sorted end-of-generation ids

    bool add_bos = false, add_eos = false;
    bool add_space_prefix = false;  // SPM: prefix text with a space (becomes U+2581)
    bool clean_spaces = false;      // BPE: decode removes spaces before ?!., etc. (HF clean_up_tokenization_spaces)
    bool ignore_merges = false;     // BPE: a whole pre-token that is in the vocabulary is taken as is

    int32_t n_tokens() const noexcept { return static_cast<int32_t>(tokens.size()); }
    int32_t find(std::string_view text) const noexcept { return token_to_id.find(text); }
    // Control, user-defined and unknown tokens: those matched as whole strings before tokenizing.
    bool is_special(int32_t id) const noexcept {
        const TokenType t = tokens[id].type;
        return t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown;
    }
};

// Reads the vocabulary. BPE defaults that depend on tokenizer.ggml.pre come from pre_tokenizer.h.
// Throws FormatError (missing or ill-typed keys, array sizes that disagree, special ids out of range),
// UnsupportedError (a tokenizer model or pre-tokenizer spool does not implement; lists the supported ones).
Vocab load_vocab(const gguf::GgufFile& file);

// The model names spool accepts, for error messages.
std::string supported_models_text();

}  // namespace spool::tokenizer
