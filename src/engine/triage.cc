#include "engine/triage.h"

#include <nlohmann/json.hpp>

namespace warden::engine {
namespace {

std::string PayloadString(const nlohmann::json& p, const char* key) {
  auto it = p.find(key);
  return it != p.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string_view ToString(Verdict v) {
  switch (v) {
    case Verdict::kProceed:
      return "proceed";
    case Verdict::kIgnore:
      return "ignore";
    case Verdict::kFinish:
      return "finish";
    case Verdict::kHold:
      return "hold";
    case Verdict::kError:
      break;
  }
  return "error";
}

bool IsDuplicate(const Notification& candidate, const Notification& earlier,
                 int64_t window_seconds, bool status_aware) {
  if (earlier.uuid == candidate.uuid || earlier.type != candidate.type ||
      earlier.source_host_uuid != candidate.source_host_uuid ||
      earlier.payload_json != candidate.payload_json) {
    return false;
  }
  if (earlier.meta.id >= candidate.meta.id) return false;  // only an earlier one blocks
  if (earlier.generated_time < candidate.generated_time - window_seconds * 1'000'000) return false;
  if (status_aware && (earlier.status == NotificationStatus::kIgnored ||
                       earlier.status == NotificationStatus::kFailed)) {
    return false;
  }
  return true;
}

bool IsRecoverableInstanceEvent(const std::string& event, const std::string& detail) {
  return (event == "LIFECYCLE" && detail == "STOPPED_FAILED") ||
         (event == "IO_ERROR" && detail == "IO_ERROR_REPORT") ||
         (event == "QEMU_GUEST_AGENT_ERROR" && detail == "STOPPED_FAILED");
}

TriageDecision Triage(const TriageInput& in, const TriageOptions& options) {
  const Notification& n = in.notification;
  if (!in.host) {
    return {Verdict::kIgnore, "Recovery aborted: the host no longer exists."};
  }
  if (!in.segment) {
    return {Verdict::kIgnore, "Recovery aborted: the host's segment no longer exists."};
  }
  if (!in.segment->enabled) {
    return {Verdict::kIgnore, "Recovery aborted: the segment HA is disabled."};
  }
  if (in.first_run && in.host->on_maintenance) {
    return {Verdict::kIgnore, "Recovery aborted: host " + in.host->name + " is on maintenance."};
  }
  if (in.first_run) {
    for (const Notification& other : in.same_host_recent) {
      if (IsDuplicate(n, other, options.duplicate_window_seconds,
                      options.status_aware_duplicates)) {
        return {Verdict::kIgnore, "Duplicate of notification " + other.uuid + "."};
      }
    }
  }
  nlohmann::json payload = nlohmann::json::parse(n.payload_json, nullptr, false);
  if (!payload.is_object()) payload = nlohmann::json::object();
  const std::string event = PayloadString(payload, "event");
  switch (n.type) {
    case NotificationType::kComputeHost: {
      if (event == "STARTED") return {Verdict::kFinish, "Host started; nothing to recover."};
      if (event != "STOPPED") {
        return {Verdict::kIgnore, "Event '" + event + "' of a compute host needs no recovery."};
      }
      if (!in.host_has_fencer) {
        if (options.unfenced_hosts == UnfencedHosts::kRefuse) {
          return {Verdict::kError,
                  "Host " + in.host->name +
                      " has no fencer and [host_failure] unfenced_hosts = refuse: it cannot be "
                      "confirmed off, so nothing is evacuated.",
                  true};
        }
        if (PayloadString(payload, "host_status") != "NORMAL") {
          return {Verdict::kIgnore,
                  "Host " + in.host->name +
                      " has no fencer and the notification's host_status is not NORMAL: the "
                      "host is not confirmed off, so evacuating could run instances twice."};
        }
      }
      const int64_t failing = in.segment_hosts_failing + 1;
      if (in.segment_hosts > 0 &&
          double(failing) > options.storm_guard_max_share * double(in.segment_hosts)) {
        return {Verdict::kHold,
                "ALARM storm guard: " + std::to_string(failing) + " of " +
                    std::to_string(in.segment_hosts) + " hosts of segment " + in.segment->name +
                    " are failing, above the limit of " +
                    std::to_string(int(options.storm_guard_max_share * 100 + 0.5)) +
                    "%; nothing is fenced or evacuated automatically. Check the segment, then "
                    "retry the notification.",
                true};
      }
      return {Verdict::kProceed, ""};
    }
    case NotificationType::kVm: {
      const std::string detail = PayloadString(payload, "vir_domain_event");
      if (!IsRecoverableInstanceEvent(event, detail)) {
        return {Verdict::kIgnore, "Event " + event + "/" + detail + " needs no recovery."};
      }
      if (PayloadString(payload, "instance_uuid").empty()) {
        return {Verdict::kIgnore, "The payload names no instance_uuid."};
      }
      return {Verdict::kProceed, ""};
    }
    case NotificationType::kProcess: {
      if (event == "STARTED") return {Verdict::kFinish, "Process started; nothing to recover."};
      if (event != "STOPPED") {
        return {Verdict::kIgnore, "Event '" + event + "' of a process needs no recovery."};
      }
      return {Verdict::kProceed, ""};
    }
  }
  return {Verdict::kIgnore, "Unknown notification type."};
}

}  // namespace warden::engine
