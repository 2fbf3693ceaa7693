// SPM merge loop: a max-heap of candidate bigrams keyed by token score (ties: leftmost first), stale entries
// skipped when popped, as in llama.cpp's llm_tokenizer_spm_session; O(n log n) in the text length.
#include "tokenizer/spm.h"

#include <cstdio>
#include <queue>

#include "tokenizer/utf8.h"

namespace spool::tokenizer {

namespace {

struct Symbol {
    int32_t prev, next;
    uint32_t start, length;  // bytes of the text; length 0 once merged into its left neighbour
};

struct Bigram {
    float score;
    int32_t left, right;
    uint32_t length;  // of left + right when queued; a mismatch later means the entry is stale
};

struct LowerPriority {
    bool operator()(const Bigram& a, const Bigram& b) const noexcept {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

}  // namespace

SpmEncoder::SpmEncoder(const Vocab& vocab) {
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        int32_t id = vocab.find(name);
        if (id == kNoToken) id = vocab.find(std::string_view(reinterpret_cast<const char*>(&b), 1));
        // llama.cpp throws (std::out_of_range) here; UNK keeps the text's length visible instead.
        if (id == kNoToken) id = vocab.unk;
        byte_tokens_[b] = id;
    }
}

void SpmEncoder::encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    // Symbols are cut by lead byte only, as llama.cpp does: a stray lead byte such as 0xFD takes the next
    // three bytes with it even when they are the U+2581 of a space, and the whole group then falls back to
    // byte tokens (so ill-formed input can decode with U+2581 where it had a space).
    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const size_t len = std::min(utf8::lead_length(static_cast<uint8_t>(text[pos])), text.size() - pos);
        const auto index = static_cast<int32_t>(symbols.size());
        symbols.push_back({index - 1, pos + len == text.size() ? -1 : index + 1, static_cast<uint32_t>(pos), static_cast<uint32_t>(len)});
        pos += len;
    }

    std::vector<Bigram> storage;
    storage.reserve(symbols.size());
    std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue(LowerPriority{}, std::move(storage));
    auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const uint32_t length = symbols[left].length + symbols[right].length;
        const int32_t id = vocab.find(text.substr(symbols[left].start, length));
        if (id == kNoToken) return;
        queue.push({vocab.tokens[id].score, left, right, length});
    };
    for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
        const Bigram bigram = queue.top();
        queue.pop();
        Symbol& left = symbols[bigram.left];
        Symbol& right = symbols[bigram.right];
        if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) continue;
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = bigram.left;
        try_add(left.prev, bigram.left);
        try_add(bigram.left, left.next);
    }

    for (int32_t i = 0; i != -1; i = symbols[i].next) {
        const Symbol& s = symbols[i];
        const std::string_view piece = text.substr(s.start, s.length);
        const int32_t id = vocab.find(piece);
        if (id != kNoToken) {
            out.push_back(id);
            continue;
        }
        // Only single characters can miss (a merge only forms vocabulary texts), so llama.cpp's rev_merge
        // re-segmentation never applies; the character goes out byte by byte.
        for (char c : piece) {
            const int32_t byte_id = byte_tokens_[static_cast<uint8_t>(c)];
            if (byte_id != kNoToken) out.push_back(byte_id);
        }
    }
}

}  // namespace spool::tokenizer
