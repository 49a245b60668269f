// The engine's configuration keys and EngineOptions built from them (see engine_config.h).
#include "engine/engine_config.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "core/retry.h"
#include "core/time.h"
#include "engine/workflow.h"

namespace warden::engine {

const std::vector<config::Key<EngineConfig>>& EngineConfigKeys() {
  using C = EngineConfig;
  using config::Bool;
  using config::Choice;
  using config::Double;
  using config::Int;
  using config::String;
  static const std::vector<config::Key<C>> keys = {
      Int("DEFAULT", "duplicate_notification_detection_interval",
          &C::duplicate_notification_detection_interval, 0, 86400 * 7),
      Int("DEFAULT", "process_unfinished_notifications_interval",
          &C::process_unfinished_notifications_interval, 1, 86400),
      Int("DEFAULT", "retry_notification_new_status_interval",
          &C::retry_notification_new_status_interval, 1, 86400),
      Int("DEFAULT", "check_expired_notifications_interval",
          &C::check_expired_notifications_interval, 1, 86400),
      Int("DEFAULT", "notifications_expired_interval", &C::notifications_expired_interval, 60,
          86400 * 365),
      Int("DEFAULT", "error_notification_retries", &C::error_notification_retries, 0, 100),
      Bool("DEFAULT", "status_aware_duplicate_detection", &C::status_aware_duplicate_detection),
      Bool("host_failure", "evacuate_all_instances", &C::evacuate_all_instances),
      Bool("host_failure", "ignore_instances_in_error_state", &C::ignore_instances_in_error_state),
      String("host_failure", "service_disable_reason", &C::service_disable_reason),
      Int("host_failure", "max_parallel_evacuations", &C::max_parallel_evacuations, 1, 10000),
      Int("host_failure", "max_parallel_evacuations_per_host",
          &C::max_parallel_evacuations_per_host, 1, 10000),
      Int("host_failure", "evacuation_attempts", &C::evacuation_attempts, 1, 100),
      Int("host_failure", "evacuation_timeout", &C::evacuation_timeout, 1, 86400),
      Int("host_failure", "fence_timeout", &C::fence_timeout, 1, 3600),
      Choice("host_failure", "unfenced_hosts", &C::unfenced_hosts, {"trust_host_status", "refuse"}),
      Bool("host_failure", "stay_in_segment", &C::stay_in_segment),
      Bool("host_failure", "add_reserved_host_to_aggregate", &C::add_reserved_host_to_aggregate),
      Bool("host_failure", "lock_instances", &C::lock_instances),
      Double("host_failure", "storm_guard_max_share", &C::storm_guard_max_share, 0.0, 1.0),
      String("host_failure", "api_retry", &C::api_retry),
      Int("host_failure", "api_call_timeout", &C::api_call_timeout, 1, 3600),
      Double("host_failure", "poll_interval", &C::poll_interval, 0.01, 600),
      Bool("process_failure", "restart_through_agent", &C::restart_through_agent),
      Bool("instance_failure", "process_all_instances", &C::process_all_instances),
      String("instance_failure", "ha_enabled_instance_metadata_key",
             &C::ha_enabled_instance_metadata_key),
      Bool("instance_failure", "recover_ignoring_error_instances",
           &C::recover_ignoring_error_instances),
      Choice("instance_failure", "recover_instance_failure_method",
             &C::recover_instance_failure_method, {"auto"}),
      Int("instance_failure", "wait_period_after_power_off", &C::wait_period_after_power_off, 1,
          86400),
      Int("instance_failure", "wait_period_after_power_on", &C::wait_period_after_power_on, 1,
          86400),
      String("taskflow_driver_recovery_flows", "host_auto_failure_recovery_tasks",
             &C::host_auto_failure_recovery_tasks),
      String("taskflow_driver_recovery_flows", "host_rh_failure_recovery_tasks",
             &C::host_rh_failure_recovery_tasks),
      String("taskflow_driver_recovery_flows", "instance_failure_recovery_tasks",
             &C::instance_failure_recovery_tasks),
      String("taskflow_driver_recovery_flows", "process_failure_recovery_tasks",
             &C::process_failure_recovery_tasks),
      String("recovery_workflow_on_stop", "targets", &C::recovery_workflow_on_stop_targets),
  };
  return keys;
}

const config::Family<EngineConfig>& CustomTaskSections() {
  static const config::Family<EngineConfig> family = {
      "custom_task", "a custom task", {"type", "command", "url", "timeout", "retry"},
      [](EngineConfig& c) -> config::NamedSections& { return c.custom_tasks; }, nullptr};
  return family;
}

Result<EngineOptions> MakeEngineOptions(const EngineConfig& c, bool agent_configured) {
  EngineOptions o;
  constexpr int64_t kSec = 1'000'000;
  o.triage.duplicate_window_seconds = c.duplicate_notification_detection_interval;
  o.triage.status_aware_duplicates = c.status_aware_duplicate_detection;
  o.triage.storm_guard_max_share = c.storm_guard_max_share;
  o.triage.unfenced_hosts = c.unfenced_hosts == "refuse" ? UnfencedHosts::kRefuse
                                                         : UnfencedHosts::kTrustHostStatus;
  o.process_unfinished_interval_micros = c.process_unfinished_notifications_interval * kSec;
  o.retry_new_after_micros = c.retry_notification_new_status_interval * kSec;
  o.check_expired_interval_micros = c.check_expired_notifications_interval * kSec;
  o.expire_after_micros = c.notifications_expired_interval * kSec;
  o.max_error_retries = int(c.error_notification_retries);
  o.evacuate_all_instances = c.evacuate_all_instances;
  o.ignore_instances_in_error_state = c.ignore_instances_in_error_state;
  o.ha_enabled_key = c.ha_enabled_instance_metadata_key;
  o.service_disable_reason = c.service_disable_reason;
  o.max_parallel_evacuations = int(c.max_parallel_evacuations);
  o.max_parallel_per_destination = int(c.max_parallel_evacuations_per_host);
  o.evacuation_attempts = int(c.evacuation_attempts);
  o.evacuation_timeout_micros = c.evacuation_timeout * kSec;
  o.fence_timeout_micros = c.fence_timeout * kSec;
  o.poll_interval_micros = int64_t(c.poll_interval * kSec);
  o.call_timeout_micros = c.api_call_timeout * kSec;
  o.stay_in_segment = c.stay_in_segment;
  o.add_reserved_host_to_aggregate = c.add_reserved_host_to_aggregate;
  o.lock_instances = c.lock_instances;
  auto retry = ParseRetryPolicy(c.api_retry);
  if (!retry) return InvalidArgument("[host_failure] api_retry: " + retry.error().message());
  o.call_retry = *retry;
  o.process_all_instances = c.process_all_instances;
  o.recover_ignoring_error_instances = c.recover_ignoring_error_instances;
  o.power_off_timeout_micros = c.wait_period_after_power_off * kSec;
  o.power_on_timeout_micros = c.wait_period_after_power_on * kSec;
  // Checked in name order, so the first error named is the same whatever the file's order.
  const std::map<std::string, std::map<std::string, std::string>> by_name(c.custom_tasks.begin(),
                                                                          c.custom_tasks.end());
  for (const auto& [name, keys] : by_name) {
    const std::string where = "[custom_task:" + name + "] ";
    CustomTask t;
    t.name = name;
    auto get = [&](const char* k) {
      auto it = keys.find(k);
      return it == keys.end() ? std::string() : it->second;
    };
    const std::string type = get("type");
    if (type == "exec") {
      t.kind = CustomTask::Kind::kExec;
      t.command = get("command");
      if (t.command.empty()) return InvalidArgument(where + "command: required for type = exec");
    } else if (type == "http") {
      t.kind = CustomTask::Kind::kHttp;
      t.url = get("url");
      if (t.url.rfind("http://", 0) != 0 && t.url.rfind("https://", 0) != 0) {
        return InvalidArgument(where + "url: '" + t.url + "' is not an http(s) URL");
      }
    } else {
      return InvalidArgument(where + "type: '" + type + "' is not one of: exec, http");
    }
    if (auto v = get("timeout"); !v.empty()) {
      auto d = ParseDurationMicros(v);
      if (!d || *d <= 0) return InvalidArgument(where + "timeout: '" + v + "' is not a duration");
      t.timeout_micros = *d;
    }
    if (auto v = get("retry"); !v.empty()) {
      auto r = ParseRetryPolicy(v);
      if (!r) return InvalidArgument(where + "retry: " + r.error().message());
      t.retry = *r;
    }
    o.workflows.custom[name] = t;
  }
  auto flow = [&](const std::string& spec, const char* key, bool host,
                  std::vector<std::string>& out) -> Result<void> {
    if (spec.empty()) return {};
    auto f = ParseFlow(spec, host, o.workflows.custom);
    if (!f) return InvalidArgument(std::string(key) + ": " + f.error().message());
    out = *f;
    return {};
  };
  const char* s = "[taskflow_driver_recovery_flows] ";
  if (auto r = flow(c.recovery_workflow_on_stop_targets, "[recovery_workflow_on_stop] targets", true,
                    o.workflows.host_auto);
      !r) {
    return std::unexpected(r.error());
  }
  if (!c.recovery_workflow_on_stop_targets.empty()) o.workflows.host_rh = o.workflows.host_auto;
  for (auto [spec, key, host, out] :
       std::vector<std::tuple<const std::string*, std::string, bool, std::vector<std::string>*>>{
           {&c.host_auto_failure_recovery_tasks, "host_auto_failure_recovery_tasks", true,
            &o.workflows.host_auto},
           {&c.host_rh_failure_recovery_tasks, "host_rh_failure_recovery_tasks", true,
            &o.workflows.host_rh},
           {&c.instance_failure_recovery_tasks, "instance_failure_recovery_tasks", false,
            &o.workflows.instance},
           {&c.process_failure_recovery_tasks, "process_failure_recovery_tasks", false,
            &o.workflows.process}}) {
    if (auto r = flow(*spec, (s + key).c_str(), host, *out); !r) return std::unexpected(r.error());
  }
  auto& process = o.workflows.process;
  const bool names_restart = std::find(process.begin(), process.end(),
                                       std::string(kRestartProcess)) != process.end();
  if (c.restart_through_agent && !names_restart) {
    process.insert(process.begin(), std::string(kRestartProcess));
  }
  if (names_restart && !agent_configured) {
    return InvalidArgument(std::string(s) +
                           "process_failure_recovery_tasks names RestartProcessTask: set "
                           "[process_failure] agent_url (and agent_token_file)");
  }
  return o;
}

}  // namespace warden::engine
