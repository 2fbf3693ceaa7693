// Memory-read bandwidth: each thread sums its slice of one buffer with independent accumulators (so the loads,
// not an add chain, set the pace); the sum is kept so the compiler cannot drop the reads.
#include "bench/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "bench/machine.h"
#include "spool/errors.h"

namespace spool::bench {
namespace {

uint64_t sum_words(const uint64_t* p, size_t n) {
    uint64_t a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a += p[i]; b += p[i + 1]; c += p[i + 2]; d += p[i + 3];
        e += p[i + 4]; f += p[i + 5]; g += p[i + 6]; h += p[i + 7];
    }
    for (; i < n; ++i) a += p[i];
    return a + b + c + d + e + f + g + h;
}

}  // namespace

BandwidthResult measure_read_bandwidth(uint64_t bytes, int passes, size_t n_threads) {
    if (passes < 1) throw UsageError("the bandwidth probe needs at least one pass, got " + std::to_string(passes));
    bytes = std::max<uint64_t>(bytes, 1ull << 20) / 64 * 64;
    if (n_threads == 0) n_threads = logical_cpus();
    const size_t n_words = bytes / sizeof(uint64_t);
    std::unique_ptr<uint64_t[]> buf(new (std::nothrow) uint64_t[n_words]);
    if (!buf) {
        throw ResourceError("bandwidth probe: cannot allocate " + std::to_string(bytes) +
                                " bytes; pass --bandwidth-gbs instead",
                            bytes, 0);
    }
    // Write every page first, so the passes read memory rather than fault in zero pages.
    for (size_t i = 0; i < n_words; ++i) buf[i] = i * 0x9e3779b97f4a7c15ull;

    BandwidthResult r;
    r.bytes = n_words * sizeof(uint64_t);
    r.passes = passes;
    r.n_threads = n_threads;
    std::vector<uint64_t> sums(n_threads, 0);
    double total = 0;
    for (int pass = 0; pass < passes; ++pass) {
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> threads;
        const size_t per = n_words / n_threads;
        for (size_t t = 0; t < n_threads; ++t) {
            const size_t begin = t * per;
            const size_t end = t + 1 == n_threads ? n_words : begin + per;
            threads.emplace_back([&, t, begin, end] { sums[t] += sum_words(buf.get() + begin, end - begin); });
        }
        for (auto& th : threads) th.join();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double gbs = static_cast<double>(r.bytes) / s / 1e9;
        r.gb_per_s = std::max(r.gb_per_s, gbs);
        total += gbs;
    }
    r.mean_gb_per_s = total / passes;
    // Publish the sums through a volatile sink: the reads above have an observable effect.
    volatile uint64_t sink = 0;
    for (const uint64_t s : sums) sink = sink + s;
    return r;
}

}  // namespace spool::bench
