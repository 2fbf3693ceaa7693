// MappedFile: a whole file mapped read-only into memory (RAII, movable, non-copyable), with madvise hints.
// GGUF weights are used in place from this map; the OS pages them in on first touch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

namespace spool {

// How the caller will read a range; passed to madvise(2) as a hint.
enum class MapAdvice { normal, sequential, random, will_need, dont_need };

class MappedFile {
public:
    MappedFile() noexcept = default;  // empty: size() == 0, data() == nullptr
    // Maps `path` read-only. An empty file gives an empty map (no mmap call).
    // Throws SystemError (with errno's text and the path) if the file cannot be opened, is not a regular
    // file, or cannot be mapped.
    explicit MappedFile(const std::filesystem::path& path);

    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    const uint8_t* data() const noexcept { return data_; }
    size_t size() const noexcept { return size_; }
    std::span<const uint8_t> bytes() const noexcept { return {data_, size_}; }
    const std::filesystem::path& path() const noexcept { return path_; }

    // Hints how [offset, offset + length) will be read; the range is clamped to the file and widened to
    // whole pages. A hint that the OS rejects changes nothing, so this returns false instead of throwing.
    bool advise(MapAdvice advice, size_t offset = 0, size_t length = SIZE_MAX) const noexcept;

private:
    void release() noexcept;

    std::filesystem::path path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace spool
