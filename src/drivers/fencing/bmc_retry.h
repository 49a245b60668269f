// What the ipmi and redfish fencers share: the hosts a device fences, the answer for a host it
// does not, and bounded retries of one BMC command timed on the engine's loop (so a simulated
// loop runs them in simulated time). Which errors are worth another try is IsRetryable's
// decision (core/error.h), not the driver's.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/retry.h"
#include "drivers/compute.h"
#include "drivers/fencer.h"

namespace warden::drivers::internal {

// The answer of a device asked about a host it does not fence, posted to the loop.
template <typename T>
void AnswerNotCovered(EventLoop& loop, const std::string& device, const std::string& host,
                      Callback<T> done) {
  loop.Post([done = std::move(done), device, host] {
    done(FailedPrecondition("fence device " + device + " does not fence host " + host));
  });
}

// A fence device's default: three tries, 1 s then 2 s apart, no jitter (one command per
// device at a time, nothing to spread out).
inline constexpr RetryPolicy kBmcRetry{
    .attempts = 3, .delay_micros = 1'000'000, .max_delay_micros = 8'000'000, .jitter = 0};

// Runs `attempt` (which answers its callback exactly once, on the loop) and, while it fails
// with a retryable error and tries are left, again after the policy's delay. `done` gets the
// last answer. REQUIRES: on the loop.
template <typename T>
void RunWithRetries(EventLoop& loop, RetryPolicy policy, std::function<void(Callback<T>)> attempt,
                    Callback<T> done, int tried = 1) {
  attempt([&loop, policy, attempt, done, tried](Result<T> r) {
    if (r || !IsRetryable(r.error()) || tried >= policy.attempts) return done(std::move(r));
    thread_local std::mt19937_64 rng{std::random_device{}()};
    loop.RunAfter(policy.DelayBefore(tried + 1, rng), [&loop, policy, attempt, done, tried] {
      RunWithRetries<T>(loop, policy, attempt, done, tried + 1);
    });
  });
}

// A fence device's Fencer: the hosts it lists, each command tried on the device's retry policy.
// A driver supplies one try of each command; the function it returns must keep what it uses
// alive itself (a retry may run after the fencer is gone), and answer on the loop.
class BmcFencer : public Fencer {
 public:
  bool Covers(const std::string& host) const final {
    return std::find(hosts_.begin(), hosts_.end(), host) != hosts_.end();
  }
  void PowerOff(const std::string& host, Callback<void> done) final {
    if (!Covers(host)) return AnswerNotCovered(loop_, name_, host, std::move(done));
    RunWithRetries<void>(loop_, retry_, PowerOffOnce(), std::move(done));
  }
  void GetPowerState(const std::string& host, Callback<PowerState> done) final {
    if (!Covers(host)) return AnswerNotCovered(loop_, name_, host, std::move(done));
    RunWithRetries<PowerState>(loop_, retry_, PowerStateOnce(), std::move(done));
  }

 protected:
  BmcFencer(EventLoop& loop, std::string name, std::vector<std::string> hosts, RetryPolicy retry)
      : loop_(loop), name_(std::move(name)), hosts_(std::move(hosts)), retry_(retry) {}

  virtual std::function<void(Callback<void>)> PowerOffOnce() = 0;
  virtual std::function<void(Callback<PowerState>)> PowerStateOnce() = 0;

 private:
  EventLoop& loop_;
  const std::string name_;
  const std::vector<std::string> hosts_;
  const RetryPolicy retry_;
};

}  // namespace warden::drivers::internal
