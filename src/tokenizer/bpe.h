// Byte-level BPE (tokenizer.ggml.model = "gpt2"): each pre-token's bytes become GPT-2 alphabet symbols and the
// adjacent pair with the lowest merge rank is merged until none is left (llama.cpp llm_tokenizer_bpe_session).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/flat_index.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/vocab.h"

namespace spool::tokenizer {

class BpeEncoder {
public:
    // Indexes the merges. Throws FormatError naming the merge that is not "left right".
    BpeEncoder(const Vocab& vocab, const std::string& file_name);

    struct Symbol {
        int32_t prev, next;
        int32_t unit;            // -1: a string no merge mentions
        uint32_t start, length;  // bytes of the word; length 0 once merged away
    };
    struct Bigram {
        int32_t rank;
        int32_t left, right;
        int32_t left_unit, right_unit;  // units when queued; a change later means the entry is stale
        int32_t result;
    };
    // Buffers reused from word to word (one per encode call, so encoding stays thread-safe).
    struct Scratch {
        std::vector<Symbol> symbols;
        std::vector<Bigram> heap;
        std::string encoded;
    };

    // Appends the ids of one pre-token (raw bytes, not yet byte-level encoded).
    void encode_word(const Vocab& vocab, std::string_view word, Scratch& scratch, std::vector<int32_t>& out) const;

    const ByteLevel& byte_level() const noexcept { return byte_level_; }

private:
    // Every string taking part in a merge gets a unit id: its token id when it is in the vocabulary,
    // n_vocab + k otherwise. A merge is looked up by the unit ids of its halves.
    struct Merge {
        int32_t rank;
        int32_t result;  // unit of left + right
    };
    int32_t unit_of(const Vocab& vocab, std::string_view text) const noexcept;
    int32_t intern(const Vocab& vocab, std::string_view text);

    ByteLevel byte_level_;
    StringIndex extra_units_;                       // merge strings that are not vocabulary tokens
    U64Map<Merge> merges_;                          // (left unit << 32 | right unit) -> merge
    std::array<int32_t, 256> byte_units_{};         // unit of each byte's one-symbol string, or -1
};

}  // namespace spool::tokenizer
