// Masakari's resource rules over any Store: what creating, changing and deleting segments,
// hosts and notifications means, independent of HTTP.
//
// Inputs are already validated for shape (types, lengths, enums) by the transport; this
// class enforces the rules that need the store: existence, uniqueness, "in use by a
// recovery", host maintenance, and the duplicate-notification rule. Every mutation is one
// write transaction, so a rule checked is a rule that still holds at commit.
//
// Thread-safe (the Store is); holds no state of its own.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/domain.h"
#include "core/error.h"
#include "store/store.h"

namespace warden::ha {

struct SegmentCreate {
  std::string name;
  std::optional<std::string> description;
  RecoveryMethod recovery_method = RecoveryMethod::kAuto;
  std::string service_type;
  std::optional<bool> enabled;
};

struct SegmentUpdate {
  std::optional<std::string> name;
  std::optional<std::optional<std::string>> description;  // set, possibly to null
  std::optional<RecoveryMethod> recovery_method;
  std::optional<std::string> service_type;
  std::optional<bool> enabled;
};

struct HostCreate {
  std::string name;
  std::string type;
  std::string control_attributes;
  std::optional<bool> reserved;
  std::optional<bool> on_maintenance;
};

struct HostUpdate {
  std::optional<std::string> name;
  std::optional<std::string> type;
  std::optional<std::string> control_attributes;
  std::optional<bool> reserved;
  std::optional<bool> on_maintenance;
};

struct NotificationCreate {
  NotificationType type = NotificationType::kComputeHost;
  std::string hostname;
  WallMicros generated_time = 0;
  std::string payload_json;  // canonical JSON of the payload object
  // The notification_uuid to store it under; empty: a new one. Intake that may see the same
  // signal twice (a redelivered AMQP message) derives it from the signal, so that the second
  // create finds the first and is refused as AlreadyExists instead of creating another.
  std::string uuid;
};

struct HostWithSegment {
  Host host;
  Segment segment;
};

// A page of the VM moves of one host notification, with counts over all of its moves.
struct NotificationVMoves {
  Notification notification;
  std::vector<VMove> moves;   // the requested filter and page
  store::VMoveCounts counts;  // every move of the notification, whatever the filter and page
};

// What the dashboard's overview shows (Warden extension), read in one snapshot.
struct OverviewHost {
  Host host;
  // in_recovery: a host or process notification of it is new, running or in error (being
  //   retried); fenced: on maintenance after its latest host notification finished, and not
  //   changed since (Warden's host recovery leaves it so until unfenced); else maintenance,
  //   reserved or up.
  std::string_view state;
  std::string notification_uuid;  // the one in recovery, or the one that fenced it
};
struct OverviewSegment {
  Segment segment;
  std::vector<OverviewHost> hosts;  // by name
};
struct OverviewNotification {
  Notification notification;
  std::string host_name;      // empty when the host is gone
  store::VMoveCounts moves;   // host notifications only
};
struct Overview {
  WallMicros now = 0;
  WallMicros since = 0;  // the start of the last 24 h
  std::vector<OverviewSegment> segments;  // by name
  // Notifications generated in the last 24 h, by status (every status, in the API's order).
  std::vector<std::pair<NotificationStatus, int64_t>> last_day;
  // new, running and error notifications, oldest first: the first `active_limit` of
  // `active_total`.
  std::vector<OverviewNotification> active;
  int64_t active_total = 0;
  // The latest finished or failed host notifications, newest first, for their timings:
  // generated, reported (created_at), first move started, last instance recovered.
  std::vector<OverviewNotification> recent;
};

struct HaOptions {
  // Masakari's duplicate_notification_detection_interval.
  int64_t duplicate_window_seconds = 180;
  // Masakari counts every earlier identical notification as a duplicate, whatever its status;
  // with this, ignored and failed ones do not block a resend.
  bool status_aware_duplicates = false;
  // Called once a notification is durably stored (on the store's thread: quick, no waiting),
  // e.g. to hand it to the recovery engine.
  std::function<void(const Notification&)> on_created;
};

class HaService {
 public:
  HaService(store::Store& store, const Clock& clock, HaOptions options)
      : store_(store), clock_(clock), options_(options) {}

  Result<Segment> CreateSegment(const SegmentCreate& in);
  Result<Segment> GetSegment(std::string_view uuid);
  Result<std::vector<Segment>> ListSegments(const store::SegmentFilter& filter,
                                            const store::Page& page);
  Result<Segment> UpdateSegment(std::string_view uuid, const SegmentUpdate& in);
  Result<void> DeleteSegment(std::string_view uuid);

  Result<HostWithSegment> CreateHost(std::string_view segment_uuid, const HostCreate& in);
  Result<HostWithSegment> GetHost(std::string_view segment_uuid, std::string_view host_uuid);
  Result<std::pair<Segment, std::vector<Host>>> ListHosts(std::string_view segment_uuid,
                                                          store::HostFilter filter,
                                                          const store::Page& page);
  Result<HostWithSegment> UpdateHost(std::string_view segment_uuid, std::string_view host_uuid,
                                     const HostUpdate& in);
  Result<void> DeleteHost(std::string_view segment_uuid, std::string_view host_uuid);

  // Stored durably, status `new`, before this returns. Errors: InvalidArgument when no host
  // has that name; FailedPrecondition when the host is on maintenance; AlreadyExists for a
  // duplicate (Masakari's rule) or when in.uuid is already stored (checked first).
  Result<Notification> CreateNotification(const NotificationCreate& in);
  // The same without waiting: `done` runs once the notification is durable (or refused), on
  // the store's thread, so it must be quick and must not wait for the store.
  void CreateNotificationAsync(const NotificationCreate& in,
                               std::function<void(Result<Notification>)> done);
  Result<Notification> GetNotification(std::string_view uuid);
  Result<std::vector<Notification>> ListNotifications(const store::NotificationFilter& filter,
                                                      const store::Page& page);

  // InvalidArgument for a notification that is not COMPUTE_HOST (only those move VMs).
  Result<NotificationVMoves> ListVMoves(std::string_view notification_uuid,
                                        store::VMoveFilter filter, const store::Page& page);
  // The VM moves of the `notifications` most recent COMPUTE_HOST notifications (by created_at),
  // filtered and paged. filter.notification_uuids is replaced by those notifications.
  // REQUIRES: notifications > 0.
  Result<std::vector<VMove>> ListRecentVMoves(int64_t notifications, store::VMoveFilter filter,
                                              const store::Page& page);
  Result<VMove> GetVMove(std::string_view notification_uuid, std::string_view vmove_uuid);

  // The overview of every segment, its hosts' states, what is being recovered and the recent
  // recoveries' timings. Cost: a handful of indexed queries plus one per host on maintenance
  // and one per listed notification.
  Result<Overview> GetOverview(int64_t active_limit = 50, int64_t recent = 10);

 private:
  store::Store& store_;
  const Clock& clock_;
  const HaOptions options_;
};

}  // namespace warden::ha
