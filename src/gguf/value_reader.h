// Reads one GGUF metadata value (gguf_metadata_value) from a ByteCursor, bounds-checked (internal).
#pragma once

#include <cstdint>
#include <string_view>

#include "gguf/byte_cursor.h"
#include "gguf/file.h"
#include "gguf/value.h"

namespace spool::gguf {

// Reads a uint32 value-type id and rejects ids outside 0..12. `field` names the key for errors.
ValueType read_value_type(ByteCursor& cursor, std::string_view field);

// Reads a value of `type`. Array counts are checked against the bytes left before anything is reserved,
// and arrays nested deeper than limits.max_array_depth are rejected. Throws FormatError.
Value read_value(ByteCursor& cursor, ValueType type, std::string_view field, const ReadLimits& limits);

}  // namespace spool::gguf
