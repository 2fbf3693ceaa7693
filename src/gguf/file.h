// A validated, memory-mapped GGUF model (v2 or v3), possibly split over NAME-0000i-of-0000N.gguf files.
// Source: the GGUF spec (ggml docs/gguf.md). Every count, length, offset and size is checked against the
// file before use; weights are used in place from the read-only map (zero-copy).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gguf/value.h"
#include "quant/types.h"

namespace spool::gguf {

// Limits that make a hostile file fail fast instead of allocating or recursing without bound.
struct ReadLimits {
    uint32_t max_array_depth = 8;          // nested arrays deeper than this are rejected
    uint64_t max_string_bytes = 1u << 30;  // also bounded by the bytes left in the file
};

struct TensorInfo {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;  // dimensions, ne[0] first (contiguous); 1..4 entries
    uint64_t offset;          // from the start of its file's data section
    uint64_t n_elements;
    uint64_t n_bytes;
    uint32_t split;           // which file of a split model holds it (0 for a single file)
    const uint8_t* data;      // into the read-only map; valid while the GgufFile lives
    int64_t n_rows() const noexcept;  // product of ne[1..]
};

class GgufFile {
public:
    // Opens and validates `path`. A file named NAME-00001-of-0000N.gguf loads all N parts as one model.
    // Throws SystemError (cannot open/map), FormatError (any invalid byte: names file, offset, field).
    static GgufFile open(const std::filesystem::path& path, const ReadLimits& limits = {});
    // Parses an in-memory image (for the fuzzer and tests); `bytes` must outlive the GgufFile.
    static GgufFile parse(const uint8_t* bytes, size_t size, std::string name = "<memory>",
                          const ReadLimits& limits = {});

    GgufFile(GgufFile&&) noexcept;
    GgufFile& operator=(GgufFile&&) noexcept;
    ~GgufFile();

    const std::string& path() const noexcept;  // of the first part
    uint32_t version() const noexcept;
    uint64_t alignment() const noexcept;        // general.alignment, default 32
    uint32_t n_splits() const noexcept;
    uint64_t file_bytes() const noexcept;       // all parts together

    // Metadata in file order (of the first part; split bookkeeping keys "split.*" included).
    const std::vector<std::pair<std::string, Value>>& metadata() const noexcept;
    const Value* find(std::string_view key) const noexcept;
    const Value& at(std::string_view key) const;  // throws FormatError "missing key ..." naming the file
    // Conveniences with defaults for optional keys; a present key of the wrong type still throws.
    std::string get_string(std::string_view key, std::string_view fallback) const;
    uint64_t get_u64(std::string_view key, uint64_t fallback) const;
    double get_f64(std::string_view key, double fallback) const;
    bool get_bool(std::string_view key, bool fallback) const;
    std::string architecture() const;  // general.architecture, or "" when absent

    // Tensors in file order, all parts concatenated.
    const std::vector<TensorInfo>& tensors() const noexcept;
    const TensorInfo* find_tensor(std::string_view name) const noexcept;
    const TensorInfo& tensor(std::string_view name) const;  // throws FormatError naming the missing tensor

private:
    struct Impl;
    explicit GgufFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace spool::gguf
