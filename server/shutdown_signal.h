// Turns SIGTERM and SIGINT into a graceful shutdown. Before InstallShutdownSignalHandlers() they kill the
// process (nothing to clean up while the model loads); after it, the first one wakes
// WaitForShutdownSignal() instead, and a second one of the same kind kills the process.
#pragma once

#include "absl/status/status.h"

namespace muke::server {

absl::Status InstallShutdownSignalHandlers();

// Blocks until SIGTERM or SIGINT arrives (or has arrived since the install); returns its number
// (0 if the wait itself failed).
int WaitForShutdownSignal();

}  // namespace muke::server
