// Warden's domain values: failover segments, hosts, notifications and VM moves.
//
// These are plain values with Masakari's field names and meanings. Enumerations have one
// canonical spelling (Masakari's) and parse the seeds' aliases (COMPUTE_INSTANCE for VM,
// COMPUTE_PROCESS for PROCESS).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace warden {

// Fields every stored record has, as Masakari returns them.
struct RecordMeta {
  int64_t id = 0;  // integer primary key; the list `marker`
  WallMicros created_at = 0;
  std::optional<WallMicros> updated_at;
  std::optional<WallMicros> deleted_at;
  bool deleted = false;
};

enum class RecoveryMethod { kAuto, kReservedHost, kAutoPriority, kRhPriority };
std::string_view ToString(RecoveryMethod m);
std::optional<RecoveryMethod> ParseRecoveryMethod(std::string_view s);
std::span<const std::string_view> RecoveryMethodNames();

struct Segment {
  RecordMeta meta;
  std::string uuid;
  std::string name;
  std::string service_type;
  std::optional<std::string> description;
  RecoveryMethod recovery_method = RecoveryMethod::kAuto;
  bool enabled = true;
};

struct Host {
  RecordMeta meta;
  std::string uuid;
  std::string name;
  std::string segment_uuid;  // Masakari's failover_segment_id
  std::string type;
  std::string control_attributes;
  bool reserved = false;
  bool on_maintenance = false;
};

enum class NotificationType { kComputeHost, kVm, kProcess };
std::string_view ToString(NotificationType t);
// Accepts COMPUTE_HOST, VM, PROCESS and the aliases COMPUTE_INSTANCE and COMPUTE_PROCESS.
std::optional<NotificationType> ParseNotificationType(std::string_view s);

enum class NotificationStatus { kNew, kRunning, kError, kFailed, kIgnored, kFinished };
std::string_view ToString(NotificationStatus s);
std::optional<NotificationStatus> ParseNotificationStatus(std::string_view s);

struct Notification {
  RecordMeta meta;
  std::string uuid;  // notification_uuid
  WallMicros generated_time = 0;
  std::string source_host_uuid;
  std::string segment_uuid;  // failover_segment_uuid
  NotificationType type = NotificationType::kComputeHost;
  std::string payload_json;  // canonical JSON (sorted keys, no spaces): compared for dedup
  NotificationStatus status = NotificationStatus::kNew;
  std::optional<std::string> message;
  std::string workflow_details_json = "[]";  // recovery_workflow_details (microversion 1.1)
  // Warden's own bookkeeping, not part of Masakari's representation: automatic retries of
  // this notification after it ended in `error` (kept across restarts; an operator's retry
  // starts the count again).
  int error_retries = 0;
};

enum class VMoveType { kEvacuation, kMigration, kLiveMigration };
std::string_view ToString(VMoveType t);
std::optional<VMoveType> ParseVMoveType(std::string_view s);

enum class VMoveStatus { kPending, kOngoing, kIgnored, kFailed, kSucceeded };
std::string_view ToString(VMoveStatus s);
std::optional<VMoveStatus> ParseVMoveStatus(std::string_view s);

struct VMove {
  RecordMeta meta;
  std::string uuid;
  std::string notification_uuid;
  std::string instance_uuid;
  std::string instance_name;
  std::string source_host;
  std::optional<std::string> dest_host;
  std::optional<WallMicros> start_time;
  std::optional<WallMicros> end_time;
  VMoveType type = VMoveType::kEvacuation;
  VMoveStatus status = VMoveStatus::kPending;
  std::optional<std::string> message;
  // Warden's own bookkeeping, not part of Masakari's representation: the state the instance is
  // left in once it runs on its new host ("active", "stopped" or "error"; decided from its
  // state when the move was recorded, so that a reset before a crash does not change it), and
  // whether Warden locked the instance for the move and so must unlock it at the end.
  std::optional<std::string> restore_state;
  bool warden_locked = false;
};

// Masakari's boolean strings (oslo strutils, strict): true/1/on/yes/y/t and their false
// counterparts, case-insensitive.
std::optional<bool> ParseBoolString(std::string_view s);

}  // namespace warden
