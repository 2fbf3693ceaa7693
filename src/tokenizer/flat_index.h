// Open-addressing hash tables for the tokenizer's hot lookups: text -> id (the vocabulary, merge halves) and
// 64-bit key -> value (BPE pairs, the special-token trie). std::unordered_map chases one pointer per node;
// with 100k+ entries those cache misses dominated building a 150k vocabulary and the merge loops.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace spool::tokenizer {

inline uint64_t hash_bytes(std::string_view s) noexcept {
    // 8 bytes at a time, multiply-xorshift mixing (the finalizer of splitmix64); good enough for short texts.
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xFF51AFD7ED558CCDull);
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    h = (h ^ tail) * 0x94D049BB133111EBull;
    return h ^ (h >> 29);
}

// Text -> int32 id. Keys are copied into an arena, so the index stays valid when moved.
class StringIndex {
public:
    static constexpr int32_t kMissing = -1;

    void reserve(size_t n) {
        size_t cap = 16;
        while (cap < n * 2) cap <<= 1;
        if (cap > slots_.size()) rehash(cap);
    }
    // Maps `text` to `id`; an existing text is remapped (the last id wins, as llama.cpp's token_to_id).
    void assign(std::string_view text, int32_t id) {
        if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.empty() ? 16 : slots_.size() * 2);
        const uint64_t h = hash_bytes(text);
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            Slot& s = slots_[i];
            if (s.id == kMissing) {
                s = {static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(text.size()), static_cast<uint32_t>(h), id};
                arena_.append(text);
                ++size_;
                return;
            }
            if (s.hash == static_cast<uint32_t>(h) && key(s) == text) {
                s.id = id;
                return;
            }
        }
    }
    int32_t find(std::string_view text) const noexcept {
        if (slots_.empty()) return kMissing;
        const uint64_t h = hash_bytes(text);
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.id == kMissing) return kMissing;
            if (s.hash == static_cast<uint32_t>(h) && key(s) == text) return s.id;
        }
    }
    size_t size() const noexcept { return size_; }

private:
    struct Slot {
        uint32_t offset, length, hash;
        int32_t id;  // kMissing: empty
    };
    std::string_view key(const Slot& s) const noexcept { return std::string_view(arena_).substr(s.offset, s.length); }
    void rehash(size_t cap) {
        std::vector<Slot> old(cap, Slot{0, 0, 0, kMissing});
        old.swap(slots_);
        mask_ = cap - 1;
        for (const Slot& s : old) {
            if (s.id == kMissing) continue;
            for (size_t i = s.hash & mask_;; i = (i + 1) & mask_) {
                if (slots_[i].id == kMissing) {
                    slots_[i] = s;
                    break;
                }
            }
        }
    }

    std::vector<Slot> slots_;
    std::string arena_;
    size_t mask_ = 0, size_ = 0;
};

// uint64 key -> V. The all-ones key is reserved as "empty".
template <class V>
class U64Map {
public:
    static constexpr uint64_t kEmpty = ~uint64_t{0};

    void reserve(size_t n) {
        size_t cap = 16;
        while (cap < n * 2) cap <<= 1;
        if (cap > slots_.size()) rehash(cap);
    }
    // Inserts unless present; returns the stored value and whether it was inserted.
    std::pair<V*, bool> try_emplace(uint64_t key, const V& value) {
        if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.empty() ? 16 : slots_.size() * 2);
        for (size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
            Slot& s = slots_[i];
            if (s.key == kEmpty) {
                s = {key, value};
                ++size_;
                return {&s.value, true};
            }
            if (s.key == key) return {&s.value, false};
        }
    }
    const V* find(uint64_t key) const noexcept {
        if (slots_.empty()) return nullptr;
        for (size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.key == kEmpty) return nullptr;
            if (s.key == key) return &s.value;
        }
    }
    bool empty() const noexcept { return size_ == 0; }

private:
    struct Slot {
        uint64_t key;
        V value;
    };
    static uint64_t mix(uint64_t x) noexcept {
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
        return x ^ (x >> 31);
    }
    void rehash(size_t cap) {
        std::vector<Slot> old(cap, Slot{kEmpty, V{}});
        old.swap(slots_);
        mask_ = cap - 1;
        for (const Slot& s : old) {
            if (s.key == kEmpty) continue;
            for (size_t i = mix(s.key) & mask_;; i = (i + 1) & mask_) {
                if (slots_[i].key == kEmpty) {
                    slots_[i] = s;
                    break;
                }
            }
        }
    }

    std::vector<Slot> slots_;
    size_t mask_ = 0, size_ = 0;
};

}  // namespace spool::tokenizer
