// The engine's part of warden.conf, in Masakari's sections and names: the notification life
// cycle ([DEFAULT]), [host_failure], [instance_failure], [process_failure] restart_through_agent,
// the flows ([taskflow_driver_recovery_flows], the seeds' [recovery_workflow_on_stop]) and
// operators' [custom_task:NAME] sections. MakeEngineOptions turns them into EngineOptions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config_keys.h"
#include "core/error.h"
#include "engine/engine_options.h"

namespace warden::engine {

struct EngineConfig {
  // [DEFAULT] the notification life cycle (Masakari's keys, seconds)
  int64_t duplicate_notification_detection_interval = 180;
  int64_t process_unfinished_notifications_interval = 120;
  int64_t retry_notification_new_status_interval = 60;
  int64_t check_expired_notifications_interval = 600;
  int64_t notifications_expired_interval = 86400;
  int64_t error_notification_retries = 1;
  bool status_aware_duplicate_detection = false;

  // [host_failure]
  bool evacuate_all_instances = true;
  bool ignore_instances_in_error_state = false;
  std::string service_disable_reason = "Warden detected host failed.";
  int64_t max_parallel_evacuations = 1000;
  int64_t max_parallel_evacuations_per_host = 20;
  int64_t evacuation_attempts = 3;
  int64_t evacuation_timeout = 600;
  int64_t fence_timeout = 60;
  std::string unfenced_hosts = "trust_host_status";
  bool stay_in_segment = true;
  bool add_reserved_host_to_aggregate = false;
  bool lock_instances = true;
  double storm_guard_max_share = 0.5;
  std::string api_retry = "exponential:5:1s:30s";
  int64_t api_call_timeout = 30;
  double poll_interval = 1.0;

  // [process_failure]: restart a failed process through the host's `warden agent` first (the
  // agent client's keys are drivers/agent/agent_client_config.h's).
  bool restart_through_agent = false;

  // [instance_failure]
  bool process_all_instances = false;
  std::string ha_enabled_instance_metadata_key = "HA_Enabled";
  bool recover_ignoring_error_instances = false;
  std::string recover_instance_failure_method = "auto";
  int64_t wait_period_after_power_off = 180;
  int64_t wait_period_after_power_on = 60;

  // [taskflow_driver_recovery_flows] and the seeds' [recovery_workflow_on_stop] targets
  std::string host_auto_failure_recovery_tasks;
  std::string host_rh_failure_recovery_tasks;
  std::string instance_failure_recovery_tasks;
  std::string process_failure_recovery_tasks;
  std::string recovery_workflow_on_stop_targets;

  // [custom_task:NAME] sections in file order
  config::NamedSections custom_tasks;
};

const std::vector<config::Key<EngineConfig>>& EngineConfigKeys();
const config::Family<EngineConfig>& CustomTaskSections();

// The engine's options; errors name the key. `agent_configured`: [process_failure] agent_url is
// set (RestartProcessTask needs it).
Result<EngineOptions> MakeEngineOptions(const EngineConfig& config, bool agent_configured);

}  // namespace warden::engine
