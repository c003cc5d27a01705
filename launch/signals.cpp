// launch/signals.cpp — async-signal-safe recording of preemption signals.
#include "launch/signals.h"

#include <atomic>
#include <csignal>

namespace sy {

namespace {
std::atomic<int> g_signal{0};
extern "C" void record_signal(int sig) { g_signal.store(sig, std::memory_order_relaxed); }
}  // namespace

void install_preemption_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = record_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int preemption_signal() { return g_signal.load(std::memory_order_relaxed); }

}  // namespace sy
