// Tokenizer: special-token partition, then SPM or byte-level BPE per text fragment; decoding through a
// per-token piece table (llama.cpp's cache_token_to_piece) and, for BPE, the clean-up of spaces.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <optional>

#include "gguf/file.h"
#include "spool/errors.h"
#include "tokenizer/bpe.h"
#include "tokenizer/clean_spaces.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/special_split.h"
#include "tokenizer/spm.h"
#include "tokenizer/utf8.h"

namespace spool::tokenizer {

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0;;) {
        const size_t hit = text.find(from, pos);
        if (hit == std::string_view::npos) {
            out.append(text.substr(pos));
            return out;
        }
        out.append(text.substr(pos, hit - pos));
        out.append(to);
        pos = hit + from.size();
    }
}

}  // namespace

struct Tokenizer::Impl {
    SpecialSplitter splitter;
    std::optional<SpmEncoder> spm;
    std::optional<BpeEncoder> bpe;
    std::optional<PreTokenizer> pre;
    std::vector<std::string> pieces;  // token_to_piece(id, special = true) for every id

    Impl(const Vocab& vocab, const std::string& file_name) : splitter(vocab) {
        if (vocab.kind == VocabKind::Spm) {
            spm.emplace(vocab);
        } else {
            bpe.emplace(vocab, file_name);
            pre.emplace(*find_pre_config(vocab.pre));  // load_vocab already rejected unknown names
        }
        pieces.resize(vocab.tokens.size());
        for (int32_t id = 0; id < vocab.n_tokens(); ++id) pieces[id] = make_piece(vocab, id);
    }

    // llama.cpp token_to_piece (special = true): control, unknown and user-defined tokens as stored; normal
    // tokens with U+2581 as space (SPM) or bytes from the GPT-2 alphabet (BPE); SPM byte tokens as the byte;
    // unused and undefined tokens as nothing.
    std::string make_piece(const Vocab& vocab, int32_t id) const {
        const TokenData& t = vocab.tokens[id];
        switch (t.type) {
            case TokenType::Control:
            case TokenType::Unknown:
            case TokenType::UserDefined:
                return t.text;
            case TokenType::Normal:
                return vocab.kind == VocabKind::Spm ? replace_all(t.text, kSpmSpace, " ") : bpe->byte_level().decode(t.text);
            case TokenType::Byte:
                if (vocab.kind == VocabKind::Spm && t.text.size() == 6 && t.text.compare(0, 3, "<0x") == 0) {
                    return std::string(1, static_cast<char>(std::stoi(t.text.substr(3, 2), nullptr, 16)));
                }
                return {};
            default:
                return {};
        }
    }
};

Tokenizer::Tokenizer(const gguf::GgufFile& file)
    : vocab_(std::make_unique<Vocab>(load_vocab(file))), impl_(std::make_unique<Impl>(*vocab_, file.path())) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    if (text.size() >= UINT32_MAX) throw UsageError("text of " + std::to_string(text.size()) + " bytes is too long to tokenize (limit 4 GiB)");
    const Vocab& vocab = *vocab_;
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    if (add_special && vocab.add_bos) out.push_back(vocab.bos);

    const std::vector<Fragment> fragments = impl_->splitter.split(vocab, text, parse_special);
    if (vocab.kind == VocabKind::Spm) {
        bool after_special = true;  // the first text fragment also gets the space prefix
        std::string escaped;
        for (const Fragment& f : fragments) {
            if (f.token != kNoToken) {
                out.push_back(f.token);
                after_special = true;
                continue;
            }
            std::string raw = vocab.add_space_prefix && after_special ? " " : "";
            raw.append(text.substr(f.offset, f.length));
            escaped = replace_all(raw, " ", kSpmSpace);
            impl_->spm->encode(vocab, escaped, out);
            after_special = false;
        }
    } else {
        BpeEncoder::Scratch scratch;
        for (const Fragment& f : fragments) {
            if (f.token != kNoToken) {
                out.push_back(f.token);
                continue;
            }
            const std::string_view raw = text.substr(f.offset, f.length);
            // Ill-formed bytes become U+FFFD first, as llama.cpp's code point split does.
            std::string sanitized;
            std::string_view clean = raw;
            if (!utf8::is_valid(raw)) {
                sanitized = utf8::sanitize_per_byte(raw);
                clean = sanitized;
            }
            for (const Span& word : impl_->pre->split(clean)) {
                impl_->bpe->encode_word(vocab, clean.substr(word.begin, word.end - word.begin), scratch, out);
            }
        }
    }
    if (add_special && vocab.add_eos) out.push_back(vocab.eos);
    return out;
}

void Tokenizer::check_id(int32_t id) const {
    if (id < 0 || id >= vocab_->n_tokens()) {
        throw UsageError("token id " + std::to_string(id) + " is out of range: the vocabulary has " +
                         std::to_string(vocab_->n_tokens()) + " tokens (0.." + std::to_string(vocab_->n_tokens() - 1) + ")");
    }
}

void Tokenizer::append_piece(std::string& out, int32_t id, bool lstrip, bool special) const {
    check_id(id);
    const TokenType type = vocab_->tokens[id].type;
    if (!special && (type == TokenType::Control || type == TokenType::Unknown)) return;
    std::string_view piece = impl_->pieces[id];
    if (lstrip && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    out.append(piece);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool remove_special, bool unparse_special) const {
    const Vocab& vocab = *vocab_;
    bool strip_space = vocab.add_space_prefix;
    if (remove_special && vocab.add_bos && !ids.empty() && ids.front() == vocab.bos) {
        strip_space = false;  // llama.cpp keeps the space the SPM prefix added when it drops BOS
        ids = ids.subspan(1);
    }
    if (remove_special && vocab.add_eos && !ids.empty() && ids.back() == vocab.eos) ids = ids.first(ids.size() - 1);
    std::string out;
    for (int32_t id : ids) {
        append_piece(out, id, strip_space, unparse_special);
        strip_space = false;  // only the first token, even when its piece is empty
    }
    return vocab.clean_spaces ? tokenizer::clean_spaces(out) : out;
}

const std::string& Tokenizer::token_to_piece(int32_t id) const {
    check_id(id);
    return impl_->pieces[id];
}

std::string Tokenizer::token_to_piece(int32_t id, bool special) const {
    std::string out;
    append_piece(out, id, false, special);
    return out;
}

bool Tokenizer::is_eog(int32_t id) const noexcept {
    return std::binary_search(vocab_->eog.begin(), vocab_->eog.end(), id);
}

bool Tokenizer::is_control(int32_t id) const noexcept {
    return id >= 0 && id < vocab_->n_tokens() && vocab_->tokens[id].type == TokenType::Control;
}

TokenType Tokenizer::token_type(int32_t id) const {
    check_id(id);
    return vocab_->tokens[id].type;
}

const std::string& Tokenizer::token_text(int32_t id) const {
    check_id(id);
    return vocab_->tokens[id].text;
}

}  // namespace spool::tokenizer
