// Hugging Face's clean_up_tokenization_spaces as llama.cpp applies it after detokenizing BPE vocabularies
// (llama_vocab::impl::detokenize, clean_spaces): " ?" " !" " ." " ," lose the space, a lone " ' " loses
// both spaces, and " 's" " 'm" " 're" " 've" lose the space. Three passes in this order, byte for byte.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace spool::tokenizer {

std::string clean_spaces(std::string_view text);

// The longest prefix length c such that clean_spaces(text) == clean_spaces(text[0, c)) + clean_spaces(text[c..])
// for ANY continuation of the text: the byte before the cut is not a space and no apostrophe lies in the last
// 6 bytes before it (every rule looks at most that far across). Used to stream decoded text.
size_t clean_spaces_stable_prefix(std::string_view text);

}  // namespace spool::tokenizer
