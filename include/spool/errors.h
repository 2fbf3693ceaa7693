// spool's exception hierarchy: every error that crosses an API boundary derives from spool::Error
// and says what failed, where, expected vs got, and what to do (../shared/ARCHITECTURE.md, "Errors").
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace spool {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A file whose bytes do not describe what they claim. Names the file, the byte offset and the field.
class FormatError : public Error {
public:
    FormatError(std::string file, uint64_t offset, std::string field, const std::string& problem)
        : Error(file + ": " + field + " at offset " + std::to_string(offset) + ": " + problem),
          file_(std::move(file)), offset_(offset), field_(std::move(field)) {}
    const std::string& file() const noexcept { return file_; }
    uint64_t offset() const noexcept { return offset_; }
    const std::string& field() const noexcept { return field_; }

private:
    std::string file_;
    uint64_t offset_;
    std::string field_;
};

// Something valid that spool does not implement (a weight type, an architecture, a tokenizer).
class UnsupportedError : public Error {
public:
    using Error::Error;
};

// Not enough memory (host or device) for what was asked; says how much was needed and what would fit.
class ResourceError : public Error {
public:
    ResourceError(const std::string& message, uint64_t needed_bytes, uint64_t available_bytes)
        : Error(message), needed_(needed_bytes), available_(available_bytes) {}
    uint64_t needed_bytes() const noexcept { return needed_; }
    uint64_t available_bytes() const noexcept { return available_; }

private:
    uint64_t needed_;
    uint64_t available_;
};

// A bad flag, argument or request from the user.
class UsageError : public Error {
public:
    using Error::Error;
};

// An operating-system call that failed (open, mmap, read); carries errno's text.
class SystemError : public Error {
public:
    using Error::Error;
};

}  // namespace spool
