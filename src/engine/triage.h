// Triage: what a stored notification means, decided before anything is touched.
//
// A pure function of (notification, store state, clock, options): no I/O, so every rule is
// unit-tested on its own. The engine gathers the inputs in one read transaction.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/domain.h"

namespace warden::engine {

enum class UnfencedHosts { kTrustHostStatus, kRefuse };

struct TriageOptions {
  int64_t duplicate_window_seconds = 180;
  // false: Masakari's rule (any earlier identical notification in the window blocks);
  // true: ignored and failed ones do not block a resend.
  bool status_aware_duplicates = false;
  // The largest share of a segment's hosts that may be under automatic host recovery (and so
  // fenced) at once. Above it the notification waits in `error` and an alarm is raised.
  double storm_guard_max_share = 0.5;
  UnfencedHosts unfenced_hosts = UnfencedHosts::kTrustHostStatus;
};

struct TriageInput {
  Notification notification;
  std::optional<Host> host;        // nullopt: the host was deleted since
  std::optional<Segment> segment;  // the host's segment
  // Other notifications for the same host and type, generated within the duplicate window.
  std::vector<Notification> same_host_recent;
  int64_t segment_hosts = 0;  // hosts in the segment
  // Other hosts of the segment with a host recovery under way (new, running or held).
  int64_t segment_hosts_failing = 0;
  bool host_has_fencer = false;
  bool first_run = true;  // false for a retry or a resumed recovery
  WallMicros now = 0;
};

enum class Verdict {
  kProceed,  // run the recovery workflow
  kIgnore,   // status `ignored`, with the message
  kFinish,   // status `finished` at once (nothing to do), with the message
  kHold,     // status `error` with an alarm message; retried later, nothing is done now
  kError,    // status `error`: refused by configuration
};
std::string_view ToString(Verdict v);

struct TriageDecision {
  Verdict verdict = Verdict::kProceed;
  std::string message;
  bool alarm = false;  // worth paging someone (storm guard, refused fencing)
};

TriageDecision Triage(const TriageInput& in, const TriageOptions& options);

// Whether `earlier` makes `candidate` a duplicate under Masakari's rule (same type and host,
// identical payload, generated within the window) or its status-aware variant.
bool IsDuplicate(const Notification& candidate, const Notification& earlier,
                 int64_t window_seconds, bool status_aware);

// The instance-failure events Masakari acts on (event, vir_domain_event).
bool IsRecoverableInstanceEvent(const std::string& event, const std::string& detail);

}  // namespace warden::engine
