#include "drivers/nova/pacer.h"

#include <algorithm>
#include <charconv>

namespace warden::drivers {
namespace {

constexpr int64_t kSecond = 1'000'000;
constexpr double kThrottleCut = 0.8;     // of the rate the cloud took, on a 429
constexpr double kRateGrowth = 0.1;      // a second of clean answers
constexpr double kSlowCut = 0.8;          // of the window, when answers slow down
constexpr double kSlowFactor = 3;         // recent over usual latency, plus the margin: slow
constexpr double kSlowMargin = 1'000'000;
constexpr double kUsualWeight = 0.02;     // of a new answer in the long-run average
constexpr double kRecentWeight = 0.3;     // in the short-run one

}  // namespace

Pacer::Pacer(PacerOptions options)
    : options_(options),
      window_(std::clamp(options.initial_window, 1, std::max(1, options.max_window))),
      rate_(options.max_rate) {}

double Pacer::Recent(std::deque<MonoMicros>& times, MonoMicros now) {
  while (!times.empty() && now - times.front() >= kSecond) times.pop_front();
  return double(times.size());
}

bool Pacer::MayStart(int in_flight, MonoMicros now, MonoMicros* ask_again_at) {
  *ask_again_at = 0;
  if (now < held_until_) {
    *ask_again_at = held_until_;
    return false;
  }
  if (in_flight >= int(window_)) return false;
  if (rate_ > 0) {
    // A bucket of a tenth of a second's calls: starts spread out, a short burst allowed.
    const double burst = std::max(1.0, rate_ / 10);
    tokens_ = std::min(burst, tokens_ + double(now - refilled_at_) / kSecond * rate_);
    refilled_at_ = now;
    if (tokens_ < 1.0) {
      *ask_again_at = now + int64_t((1.0 - tokens_) / rate_ * kSecond) + 1;
      return false;
    }
  }
  return true;
}

void Pacer::Started(MonoMicros now) {
  if (rate_ > 0) tokens_ -= 1.0;
  starts_.push_back(now);
  Recent(starts_, now);
}

void Pacer::Cut(MonoMicros started_at, MonoMicros now, bool rate_too, double factor) {
  // One burst of trouble cuts once: the calls already under way when the pace was cut were
  // sent at the old pace, and their answers say nothing about the new one. A rate limiter
  // counts over a window (a second, commonly): its 429s go on for that long after a cut.
  if (started_at <= last_cut_) return;
  if (rate_too && last_cut_ >= 0 && now - last_cut_ < kSecond) return;
  last_cut_ = now;
  last_growth_ = now;
  growing_fast_ = false;
  ++cuts_;
  window_ = std::max(1.0, window_ * factor);
  if (rate_too) {
    // What the cloud took: its clean answers of the last second; if it took none, half of
    // what was sent.
    const double took = Recent(answered_, now);
    const double sent = Recent(starts_, now);
    double base = took >= 1 ? took : std::max(1.0, (rate_ > 0 ? std::min(rate_, sent) : sent) / 2);
    if (rate_ > 0) base = std::min(rate_, base);
    rate_ = std::max(1.0, base * kThrottleCut);
    tokens_ = std::min(tokens_, 1.0);
    refilled_at_ = now;
  }
}

void Pacer::Answered(CallOutcome outcome, MonoMicros started_at, MonoMicros now,
                     std::optional<int64_t> retry_after_micros) {
  // A 503's Retry-After is the service's: every call waits. A 429's is for the call turned
  // away (the driver holds that one); the rate is cut for the others.
  if (retry_after_micros && outcome == CallOutcome::kUnavailable) {
    held_until_ = std::max(held_until_,
                           now + std::min(*retry_after_micros, options_.max_hold_micros));
  }
  switch (outcome) {
    case CallOutcome::kThrottled:
      ++throttled_;
      Cut(started_at, now, /*rate_too=*/true, 1.0);
      return;
    case CallOutcome::kUnavailable:
    case CallOutcome::kTimedOut:
      Cut(started_at, now, /*rate_too=*/false, 0.5);
      return;
    case CallOutcome::kClean:
    case CallOutcome::kRefused:
      answered_.push_back(now);
      Recent(answered_, now);
      break;
  }
  if (outcome == CallOutcome::kClean) {
    const double latency = double(std::max<int64_t>(0, now - started_at));
    if (usual_ < 0) {
      usual_ = recent_ = latency;
    } else {
      usual_ += kUsualWeight * (latency - usual_);
      recent_ += kRecentWeight * (latency - recent_);
    }
    if (recent_ > kSlowFactor * usual_ + kSlowMargin) {
      // Much slower than usual: the cloud is queueing our calls.
      if (now - last_slow_cut_ >= kSecond && started_at > last_cut_) {
        last_slow_cut_ = now;
        last_cut_ = now;
        last_growth_ = now;
        growing_fast_ = false;
        ++cuts_;
        window_ = std::max(1.0, window_ * kSlowCut);
      }
      return;
    }
  }
  const double cap = double(std::max(1, options_.max_window));
  window_ = std::min(cap, window_ + (growing_fast_ ? 1.0 : 1.0 / window_));
  if (rate_ > 0 && (options_.max_rate <= 0 || rate_ < options_.max_rate)) {
    const double dt = double(std::min<int64_t>(kSecond, std::max<int64_t>(0, now - last_growth_)));
    rate_ *= 1.0 + kRateGrowth * dt / kSecond;
    if (options_.max_rate > 0) rate_ = std::min(rate_, options_.max_rate);
  }
  last_growth_ = now;
}

PaceSnapshot Pacer::Snapshot(MonoMicros now) const {
  return {.window = int(window_),
          .rate = rate_,
          .held_for_micros = std::max<int64_t>(0, held_until_ - now),
          .cuts = cuts_,
          .throttled = throttled_};
}

std::optional<int64_t> ParseRetryAfter(const std::string& value) {
  int64_t seconds = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || p != value.data() + value.size() || seconds < 0) return std::nullopt;
  return std::min<int64_t>(seconds, 86400) * kSecond;  // the pacer holds at most a minute anyway
}

}  // namespace warden::drivers
