#include "engine/workflow.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/strings.h"
#include "core/time.h"

namespace warden::engine {
namespace {

std::vector<std::string> SplitCommas(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string part =
        Trim(s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (!part.empty()) out.push_back(part);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

std::string CanonicalTaskName(std::string_view name) {
  static const std::map<std::string, std::string_view, std::less<>> names = {
      // Warden's own
      {"fence_host_task", kFenceHost},
      {"FenceHostTask", kFenceHost},
      {"FenceHost", kFenceHost},
      // Masakari's entry points and classes
      {"disable_compute_service_task", kDisableComputeService},
      {"DisableComputeServiceTask", kDisableComputeService},
      {"prepare_HA_enabled_instances_task", kPrepareInstances},
      {"PrepareHAEnabledInstancesTask", kPrepareInstances},
      {"evacuate_instances_task", kEvacuateInstances},
      {"EvacuateInstancesTask", kEvacuateInstances},
      {"stop_instance_task", kStopInstance},
      {"StopInstanceTask", kStopInstance},
      {"start_instance_task", kStartInstance},
      {"StartInstanceTask", kStartInstance},
      {"confirm_instance_active_task", kConfirmInstanceActive},
      {"ConfirmInstanceActiveTask", kConfirmInstanceActive},
      {"disable_compute_node_task", kDisableComputeNode},
      {"DisableComputeNodeTask", kDisableComputeNode},
      {"confirm_compute_node_disabled_task", kConfirmComputeNodeDisabled},
      {"ConfirmComputeNodeDisabledTask", kConfirmComputeNodeDisabled},
      {"restart_process_task", kRestartProcess},
      {"RestartProcessTask", kRestartProcess},
      {"no_op", kNoOp},
      {"Noop", kNoOp},
      // The seeds' spellings ([recovery_workflow_on_stop] targets)
      {"disableComputeNodeTask", kDisableComputeService},
      {"PrepareHAEnabled", kPrepareInstances},
      {"EvacuateHost", kEvacuateInstances},
  };
  auto it = names.find(name);
  return it == names.end() ? "" : std::string(it->second);
}

const std::vector<std::string>& Workflows::For(NotificationType type, RecoveryMethod method) const {
  switch (type) {
    case NotificationType::kComputeHost:
      return method == RecoveryMethod::kReservedHost || method == RecoveryMethod::kRhPriority
                 ? host_rh
                 : host_auto;
    case NotificationType::kVm:
      return instance;
    case NotificationType::kProcess:
      break;
  }
  return process;
}

Result<std::vector<std::string>> ParseFlow(std::string_view spec, bool host_flow,
                                           const std::map<std::string, CustomTask>& custom) {
  std::vector<std::string> raw;
  const std::string s = Trim(spec);
  if (s.find('[') != std::string::npos) {
    std::map<std::string, std::vector<std::string>> stages;
    size_t pos = 0;
    while (pos < s.size()) {
      size_t colon = s.find(':', pos);
      size_t open = s.find('[', pos);
      size_t close = s.find(']', pos);
      if (colon == std::string::npos || open == std::string::npos || close == std::string::npos ||
          !(colon < open && open < close)) {
        return InvalidArgument("'" + s + "' is not pre:[...],main:[...],post:[...]");
      }
      std::string stage = Trim(std::string_view(s).substr(pos, colon - pos));
      if (stage != "pre" && stage != "main" && stage != "post") {
        return InvalidArgument("unknown stage '" + stage + "' (pre, main, post)");
      }
      if (stages.contains(stage)) return InvalidArgument("stage '" + stage + "' given twice");
      stages[stage] = SplitCommas(std::string_view(s).substr(open + 1, close - open - 1));
      pos = close + 1;
      while (pos < s.size() && (s[pos] == ',' || s[pos] == ' ')) ++pos;
    }
    for (const char* st : {"pre", "main", "post"}) {
      for (auto& t : stages[st]) raw.push_back(t);
    }
  } else {
    raw = SplitCommas(s);
  }
  std::vector<std::string> out;
  for (const std::string& t : raw) {
    std::string canonical = CanonicalTaskName(t);
    if (canonical.empty()) {
      if (!custom.contains(t)) {
        return InvalidArgument("unknown task '" + t +
                               "' (a built-in task, or a [custom_task:" + t + "] section)");
      }
      canonical = t;
    }
    if (std::find(out.begin(), out.end(), canonical) != out.end()) {
      return InvalidArgument("task '" + t + "' appears twice");
    }
    out.push_back(canonical);
  }
  if (out.empty()) return InvalidArgument("the flow names no task");
  if (host_flow && std::find(out.begin(), out.end(), kFenceHost) == out.end()) {
    out.insert(out.begin(), std::string(kFenceHost));
  }
  return out;
}

}  // namespace warden::engine
