// SentencePiece-style BPE on scores (tokenizer.ggml.model = "llama"): start from single characters and
// repeatedly merge the adjacent pair whose concatenation is the highest-scoring token; characters left
// outside the vocabulary fall back to <0xNN> byte tokens (llama.cpp llm_tokenizer_spm_session).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace spool::tokenizer {

class SpmEncoder {
public:
    explicit SpmEncoder(const Vocab& vocab);

    // Appends the ids of `text`, which already has its spaces replaced by U+2581. Thread-safe.
    void encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) const;

    // The token for a raw byte: <0xNN>, else the one-byte text, else UNK (kNoToken if none).
    int32_t byte_token(uint8_t b) const noexcept { return byte_tokens_[b]; }

private:
    std::array<int32_t, 256> byte_tokens_{};
};

}  // namespace spool::tokenizer
