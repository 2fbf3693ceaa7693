// Facts about the machine and process that a benchmark record needs: CPU model, core count, peak resident
// memory (VmHWM), whether a file's pages are in the page cache (mincore), dropping them (posix_fadvise), and
// the UTC time. Linux only; each function says what it returns where /proc is missing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace spool::bench {

// "model name" of the first processor in /proc/cpuinfo; "unknown CPU" when absent.
std::string cpu_model();
// Online logical CPUs (sysconf), at least 1.
unsigned logical_cpus();
// "Linux 6.1.0-... x86_64" from uname(2).
std::string os_description();

// A "Key:   123 kB" line of /proc/<pid>/status text, in bytes; nullopt when the key is absent or malformed.
std::optional<uint64_t> parse_status_kib(std::string_view status_text, std::string_view key);
// This process's peak resident set (VmHWM) and current one (VmRSS), in bytes; 0 when /proc is unreadable.
uint64_t peak_rss_bytes();
uint64_t current_rss_bytes();

struct Residency {
    uint64_t pages = 0;
    uint64_t resident = 0;  // pages in the page cache
    double fraction() const noexcept { return pages == 0 ? 0.0 : static_cast<double>(resident) / pages; }
};
// How much of `path` is in the page cache now: maps it read-only and asks mincore(2) (the map itself touches
// no page). Throws SystemError when the file cannot be opened or mapped.
Residency page_residency(const std::filesystem::path& path);
// Asks the kernel to drop the file's clean cached pages (posix_fadvise POSIX_FADV_DONTNEED; no root needed).
// Pages another process keeps mapped may stay. Throws SystemError when the file cannot be opened or the call fails.
void drop_page_cache(const std::filesystem::path& path);

// "2026-11-22T04:50:12Z": ISO 8601, UTC, whole seconds.
std::string utc_timestamp();

}  // namespace spool::bench
