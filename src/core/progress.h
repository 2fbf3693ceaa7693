// A one-line progress bar with ETA on stderr, for long tool runs (quantize, synth). It stays silent when
// stderr is not a terminal (logs and pipes get no carriage-return noise) or when the caller asks it to.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace spool {

class Progress {
public:
    enum class Unit { count, bytes };  // how done/total are printed: "12/40" or "1.2/4.0 GiB"

    // enabled = false, or stderr not a terminal, makes every call a no-op. total may be 0.
    Progress(std::string label, uint64_t total, Unit unit = Unit::count, bool enabled = true);
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;
    ~Progress();  // finish()

    // Thread-safe; redraws at most every 100 ms, and only from one thread at a time.
    void add(uint64_t n) noexcept;
    // Draws the final state and ends the line; later calls do nothing.
    void finish() noexcept;
    bool active() const noexcept { return active_; }

    // The text of one line, without "\r": label, bar, percent, done/total, elapsed and ETA.
    // width is the terminal width the line must fit in.
    static std::string format_line(std::string_view label, uint64_t done, uint64_t total, Unit unit,
                                   double elapsed_s, int width);
    static std::string format_duration(double seconds);  // "7s", "3m05s", "2h04m"
    static bool stderr_is_terminal() noexcept;

private:
    void draw() noexcept;

    std::string label_;
    uint64_t total_;
    Unit unit_;
    bool active_;
    bool finished_ = false;
    std::atomic<uint64_t> done_{0};
    std::atomic<int64_t> last_draw_ms_{-1000};
    std::mutex draw_mutex_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace spool
