// One GGUF image: header, metadata, tensor infos, data section (GGUF spec, "File Structure").
// Order of checks: every count against the bytes left, every size with checked arithmetic, then offsets
// against the data section, alignment and each other, so nothing is allocated or read on a bad claim.
#include "gguf/part_reader.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>

#include "gguf/byte_cursor.h"
#include "gguf/value_reader.h"
#include "quant/types.h"

namespace spool::gguf {
namespace {

constexpr uint8_t kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;           // key length, 1-byte key, value type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name length, name, n_dims, ne[0], type, offset
constexpr uint32_t kMaxDims = 4;

// A key or tensor name as it goes into a message: control bytes escaped, very long names cut.
std::string printable(std::string_view s) {
    std::string out;
    const size_t n = std::min<size_t>(s.size(), 200);
    for (size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (n < s.size()) out += "...";
    return out;
}

std::string hex_bytes(const uint8_t* p, size_t n) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; ++i) {
        if (i != 0) out += ' ';
        out += kHex[p[i] >> 4];
        out += kHex[p[i] & 15];
    }
    return out;
}

void check_magic(ByteCursor& c) {
    c.require(4, "magic");
    if (!std::equal(kMagic, kMagic + 4, c.here())) {
        c.fail(0, "magic", "not a GGUF file: expected the bytes 47 47 55 46 (\"GGUF\"), got " + hex_bytes(c.here(), 4));
    }
    c.read<uint32_t>("magic");
}

uint32_t check_version(ByteCursor& c) {
    const size_t at = c.offset();
    const auto version = c.read<uint32_t>("version");
    if (version == 2 || version == 3) return version;
    if (version == 1) {
        c.fail(at, "version", "GGUF v1 (32-bit counts, before August 2023) is not supported; spool reads v2 and v3. "
                              "Re-convert the model with a current llama.cpp");
    }
    const uint32_t swapped = __builtin_bswap32(version);
    if (swapped >= 1 && swapped <= 3) {
        c.fail(at, "version", "big-endian GGUF is not supported (the version bytes " + hex_bytes(c.here() - 4, 4) +
                                  " are version " + std::to_string(swapped) +
                                  " byte-swapped); convert the model to a little-endian GGUF");
    }
    c.fail(at, "version", "unsupported GGUF version " + std::to_string(version) + "; spool reads versions 2 and 3");
}

uint64_t read_count(ByteCursor& c, const char* field, uint64_t min_bytes_each) {
    const size_t at = c.offset();
    const auto count = c.read<uint64_t>(field);
    if (count > c.remaining() / min_bytes_each) {
        c.fail(at, field,
               std::to_string(count) + " entries need at least " + std::to_string(min_bytes_each) +
                   " bytes each, but only " + std::to_string(c.remaining()) + " bytes remain in the file");
    }
    return count;
}

uint64_t check_alignment(ByteCursor& c, const Value& v, uint64_t at) {
    if (v.type() != ValueType::UINT32) {
        c.fail(at, "general.alignment",
               "must be uint32, got " + std::string(value_type_name(v.type())) + " " + v.to_display(4));
    }
    const uint64_t a = v.as_u64();
    if (a == 0 || (a & (a - 1)) != 0) {
        c.fail(at, "general.alignment", "must be a nonzero power of two, got " + std::to_string(a));
    }
    return a;
}

void read_metadata(ByteCursor& c, uint64_t n_kv, const ReadLimits& limits, ParsedPart& part) {
    part.metadata.reserve(static_cast<size_t>(n_kv));
    part.metadata_offsets.reserve(static_cast<size_t>(n_kv));
    std::unordered_map<std::string_view, uint64_t> seen;  // views into the file bytes: stable
    seen.reserve(static_cast<size_t>(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
        const size_t key_at = c.offset();
        const std::string key_field = "metadata key #" + std::to_string(i);
        const std::string_view key = c.read_string_view(key_field, limits.max_string_bytes);
        if (key.empty()) c.fail(key_at, key_field, "empty key");
        const std::string field = printable(key);
        if (auto [it, inserted] = seen.emplace(key, key_at); !inserted) {
            c.fail(key_at, field, "duplicate key (first defined at offset " + std::to_string(it->second) + ")");
        }
        const ValueType type = read_value_type(c, field);
        const size_t value_at = c.offset();
        Value value = read_value(c, type, field, limits);
        if (key == "general.alignment") part.alignment = check_alignment(c, value, value_at);
        part.metadata.emplace_back(std::string(key), std::move(value));
        part.metadata_offsets.push_back(value_at);
    }
}

// Field offsets of one tensor info, for messages raised after all infos are read.
struct TensorFieldOffsets {
    uint64_t info;
    uint64_t offset;
};

TensorInfo read_tensor_info(ByteCursor& c, uint64_t index, const ReadLimits& limits,
                            std::unordered_map<std::string_view, uint64_t>& seen, TensorFieldOffsets& at) {
    TensorInfo t{};
    at.info = c.offset();
    const std::string index_field = "tensor #" + std::to_string(index) + " name";
    const std::string_view name = c.read_string_view(index_field, limits.max_string_bytes);
    if (name.empty()) c.fail(at.info, index_field, "empty tensor name");
    const std::string prefix = "tensor '" + printable(name) + "' ";
    if (auto [it, inserted] = seen.emplace(name, index); !inserted) {
        c.fail(at.info, prefix + "name", "duplicate tensor name (first is tensor #" + std::to_string(it->second) + ")");
    }
    t.name = std::string(name);

    const size_t dims_at = c.offset();
    const auto n_dims = c.read<uint32_t>(prefix + "n_dims");
    if (n_dims == 0 || n_dims > kMaxDims) {
        c.fail(dims_at, prefix + "n_dims", "expected 1 to 4 dimensions, got " + std::to_string(n_dims));
    }
    t.ne.resize(n_dims);
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
        const size_t ne_at = c.offset();
        const std::string ne_field = prefix + "ne[" + std::to_string(d) + "]";
        const auto ne = c.read<uint64_t>(ne_field);
        if (ne == 0 || ne > static_cast<uint64_t>(INT64_MAX)) {
            c.fail(ne_at, ne_field, "dimension must be positive, got " + std::to_string(static_cast<int64_t>(ne)));
        }
        if (!checked_mul(n_elements, ne, n_elements) || n_elements > static_cast<uint64_t>(INT64_MAX)) {
            c.fail(ne_at, ne_field, "element count overflows 63 bits");
        }
        t.ne[d] = static_cast<int64_t>(ne);
    }
    t.n_elements = n_elements;

    const size_t type_at = c.offset();
    const auto type_id = c.read<uint32_t>(prefix + "type");
    const TypeInfo* info = find_type_info(type_id);
    if (info == nullptr) {
        c.fail(type_at, prefix + "type", "unknown ggml type id " + std::to_string(type_id));
    }
    t.type = info->type;
    if (t.ne[0] % info->block_size != 0) {
        c.fail(dims_at + 4, prefix + "ne[0]",
               "row length " + std::to_string(t.ne[0]) + " is not a multiple of the " + std::string(info->name) +
                   " block size " + std::to_string(info->block_size));
    }
    const uint64_t blocks_per_row = static_cast<uint64_t>(t.ne[0] / info->block_size);
    uint64_t row_bytes = 0;
    if (!checked_mul(blocks_per_row, info->block_bytes, row_bytes) ||
        !checked_mul(row_bytes, n_elements / static_cast<uint64_t>(t.ne[0]), t.n_bytes)) {
        c.fail(type_at, prefix + "type", "byte size of the tensor overflows 64 bits");
    }

    at.offset = c.offset();
    t.offset = c.read<uint64_t>(prefix + "offset");
    return t;
}

void place_tensors(ByteCursor& c, const uint8_t* bytes, size_t size, size_t header_end, ParsedPart& part,
                   const std::vector<TensorFieldOffsets>& at) {
    if (!checked_align_up(header_end, part.alignment, part.data_offset)) {
        c.fail(header_end, "data section", "start offset overflows when aligned to " + std::to_string(part.alignment));
    }
    if (part.tensors.empty()) return;  // a vocab-only file may end without padding or data
    if (part.data_offset > size) {
        c.fail(header_end, "data section",
               "starts at offset " + std::to_string(part.data_offset) + " (header end padded to alignment " +
                   std::to_string(part.alignment) + ") but the file has only " + std::to_string(size) +
                   " bytes (truncated file)");
    }
    const uint64_t data_size = size - part.data_offset;
    for (size_t i = 0; i < part.tensors.size(); ++i) {
        TensorInfo& t = part.tensors[i];
        const std::string field = "tensor '" + printable(t.name) + "' offset";
        if (t.offset % part.alignment != 0) {
            c.fail(at[i].offset, field,
                   "offset " + std::to_string(t.offset) + " is not a multiple of general.alignment " +
                       std::to_string(part.alignment));
        }
        uint64_t end = 0;
        if (!checked_add(t.offset, t.n_bytes, end) || end > data_size) {
            c.fail(at[i].offset, field,
                   "data [" + std::to_string(t.offset) + ", " + std::to_string(t.offset) + " + " +
                       std::to_string(t.n_bytes) + ") lies outside the data section of " + std::to_string(data_size) +
                       " bytes (truncated file or bad offset)");
        }
        t.data = bytes + part.data_offset + t.offset;
    }
    std::vector<size_t> order(part.tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return part.tensors[a].offset < part.tensors[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
        const TensorInfo& prev = part.tensors[order[k - 1]];
        const TensorInfo& cur = part.tensors[order[k]];
        if (prev.offset + prev.n_bytes > cur.offset) {
            c.fail(at[order[k]].offset, "tensor '" + printable(cur.name) + "' offset",
                   "data at " + std::to_string(cur.offset) + " overlaps tensor '" + printable(prev.name) + "' at [" +
                       std::to_string(prev.offset) + ", " + std::to_string(prev.offset + prev.n_bytes) + ")");
        }
    }
}

}  // namespace

ParsedPart parse_part(const uint8_t* bytes, size_t size, const std::string& name, const ReadLimits& limits,
                      uint32_t split_index) {
    ByteCursor c(bytes, size, name);
    ParsedPart part;
    check_magic(c);
    part.version = check_version(c);
    // Read both counts before checking, so each check can reserve the other's minimum bytes.
    const size_t tensors_at = c.offset();
    const auto n_tensors_claimed = c.read<uint64_t>("tensor_count");
    const auto n_kv = read_count(c, "metadata_kv_count", kMinKvBytes);
    {
        uint64_t kv_min = 0;
        checked_mul(n_kv, kMinKvBytes, kv_min);  // cannot overflow: n_kv * kMinKvBytes <= remaining
        const uint64_t left = c.remaining() - kv_min;
        if (n_tensors_claimed > left / kMinTensorInfoBytes) {
            c.fail(tensors_at, "tensor_count",
                   std::to_string(n_tensors_claimed) + " tensor infos need at least " +
                       std::to_string(kMinTensorInfoBytes) + " bytes each, but only " + std::to_string(left) +
                       " bytes remain after the metadata's minimum");
        }
    }
    read_metadata(c, n_kv, limits, part);

    std::vector<TensorFieldOffsets> at(static_cast<size_t>(n_tensors_claimed));
    part.tensors.reserve(static_cast<size_t>(n_tensors_claimed));
    std::unordered_map<std::string_view, uint64_t> seen;
    seen.reserve(static_cast<size_t>(n_tensors_claimed));
    for (uint64_t i = 0; i < n_tensors_claimed; ++i) {
        part.tensors.push_back(read_tensor_info(c, i, limits, seen, at[static_cast<size_t>(i)]));
        part.tensors.back().split = split_index;
    }
    place_tensors(c, bytes, size, c.offset(), part, at);
    return part;
}

}  // namespace spool::gguf
