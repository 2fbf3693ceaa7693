// ThreadPool: every index is visited exactly once, exceptions come back, and the pool is reusable.
#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace spool {
namespace {

TEST(ThreadPool, VisitsEveryIndexOnceForOddSizesAndGrains) {
    for (size_t threads : {1u, 2u, 5u}) {
        ThreadPool pool(threads);
        EXPECT_EQ(pool.size(), threads);
        for (int64_t n : {1, 3, 17, 1000, 4097}) {
            for (int64_t grain : {0, 1, 7, 64, 5000}) {
                std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
                pool.parallel_for(n, grain, [&](int64_t begin, int64_t end) {
                    ASSERT_LT(begin, end);
                    ASSERT_LE(end - begin, std::max<int64_t>(grain, 1));
                    for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)]++;
                });
                for (int64_t i = 0; i < n; ++i) {
                    ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1)
                        << "threads " << threads << " n " << n << " grain " << grain << " index " << i;
                }
            }
        }
    }
}

TEST(ThreadPool, EmptyRangeCallsNothing) {
    ThreadPool pool(3);
    bool called = false;
    pool.parallel_for(0, 4, [&](int64_t, int64_t) { called = true; });
    pool.parallel_for(-5, 4, [&](int64_t, int64_t) { called = true; });
    EXPECT_FALSE(called);
}

TEST(ThreadPool, UsesMoreThanOneThread) {
    ThreadPool pool(4);
    std::mutex mutex;
    std::vector<std::thread::id> ids;
    std::atomic<int> arrived{0};
    // Each chunk waits (bounded) until a second chunk runs, which only happens on another thread.
    pool.parallel_for(4, 1, [&](int64_t, int64_t) {
        {
            std::lock_guard lock(mutex);
            ids.push_back(std::this_thread::get_id());
        }
        arrived++;
        for (int i = 0; i < 2000 && arrived.load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    std::sort(ids.begin(), ids.end());
    EXPECT_GT(std::unique(ids.begin(), ids.end()) - ids.begin(), 1);
}

TEST(ThreadPool, RethrowsTheBodysExceptionAndStaysUsable) {
    ThreadPool pool(3);
    EXPECT_THROW(pool.parallel_for(100, 1,
                                   [](int64_t begin, int64_t) {
                                       if (begin == 37) throw std::runtime_error("chunk 37 failed");
                                   }),
                 std::runtime_error);
    std::atomic<int64_t> sum{0};
    pool.parallel_for(100, 3, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) sum += i;
    });
    EXPECT_EQ(sum.load(), 4950);
}

TEST(ThreadPool, ZeroMeansHardwareThreadsAndMoveKeepsWorkers) {
    ThreadPool a(0);
    EXPECT_EQ(a.size(), ThreadPool::hardware_threads());
    ThreadPool b(std::move(a));
    std::atomic<int> count{0};
    b.parallel_for(10, 1, [&](int64_t, int64_t) { count++; });
    EXPECT_EQ(count.load(), 10);
}

// Back-to-back loops meet workers that are still polling; loops after an idle pause meet sleeping ones. Both
// must run every chunk exactly once (a lost wake-up would hang here), with the pool within and beyond the
// machine's thread count (the latter never polls).
TEST(ThreadPool, ShortLoopsBackToBackAndAfterIdlePausesAllComplete) {
    for (size_t threads : {size_t{2}, ThreadPool::hardware_threads() + 2}) {
        ThreadPool pool(threads);
        for (int pause = 0; pause < 6; ++pause) {
            int64_t total = 0;
            for (int loop = 0; loop < 2000; ++loop) {
                std::atomic<int64_t> sum{0};
                pool.parallel_for(8, 1, [&](int64_t begin, int64_t) { sum += begin + 1; });
                total += sum.load();
            }
            ASSERT_EQ(total, 2000 * 36) << "threads " << threads << " pause " << pause;
            std::this_thread::sleep_for(std::chrono::milliseconds(pause % 2 == 0 ? 0 : 3));
        }
    }
}

}  // namespace
}  // namespace spool
