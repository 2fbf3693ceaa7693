// Writes GGUF v3 files: metadata, tensor infos, and tensor data padded to general.alignment.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "gguf/value.h"
#include "quant/types.h"

namespace spool::gguf {

class GgufWriter {
public:
    // Throws UsageError unless alignment is a power of two that fits uint32. A value other than 32 is
    // recorded as general.alignment.
    explicit GgufWriter(uint64_t alignment = 32);

    // Keys keep insertion order; setting an existing key replaces its value in place.
    // general.alignment must be a uint32 power of two (UsageError otherwise) and changes the alignment.
    void set(const std::string& key, Value value);
    // Declares a tensor; its bytes are supplied at write time by the callback, in declaration order.
    // Throws UsageError on a duplicate name, 0 or >4 dims, or ne[0] not a multiple of the type's block size.
    void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne);
    size_t n_tensors() const noexcept;

    // Writes atomically (to path + ".tmp", then renamed). fill(i, dst, n_bytes) writes tensor i's bytes.
    // Throws SystemError on I/O failure.
    template <class Fill>
    void write(const std::filesystem::path& path, Fill&& fill) const {
        write_impl(path, [&](size_t i, uint8_t* dst, size_t n) { fill(i, dst, n); });
    }

    // The same bytes write() would put in the file, in memory (tests, fuzz seeds). Throws UsageError.
    template <class Fill>
    std::vector<uint8_t> to_bytes(Fill&& fill) const {
        std::vector<uint8_t> out;
        emit([&](const uint8_t* p, size_t n) { out.insert(out.end(), p, p + n); },
             [&](size_t i, uint8_t* dst, size_t n) { fill(i, dst, n); });
        return out;
    }

    uint64_t alignment() const noexcept { return alignment_; }
    const std::vector<std::pair<std::string, Value>>& metadata() const noexcept { return metadata_; }

    struct PlannedTensor {
        std::string name;
        GgmlType type;
        std::vector<int64_t> ne;
        uint64_t n_bytes;
        uint64_t offset;  // in the data section
    };
    const std::vector<PlannedTensor>& tensors() const noexcept { return tensors_; }

private:
    using FillFn = std::function<void(size_t, uint8_t*, size_t)>;
    using SinkFn = std::function<void(const uint8_t*, size_t)>;
    void write_impl(const std::filesystem::path& path, const FillFn& fill) const;
    void emit(const SinkFn& sink, const FillFn& fill) const;  // header, then each tensor padded
    void replan();  // recomputes tensor offsets after a tensor or the alignment changes
    std::vector<uint8_t> header_bytes() const;  // up to the data section, padded to the alignment

    uint64_t alignment_;
    std::vector<std::pair<std::string, Value>> metadata_;
    std::vector<PlannedTensor> tensors_;
};

}  // namespace spool::gguf
