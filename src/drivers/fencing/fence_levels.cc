#include "drivers/fencing/fence_levels.h"

#include <algorithm>
#include <map>
#include <optional>

namespace warden::drivers {
namespace {

std::string Seconds(int64_t micros) {
  const int64_t tenths = (micros + 50'000) / 100'000;
  return std::to_string(tenths / 10) + (tenths % 10 ? "." + std::to_string(tenths % 10) : "");
}

class FenceLevels final : public Fencer {
 public:
  FenceLevels(EventLoop& loop, std::vector<FenceDevice> devices, FenceLevelsOptions options)
      : loop_(loop), devices_(std::move(devices)), o_(std::move(options)),
        alive_(std::make_shared<bool>(true)) {
    std::stable_sort(devices_.begin(), devices_.end(),
                     [](const FenceDevice& a, const FenceDevice& b) { return a.level < b.level; });
  }
  ~FenceLevels() override { *alive_ = false; }

 private:
  // Wraps a callback so that it does nothing once this fencer is gone.
  template <typename F>
  auto Guard(F fn) {
    return [alive = std::weak_ptr<bool>(alive_), fn = std::move(fn)](auto&&... args) mutable {
      auto a = alive.lock();
      if (a && *a) fn(std::forward<decltype(args)>(args)...);
    };
  }

 public:

  bool Covers(const std::string& host) const override { return !ChainFor(host).empty(); }

  void PowerOff(const std::string& host, Callback<void> done) override {
    std::vector<size_t> chain = ChainFor(host);
    if (chain.empty()) {
      loop_.Post([done, host] { done(FailedPrecondition("no fence device covers host " + host)); });
      return;
    }
    if (auto it = runs_.find(host); it != runs_.end() && it->second->state == State::kRunning) {
      // A fence of this host is under way (an engine retry, a second notification): join it.
      if (it->second->accepted) {
        loop_.Post([done] { done(Result<void>{}); });
      } else {
        it->second->waiting.push_back(std::move(done));
      }
      return;
    }
    auto run = std::make_shared<Run>();
    run->host = host;
    run->chain = std::move(chain);
    run->waiting.push_back(std::move(done));
    runs_[host] = run;
    Log("info", "fencing host", {{"host", host}, {"levels", std::to_string(run->chain.size())}});
    // Deferred: the first device's call, and any answer, must not run inside this call.
    loop_.Post(Guard([this, run] { StartLevel(run); }));
  }

  void GetPowerState(const std::string& host, Callback<PowerState> done) override {
    std::vector<size_t> chain = ChainFor(host);
    if (chain.empty()) {
      loop_.Post([done, host] { done(FailedPrecondition("no fence device covers host " + host)); });
      return;
    }
    auto it = runs_.find(host);
    if (it == runs_.end()) return Query(host, std::move(chain), 0, std::move(done), std::nullopt);
    const Run& run = *it->second;
    switch (run.state) {
      case State::kRunning:
        loop_.Post([done, s = run.last] { done(s); });
        return;
      case State::kConfirmed:
        devices_[run.confirmed_by].fencer->GetPowerState(host, std::move(done));
        return;
      case State::kFailed:
        loop_.Post([done, failure = run.failure] { done(FailedPrecondition(failure)); });
        return;
    }
  }

 private:
  enum class State { kRunning, kConfirmed, kFailed };

  struct Run {
    std::string host;
    std::vector<size_t> chain;  // indexes into devices_, in level order
    size_t index = 0;           // the level in use
    uint64_t attempt = 0;       // bumped per level started: answers of older ones are ignored
    State state = State::kRunning;
    bool accepted = false;  // some level accepted the power off
    uint64_t accepted_level = 0;  // the attempt whose power off was accepted
    std::vector<Callback<void>> waiting;  // PowerOff callers not answered yet
    std::vector<std::string> reasons;     // why each level tried so far failed
    PowerState last = PowerState::kUnknown;
    std::string last_error;
    MonoMicros deadline = 0;  // the level in use must confirm by then
    size_t confirmed_by = 0;
    std::string failure;
  };

  std::vector<size_t> ChainFor(const std::string& host) const {
    std::vector<size_t> chain;
    for (size_t i = 0; i < devices_.size(); ++i) {
      if (devices_[i].fencer && devices_[i].fencer->Covers(host)) chain.push_back(i);
    }
    return chain;
  }

  std::string Describe(const FenceDevice& d) const {
    return "level " + std::to_string(d.level) + " (" + d.name + ")";
  }

  void Log(std::string_view level, std::string_view msg,
           std::vector<std::pair<std::string, std::string>> fields) {
    if (o_.log) o_.log(level, msg, fields);
  }

  void Answer(Run& run, const Result<void>& r) {
    auto waiting = std::move(run.waiting);
    run.waiting.clear();
    for (auto& done : waiting) done(r);
  }

  void StartLevel(std::shared_ptr<Run> run) {
    if (run->index >= run->chain.size()) return Fail(run);
    const uint64_t attempt = ++run->attempt;
    const FenceDevice& d = devices_[run->chain[run->index]];
    Log("info", "fence level powering off",
        {{"host", run->host}, {"level", std::to_string(d.level)}, {"device", d.name}});
    // A device that never answers must not hold the run: the level ends at its budget.
    loop_.RunAfter(d.power_off_timeout_micros, Guard([this, run, attempt] {
                     if (!Current(*run, attempt) || run->accepted_level == attempt) return;
                     const FenceDevice& d = devices_[run->chain[run->index]];
                     NextLevel(run, Describe(d) + ": power off got no answer within " +
                                        Seconds(d.power_off_timeout_micros) + " s");
                   }));
    d.fencer->PowerOff(run->host, Guard([this, run, attempt](Result<void> r) {
      if (!Current(*run, attempt)) return;
      const FenceDevice& d = devices_[run->chain[run->index]];
      if (!r) {
        NextLevel(run, Describe(d) + ": power off failed: " + r.error().message());
        return;
      }
      run->accepted = true;
      run->accepted_level = attempt;
      Answer(*run, Result<void>{});
      run->deadline = loop_.clock().Monotonic() + d.confirm_timeout_micros;
      // Also ends the level if a power state read hangs past the deadline.
      loop_.RunAfter(d.confirm_timeout_micros, Guard([this, run, attempt] {
                       if (Current(*run, attempt)) NotConfirmed(run);
                     }));
      Poll(run, attempt);
    }));
  }

  bool Current(const Run& run, uint64_t attempt) const {
    return run.state == State::kRunning && run.attempt == attempt;
  }

  void Poll(std::shared_ptr<Run> run, uint64_t attempt) {
    const FenceDevice& d = devices_[run->chain[run->index]];
    d.fencer->GetPowerState(run->host, Guard([this, run, attempt](Result<PowerState> s) {
      if (!Current(*run, attempt)) return;
      if (s && *s == PowerState::kOff) return Confirm(run);
      if (s) {
        run->last = *s;
        run->last_error.clear();
      } else {
        run->last = PowerState::kUnknown;
        run->last_error = s.error().message();
      }
      if (loop_.clock().Monotonic() >= run->deadline) return NotConfirmed(run);
      loop_.RunAfter(o_.poll_interval_micros, Guard([this, run, attempt] {
                       if (Current(*run, attempt)) Poll(run, attempt);
                     }));
    }));
  }

  void NotConfirmed(std::shared_ptr<Run> run) {
    const FenceDevice& d = devices_[run->chain[run->index]];
    NextLevel(run, Describe(d) + ": power off not confirmed within " +
                       Seconds(d.confirm_timeout_micros) + " s (last reading: " +
                       (run->last_error.empty() ? std::string(ToString(run->last))
                                                : run->last_error) +
                       ")");
  }

  void NextLevel(std::shared_ptr<Run> run, std::string reason) {
    Log("warning", "fence level failed", {{"host", run->host}, {"reason", reason}});
    run->reasons.push_back(std::move(reason));
    run->last = PowerState::kUnknown;
    ++run->index;
    StartLevel(run);
  }

  void Confirm(std::shared_ptr<Run> run) {
    const FenceDevice& d = devices_[run->chain[run->index]];
    run->state = State::kConfirmed;
    run->last = PowerState::kOff;
    run->confirmed_by = run->chain[run->index];
    Log("info", "host fenced",
        {{"host", run->host}, {"level", std::to_string(d.level)}, {"device", d.name}});
    Answer(*run, Result<void>{});
  }

  void Fail(std::shared_ptr<Run> run) {
    run->state = State::kFailed;
    std::string all;
    for (const std::string& r : run->reasons) all += (all.empty() ? "" : "; ") + r;
    run->failure = "every fencing level failed for host " + run->host + ": " + all;
    Log("error", "ALARM fencing failed at every level", {{"host", run->host}, {"reason", all}});
    Answer(*run, FailedPrecondition(run->failure));
  }

  // Asks the levels in order; the first that can tell answers.
  void Query(const std::string& host, std::vector<size_t> chain, size_t i, Callback<PowerState> done,
             std::optional<Error> last) {
    if (i >= chain.size()) {
      loop_.Post([done, last] {
        if (last) return done(std::unexpected(*last));
        done(PowerState::kUnknown);
      });
      return;
    }
    devices_[chain[i]].fencer->GetPowerState(
        host, Guard([this, host, chain, i, done](Result<PowerState> s) {
          if (s && (*s != PowerState::kUnknown || i + 1 == chain.size())) return done(s);
          std::optional<Error> e;
          if (!s) e = s.error();
          Query(host, chain, i + 1, done, e);
        }));
  }

  EventLoop& loop_;
  std::vector<FenceDevice> devices_;
  const FenceLevelsOptions o_;
  std::shared_ptr<bool> alive_;
  std::map<std::string, std::shared_ptr<Run>> runs_;  // by host: the last fence run
};

}  // namespace

std::unique_ptr<Fencer> MakeFenceLevels(EventLoop& loop, std::vector<FenceDevice> devices,
                                        FenceLevelsOptions options) {
  return std::make_unique<FenceLevels>(loop, std::move(devices), std::move(options));
}

}  // namespace warden::drivers
