// Machine facts: /proc/self/status parsing, page-cache residency with mincore, and dropping a file's pages.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <fcntl.h>
#include <unistd.h>

#include "bench/bandwidth.h"
#include "bench/machine.h"
#include "spool/errors.h"

namespace spool::bench {
namespace {

TEST(Machine, ParsesStatusLines) {
    const std::string text = "Name:\tspool\nVmPeak:\t  20000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t  1000 kB\nBad:\t12 MB\n";
    EXPECT_EQ(parse_status_kib(text, "VmHWM"), 1234u * 1024u);
    EXPECT_EQ(parse_status_kib(text, "VmRSS"), 1000u * 1024u);
    EXPECT_FALSE(parse_status_kib(text, "VmSwap"));
    EXPECT_FALSE(parse_status_kib(text, "Bad"));
    EXPECT_FALSE(parse_status_kib(text, "Vm"));  // a prefix of a key is not the key
}

TEST(Machine, ProcessAndMachineFacts) {
    EXPECT_GT(peak_rss_bytes(), 0u);
    EXPECT_GE(peak_rss_bytes(), current_rss_bytes());
    EXPECT_GE(logical_cpus(), 1u);
    EXPECT_FALSE(cpu_model().empty());
    EXPECT_TRUE(std::regex_match(utc_timestamp(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
}

TEST(Machine, ResidencyAfterWriteAndDrop) {
    const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                       ("spool_residency_" + std::to_string(::getpid()) + ".bin");
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    {
        std::ofstream out(path, std::ios::binary);
        const std::string block(page * 16 + 100, 'x');  // 17 pages, the last partial
        out << block;
    }
    const Residency before = page_residency(path);
    EXPECT_EQ(before.pages, 17u);
    EXPECT_LE(before.resident, before.pages);
    {  // DONTNEED drops only clean pages: write them back first
        const int fd = ::open(path.c_str(), O_RDONLY);
        ASSERT_GE(fd, 0);
        ::fsync(fd);
        ::close(fd);
    }
    drop_page_cache(path);
    const Residency after = page_residency(path);
    EXPECT_EQ(after.pages, 17u);
    // Some file systems (tmpfs, overlays) keep pages regardless; the call must still succeed and never add pages.
    EXPECT_LE(after.resident, after.pages);
    std::filesystem::remove(path);
    EXPECT_THROW(page_residency(path), SystemError);
    EXPECT_THROW(drop_page_cache(path), SystemError);
}

TEST(Bandwidth, ProbeGivesAPositiveFiniteNumber) {
    const BandwidthResult r = measure_read_bandwidth(4u << 20, 2, 1);
    EXPECT_GT(r.gb_per_s, 0.0);
    EXPECT_LT(r.gb_per_s, 1e5);
    EXPECT_GE(r.gb_per_s, r.mean_gb_per_s);
    EXPECT_EQ(r.bytes, 4u << 20);
    EXPECT_EQ(r.passes, 2);
    EXPECT_THROW(measure_read_bandwidth(4u << 20, 0, 1), UsageError);
}

}  // namespace
}  // namespace spool::bench
