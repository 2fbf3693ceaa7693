// ThreadPool: workers pull chunk indices from one atomic counter, so uneven chunks balance themselves without a
// scheduler. Between loops a worker first spins on the loop counter for a short while and only then sleeps on a
// condition variable: a decode step posts a few hundred short loops per token, and waking a sleeping thread
// (a futex wake, an inter-processor interrupt, on virtual machines a hypervisor exit) costs tens of microseconds
// each time, which is what the spin saves. Pools with more threads than the machine has never spin: there a
// spinning thread would hold the core a working one needs.
#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "spool/errors.h"

namespace spool {
namespace {

// How long an idle thread polls before it sleeps: longer than the serial work between two loops of a decode
// step (norms, sampling: well under a millisecond), short enough that an idle program stops using the CPU at once.
constexpr auto kSpinTime = std::chrono::microseconds(500);

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

// Polls `done` until it holds or the spin time has passed; true if it holds.
template <class Done>
bool spin_until(const Done& done) {
    const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
    for (unsigned i = 1;; ++i) {
        if (done()) return true;
        cpu_relax();
        if (i % 64 == 0 && std::chrono::steady_clock::now() >= deadline) return done();
    }
}

}  // namespace

struct ThreadPool::State {
    std::mutex mutex;                  // guards sleeping and waking, and `error`
    std::condition_variable wake;      // workers: a new loop was posted, or stop
    std::condition_variable finished;  // caller: the last worker left the loop
    std::atomic<uint64_t> generation{0};  // bumped (release) once a loop's fields are set
    std::atomic<bool> stop{false};
    std::atomic<size_t> busy_workers{0};
    bool spin = true;  // false when the pool has more threads than the machine

    // The loop being run; written before `generation` is bumped, read after it is seen.
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
        const auto posted = [&] {
            return stop.load(std::memory_order_acquire) || generation.load(std::memory_order_acquire) != seen;
        };
        for (;;) {
            if (!spin || !spin_until(posted)) {
                std::unique_lock lock(mutex);
                wake.wait(lock, posted);
            }
            if (stop.load(std::memory_order_acquire)) return;
            seen = generation.load(std::memory_order_acquire);
            run_chunks();
            if (busy_workers.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                // The caller may be asleep on `finished`; taking the mutex orders this notify after its check.
                { std::lock_guard lock(mutex); }
                finished.notify_one();
            }
        }
    }
};

ThreadPool::ThreadPool(size_t n_threads) : state_(std::make_unique<State>()) {
    if (n_threads == 0) n_threads = hardware_threads();
    state_->spin = n_threads <= hardware_threads();
    state_->workers.reserve(n_threads - 1);
    try {
        for (size_t i = 1; i < n_threads; ++i) {
            state_->workers.emplace_back([s = state_.get()] { s->worker_main(); });
        }
    } catch (const std::system_error& e) {
        {
            std::lock_guard lock(state_->mutex);
            state_->stop.store(true, std::memory_order_release);
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
        state_->stop.store(true, std::memory_order_release);
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
    // No worker is inside a loop here (the previous call waited for all of them), so the fields can be set.
    s.body = &body;
    s.n = n;
    s.grain = grain;
    s.next_chunk.store(0, std::memory_order_relaxed);
    s.failed.store(false, std::memory_order_relaxed);
    if (use_workers) {
        s.busy_workers.store(s.workers.size(), std::memory_order_relaxed);
        {
            // Bumped under the mutex so that a worker between its check and its sleep cannot miss it.
            std::lock_guard lock(s.mutex);
            s.generation.fetch_add(1, std::memory_order_release);
        }
        s.wake.notify_all();
    }
    s.run_chunks();
    if (use_workers) {
        const auto all_done = [&] { return s.busy_workers.load(std::memory_order_acquire) == 0; };
        if (!s.spin || !spin_until(all_done)) {
            std::unique_lock lock(s.mutex);
            s.finished.wait(lock, all_done);
        }
    }
    s.body = nullptr;
    // A body that threw set `failed` after storing its exception, and every worker has left the loop (acquire on
    // busy_workers above), so the mutex is needed only then, not on every loop.
    if (s.failed.load(std::memory_order_relaxed)) {
        std::exception_ptr error;
        {
            std::lock_guard lock(s.mutex);
            error = std::exchange(s.error, nullptr);
        }
        std::rethrow_exception(error);
    }
}

}  // namespace spool
