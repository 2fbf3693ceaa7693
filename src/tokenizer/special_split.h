// Cuts raw text at the texts of special tokens before the model's tokenizer sees it (llama.cpp
// tokenizer_st_partition): longest special token first, each splitting every text fragment left to right.
// User-defined tokens are always matched; control and unknown tokens only with parse_special.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/flat_index.h"

#include "tokenizer/vocab.h"

namespace spool::tokenizer {

// Either a special token (token >= 0) or a byte range of the input text.
struct Fragment {
    int32_t token;
    uint32_t offset, length;
};

class SpecialSplitter {
public:
    explicit SpecialSplitter(const Vocab& vocab);

    // Precondition: text.size() < 2^32. The result covers `text` minus whitespace dropped by strip flags.
    std::vector<Fragment> split(const Vocab& vocab, std::string_view text, bool parse_special) const;

private:
    // A byte trie over special-token texts finds the ones that occur at all in one pass over the text;
    // only those run the (exact, but per-token) llama.cpp partition.
    U64Map<int32_t> edges_;                        // (node << 8 | byte) -> child node
    std::vector<int32_t> node_token_;              // token ending at a node, or kNoToken
    std::vector<int32_t> rank_;                    // order of each special token: longest text first
};

}  // namespace spool::tokenizer
