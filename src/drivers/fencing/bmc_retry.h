// Bounded retries of one BMC command, timed on the engine's loop (so a simulated loop runs
// them in simulated time). Shared by the ipmi and redfish fencers; which errors are worth
// another try is IsRetryable's decision (core/error.h), not the driver's.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <string>

#include "core/event_loop.h"
#include "drivers/compute.h"

namespace warden::drivers::internal {

// The answer of a device asked about a host it does not fence, posted to the loop.
template <typename T>
void AnswerNotCovered(EventLoop& loop, const std::string& device, const std::string& host,
                      Callback<T> done) {
  loop.Post([done = std::move(done), device, host] {
    done(FailedPrecondition("fence device " + device + " does not fence host " + host));
  });
}

struct RetrySchedule {
  int retries = 2;                      // further attempts after the first
  int64_t delay_micros = 1'000'000;     // before the first retry; doubles each time
  int64_t max_delay_micros = 8'000'000;
};

// Runs `attempt` (which answers its callback exactly once, on the loop) and, while it fails
// with a retryable error and retries are left, again after a delay. `done` gets the last
// answer. REQUIRES: on the loop.
template <typename T>
void RunWithRetries(EventLoop& loop, RetrySchedule schedule,
                    std::function<void(Callback<T>)> attempt, Callback<T> done, int tried = 0) {
  attempt([&loop, schedule, attempt, done, tried](Result<T> r) {
    if (r || !IsRetryable(r.error()) || tried >= schedule.retries) return done(std::move(r));
    int64_t delay = schedule.delay_micros;
    for (int i = 0; i < tried && delay < schedule.max_delay_micros; ++i) delay *= 2;
    delay = std::min(delay, schedule.max_delay_micros);
    loop.RunAfter(delay, [&loop, schedule, attempt, done, tried] {
      RunWithRetries<T>(loop, schedule, attempt, done, tried + 1);
    });
  });
}

}  // namespace warden::drivers::internal
