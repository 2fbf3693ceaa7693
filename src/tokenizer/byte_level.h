// GPT-2's byte-level alphabet: every byte 0..255 is shown as one printable code point, so byte-level BPE
// vocabularies store arbitrary bytes as text (bytes_to_unicode() in OpenAI's GPT-2 encoder.py).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace spool::tokenizer {

class ByteLevel {
public:
    ByteLevel();

    // The UTF-8 text of the code point that stands for byte b.
    const std::string& encode(uint8_t b) const noexcept { return byte_text_[b]; }
    // Appends the stand-in text of every byte of `bytes`.
    void encode(std::string_view bytes, std::string& out) const;
    // Maps each code point of `text` back to its byte. A code point outside the alphabet is copied through
    // unchanged (llama.cpp writes an "[UNK_BYTE_0x..]" marker there instead).
    std::string decode(std::string_view text) const;

private:
    std::array<std::string, 256> byte_text_;
    std::array<int16_t, 324> byte_of_cp_;  // code points used are 0x21..0x143; -1 where unused
};

}  // namespace spool::tokenizer
