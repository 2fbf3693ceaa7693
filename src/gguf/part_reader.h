// Parses and validates one GGUF image (one file, or one part of a split model) in memory (internal).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gguf/file.h"
#include "gguf/value.h"

namespace spool::gguf {

inline constexpr uint64_t kDefaultAlignment = 32;

struct ParsedPart {
    uint32_t version = 0;
    uint64_t alignment = kDefaultAlignment;
    std::vector<std::pair<std::string, Value>> metadata;  // file order
    std::vector<uint64_t> metadata_offsets;               // file offset of each value, for error messages
    std::vector<TensorInfo> tensors;                      // data points into `bytes`; split = split_index
    uint64_t data_offset = 0;                             // start of the data section in the file
};

// Validates every byte it uses (see file.h). `bytes` must outlive the returned tensors' data pointers.
// Throws FormatError naming `name`, the offset and the field.
ParsedPart parse_part(const uint8_t* bytes, size_t size, const std::string& name, const ReadLimits& limits,
                      uint32_t split_index);

}  // namespace spool::gguf
