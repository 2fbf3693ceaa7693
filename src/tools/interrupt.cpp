// The SIGINT handler behind InterruptGuard: async-signal-safe (lock-free atomics, write, _exit only).
#include "tools/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "spool/errors.h"

namespace spool::tools {
namespace {

static_assert(std::atomic<bool>::is_always_lock_free, "the SIGINT handler needs lock-free atomics");

// Process-level by necessity (see interrupt.h): the handler below is their only writer besides the guard.
std::atomic<bool> g_in_reply{false};
std::atomic<bool> g_cancel{false};
struct sigaction g_previous {};

extern "C" void on_sigint(int) {
    if (g_in_reply.load() && !g_cancel.load()) {
        g_cancel.store(true);
        return;
    }
    const ssize_t ignored = ::write(STDERR_FILENO, "\n", 1);
    (void)ignored;
    ::_exit(130);
}

}  // namespace

InterruptGuard::InterruptGuard() {
    g_in_reply = false;
    g_cancel = false;
    struct sigaction action {};
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;  // a Ctrl-C during a reply must not break the write of its text
    if (::sigaction(SIGINT, &action, &g_previous) != 0) {
        throw SystemError(std::string("cannot install the Ctrl-C handler: sigaction(SIGINT): ") + std::strerror(errno));
    }
}

InterruptGuard::~InterruptGuard() {
    ::sigaction(SIGINT, &g_previous, nullptr);
    g_in_reply = false;
    g_cancel = false;
}

void InterruptGuard::begin_reply() noexcept {
    g_cancel = false;
    g_in_reply = true;
}

void InterruptGuard::end_reply() noexcept { g_in_reply = false; }

const std::atomic<bool>& InterruptGuard::cancel_flag() const noexcept { return g_cancel; }

bool InterruptGuard::cancelled() const noexcept { return g_cancel.load(); }

}  // namespace spool::tools
