// Bounded little-endian reads over one byte range (internal to the GGUF reader). Every read checks the
// bytes left first and throws FormatError naming the file, the offset and the field, so no read passes the end.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "spool/errors.h"

namespace spool::gguf {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

// a * b and a + b, or false where the result does not fit in 64 bits.
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t& out) noexcept { return !__builtin_mul_overflow(a, b, &out); }
inline bool checked_add(uint64_t a, uint64_t b, uint64_t& out) noexcept { return !__builtin_add_overflow(a, b, &out); }
// x rounded up to a multiple of `alignment` (a power of two), or false on overflow.
inline bool checked_align_up(uint64_t x, uint64_t alignment, uint64_t& out) noexcept {
    uint64_t sum;
    if (!checked_add(x, alignment - 1, sum)) return false;
    out = sum & ~(alignment - 1);
    return true;
}

class ByteCursor {
public:
    ByteCursor(const uint8_t* data, size_t size, const std::string& file) noexcept
        : data_(data), size_(size), file_(file) {}

    size_t offset() const noexcept { return pos_; }
    size_t remaining() const noexcept { return size_ - pos_; }
    const uint8_t* here() const noexcept { return data_ + pos_; }
    const std::string& file() const noexcept { return file_; }

    [[noreturn]] void fail(uint64_t at, std::string_view field, const std::string& problem) const {
        throw FormatError(file_, at, std::string(field), problem);
    }

    // Throws unless n more bytes are present; the message says how many are left (a truncated file).
    void require(uint64_t n, std::string_view field) const {
        if (n > remaining()) {
            fail(pos_, field, "needs " + std::to_string(n) + " bytes but only " + std::to_string(remaining()) +
                                  " remain in the file (truncated or corrupt file)");
        }
    }

    template <class T>
    T read(std::string_view field) {
        static_assert(std::is_trivially_copyable_v<T>);
        require(sizeof(T), field);
        T v;
        std::memcpy(&v, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    // Copies n bytes out after the bounds check (n already validated by the caller or checked here).
    void read_into(void* dst, uint64_t n, std::string_view field) {
        require(n, field);
        if (n != 0) std::memcpy(dst, data_ + pos_, static_cast<size_t>(n));
        pos_ += static_cast<size_t>(n);
    }

    // A gguf_string: uint64 length, then that many bytes (not NUL-terminated).
    std::string_view read_string_view(std::string_view field, uint64_t max_bytes) {
        const size_t at = pos_;
        const auto len = read<uint64_t>(field);
        if (len > remaining()) {
            fail(at, field, "string length " + std::to_string(len) + " exceeds the " + std::to_string(remaining()) +
                                " bytes left in the file");
        }
        if (len > max_bytes) {
            fail(at, field, "string length " + std::to_string(len) + " exceeds the limit of " +
                                std::to_string(max_bytes) + " bytes (ReadLimits::max_string_bytes)");
        }
        std::string_view s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
        pos_ += static_cast<size_t>(len);
        return s;
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    const std::string& file_;
};

}  // namespace spool::gguf
