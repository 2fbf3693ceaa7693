// Machine and process facts from /proc, uname, mincore and posix_fadvise.
#include "bench/machine.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/mapped_file.h"
#include "spool/errors.h"

namespace spool::bench {
namespace {

std::string read_all(const char* path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string trim(std::string_view s) {
    const size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return {};
    const size_t e = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(b, e - b + 1));
}

}  // namespace

std::string cpu_model() {
    std::istringstream in(read_all("/proc/cpuinfo"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos) return trim(std::string_view(line).substr(colon + 1));
        }
    }
    return "unknown CPU";
}

unsigned logical_cpus() {
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<unsigned>(n) : 1u;
}

std::string os_description() {
    utsname u{};
    if (::uname(&u) != 0) return "unknown OS";
    return std::string(u.sysname) + " " + u.release + " " + u.machine;
}

std::optional<uint64_t> parse_status_kib(std::string_view status_text, std::string_view key) {
    size_t pos = 0;
    while (pos < status_text.size()) {
        size_t end = status_text.find('\n', pos);
        if (end == std::string_view::npos) end = status_text.size();
        const std::string_view line = status_text.substr(pos, end - pos);
        pos = end + 1;
        if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':') continue;
        const std::string rest = trim(line.substr(key.size() + 1));
        char* num_end = nullptr;
        errno = 0;
        const unsigned long long v = std::strtoull(rest.c_str(), &num_end, 10);
        if (num_end == rest.c_str() || errno != 0) return std::nullopt;
        if (trim(num_end) != "kB") return std::nullopt;
        return static_cast<uint64_t>(v) * 1024;
    }
    return std::nullopt;
}

uint64_t peak_rss_bytes() { return parse_status_kib(read_all("/proc/self/status"), "VmHWM").value_or(0); }
uint64_t current_rss_bytes() { return parse_status_kib(read_all("/proc/self/status"), "VmRSS").value_or(0); }

Residency page_residency(const std::filesystem::path& path) {
    const MappedFile map(path);
    Residency r;
    if (map.size() == 0) return r;
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    r.pages = (map.size() + page - 1) / page;
    std::vector<unsigned char> vec(r.pages);
    if (::mincore(const_cast<uint8_t*>(map.data()), map.size(), vec.data()) != 0) {
        throw SystemError("mincore on " + path.string() + " failed: " + std::strerror(errno));
    }
    for (const unsigned char v : vec) r.resident += v & 1u;
    return r;
}

void drop_page_cache(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw SystemError("cannot open " + path.string() + " to drop its cached pages: " + std::strerror(errno));
    const int rc = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);  // returns the error number, not -1
    ::close(fd);
    if (rc != 0) {
        throw SystemError("posix_fadvise(DONTNEED) on " + path.string() + " failed: " + std::strerror(rc));
    }
}

std::string utc_timestamp() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace spool::bench
