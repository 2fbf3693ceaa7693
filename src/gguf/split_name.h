// File names of split GGUF models: NAME-00001-of-00003.gguf (llama.cpp's llama_split_path convention,
// 1-based part numbers printed with at least five digits).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spool::gguf {

struct SplitName {
    std::string prefix;  // NAME, possibly with a directory
    uint32_t part;       // 1-based
    uint32_t count;
};

// Parses "<prefix>-<part>-of-<count>.gguf"; nullopt when the name does not have that form, the prefix is
// empty, or part/count
// are 0, part > count, or either has fewer than five digits or does not fit uint32.
std::optional<SplitName> parse_split_name(std::string_view filename);
// "<prefix>-<part>-of-<count>.gguf" with five-digit zero padding. Precondition: 1 <= part <= count.
std::string split_file_name(std::string_view prefix, uint32_t part, uint32_t count);

}  // namespace spool::gguf
