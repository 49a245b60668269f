// Fault injection by decoration (STYLE.md 7): Faulty<ComputeDriver> and Faulty<Fencer> wrap a
// real implementation and, per operation, pass calls through or turn them into errors, hangs
// (no answer ever: the caller's deadline must act), delays, or lost answers (the call happens
// but its answer is replaced by an error — the "timed out, but did it happen?" case).
//
// Operations are named after the interface's methods ("Evacuate", "PowerOff" ...). A hook per
// operation sees every call, for crash-after-N and interleavings in tests.
//
// Not thread-safe: use on the engine's loop only, like the wrapped driver.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/event_loop.h"
#include "drivers/compute.h"
#include "drivers/fencer.h"

namespace warden::drivers {

struct Fault {
  enum class Kind { kError, kHang, kDelay, kLoseAnswer };
  Kind kind = Kind::kError;
  Error error{ErrorCode::kUnavailable, "injected fault"};
  int64_t delay_micros = 0;  // kDelay
  int64_t times = 1;         // calls it applies to; -1: until cleared
  int64_t skip = 0;          // calls let through before it applies
  std::string only_key;      // if set, applies only to calls about this host or instance
};

class FaultPlan {
 public:
  explicit FaultPlan(EventLoop& loop) : loop_(loop) {}

  void Set(const std::string& op, Fault fault) { faults_[op] = std::move(fault); }
  void Clear() { faults_.clear(); }
  void Clear(const std::string& op) { faults_.erase(op); }
  int64_t calls(const std::string& op) const {
    auto it = calls_.find(op);
    return it == calls_.end() ? 0 : it->second;
  }
  // Runs hook(n) at the n-th call (1-based) of op, before the call proceeds.
  void OnCall(const std::string& op, std::function<void(int64_t)> hook) {
    hooks_[op] = std::move(hook);
  }

  template <typename T>
  void Apply(const std::string& op, const std::string& key, Callback<T> done,
             std::function<void(Callback<T>)> call) {
    const int64_t n = ++calls_[op];
    if (auto h = hooks_.find(op); h != hooks_.end()) h->second(n);
    auto it = faults_.find(op);
    if (it == faults_.end() || (!it->second.only_key.empty() && it->second.only_key != key)) {
      call(std::move(done));
      return;
    }
    Fault& f = it->second;
    if (f.skip > 0) {
      --f.skip;
      call(std::move(done));
      return;
    }
    Fault fault = f;
    if (f.times > 0 && --f.times == 0) faults_.erase(it);
    switch (fault.kind) {
      case Fault::Kind::kError:
        loop_.Post([done = std::move(done), e = fault.error] { done(std::unexpected(e)); });
        return;
      case Fault::Kind::kHang:
        return;  // never answered
      case Fault::Kind::kDelay:
        loop_.RunAfter(fault.delay_micros,
                       [call = std::move(call), done = std::move(done)] { call(done); });
        return;
      case Fault::Kind::kLoseAnswer:
        call([done = std::move(done), e = fault.error](Result<T>) { done(std::unexpected(e)); });
        return;
    }
  }

 private:
  EventLoop& loop_;
  std::map<std::string, Fault> faults_;
  std::map<std::string, int64_t> calls_;
  std::map<std::string, std::function<void(int64_t)>> hooks_;
};

template <typename Interface>
class Faulty;

template <>
class Faulty<ComputeDriver> final : public ComputeDriver {
 public:
  Faulty(ComputeDriver& inner, EventLoop& loop) : inner_(inner), plan_(loop) {}
  FaultPlan& faults() { return plan_; }

  void GetService(const std::string& host, Callback<ComputeService> done) override {
    plan_.Apply<ComputeService>("GetService", host, std::move(done),
                                [=, this](auto d) { inner_.GetService(host, d); });
  }
  void SetServiceEnabled(const std::string& host, bool enabled, const std::string& reason,
                         Callback<void> done) override {
    plan_.Apply<void>("SetServiceEnabled", host, std::move(done),
                      [=, this](auto d) { inner_.SetServiceEnabled(host, enabled, reason, d); });
  }
  void SetForcedDown(const std::string& host, bool forced_down, Callback<void> done) override {
    plan_.Apply<void>("SetForcedDown", host, std::move(done),
                      [=, this](auto d) { inner_.SetForcedDown(host, forced_down, d); });
  }
  void ListInstances(const std::string& host, Callback<std::vector<Instance>> done) override {
    plan_.Apply<std::vector<Instance>>("ListInstances", host, std::move(done),
                                       [=, this](auto d) { inner_.ListInstances(host, d); });
  }
  void GetInstance(const std::string& uuid, Callback<Instance> done) override {
    plan_.Apply<Instance>("GetInstance", uuid, std::move(done),
                          [=, this](auto d) { inner_.GetInstance(uuid, d); });
  }
  void ListHostResources(Callback<std::vector<HostResources>> done) override {
    plan_.Apply<std::vector<HostResources>>("ListHostResources", "", std::move(done),
                                            [this](auto d) { inner_.ListHostResources(d); });
  }
  void ListMigrations(const std::string& uuid, Callback<std::vector<Migration>> done) override {
    plan_.Apply<std::vector<Migration>>("ListMigrations", uuid, std::move(done),
                                        [=, this](auto d) { inner_.ListMigrations(uuid, d); });
  }
  void Evacuate(const std::string& uuid, const std::optional<std::string>& destination,
                Callback<void> done) override {
    plan_.Apply<void>("Evacuate", uuid, std::move(done),
                      [=, this](auto d) { inner_.Evacuate(uuid, destination, d); });
  }
  void StopInstance(const std::string& uuid, Callback<void> done) override {
    plan_.Apply<void>("StopInstance", uuid, std::move(done),
                      [=, this](auto d) { inner_.StopInstance(uuid, d); });
  }
  void StartInstance(const std::string& uuid, Callback<void> done) override {
    plan_.Apply<void>("StartInstance", uuid, std::move(done),
                      [=, this](auto d) { inner_.StartInstance(uuid, d); });
  }
  void ResetState(const std::string& uuid, const std::string& vm_state,
                  Callback<void> done) override {
    plan_.Apply<void>("ResetState", uuid, std::move(done),
                      [=, this](auto d) { inner_.ResetState(uuid, vm_state, d); });
  }
  void ListServices(Callback<std::vector<ComputeService>> done) override {
    plan_.Apply<std::vector<ComputeService>>("ListServices", "", std::move(done),
                                             [this](auto d) { inner_.ListServices(d); });
  }
  void ListEvacuationsSince(WallMicros since, Callback<std::vector<Migration>> done) override {
    plan_.Apply<std::vector<Migration>>(
        "ListEvacuationsSince", "", std::move(done),
        [=, this](auto d) { inner_.ListEvacuationsSince(since, d); });
  }
  void LockInstance(const std::string& uuid, const std::string& reason,
                    Callback<void> done) override {
    plan_.Apply<void>("LockInstance", uuid, std::move(done),
                      [=, this](auto d) { inner_.LockInstance(uuid, reason, d); });
  }
  void UnlockInstance(const std::string& uuid, Callback<void> done) override {
    plan_.Apply<void>("UnlockInstance", uuid, std::move(done),
                      [=, this](auto d) { inner_.UnlockInstance(uuid, d); });
  }
  void ListAggregates(Callback<std::vector<Aggregate>> done) override {
    plan_.Apply<std::vector<Aggregate>>("ListAggregates", "", std::move(done),
                                        [this](auto d) { inner_.ListAggregates(d); });
  }
  void AddHostToAggregate(const std::string& aggregate_id, const std::string& host,
                          Callback<void> done) override {
    plan_.Apply<void>("AddHostToAggregate", host, std::move(done),
                      [=, this](auto d) { inner_.AddHostToAggregate(aggregate_id, host, d); });
  }
  std::string PaceNote() const override { return inner_.PaceNote(); }

 private:
  ComputeDriver& inner_;
  FaultPlan plan_;
};

template <>
class Faulty<Fencer> final : public Fencer {
 public:
  Faulty(Fencer& inner, EventLoop& loop) : inner_(inner), plan_(loop) {}
  FaultPlan& faults() { return plan_; }

  bool Covers(const std::string& host) const override { return inner_.Covers(host); }
  void PowerOff(const std::string& host, Callback<void> done) override {
    plan_.Apply<void>("PowerOff", host, std::move(done),
                      [=, this](auto d) { inner_.PowerOff(host, d); });
  }
  void GetPowerState(const std::string& host, Callback<PowerState> done) override {
    plan_.Apply<PowerState>("GetPowerState", host, std::move(done),
                            [=, this](auto d) { inner_.GetPowerState(host, d); });
  }

 private:
  Fencer& inner_;
  FaultPlan plan_;
};

}  // namespace warden::drivers
