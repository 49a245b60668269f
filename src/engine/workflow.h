// Recovery workflows: which named tasks run, in which order, for each notification type and
// recovery method, and how each task retries and times out.
//
// Configured like Masakari's [taskflow_driver_recovery_flows] (`pre:[a,b],main:[c],post:[d]`)
// or the seeds' [recovery_workflow_on_stop] `targets = a, b, c`; task names are Masakari's
// entry-point names, their class names, or the seeds' aliases, all mapped to one canonical
// task. Custom tasks (exec, http) are named in [custom_task:NAME] sections.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/domain.h"
#include "core/error.h"
#include "core/retry.h"

namespace warden::engine {

// The canonical built-in task names.
inline constexpr std::string_view kFenceHost = "FenceHostTask";
inline constexpr std::string_view kDisableComputeService = "DisableComputeServiceTask";
inline constexpr std::string_view kPrepareInstances = "PrepareHAEnabledInstancesTask";
inline constexpr std::string_view kEvacuateInstances = "EvacuateInstancesTask";
inline constexpr std::string_view kStopInstance = "StopInstanceTask";
inline constexpr std::string_view kStartInstance = "StartInstanceTask";
inline constexpr std::string_view kConfirmInstanceActive = "ConfirmInstanceActiveTask";
inline constexpr std::string_view kDisableComputeNode = "DisableComputeNodeTask";
// Warden's: restart the failed process through the host's agent (process failure flows).
inline constexpr std::string_view kRestartProcess = "RestartProcessTask";
inline constexpr std::string_view kConfirmComputeNodeDisabled = "ConfirmComputeNodeDisabledTask";
inline constexpr std::string_view kNoOp = "Noop";

// The canonical name of a built-in task spelled any accepted way, or "" if none.
std::string CanonicalTaskName(std::string_view name);

struct CustomTask {
  std::string name;
  enum class Kind { kExec, kHttp } kind = Kind::kExec;
  std::string command;  // exec: run by /bin/sh -c, the notification as JSON on stdin
  std::string url;      // http: POSTed the notification as JSON; 2xx is success
  int64_t timeout_micros = 30'000'000;
  RetryPolicy retry{.attempts = 1};
};

struct Workflows {
  std::vector<std::string> host_auto = {std::string(kFenceHost),
                                        std::string(kDisableComputeService),
                                        std::string(kPrepareInstances),
                                        std::string(kEvacuateInstances)};
  std::vector<std::string> host_rh = host_auto;
  std::vector<std::string> instance = {std::string(kStopInstance), std::string(kStartInstance),
                                       std::string(kConfirmInstanceActive)};
  std::vector<std::string> process = {std::string(kDisableComputeNode),
                                      std::string(kConfirmComputeNodeDisabled)};
  std::map<std::string, CustomTask> custom;

  const std::vector<std::string>& For(NotificationType type, RecoveryMethod method) const;
};

// Parses Masakari's "pre:[a,b],main:[c],post:[d]" (any order of the three, each optional) or a
// plain comma-separated list into canonical or custom task names. Unknown names are errors.
// For host flows, FenceHostTask is put first if missing: fencing is not optional.
Result<std::vector<std::string>> ParseFlow(std::string_view spec, bool host_flow,
                                           const std::map<std::string, CustomTask>& custom);

}  // namespace warden::engine
