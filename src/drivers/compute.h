// The compute cloud as the engine sees it: services, instances, capacity and evacuations.
//
// Every call returns at once; `done` is called exactly once, later, on the engine's EventLoop
// (never inside the call). Implementations that block (HTTP to Nova) do so on their own pool.
// Errors carry canonical codes: Unavailable/DeadlineExceeded for transient trouble (retried
// by the engine's policy, see IsRetryable), FailedPrecondition for "not in a state that
// allows it" (e.g. evacuating from a host whose service is still up), NotFound, Internal.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"

namespace warden::drivers {

template <typename T>
using Callback = std::function<void(Result<T>)>;

struct Flavor {
  int64_t vcpus = 0;
  int64_t ram_mb = 0;
  int64_t disk_gb = 0;
};

// A server as Nova reports it. vm_state: active, stopped, error, paused, rescued, resized,
// suspended, building ...; task_state: null when no operation is under way.
struct Instance {
  std::string uuid;
  std::string name;
  std::string host;  // the compute host it belongs to (OS-EXT-SRV-ATTR:host)
  std::string vm_state;
  std::optional<std::string> task_state;
  int power_state = 0;  // Nova's OS-EXT-STS:power_state: 1 running, 4 shut down, 0 unknown
  bool locked = false;
  std::optional<std::string> locked_reason;  // Nova 2.73 and later
  std::map<std::string, std::string> metadata;
  Flavor flavor;
};

inline constexpr int kPowerRunning = 1;

// The nova-compute service of a host.
struct ComputeService {
  std::string id;
  std::string host;
  bool enabled = true;
  bool forced_down = false;
  bool up = true;  // Nova's view: heartbeat recent and not forced down
  std::string disabled_reason;
};

// A hypervisor's size and use.
struct HostResources {
  std::string host;
  Flavor total;
  Flavor used;
};

// An evacuation (or other move) record, as Nova keeps one per evacuate call.
struct Migration {
  std::string id;   // the cloud's identity of the record (Nova: its uuid, else its id)
  int64_t seq = 0;  // creation order among records of the same second (Nova's integer id)
  std::string instance_uuid;
  std::string source_host;
  std::string dest_host;
  std::string type = "evacuation";
  std::string status;  // accepted, running, done, failed, error
  WallMicros created_at = 0;
};

// A host aggregate (Nova's scheduling groups: availability zones, hardware classes).
struct Aggregate {
  std::string id;
  std::string name;
  std::vector<std::string> hosts;
};

class ComputeDriver {
 public:
  virtual ~ComputeDriver() = default;

  virtual void GetService(const std::string& host, Callback<ComputeService> done) = 0;
  // Every host's compute service, in one call.
  virtual void ListServices(Callback<std::vector<ComputeService>> done) = 0;
  // Enables or disables the host's compute service (with a reason when disabling).
  virtual void SetServiceEnabled(const std::string& host, bool enabled, const std::string& reason,
                                 Callback<void> done) = 0;
  virtual void SetForcedDown(const std::string& host, bool forced_down, Callback<void> done) = 0;

  // The instances whose host is exactly `host` (never a prefix match).
  virtual void ListInstances(const std::string& host, Callback<std::vector<Instance>> done) = 0;
  virtual void GetInstance(const std::string& uuid, Callback<Instance> done) = 0;
  virtual void ListHostResources(Callback<std::vector<HostResources>> done) = 0;
  virtual void ListMigrations(const std::string& instance_uuid,
                              Callback<std::vector<Migration>> done) = 0;
  // Every evacuation record created or changed since `since`, of all instances: one call
  // follows many evacuations. kUnimplemented if the cloud cannot filter so (then callers
  // follow each instance on its own).
  virtual void ListEvacuationsSince(WallMicros since, Callback<std::vector<Migration>> done) = 0;

  // Accepted (done gets success) means the cloud has taken the request; the move itself
  // completes later and is confirmed through GetInstance/ListMigrations. No destination:
  // the cloud's scheduler picks one.
  virtual void Evacuate(const std::string& uuid, const std::optional<std::string>& destination,
                        Callback<void> done) = 0;
  virtual void StopInstance(const std::string& uuid, Callback<void> done) = 0;
  virtual void StartInstance(const std::string& uuid, Callback<void> done) = 0;
  virtual void ResetState(const std::string& uuid, const std::string& vm_state,
                          Callback<void> done) = 0;
  // Locks the instance against its owner's actions (the reason is recorded where the cloud
  // keeps one); unlocking an instance that is not locked succeeds.
  virtual void LockInstance(const std::string& uuid, const std::string& reason,
                            Callback<void> done) = 0;
  virtual void UnlockInstance(const std::string& uuid, Callback<void> done) = 0;

  virtual void ListAggregates(Callback<std::vector<Aggregate>> done) = 0;
  // Adds `host` to the aggregate; success if it is already a member.
  virtual void AddHostToAggregate(const std::string& aggregate_id, const std::string& host,
                                  Callback<void> done) = 0;

  // How fast the driver calls the cloud now, for the workflow details ("up to 24 calls in
  // flight, 45 a second after 429s"); "" if it does not pace itself. Thread-safe.
  virtual std::string PaceNote() const { return {}; }
};

}  // namespace warden::drivers
