// GPT-2 byte <-> code point table: printable Latin-1 bytes (! .. ~, ¡ .. ¬, ® .. ÿ) map to themselves and
// the other 68 bytes, in increasing order, to U+0100, U+0101, ... (encoder.py bytes_to_unicode).
#include "tokenizer/byte_level.h"

#include "tokenizer/utf8.h"

namespace spool::tokenizer {

namespace {

bool maps_to_itself(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

}  // namespace

ByteLevel::ByteLevel() {
    byte_of_cp_.fill(-1);
    char32_t next_extra = 0x100;
    for (int b = 0; b < 256; ++b) {
        const char32_t cp = maps_to_itself(b) ? static_cast<char32_t>(b) : next_extra++;
        utf8::append(byte_text_[b], cp);
        byte_of_cp_[cp] = static_cast<int16_t>(b);
    }
}

void ByteLevel::encode(std::string_view bytes, std::string& out) const {
    for (char c : bytes) out += byte_text_[static_cast<uint8_t>(c)];
}

std::string ByteLevel::decode(std::string_view text) const {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const utf8::Sequence seq = utf8::examine(text, pos);
        if (seq.check == utf8::Check::Valid && seq.codepoint < byte_of_cp_.size() && byte_of_cp_[seq.codepoint] >= 0) {
            out.push_back(static_cast<char>(byte_of_cp_[seq.codepoint]));
        } else {
            out.append(text.substr(pos, seq.length));
        }
        pos += seq.length;
    }
    return out;
}

}  // namespace spool::tokenizer
