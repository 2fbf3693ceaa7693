// Ctrl-C for `spool run` and `spool chat`: while a reply is being generated, SIGINT sets a cancel flag that
// the generator polls (the reply stops, the program goes on); at any other time it ends the process.
#pragma once

#include <atomic>

namespace spool::tools {

// Installs the SIGINT handler for its lifetime (the previous handler comes back on destruction); one at a
// time. The handler's two flags are the one piece of process-level mutable state in spool: a signal handler
// can reach nothing else. They live here, in the tools layer; the library only sees the cancel flag passed to
// Generator::generate.
class InterruptGuard {
public:
    InterruptGuard();
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;

    // From begin_reply() to end_reply() the first Ctrl-C sets cancel_flag(); a second one, or one outside a
    // reply, prints a newline and exits with status 130 (128 + SIGINT, as shells report it).
    void begin_reply() noexcept;
    void end_reply() noexcept;
    const std::atomic<bool>& cancel_flag() const noexcept;
    bool cancelled() const noexcept;
};

}  // namespace spool::tools
