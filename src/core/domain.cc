#include "core/domain.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace warden {
namespace {

template <typename E, size_t N>
std::optional<E> Lookup(const std::array<std::string_view, N>& names, std::string_view s) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  return std::nullopt;
}

constexpr std::array<std::string_view, 4> kRecoveryMethods = {"auto", "reserved_host",
                                                              "auto_priority", "rh_priority"};
constexpr std::array<std::string_view, 3> kNotificationTypes = {"COMPUTE_HOST", "VM", "PROCESS"};
constexpr std::array<std::string_view, 6> kNotificationStatuses = {"new",    "running", "error",
                                                                   "failed", "ignored", "finished"};
constexpr std::array<std::string_view, 3> kVMoveTypes = {"evacuation", "migration",
                                                         "live_migration"};
constexpr std::array<std::string_view, 5> kVMoveStatuses = {"pending", "ongoing", "ignored",
                                                            "failed", "succeeded"};

}  // namespace

std::string_view ToString(RecoveryMethod m) { return kRecoveryMethods[size_t(m)]; }
std::optional<RecoveryMethod> ParseRecoveryMethod(std::string_view s) {
  return Lookup<RecoveryMethod>(kRecoveryMethods, s);
}
std::span<const std::string_view> RecoveryMethodNames() { return kRecoveryMethods; }

std::string_view ToString(NotificationType t) { return kNotificationTypes[size_t(t)]; }
std::optional<NotificationType> ParseNotificationType(std::string_view s) {
  if (s == "COMPUTE_INSTANCE") return NotificationType::kVm;
  if (s == "COMPUTE_PROCESS") return NotificationType::kProcess;
  return Lookup<NotificationType>(kNotificationTypes, s);
}

std::string_view ToString(NotificationStatus s) { return kNotificationStatuses[size_t(s)]; }
std::optional<NotificationStatus> ParseNotificationStatus(std::string_view s) {
  return Lookup<NotificationStatus>(kNotificationStatuses, s);
}

std::string_view ToString(VMoveType t) { return kVMoveTypes[size_t(t)]; }
std::optional<VMoveType> ParseVMoveType(std::string_view s) {
  return Lookup<VMoveType>(kVMoveTypes, s);
}

std::string_view ToString(VMoveStatus s) { return kVMoveStatuses[size_t(s)]; }
std::optional<VMoveStatus> ParseVMoveStatus(std::string_view s) {
  return Lookup<VMoveStatus>(kVMoveStatuses, s);
}

std::optional<bool> ParseBoolString(std::string_view s) {
  std::string lower(s);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (std::string_view t : {"1", "t", "true", "on", "y", "yes"}) {
    if (lower == t) return true;
  }
  for (std::string_view f : {"0", "f", "false", "off", "n", "no"}) {
    if (lower == f) return false;
  }
  return std::nullopt;
}

}  // namespace warden
