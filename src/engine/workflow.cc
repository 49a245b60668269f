#include "engine/workflow.h"

#include "core/strings.h"
#include "core/time.h"

#include <algorithm>
#include <charconv>
#include <cmath>

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

int64_t RetryPolicy::DelayBefore(int attempt, std::mt19937_64& rng) const {
  double d = double(delay_micros);
  if (exponential) {
    for (int i = 2; i < attempt && d < double(max_delay_micros); ++i) d *= 2;
    d = std::min(d, double(max_delay_micros));
  }
  if (jitter > 0 && d > 0) {
    d *= std::uniform_real_distribution<double>(1 - jitter, 1 + jitter)(rng);
  }
  return int64_t(d);
}

Result<RetryPolicy> ParseRetryPolicy(std::string_view spec) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t c = spec.find(':', start);
    parts.push_back(Trim(spec.substr(start, c == std::string_view::npos ? c : c - start)));
    if (c == std::string_view::npos) break;
    start = c + 1;
  }
  const std::string bad = "'" + std::string(spec) +
                          "' is not a retry policy (fixed:ATTEMPTS:DELAY or "
                          "exponential:ATTEMPTS:DELAY:MAX_DELAY)";
  RetryPolicy p;
  if (parts[0] == "fixed" && parts.size() == 3) {
    p.exponential = false;
  } else if (parts[0] == "exponential" && parts.size() == 4) {
    p.exponential = true;
  } else {
    return InvalidArgument(bad);
  }
  int attempts = 0;
  auto [ptr, ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), attempts);
  if (ec != std::errc() || ptr != parts[1].data() + parts[1].size() || attempts < 1 ||
      attempts > 1000) {
    return InvalidArgument(bad + ": attempts must be 1-1000");
  }
  p.attempts = attempts;
  auto delay = ParseDurationMicros(parts[2]);
  if (!delay) return InvalidArgument(bad + ": " + delay.error().message());
  p.delay_micros = *delay;
  p.max_delay_micros = *delay;
  if (p.exponential) {
    auto max = ParseDurationMicros(parts[3]);
    if (!max) return InvalidArgument(bad + ": " + max.error().message());
    if (*max < *delay) return InvalidArgument(bad + ": MAX_DELAY is below DELAY");
    p.max_delay_micros = *max;
  }
  return p;
}

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
