// The tokenizer the engine uses: text <-> token ids for the vocabularies llama.cpp calls SPM ("llama") and
// BPE ("gpt2"), built from a GGUF's tokenizer.* metadata alone, so vocabulary-only files work too.
// Encoding and decoding match llama.cpp (snapshot 2025-02-20): llama_tokenize / llama_detokenize /
// llama_token_to_piece. All const members are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace spool::gguf {
class GgufFile;
}

namespace spool::tokenizer {

class Tokenizer {
public:
    // Reads tokenizer.* keys of `file` (it may be released afterwards).
    // Throws UnsupportedError for a tokenizer model or pre-tokenizer spool lacks (the message lists the
    // supported ones), FormatError for missing/ill-typed keys or inconsistent arrays.
    explicit Tokenizer(const gguf::GgufFile& file);
    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    // Text (any bytes; invalid UTF-8 is tokenized as U+FFFD by BPE and as byte tokens by SPM) to ids.
    // add_special: BOS/EOS as the vocabulary asks (add_bos/add_eos). parse_special: text equal to a control
    // or unknown token's text becomes that token; user-defined tokens are matched either way.
    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special = false) const;

    // Ids to text, as llama_detokenize. remove_special drops a leading BOS and trailing EOS (when the
    // vocabulary adds them); unparse_special renders control tokens as their text (else they vanish).
    // SPM drops the leading space of the first piece unless remove_special removed a BOS before it.
    // BPE vocabularies with clean_spaces() tidy " ," " 's" etc. The result may be invalid UTF-8 where byte
    // tokens are cut; use StreamingDecoder or utf8::sanitize for display.
    // Throws UsageError for an id outside [0, n_vocab).
    std::string decode(std::span<const int32_t> ids, bool remove_special = false, bool unparse_special = false) const;

    // The bytes of one token, as llama_token_to_piece(lstrip 0): with special == false control and unknown
    // tokens give "". Throws UsageError for an id outside [0, n_vocab).
    const std::string& token_to_piece(int32_t id) const;  // special = true
    std::string token_to_piece(int32_t id, bool special) const;

    int32_t n_vocab() const noexcept { return vocab_->n_tokens(); }
    VocabKind kind() const noexcept { return vocab_->kind; }
    const std::string& model() const noexcept { return vocab_->model; }  // "llama" or "gpt2"
    const std::string& pre() const noexcept { return vocab_->pre; }
    const Vocab& vocab() const noexcept { return *vocab_; }

    // Special ids, kNoToken (-1) when the vocabulary has none.
    int32_t bos() const noexcept { return vocab_->bos; }
    int32_t eos() const noexcept { return vocab_->eos; }
    int32_t eot() const noexcept { return vocab_->eot; }
    int32_t eom() const noexcept { return vocab_->eom; }
    int32_t unk() const noexcept { return vocab_->unk; }
    int32_t pad() const noexcept { return vocab_->pad; }
    bool add_bos() const noexcept { return vocab_->add_bos; }
    bool add_eos() const noexcept { return vocab_->add_eos; }
    bool add_space_prefix() const noexcept { return vocab_->add_space_prefix; }
    bool clean_spaces() const noexcept { return vocab_->clean_spaces; }

    // End of generation: EOS, EOT, EOM and the texts llama.cpp treats so (<|im_end|>, <|endoftext|>, ...).
    bool is_eog(int32_t id) const noexcept;
    const std::vector<int32_t>& eog_ids() const noexcept { return vocab_->eog; }
    bool is_control(int32_t id) const noexcept;
    TokenType token_type(int32_t id) const;    // throws UsageError when out of range
    const std::string& token_text(int32_t id) const;  // as stored in the GGUF; throws UsageError when out of range
    int32_t find_token(std::string_view text) const noexcept { return vocab_->find(text); }

private:
    friend class StreamingDecoder;
    struct Impl;
    void check_id(int32_t id) const;
    // Appends the piece of `id` with up to `lstrip` leading spaces removed; llama.cpp's token_to_piece.
    void append_piece(std::string& out, int32_t id, bool lstrip, bool special) const;

    std::unique_ptr<Vocab> vocab_;
    std::unique_ptr<Impl> impl_;
};

// Decodes ids one at a time for display: each push returns the text that is final so far. Incomplete UTF-8
// (a character split over byte tokens) is held back until it completes; ill-formed bytes come out as U+FFFD,
// so the output is always valid UTF-8. The concatenation of all pushes and flush() equals
// utf8::sanitize(tokenizer.decode(ids, false, unparse_special)) when at_text_start is true. With
// at_text_start false (continuing after a prompt) the first piece keeps its leading space.
class StreamingDecoder {
public:
    // `tokenizer` must outlive the decoder and stay where it is.
    explicit StreamingDecoder(const Tokenizer& tokenizer, bool unparse_special = false, bool at_text_start = true);

    std::string push(int32_t id);  // throws UsageError for an id outside [0, n_vocab)
    std::string flush();           // emits what is held back; an incomplete tail becomes U+FFFD
    void reset(bool at_text_start = true);

private:
    std::string take_ready(bool final);

    const Tokenizer* tokenizer_;
    bool unparse_special_;
    bool first_ = true;
    std::string raw_;  // pieces not yet passed through clean-up and UTF-8 checks
};

}  // namespace spool::tokenizer
