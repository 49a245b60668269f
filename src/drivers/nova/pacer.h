// How fast Warden calls a cloud: paced by how the cloud answers, within the operator's caps.
//
// Two limits adapt, like TCP's congestion control:
// - a window of calls in flight starts at `initial_window`, grows by one per clean answer
//   until the first sign of trouble, then by one per window of clean answers; it halves on a
//   5xx or a timeout, and shrinks by a fifth when answers get much slower than usual — the
//   recent average of successful answers' latencies over three times the long-run one, plus a
//   second — at most once a second;
// - a rate of calls started per second is unlimited until the cloud answers 429; then it is
//   set to four fifths of what the cloud took (its clean answers of the last second), and
//   grows by a tenth per second of clean answers; 429s within a second of a cut do not cut
//   again (a rate limiter's window is commonly a second).
// A 503 with Retry-After also holds every start until then (a 429's Retry-After is for the
// call it turned away, which the driver holds). One burst of trouble cuts once: answers to
// calls started before the last cut do not cut again.
//
// Not thread-safe: the driver uses it on its loop. Times are the caller's (monotonic micros),
// so it is tested without a clock.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "core/clock.h"

namespace warden::drivers {

struct PacerOptions {
  int max_window = 64;    // cap on calls in flight ([nova] max_concurrent_calls)
  double max_rate = 0;    // cap on calls started per second; 0: none ([nova] max_calls_per_second)
  int initial_window = 8;
  int64_t max_hold_micros = 60'000'000;  // a longer Retry-After is cut to this
};

enum class CallOutcome {
  kClean,        // answered with success (2xx, 3xx): its latency counts
  kRefused,      // answered 4xx but 429: the cloud is fine, the latency says nothing
  kThrottled,    // 429
  kUnavailable,  // 5xx
  kTimedOut,     // no answer in time, or the connection failed
};

struct PaceSnapshot {
  int window = 0;
  double rate = 0;  // 0: not limited
  int64_t held_for_micros = 0;  // from now
  int64_t cuts = 0;             // times the pace was cut
  int64_t throttled = 0;        // 429s seen
};

class Pacer {
 public:
  explicit Pacer(PacerOptions options);

  // Whether a call may start now with `in_flight` running; if not, when to ask again (0: when
  // a call in flight ends).
  bool MayStart(int in_flight, MonoMicros now, MonoMicros* ask_again_at);
  void Started(MonoMicros now);
  // A call started at `started_at` was answered. `retry_after_micros`: the answer's header.
  void Answered(CallOutcome outcome, MonoMicros started_at, MonoMicros now,
                std::optional<int64_t> retry_after_micros = std::nullopt);

  int window() const { return int(window_); }
  double rate() const { return rate_; }
  PaceSnapshot Snapshot(MonoMicros now) const;

 private:
  void Cut(MonoMicros started_at, MonoMicros now, bool rate_too, double factor);
  // How many of `times` are within the last second (older ones are dropped).
  static double Recent(std::deque<MonoMicros>& times, MonoMicros now);

  const PacerOptions options_;
  double window_;
  double rate_ = 0;           // 0: unlimited (or options_.max_rate if set)
  double tokens_ = 1;         // for the rate, refilled at rate_ a second
  MonoMicros refilled_at_ = 0;
  bool growing_fast_ = true;  // until the first cut
  MonoMicros last_cut_ = -1;
  MonoMicros last_growth_ = 0;
  MonoMicros held_until_ = 0;
  double usual_ = -1;   // long-run average latency of clean answers, micros
  double recent_ = -1;  // short-run average
  MonoMicros last_slow_cut_ = 0;
  std::deque<MonoMicros> starts_;    // calls started in the last second
  std::deque<MonoMicros> answered_;  // calls answered cleanly (not 429, 5xx) in the last second
  int64_t cuts_ = 0;
  int64_t throttled_ = 0;
};

// Retry-After as seconds ("2") → micros; nullopt for absent or an HTTP date (not honoured).
std::optional<int64_t> ParseRetryAfter(const std::string& value);

}  // namespace warden::drivers
