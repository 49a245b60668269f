// The simulated cloud: compute hosts with capacity and a nova-compute service, flavors,
// instances with Nova's states, evacuation records, and a BMC per host with a power state —
// all on one EventLoop, so a test or the demo drives it with the same clock as the engine.
//
// Latencies are drawn from configurable distributions; faults are injected by calls
// (PowerLoss, SetBmcReachable, FailNextEvacuations) or by rates (API errors and timeouts).
// The cloud also audits safety: an instance started on a new host while its old host still
// has power is counted as a split brain (ha-anchors S1), and every evacuation of an instance
// is counted (L2: exactly once per failure).
//
// Not thread-safe: call it on its loop only (SimComputeDriver/SimFencer calls come from the
// engine on that loop).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/event_loop.h"
#include "drivers/compute.h"
#include "drivers/fencer.h"

namespace warden::sim {

// A latency distribution: "fixed:2s", "uniform:1s:5s", "normal:10s:3s" (clamped at 0),
// "exponential:500ms" (durations as ParseDurationMicros reads them).
class Latency {
 public:
  static Result<Latency> Parse(std::string_view spec);
  static Latency Fixed(int64_t micros);
  int64_t Draw(std::mt19937_64& rng) const;
  const std::string& spec() const { return spec_; }

 private:
  enum class Kind { kFixed, kUniform, kNormal, kExponential } kind_ = Kind::kFixed;
  double a_ = 0, b_ = 0;
  std::string spec_ = "fixed:0s";
};

struct SimOptions {
  Latency api_latency = Latency::Fixed(0);        // every compute API call
  Latency evacuate_latency = Latency::Fixed(0);   // accepted → active on the destination
  Latency power_latency = Latency::Fixed(0);      // stop/start of an instance
  Latency bmc_latency = Latency::Fixed(0);        // every BMC call
  double api_error_rate = 0;    // share of compute calls answered 503
  double api_timeout_rate = 0;  // share of compute calls never answered
  int64_t service_down_time_micros = 60'000'000;  // Nova's service_down_time
  int64_t clock_skew_micros = 0;  // added to the cloud's timestamps (migration records)
  // A migration record shows in ListEvacuationsSince only this long after its creation (Nova
  // lists by updated_at, empty until the record's first update).
  int64_t migration_listed_after_micros = 0;
  uint64_t seed = 1;
};

struct SimHost {
  std::string name;
  drivers::Flavor capacity;
  bool powered = true;
  bool bmc_reachable = true;
  bool has_bmc = true;
  bool service_enabled = true;
  bool forced_down = false;
  std::string disabled_reason;
  MonoMicros power_lost_at = 0;
};

struct SimInstance {
  drivers::Instance info;
  std::string running_on;  // the host whose hypervisor runs it now; "" if none
};

class SimCloud {
 public:
  SimCloud(EventLoop& loop, SimOptions options);

  // --- building the cloud ---
  void AddHost(const std::string& name, drivers::Flavor capacity, bool has_bmc = true);
  // Adds an instance in vm_state `active` running on `host`.
  void AddInstance(const std::string& uuid, const std::string& name, const std::string& host,
                   drivers::Flavor flavor, bool ha_enabled, std::string vm_state = "active");

  // Puts an instance in any state Nova can show, e.g. ("resized", nullopt, running) or
  // ("active", "rebooting", running); `running`: its hypervisor runs it (power state 1).
  void SetInstanceState(const std::string& uuid, const std::string& vm_state,
                        std::optional<std::string> task_state, bool running);
  void SetLocked(const std::string& uuid, bool locked, std::optional<std::string> reason = {});

  // --- faults ---
  // The host loses power (and its instances stop running); with bmc_too, its BMC goes too.
  void PowerLoss(const std::string& host, bool bmc_too = false);
  void PowerOn(const std::string& host);
  void SetBmcReachable(const std::string& host, bool reachable);
  // The next `count` evacuations of instances from/to `host` ("" = any) fail on the
  // destination after being accepted (the instance ends in error, the migration failed).
  void FailNextEvacuations(int64_t count, const std::string& host = "");
  void set_api_error_rate(double r) { options_.api_error_rate = r; }
  void set_api_timeout_rate(double r) { options_.api_timeout_rate = r; }

  // --- inspection ---
  const std::map<std::string, SimHost>& hosts() const { return hosts_; }
  const std::map<std::string, SimInstance>& instances() const { return instances_; }
  drivers::Flavor Used(const std::string& host) const;
  // Evacuate calls accepted per instance.
  int64_t evacuations(const std::string& uuid) const;
  int64_t evacuations_accepted() const { return evacuations_accepted_; }
  // Instances that were locked when their evacuation was accepted.
  const std::set<std::string>& evacuated_while_locked() const { return evacuated_while_locked_; }
  // Instances started somewhere while still running on a powered host (must stay 0).
  int64_t split_brains() const { return split_brains_; }
  // Evacuations accepted while the source host still had power (must stay 0).
  int64_t unfenced_evacuations() const { return unfenced_evacuations_; }
  bool ServiceUp(const SimHost& h) const;

  // A host aggregate (for scenarios with reserved hosts).
  void AddAggregate(const std::string& name, std::vector<std::string> hosts);
  const std::map<std::string, drivers::Aggregate>& aggregates() const { return aggregates_; }

  std::unique_ptr<drivers::ComputeDriver> MakeComputeDriver();
  std::unique_ptr<drivers::Fencer> MakeFencer();

  // --- the operations behind the drivers (answers posted to the loop) ---
  void GetService(const std::string& host, drivers::Callback<drivers::ComputeService> done);
  void SetServiceEnabled(const std::string& host, bool enabled, const std::string& reason,
                         drivers::Callback<void> done);
  void SetForcedDown(const std::string& host, bool forced_down, drivers::Callback<void> done);
  void ListInstances(const std::string& host, drivers::Callback<std::vector<drivers::Instance>> done);
  void GetInstance(const std::string& uuid, drivers::Callback<drivers::Instance> done);
  void ListHostResources(drivers::Callback<std::vector<drivers::HostResources>> done);
  void ListMigrations(const std::string& uuid, drivers::Callback<std::vector<drivers::Migration>> done);
  void ListServices(drivers::Callback<std::vector<drivers::ComputeService>> done);
  void ListEvacuationsSince(WallMicros since,
                            drivers::Callback<std::vector<drivers::Migration>> done);
  void Evacuate(const std::string& uuid, const std::optional<std::string>& destination,
                drivers::Callback<void> done);
  void StopInstance(const std::string& uuid, drivers::Callback<void> done);
  void StartInstance(const std::string& uuid, drivers::Callback<void> done);
  void ResetState(const std::string& uuid, const std::string& vm_state, drivers::Callback<void> done);
  void LockInstance(const std::string& uuid, const std::string& reason,
                    drivers::Callback<void> done);
  void UnlockInstance(const std::string& uuid, drivers::Callback<void> done);
  void ListAggregates(drivers::Callback<std::vector<drivers::Aggregate>> done);
  void AddHostToAggregate(const std::string& aggregate_id, const std::string& host,
                          drivers::Callback<void> done);
  void PowerOff(const std::string& host, drivers::Callback<void> done);
  void GetPowerState(const std::string& host, drivers::Callback<drivers::PowerState> done);

 private:
  // Answers after the API latency, or with an injected error, or never (timeout).
  template <typename T>
  void Answer(drivers::Callback<T> done, std::function<Result<T>()> fn);
  template <typename T>
  void AnswerBmc(const std::string& host, drivers::Callback<T> done, std::function<Result<T>()> fn);
  void CompleteEvacuation(const std::string& uuid, const std::string& source,
                          const std::string& dest, std::string original_state, size_t migration,
                          bool refused);
  std::optional<std::string> Schedule(const std::string& source, const drivers::Flavor& f) const;
  bool Fits(const std::string& host, const drivers::Flavor& f) const;
  drivers::ComputeService ServiceOf(const std::string& host, const SimHost& h) const;

  std::map<std::string, drivers::Aggregate> aggregates_;  // by id
  EventLoop& loop_;
  SimOptions options_;
  std::mt19937_64 rng_;
  std::map<std::string, SimHost> hosts_;
  std::map<std::string, SimInstance> instances_;
  std::vector<drivers::Migration> migrations_;
  std::map<std::string, drivers::Flavor> incoming_;  // capacity claimed by rebuilds under way
  std::map<std::string, int64_t> evacuations_;
  int64_t evacuations_accepted_ = 0;
  std::set<std::string> evacuated_while_locked_;
  int64_t fail_evacuations_ = 0;
  std::string fail_evacuations_host_;
  int64_t split_brains_ = 0;
  int64_t unfenced_evacuations_ = 0;
};

}  // namespace warden::sim
