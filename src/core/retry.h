// How a call is tried again: the engine's task and cloud-API retries, the fence devices'
// commands. Delays are computed here and waited for on the caller's clock (a simulated loop
// runs them in simulated time).
#pragma once

#include <cstdint>
#include <random>
#include <string_view>

#include "core/error.h"

namespace warden {

struct RetryPolicy {
  int attempts = 3;                  // total tries, >= 1
  int64_t delay_micros = 1'000'000;  // before the second try
  bool exponential = true;           // doubles each time, capped at max_delay
  int64_t max_delay_micros = 30'000'000;
  double jitter = 0.2;  // +- this share of the delay, drawn uniformly

  // The wait before try number `attempt` (2 = first retry).
  int64_t DelayBefore(int attempt, std::mt19937_64& rng) const;
};

// "fixed:ATTEMPTS:DELAY" or "exponential:ATTEMPTS:DELAY:MAX" (durations: 500ms, 2s, 1m).
Result<RetryPolicy> ParseRetryPolicy(std::string_view spec);

}  // namespace warden
