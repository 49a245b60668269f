// ComputeDriver for a real OpenStack cloud: Nova's compute API and Placement, with Warden's
// Keystone token.
//
// Calls are queued on the engine's loop and run on a pool of HTTP threads, paced by how the
// cloud answers (drivers/nova/pacer.h: a window of calls in flight that grows while answers
// are clean and is cut on 5xx, timeouts and slow answers; a rate set on the first 429;
// Retry-After honoured), within `max_concurrent_calls` and `max_calls_per_second`, so a
// recovery of hundreds of instances neither stalls the loop nor floods nova-api. A call the
// cloud turned away unexecuted (429, or 503 with Retry-After) is sent again after the wait.
// Each result is posted back to the loop. The compute microversion is negotiated once from the endpoint's
// version document (the highest Nova offers, capped at 2.93, the last before evacuated
// servers stay stopped; at least 2.53 for service ids and forced_down).
//
// Errors: 409 and 429/5xx, connection failures and timeouts come back as retryable codes
// (Aborted, Unavailable, DeadlineExceeded; the engine's policy retries them); 400 as
// FailedPrecondition with Nova's message (e.g. "Compute service of X is still in use."), 404
// as NotFound, 403 as PermissionDenied. A 401 renews the token once and repeats the call.
#pragma once

#include <memory>
#include <string>

#include "core/event_loop.h"
#include "drivers/compute.h"
#include "openstack/keystone.h"

namespace warden::drivers {

struct NovaOptions {
  std::string compute_url;    // overrides the catalog's "compute" endpoint
  std::string placement_url;  // overrides the catalog's "placement" endpoint
  // Caps on the pace, which adapts to how the cloud answers (pacer.h): calls in flight
  // (starting at 8) and calls started a second (0: no cap; limited only after a 429).
  int max_concurrent_calls = 64;
  double max_calls_per_second = 0;
  double call_timeout_seconds = 30;
  // An operation still waiting for the concurrency bound or the rate limit this long after it
  // was asked for is answered kDeadlineExceeded and never sent: its caller has given up (the
  // engine's api_call_timeout) and may already act on that. 0: no limit.
  double queue_timeout_seconds = 0;
  net::TlsOptions tls;
};

struct NovaStats {
  int64_t operations = 0;     // driver calls (GetService, Evacuate ...)
  int64_t http_requests = 0;  // requests sent to Nova and Placement
  int64_t reauthentications = 0;  // 401s answered by renewing the token
  int64_t expired = 0;            // operations dropped unsent after queue_timeout
  int64_t throttled = 0;          // 429s received
  int64_t requeued = 0;           // operations sent again after a 429 or a 503 with Retry-After
  int64_t pace_cuts = 0;          // times the pace was cut (429, 5xx, timeouts, slow answers)
  int64_t pace_window = 0;        // calls in flight allowed now
  double pace_rate = 0;           // calls a second allowed now; 0: not limited
};

class NovaCompute final : public ComputeDriver {
 public:
  // `keystone` must outlive the driver. REQUIRES: loop outlives the driver.
  NovaCompute(EventLoop& loop, openstack::KeystoneClient& keystone, NovaOptions options);
  // Waits for the calls in flight (their answers are posted to the loop).
  ~NovaCompute() override;

  void GetService(const std::string& host, Callback<ComputeService> done) override;
  void SetServiceEnabled(const std::string& host, bool enabled, const std::string& reason,
                         Callback<void> done) override;
  void SetForcedDown(const std::string& host, bool forced_down, Callback<void> done) override;
  void ListInstances(const std::string& host, Callback<std::vector<Instance>> done) override;
  void GetInstance(const std::string& uuid, Callback<Instance> done) override;
  void ListHostResources(Callback<std::vector<HostResources>> done) override;
  void ListMigrations(const std::string& instance_uuid,
                      Callback<std::vector<Migration>> done) override;
  void Evacuate(const std::string& uuid, const std::optional<std::string>& destination,
                Callback<void> done) override;
  void StopInstance(const std::string& uuid, Callback<void> done) override;
  void StartInstance(const std::string& uuid, Callback<void> done) override;
  void ResetState(const std::string& uuid, const std::string& vm_state,
                  Callback<void> done) override;
  void ListServices(Callback<std::vector<ComputeService>> done) override;
  void ListEvacuationsSince(WallMicros since, Callback<std::vector<Migration>> done) override;
  void LockInstance(const std::string& uuid, const std::string& reason,
                    Callback<void> done) override;
  void UnlockInstance(const std::string& uuid, Callback<void> done) override;
  void ListAggregates(Callback<std::vector<Aggregate>> done) override;
  void AddHostToAggregate(const std::string& aggregate_id, const std::string& host,
                          Callback<void> done) override;

  std::string PaceNote() const override;

  // Thread-safe.
  NovaStats stats() const;
  // "2.93", or "" before the first call.
  std::string microversion() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Checks options; the message names the key ([nova] max_concurrent_calls ...).
Result<void> ValidateNovaOptions(const NovaOptions& options);

}  // namespace warden::drivers
