// launch/signals.h — preemption signals (SIGUSR1 from Slurm's --signal, SIGTERM) recorded for the step boundary.
#pragma once

namespace sy {

// Installs handlers for SIGUSR1 and SIGTERM that only record the signal: the
// training loop reads it at the next step boundary, where all ranks agree (a
// flag reduced over the world) to save a checkpoint and exit 0.
void install_preemption_handlers();
// The last preemption signal received (0 when none).
int preemption_signal();

}  // namespace sy
