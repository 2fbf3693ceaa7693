// Progress: formats "label [=====>    ]  45%  1.2/2.6 GiB  0:12 left" and redraws it in place with "\r".
#include "core/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace spool {
namespace {

// "12/40", or "0.4/2.6 GiB" with both numbers in the unit that suits the total.
std::string format_amounts(uint64_t done, uint64_t total, Progress::Unit unit) {
    char buf[64];
    if (unit == Progress::Unit::count) {
        std::snprintf(buf, sizeof buf, "%llu/%llu", static_cast<unsigned long long>(done),
                      static_cast<unsigned long long>(total));
        return buf;
    }
    static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    double scale = 1;
    while (u < 4 && static_cast<double>(total) >= scale * 1024) {
        scale *= 1024;
        ++u;
    }
    const char* format = u == 0 ? "%.0f/%.0f %s" : "%.1f/%.1f %s";
    std::snprintf(buf, sizeof buf, format, static_cast<double>(done) / scale, static_cast<double>(total) / scale,
                  kUnits[u]);
    return buf;
}

int terminal_width() noexcept {
    winsize ws{};
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
    return 80;
}

}  // namespace

std::string Progress::format_duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return "?";
    const auto s = static_cast<long long>(std::llround(seconds));
    char buf[32];
    if (s < 60) {
        std::snprintf(buf, sizeof buf, "%llds", s);
    } else if (s < 3600) {
        std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
    }
    return buf;
}

std::string Progress::format_line(std::string_view label, uint64_t done, uint64_t total, Unit unit,
                                  double elapsed_s, int width) {
    done = std::min(done, total);
    const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
    char pct[16];
    std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(fraction * 100.0));

    const std::string amounts = format_amounts(done, total, unit);
    std::string timing;
    if (done >= total) {
        timing = format_duration(elapsed_s);
    } else if (done == 0 || elapsed_s < 0.5) {
        timing = "ETA ?";
    } else {
        timing = "ETA " + format_duration(elapsed_s * (1.0 - fraction) / fraction);
    }
    const std::string tail = "  " + std::string(pct) + "  " + amounts + "  " + timing;

    // The bar takes whatever width is left, between 10 and 40 cells.
    const int fixed = static_cast<int>(label.size() + tail.size()) + 3;  // " [" + "]"
    const int bar_cells = std::clamp(width - 1 - fixed, 10, 40);
    const int filled = static_cast<int>(fraction * bar_cells);
    std::string bar(static_cast<size_t>(bar_cells), ' ');
    std::fill_n(bar.begin(), filled, '=');
    if (filled < bar_cells && done > 0) bar[static_cast<size_t>(filled)] = '>';
    return std::string(label) + " [" + bar + "]" + tail;
}

bool Progress::stderr_is_terminal() noexcept { return isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, uint64_t total, Unit unit, bool enabled)
    : label_(std::move(label)), total_(total), unit_(unit), active_(enabled && stderr_is_terminal()),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { finish(); }

void Progress::add(uint64_t n) noexcept {
    if (!active_) return;
    done_.fetch_add(n, std::memory_order_relaxed);
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_)
                            .count();
    int64_t last = last_draw_ms_.load(std::memory_order_relaxed);
    if (now_ms - last < 100) return;
    if (!last_draw_ms_.compare_exchange_strong(last, now_ms, std::memory_order_relaxed)) return;
    draw();
}

void Progress::finish() noexcept {
    if (!active_) return;
    std::lock_guard lock(draw_mutex_);
    if (finished_) return;
    finished_ = true;
    done_.store(total_, std::memory_order_relaxed);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const std::string line = format_line(label_, total_, total_, unit_, elapsed, terminal_width());
    std::fprintf(stderr, "\r%s\x1b[K\n", line.c_str());
    std::fflush(stderr);
}

void Progress::draw() noexcept {
    std::unique_lock lock(draw_mutex_, std::try_to_lock);
    if (!lock.owns_lock() || finished_) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const std::string line =
        format_line(label_, done_.load(std::memory_order_relaxed), total_, unit_, elapsed, terminal_width());
    // "\x1b[K" clears what a longer previous line left behind.
    std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
    std::fflush(stderr);
}

}  // namespace spool
