// Writes GGUF v3 files: metadata, tensor infos, and tensor data padded to general.alignment.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "gguf/value.h"
#include "quant/types.h"

namespace spool::gguf {

class GgufWriter {
public:
    explicit GgufWriter(uint64_t alignment = 32);

    // Keys keep insertion order; setting an existing key replaces its value in place.
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
    void write_impl(const std::filesystem::path& path, const FillFn& fill) const;

    uint64_t alignment_;
    std::vector<std::pair<std::string, Value>> metadata_;
    std::vector<PlannedTensor> tensors_;
};

}  // namespace spool::gguf
