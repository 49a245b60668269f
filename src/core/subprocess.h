// Running other programs: a helper (ipmitool) without a shell, with an explicit environment
// and a deadline; an operator's command (custom tasks, the agent's restart commands) through
// /bin/sh. Blocking: call them on a worker thread, never on an event loop.
//
// RunProcess's child gets exactly `env` (nothing of Warden's own environment, which may hold
// other secrets) and stdout and stderr merged into one captured output. It
// runs in its own process group, killed as a whole when the deadline passes. The deadline is
// on the real clock: this adapter runs real processes, whatever clock the engine runs on.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

namespace warden {

struct ProcessResult {
  int exit_status = -1;  // 0-255, or -1 when killed by a signal
  std::string output;    // stdout and stderr, at most 64 KiB
  int signal = 0;        // the signal that killed it, if one did
};

// argv[0] is looked up in PATH (the `PATH=` entry of env, else /usr/sbin:/usr/bin:/sbin:/bin).
// Errors: NotFound when the program does not exist, DeadlineExceeded when it was killed at the
// deadline, Internal when it could not be started. A non-zero exit is a result, not an error.
// `input` goes to its stdin (empty: /dev/null). The child is done when it exits: what it
// started in the background (a daemon) is not waited for — and since the output pipe is
// closed then, such a daemon must have its own output (`>/dev/null 2>&1 </dev/null`, or a
// service manager: `systemctl restart`), or its first write kills it with SIGPIPE.
// Only stdin, stdout and stderr are passed on: no other descriptor of ours.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env, int64_t timeout_micros,
                                 const std::string& input = "");

// An operator's command: `/bin/sh -c COMMAND` with Warden's environment and `input` on
// stdin. The output (the first 4 KiB, trailing newlines removed) if it exits 0; otherwise
// Aborted naming the exit status with the output, DeadlineExceeded, or Internal.
Result<std::string> RunCommand(const std::string& command, const std::string& input,
                               int64_t timeout_micros);

// A fixed set of threads for blocking work (subprocesses). Submit never blocks; the
// destructor runs what is queued, then joins.
class WorkerPool {
 public:
  // REQUIRES: threads >= 1.
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Thread-safe.
  void Submit(std::function<void()> work);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace warden
