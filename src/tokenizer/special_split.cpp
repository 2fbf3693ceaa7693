// Special-token partition with llama.cpp's order and strip rules (tokenizer_st_partition, 2025-02-20).
#include "tokenizer/special_split.h"

#include <algorithm>
#include <cctype>

namespace spool::tokenizer {

SpecialSplitter::SpecialSplitter(const Vocab& vocab) : node_token_(1, kNoToken), rank_(vocab.tokens.size(), -1) {
    std::vector<int32_t> specials;
    for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
        if (vocab.is_special(id)) specials.push_back(id);
    }
    // llama.cpp sorts by length only (std::sort, so equal lengths come in no set order); ties go to the lower id.
    std::stable_sort(specials.begin(), specials.end(), [&](int32_t a, int32_t b) {
        return vocab.tokens[a].text.size() > vocab.tokens[b].text.size();
    });
    for (size_t r = 0; r < specials.size(); ++r) {
        const int32_t id = specials[r];
        rank_[id] = static_cast<int32_t>(r);
        int32_t node = 0;
        for (char c : vocab.tokens[id].text) {
            const uint64_t key = static_cast<uint64_t>(node) << 8 | static_cast<uint8_t>(c);
            auto [child, inserted] = edges_.try_emplace(key, static_cast<int32_t>(node_token_.size()));
            if (inserted) node_token_.push_back(kNoToken);
            node = *child;
        }
        // A text stored twice keeps the token text_to_token would give, so both paths agree.
        if (node_token_[node] == kNoToken || vocab.find(vocab.tokens[id].text) == id) node_token_[node] = id;
    }
}

std::vector<Fragment> SpecialSplitter::split(const Vocab& vocab, std::string_view text, bool parse_special) const {
    std::vector<Fragment> fragments;
    if (text.empty()) return fragments;
    fragments.push_back({kNoToken, 0, static_cast<uint32_t>(text.size())});
    if (edges_.empty()) return fragments;

    // Which special tokens occur anywhere? (A token absent from the text cannot occur in any fragment.)
    std::vector<int32_t> present;
    for (size_t start = 0; start < text.size(); ++start) {
        int32_t node = 0;
        for (size_t pos = start; pos < text.size(); ++pos) {
            const int32_t* child = edges_.find(static_cast<uint64_t>(node) << 8 | static_cast<uint8_t>(text[pos]));
            if (!child) break;
            node = *child;
            const int32_t id = node_token_[node];
            if (id == kNoToken) continue;
            const TokenType type = vocab.tokens[id].type;
            if (!parse_special && (type == TokenType::Control || type == TokenType::Unknown)) continue;
            present.push_back(id);
        }
    }
    if (present.empty()) return fragments;
    std::sort(present.begin(), present.end(), [&](int32_t a, int32_t b) { return rank_[a] < rank_[b]; });
    present.erase(std::unique(present.begin(), present.end()), present.end());

    auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    std::vector<Fragment> next;
    for (int32_t id : present) {
        const std::string& special = vocab.tokens[id].text;
        const uint8_t strip = vocab.tokens[id].strip;
        next.clear();
        for (const Fragment& f : fragments) {
            if (f.token != kNoToken) {
                next.push_back(f);
                continue;
            }
            size_t begin = f.offset, end = f.offset + f.length;
            while (begin < end) {
                const size_t match = text.substr(0, end).find(special, begin);
                if (match == std::string_view::npos) break;
                size_t left_end = match;
                if (strip & kStripLeft) {
                    while (left_end > begin && is_space(text[left_end - 1])) --left_end;
                }
                if (left_end > begin) next.push_back({kNoToken, static_cast<uint32_t>(begin), static_cast<uint32_t>(left_end - begin)});
                next.push_back({id, 0, 0});
                begin = match + special.size();
                if (strip & kStripRight) {
                    while (begin < end && is_space(text[begin])) ++begin;
                }
            }
            if (begin < end) next.push_back({kNoToken, static_cast<uint32_t>(begin), static_cast<uint32_t>(end - begin)});
        }
        fragments.swap(next);
    }
    return fragments;
}

}  // namespace spool::tokenizer
