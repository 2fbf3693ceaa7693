// BPE merge loop on unit ids: a min-heap of (rank, left position) with stale entries skipped, as in
// llama.cpp's llm_tokenizer_bpe_session, but without building strings per candidate pair.
#include "tokenizer/bpe.h"

#include <algorithm>

#include "spool/errors.h"

namespace spool::tokenizer {

namespace {

uint64_t pair_key(int32_t left, int32_t right) {
    return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
}

// Heap order: lowest rank on top, ties to the leftmost pair.
struct LowerPriority {
    bool operator()(const BpeEncoder::Bigram& a, const BpeEncoder::Bigram& b) const noexcept {
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
};

}  // namespace

int32_t BpeEncoder::unit_of(const Vocab& vocab, std::string_view text) const noexcept {
    if (const int32_t id = vocab.find(text); id != kNoToken) return id;
    return extra_units_.find(text);
}

int32_t BpeEncoder::intern(const Vocab& vocab, std::string_view text) {
    if (const int32_t unit = unit_of(vocab, text); unit >= 0) return unit;
    const auto unit = static_cast<int32_t>(vocab.n_tokens() + extra_units_.size());
    extra_units_.assign(text, unit);
    return unit;
}

BpeEncoder::BpeEncoder(const Vocab& vocab, const std::string& file_name) {
    merges_.reserve(vocab.merges.size());
    std::string both;
    for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
        const std::string& merge = vocab.merges[rank];
        // The separator is the first space after the first byte, so a left half may itself be " ".
        const size_t space = merge.size() > 1 ? merge.find(' ', 1) : std::string::npos;
        if (space == std::string::npos) {
            throw FormatError(file_name, 0, "tokenizer.ggml.merges[" + std::to_string(rank) + "]",
                              "expected \"left right\", got \"" + merge + "\"");
        }
        const std::string_view left = std::string_view(merge).substr(0, space), right = std::string_view(merge).substr(space + 1);
        both.assign(left).append(right);
        const int32_t l = intern(vocab, left), r = intern(vocab, right), result = intern(vocab, both);
        merges_.try_emplace(pair_key(l, r), Merge{static_cast<int32_t>(rank), result});  // first rank wins
    }
    for (int b = 0; b < 256; ++b) byte_units_[b] = unit_of(vocab, byte_level_.encode(static_cast<uint8_t>(b)));
}

void BpeEncoder::encode_word(const Vocab& vocab, std::string_view word, Scratch& scratch, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (vocab.ignore_merges) {
        scratch.encoded.clear();
        byte_level_.encode(word, scratch.encoded);
        if (const int32_t id = vocab.find(scratch.encoded); id != kNoToken) {
            out.push_back(id);
            return;
        }
    }
    // One symbol per byte: each byte is one code point of the GPT-2 alphabet.
    std::vector<Symbol>& symbols = scratch.symbols;
    symbols.resize(word.size());
    for (size_t i = 0; i < word.size(); ++i) {
        const auto index = static_cast<int32_t>(i);
        Symbol& s = symbols[i];
        s.prev = index - 1;
        s.next = i + 1 == word.size() ? -1 : index + 1;
        s.unit = byte_units_[static_cast<uint8_t>(word[i])];
        s.start = static_cast<uint32_t>(i);
        s.length = 1;
    }

    std::vector<Bigram>& heap = scratch.heap;
    heap.clear();
    auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const int32_t lu = symbols[left].unit, ru = symbols[right].unit;
        if (lu < 0 || ru < 0) return;
        const Merge* merge = merges_.find(pair_key(lu, ru));
        if (!merge) return;
        heap.push_back({merge->rank, left, right, lu, ru, merge->result});
        std::push_heap(heap.begin(), heap.end(), LowerPriority{});
    };
    for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), LowerPriority{});
        const Bigram bigram = heap.back();
        heap.pop_back();
        Symbol& left = symbols[bigram.left];
        Symbol& right = symbols[bigram.right];
        if (left.length == 0 || right.length == 0 || left.unit != bigram.left_unit || right.unit != bigram.right_unit) continue;
        left.unit = bigram.result;
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = bigram.left;
        try_add(left.prev, bigram.left);
        try_add(bigram.left, left.next);
    }

    const int32_t n_vocab = vocab.n_tokens();
    for (int32_t i = 0; i != -1; i = symbols[i].next) {
        const Symbol& s = symbols[i];
        if (s.unit >= 0 && s.unit < n_vocab) {
            out.push_back(s.unit);
            continue;
        }
        // Not a token: a byte the vocabulary lacks (bytes F5..FF, or lead bytes of rarely used planes, in
        // vocabularies trained without them) or a merge result missing from the vocabulary. Its bytes go out
        // as their byte tokens where those exist and are dropped where not, as llama.cpp drops them.
        for (uint32_t k = 0; k < s.length; ++k) {
            const int32_t unit = byte_units_[static_cast<uint8_t>(word[s.start + k])];
            if (unit >= 0 && unit < n_vocab) out.push_back(unit);
        }
    }
}

}  // namespace spool::tokenizer
