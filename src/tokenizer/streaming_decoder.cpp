// StreamingDecoder: pieces pass through the BPE space clean-up only once no later byte can change them,
// then through a UTF-8 check that holds back a character cut between byte tokens.
#include "tokenizer/clean_spaces.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace spool::tokenizer {

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool unparse_special, bool at_text_start)
    : tokenizer_(&tokenizer), unparse_special_(unparse_special), first_(at_text_start) {}

void StreamingDecoder::reset(bool at_text_start) {
    first_ = at_text_start;
    raw_.clear();
}

std::string StreamingDecoder::push(int32_t id) {
    tokenizer_->append_piece(raw_, id, first_ && tokenizer_->add_space_prefix(), unparse_special_);
    first_ = false;
    return take_ready(false);
}

std::string StreamingDecoder::flush() {
    std::string out = take_ready(true);
    raw_.clear();
    return out;
}

std::string StreamingDecoder::take_ready(bool final) {
    // Clean-up first (it only looks at ASCII bytes, so it never splits a character), then UTF-8.
    size_t ready = raw_.size();
    std::string cleaned;
    if (tokenizer_->clean_spaces()) {
        if (!final) ready = clean_spaces_stable_prefix(raw_);
        cleaned = clean_spaces(std::string_view(raw_).substr(0, ready));
    } else {
        cleaned.assign(raw_, 0, ready);
    }
    std::string out;
    size_t pos = 0;
    while (pos < cleaned.size()) {
        const utf8::Sequence seq = utf8::examine(cleaned, pos);
        if (seq.check == utf8::Check::Truncated && !final) break;
        if (seq.check == utf8::Check::Valid) {
            out.append(cleaned, pos, seq.length);
        } else {
            out.append(utf8::kReplacement);
        }
        pos += seq.length;
    }
    // What stays: the incomplete character (already cleaned: it holds no ASCII) and the raw bytes after `ready`.
    raw_ = cleaned.substr(pos) + raw_.substr(ready);
    return out;
}

}  // namespace spool::tokenizer
