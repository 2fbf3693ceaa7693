// A fixed pool of worker threads running one data-parallel loop at a time (parallel_for over chunks).
// The calling thread works too, so ThreadPool(1) runs everything inline with no extra thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace spool {

class ThreadPool {
public:
    // n_threads counts the caller; 0 means one per hardware thread. Throws SystemError if a thread cannot start.
    explicit ThreadPool(size_t n_threads = 0);
    ThreadPool(ThreadPool&&) noexcept;
    ThreadPool& operator=(ThreadPool&&) noexcept;
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;
    ~ThreadPool();  // joins the workers

    size_t size() const noexcept;  // threads that run work, the caller included

    // Calls body(begin, end) on consecutive chunks [begin, end) of [0, n), each at most `grain` long
    // (grain < 1 counts as 1), spread over the threads; returns when every chunk is done.
    // Chunks are taken in increasing order, but run concurrently and finish in any order.
    // If a body throws, no new chunks start and the first exception is rethrown here.
    // Precondition: not called from inside a body (the pool runs one loop at a time).
    void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& body);

    static size_t hardware_threads() noexcept;  // std::thread::hardware_concurrency, at least 1

private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace spool
