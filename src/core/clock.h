// Time, injected. No code outside clock.cc reads the real clock.
//
// Wall time (for stored timestamps) is microseconds since the Unix epoch, UTC. Monotonic time
// (for intervals and deadlines) is microseconds since an arbitrary origin.
#pragma once

#include <atomic>
#include <cstdint>

namespace warden {

using WallMicros = int64_t;
using MonoMicros = int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual WallMicros Now() const = 0;
  virtual MonoMicros Monotonic() const = 0;
};

// The process's real clock. Thread-safe.
class RealClock final : public Clock {
 public:
  WallMicros Now() const override;
  MonoMicros Monotonic() const override;
  // Blocks the calling thread for `micros` of real time: for the command-line client's polling,
  // which has nothing else to do meanwhile.
  void SleepFor(MonoMicros micros) const;
};

// A clock that moves only when told to. Thread-safe; starts at `start` wall time.
class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(WallMicros start = 1'700'000'000'000'000) : wall_(start), mono_(0) {}
  WallMicros Now() const override { return wall_.load(); }
  MonoMicros Monotonic() const override { return mono_.load(); }
  void Advance(int64_t micros) {
    wall_ += micros;
    mono_ += micros;
  }
  void SetWall(WallMicros t) { wall_ = t; }

 private:
  std::atomic<WallMicros> wall_;
  std::atomic<MonoMicros> mono_;
};

}  // namespace warden
