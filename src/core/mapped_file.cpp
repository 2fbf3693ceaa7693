// MappedFile on POSIX: open + fstat + mmap(PROT_READ, MAP_PRIVATE); the descriptor is closed once mapped
// because the mapping keeps the file alive.
#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "spool/errors.h"

namespace spool {
namespace {

[[noreturn]] void throw_errno(const char* call, const std::filesystem::path& path, int err) {
    throw SystemError(std::string(call) + " failed for '" + path.string() + "': " + std::strerror(err));
}

// Closes the descriptor on every path out of the constructor.
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
};

int to_madvise(MapAdvice advice) noexcept {
    switch (advice) {
        case MapAdvice::sequential: return MADV_SEQUENTIAL;
        case MapAdvice::random: return MADV_RANDOM;
        case MapAdvice::will_need: return MADV_WILLNEED;
        case MapAdvice::dont_need: return MADV_DONTNEED;
        case MapAdvice::normal: break;
    }
    return MADV_NORMAL;
}

}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
    FdGuard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0) throw_errno("open", path, errno);
    struct stat st {};
    if (::fstat(fd.fd, &st) != 0) throw_errno("fstat", path, errno);
    if (!S_ISREG(st.st_mode)) {
        throw SystemError("cannot map '" + path.string() + "': not a regular file (a directory or device?)");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) return;  // mmap rejects length 0; an empty map is still a valid (empty) file
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd.fd, 0);
    if (p == MAP_FAILED) {
        size_ = 0;
        throw_errno("mmap", path, errno);
    }
    data_ = static_cast<const uint8_t*>(p);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        release();
        path_ = std::move(other.path_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

MappedFile::~MappedFile() { release(); }

void MappedFile::release() noexcept {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
}

bool MappedFile::advise(MapAdvice advice, size_t offset, size_t length) const noexcept {
    if (data_ == nullptr || offset >= size_) return false;
    const size_t end = length > size_ - offset ? size_ : offset + length;
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t begin = offset / page * page;  // madvise needs a page-aligned start
    return ::madvise(const_cast<uint8_t*>(data_) + begin, end - begin, to_madvise(advice)) == 0;
}

}  // namespace spool
