// What the recovery engine is told: the triage rules, the workflows, the notification life
// cycle's intervals, and how each flow calls the cloud (bounds, timeouts, retries). Built from
// warden.conf by engine_config.h's MakeEngineOptions; tests and benchmarks set it directly.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/retry.h"
#include "engine/triage.h"
#include "engine/workflow.h"

namespace warden::engine {

struct EngineOptions {
  TriageOptions triage;
  Workflows workflows;

  // Notification life cycle (Masakari's keys and defaults).
  int64_t process_unfinished_interval_micros = 120'000'000;
  int64_t retry_new_after_micros = 60'000'000;  // a `new` one nobody took is taken again
  int64_t check_expired_interval_micros = 600'000'000;
  int64_t expire_after_micros = 86'400'000'000;
  int max_error_retries = 1;  // error → retried this many times → failed

  // Host failure.
  bool evacuate_all_instances = true;
  bool ignore_instances_in_error_state = false;
  std::string ha_enabled_key = "HA_Enabled";
  std::string service_disable_reason = "Warden detected host failed.";
  int max_parallel_evacuations = 1000;    // per segment
  int max_parallel_per_destination = 20;  // per destination host
  int evacuation_attempts = 3;            // per instance, each to another destination
  int64_t evacuation_timeout_micros = 600'000'000;  // accepted → confirmed on the new host
  int64_t fence_timeout_micros = 60'000'000;        // power off → confirmed off
  int64_t poll_interval_micros = 1'000'000;         // condition checks (power, instance state)
  int64_t call_timeout_micros = 30'000'000;         // any one driver call
  RetryPolicy call_retry{.attempts = 5, .delay_micros = 1'000'000, .exponential = true,
                         .max_delay_micros = 30'000'000, .jitter = 0.2};
  // As Masakari's [host_failure] add_reserved_host_to_aggregate: a reserved host taken into
  // service joins every aggregate of the failed host first, so Nova's scheduler accepts it.
  bool add_reserved_host_to_aggregate = false;
  bool stay_in_segment = true;  // destinations only inside the failed host's segment
  // Lock each instance (as Masakari does) while it is moved, so that its owner cannot act on
  // it half-way; an instance its owner had locked is left as it was.
  bool lock_instances = true;

  // Instance failure.
  bool process_all_instances = false;
  bool recover_ignoring_error_instances = false;
  int64_t power_off_timeout_micros = 180'000'000;
  int64_t power_on_timeout_micros = 60'000'000;

  // Process failure.
  std::string process_disable_reason = "Warden detected process failed.";

  uint64_t seed = 0;  // jitter; 0: from the clock

  // Receives the engine's log lines: level ("info", "warning", "error"), message, fields.
  std::function<void(std::string_view, std::string_view,
                     const std::vector<std::pair<std::string, std::string>>&)>
      log;
};

}  // namespace warden::engine
