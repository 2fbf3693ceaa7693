// ThreadPool: workers sleep on a condition variable until a loop is posted, then pull chunk indices
// from one atomic counter, so uneven chunks balance themselves without a scheduler.
#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "spool/errors.h"

namespace spool {

struct ThreadPool::State {
    std::mutex mutex;
    std::condition_variable wake;      // workers: a new loop was posted, or stop
    std::condition_variable finished;  // caller: the last worker left the loop
    uint64_t generation = 0;           // bumped for every posted loop
    bool stop = false;
    size_t busy_workers = 0;

    // The loop being run; valid while generation is current and busy_workers > 0.
    const std::function<void(int64_t, int64_t)>* body = nullptr;
    int64_t n = 0;
    int64_t grain = 1;
    std::atomic<int64_t> next_chunk{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;  // guarded by mutex

    std::vector<std::thread> workers;

    // Runs chunks until none are left or a body has thrown.
    void run_chunks() {
        const int64_t n_chunks = (n + grain - 1) / grain;
        while (!failed.load(std::memory_order_relaxed)) {
            const int64_t chunk = next_chunk.fetch_add(1, std::memory_order_relaxed);
            if (chunk >= n_chunks) return;
            const int64_t begin = chunk * grain;
            const int64_t end = std::min(n, begin + grain);
            try {
                (*body)(begin, end);
            } catch (...) {
                std::lock_guard lock(mutex);
                if (!error) error = std::current_exception();
                failed.store(true, std::memory_order_relaxed);
            }
        }
    }

    void worker_main() {
        uint64_t seen = 0;
        std::unique_lock lock(mutex);
        for (;;) {
            wake.wait(lock, [&] { return stop || generation != seen; });
            if (stop) return;
            seen = generation;
            lock.unlock();
            run_chunks();
            lock.lock();
            if (--busy_workers == 0) finished.notify_one();
        }
    }
};

ThreadPool::ThreadPool(size_t n_threads) : state_(std::make_unique<State>()) {
    if (n_threads == 0) n_threads = hardware_threads();
    state_->workers.reserve(n_threads - 1);
    try {
        for (size_t i = 1; i < n_threads; ++i) {
            state_->workers.emplace_back([s = state_.get()] { s->worker_main(); });
        }
    } catch (const std::system_error& e) {
        {
            std::lock_guard lock(state_->mutex);
            state_->stop = true;
        }
        state_->wake.notify_all();
        for (std::thread& t : state_->workers) t.join();
        throw SystemError("cannot start worker thread " + std::to_string(state_->workers.size() + 1) + " of " +
                          std::to_string(n_threads) + ": " + e.what() + "; try fewer threads (-t)");
    }
}

ThreadPool::ThreadPool(ThreadPool&&) noexcept = default;
ThreadPool& ThreadPool::operator=(ThreadPool&&) noexcept = default;

ThreadPool::~ThreadPool() {
    if (!state_) return;  // moved from
    {
        std::lock_guard lock(state_->mutex);
        state_->stop = true;
    }
    state_->wake.notify_all();
    for (std::thread& t : state_->workers) t.join();
}

size_t ThreadPool::size() const noexcept { return state_->workers.size() + 1; }

size_t ThreadPool::hardware_threads() noexcept { return std::max(1u, std::thread::hardware_concurrency()); }

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    State& s = *state_;
    const bool use_workers = !s.workers.empty() && n > grain;
    {
        std::lock_guard lock(s.mutex);
        s.body = &body;
        s.n = n;
        s.grain = grain;
        s.next_chunk.store(0, std::memory_order_relaxed);
        s.failed.store(false, std::memory_order_relaxed);
        s.error = nullptr;
        if (use_workers) {
            s.busy_workers = s.workers.size();
            ++s.generation;
        }
    }
    if (use_workers) s.wake.notify_all();
    s.run_chunks();
    std::unique_lock lock(s.mutex);
    if (use_workers) s.finished.wait(lock, [&] { return s.busy_workers == 0; });
    s.body = nullptr;
    if (s.error) {
        std::exception_ptr error = s.error;
        s.error = nullptr;
        std::rethrow_exception(error);
    }
}

}  // namespace spool
