// What the long-running commands (warden server, warden agent, warden demo) do around their
// life: stop signals taken by the main thread only, and the port file that tells a script
// or a test which port a server bound to when it was asked for port 0.
#pragma once

#include <signal.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace warden {

// Blocks SIGINT and SIGTERM in this thread and every thread it starts afterwards (call it
// before starting any); returns the set for WaitForStopSignal.
sigset_t BlockStopSignals();

// Waits for one of `signals` (from BlockStopSignals) and returns its number.
int WaitForStopSignal(const sigset_t& signals);

// "SIGINT", "SIGTERM", or "signal N".
std::string SignalName(int sig);

// Writes "PORT\n" to `path` through a temporary file renamed over it, so a reader never sees
// it half written. An error names the path and the reason.
Result<void> WritePortFile(const std::string& path, uint16_t port);

}  // namespace warden
