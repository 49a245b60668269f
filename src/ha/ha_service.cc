#include "ha/ha_service.h"

#include <algorithm>
#include <future>
#include <map>

#include "core/uuid.h"

namespace warden::ha {
namespace {

using store::ReadTx;
using store::WriteTx;

// Masakari's "under recovery": a notification of the segment's hosts is new, running or error.
Result<bool> SegmentInUse(ReadTx& tx, const std::string& segment_uuid) {
  auto n =
      tx.CountNotifications({.statuses = {NotificationStatus::kNew, NotificationStatus::kRunning,
                                          NotificationStatus::kError},
                             .segment_uuid = segment_uuid});
  if (!n) return std::unexpected(n.error());
  return *n > 0;
}

// Looks a host up inside its segment, with Masakari's message for a host of another segment.
Result<HostWithSegment> HostInSegment(ReadTx& tx, std::string_view segment_uuid,
                                      std::string_view host_uuid) {
  auto segment = tx.GetSegment(segment_uuid);
  if (!segment) return std::unexpected(segment.error());
  auto host = tx.GetHost(host_uuid);
  if (!host || host->segment_uuid != segment->uuid) {
    if (host || host.error().code() == ErrorCode::kNotFound) {
      return NotFound("Host '" + std::string(host_uuid) + "' under failover_segment '" +
                      std::string(segment_uuid) + "' could not be found.");
    }
    return std::unexpected(host.error());
  }
  return HostWithSegment{std::move(*host), std::move(*segment)};
}

}  // namespace

Result<Segment> HaService::CreateSegment(const SegmentCreate& in) {
  Segment s;
  s.uuid = NewUuid();
  s.name = in.name;
  s.description = in.description;
  s.recovery_method = in.recovery_method;
  s.service_type = in.service_type;
  s.enabled = in.enabled.value_or(true);
  s.meta.created_at = clock_.Now();
  return store::WriteValue<Segment>(store_, [&](WriteTx& tx) { return tx.InsertSegment(s); });
}

Result<Segment> HaService::GetSegment(std::string_view uuid) {
  return store::ReadValue<Segment>(store_, [&](ReadTx& tx) { return tx.GetSegment(uuid); });
}

Result<std::vector<Segment>> HaService::ListSegments(const store::SegmentFilter& filter,
                                                     const store::Page& page) {
  return store::ReadValue<std::vector<Segment>>(
      store_, [&](ReadTx& tx) { return tx.ListSegments(filter, page); });
}

Result<Segment> HaService::UpdateSegment(std::string_view uuid, const SegmentUpdate& in) {
  return store::WriteValue<Segment>(store_, [&](WriteTx& tx) -> Result<Segment> {
    auto s = tx.GetSegment(uuid);
    if (!s) return s;
    auto in_use = SegmentInUse(tx, s->uuid);
    if (!in_use) return std::unexpected(in_use.error());
    if (*in_use) {
      return FailedPrecondition("Failover segment " + s->uuid +
                                " can't be updated as it is in-use to process notifications.");
    }
    if (in.name) s->name = *in.name;
    if (in.description) s->description = *in.description;
    if (in.recovery_method) s->recovery_method = *in.recovery_method;
    if (in.service_type) s->service_type = *in.service_type;
    if (in.enabled) s->enabled = *in.enabled;
    s->meta.updated_at = clock_.Now();
    if (auto r = tx.UpdateSegment(*s); !r) return std::unexpected(r.error());
    return s;
  });
}

Result<void> HaService::DeleteSegment(std::string_view uuid) {
  return store_.Write([&](WriteTx& tx) -> Result<void> {
    auto s = tx.GetSegment(uuid);
    if (!s) return std::unexpected(s.error());
    auto in_use = SegmentInUse(tx, s->uuid);
    if (!in_use) return std::unexpected(in_use.error());
    if (*in_use) {
      return FailedPrecondition("Failover segment (" + s->uuid +
                                ") can't be deleted as it is in-use to process notifications.");
    }
    return tx.DeleteSegment(s->meta.id, clock_.Now());
  });
}

Result<HostWithSegment> HaService::CreateHost(std::string_view segment_uuid, const HostCreate& in) {
  return store::WriteValue<HostWithSegment>(store_, [&](WriteTx& tx) -> Result<HostWithSegment> {
    auto segment = tx.GetSegment(segment_uuid);
    if (!segment) return std::unexpected(segment.error());
    Host h;
    h.uuid = NewUuid();
    h.name = in.name;
    h.segment_uuid = segment->uuid;
    h.type = in.type;
    h.control_attributes = in.control_attributes;
    h.reserved = in.reserved.value_or(false);
    h.on_maintenance = in.on_maintenance.value_or(false);
    h.meta.created_at = clock_.Now();
    auto stored = tx.InsertHost(std::move(h));
    if (!stored) return std::unexpected(stored.error());
    return HostWithSegment{std::move(*stored), std::move(*segment)};
  });
}

Result<HostWithSegment> HaService::GetHost(std::string_view segment_uuid,
                                           std::string_view host_uuid) {
  return store::ReadValue<HostWithSegment>(
      store_, [&](ReadTx& tx) { return HostInSegment(tx, segment_uuid, host_uuid); });
}

Result<std::pair<Segment, std::vector<Host>>> HaService::ListHosts(std::string_view segment_uuid,
                                                                   store::HostFilter filter,
                                                                   const store::Page& page) {
  using Out = std::pair<Segment, std::vector<Host>>;
  return store::ReadValue<Out>(store_, [&](ReadTx& tx) -> Result<Out> {
    auto segment = tx.GetSegment(segment_uuid);
    if (!segment) return std::unexpected(segment.error());
    filter.segment_uuid = segment->uuid;
    auto hosts = tx.ListHosts(filter, page);
    if (!hosts) return std::unexpected(hosts.error());
    return Out{std::move(*segment), std::move(*hosts)};
  });
}

Result<HostWithSegment> HaService::UpdateHost(std::string_view segment_uuid,
                                              std::string_view host_uuid, const HostUpdate& in) {
  return store::WriteValue<HostWithSegment>(store_, [&](WriteTx& tx) -> Result<HostWithSegment> {
    auto found = HostInSegment(tx, segment_uuid, host_uuid);
    if (!found) return found;
    auto in_use = SegmentInUse(tx, found->segment.uuid);
    if (!in_use) return std::unexpected(in_use.error());
    if (*in_use) {
      return FailedPrecondition("Host " + found->host.uuid +
                                " can't be updated as it is in-use to process notifications.");
    }
    Host& h = found->host;
    if (in.name) h.name = *in.name;
    if (in.type) h.type = *in.type;
    if (in.control_attributes) h.control_attributes = *in.control_attributes;
    if (in.reserved) h.reserved = *in.reserved;
    if (in.on_maintenance) h.on_maintenance = *in.on_maintenance;
    h.meta.updated_at = clock_.Now();
    if (auto r = tx.UpdateHost(h); !r) return std::unexpected(r.error());
    return found;
  });
}

Result<void> HaService::DeleteHost(std::string_view segment_uuid, std::string_view host_uuid) {
  return store_.Write([&](WriteTx& tx) -> Result<void> {
    auto found = HostInSegment(tx, segment_uuid, host_uuid);
    if (!found) return std::unexpected(found.error());
    auto in_use = SegmentInUse(tx, found->segment.uuid);
    if (!in_use) return std::unexpected(in_use.error());
    if (*in_use) {
      return FailedPrecondition("Host " + found->host.uuid +
                                " can't be deleted as it is in-use to process notifications.");
    }
    return tx.DeleteHost(found->host.meta.id, clock_.Now());
  });
}

Result<Notification> HaService::CreateNotification(const NotificationCreate& in) {
  std::promise<Result<Notification>> promise;
  auto future = promise.get_future();
  CreateNotificationAsync(in,
                          [&promise](Result<Notification> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void HaService::CreateNotificationAsync(const NotificationCreate& in,
                                        std::function<void(Result<Notification>)> done) {
  // The transaction fills `created`; `done` reads it once the commit is durable.
  auto created = std::make_shared<Notification>();
  const WallMicros now = clock_.Now();
  const int64_t window = options_.duplicate_window_seconds * 1'000'000;
  const bool status_aware = options_.status_aware_duplicates;
  auto write = [in, created, now, window, status_aware](WriteTx& tx) -> Result<void> {
    const std::string type(ToString(in.type));
    if (!in.uuid.empty()) {
      auto existing = tx.GetNotification(in.uuid);
      if (existing) return AlreadyExists("Notification " + in.uuid + " already exists.");
      if (existing.error().code() != ErrorCode::kNotFound) {
        return std::unexpected(existing.error());
      }
    }
    auto host = tx.FindHostByName(in.hostname);
    if (!host) return std::unexpected(host.error());
    if (!host->has_value()) {
      return InvalidArgument("Host with name " + in.hostname + " could not be found.");
    }
    if ((*host)->on_maintenance) {
      return FailedPrecondition("Notification received from host " + in.hostname + " of type '" +
                                type + "' is ignored as the host is already under maintenance.");
    }
    std::vector<NotificationStatus> blocking;
    if (status_aware) {
      blocking = {NotificationStatus::kNew, NotificationStatus::kRunning, NotificationStatus::kError,
                  NotificationStatus::kFinished};
    }
    auto dups = tx.CountNotifications({.statuses = blocking,
                                       .source_host_uuid = (*host)->uuid,
                                       .type = in.type,
                                       .generated_since = in.generated_time - window,
                                       .payload_json = in.payload_json});
    if (!dups) return std::unexpected(dups.error());
    if (*dups > 0) {
      return AlreadyExists("Notification received from host " + in.hostname + " of type " + type +
                           " is duplicate.");
    }
    Notification n;
    n.uuid = in.uuid.empty() ? NewTimeOrderedUuid(now) : in.uuid;
    n.generated_time = in.generated_time;
    n.source_host_uuid = (*host)->uuid;
    n.segment_uuid = (*host)->segment_uuid;
    n.type = in.type;
    n.payload_json = in.payload_json;
    n.status = NotificationStatus::kNew;
    n.meta.created_at = now;
    auto stored = tx.InsertNotification(std::move(n));
    if (!stored) return std::unexpected(stored.error());
    *created = std::move(*stored);
    return {};
  };
  store_.WriteAsync(std::move(write), [this, created, done = std::move(done)](Result<void> r) {
    if (!r) return done(std::unexpected(r.error()));
    if (options_.on_created) options_.on_created(*created);
    done(std::move(*created));
  });
}

Result<Notification> HaService::GetNotification(std::string_view uuid) {
  return store::ReadValue<Notification>(store_,
                                        [&](ReadTx& tx) { return tx.GetNotification(uuid); });
}

Result<std::vector<Notification>> HaService::ListNotifications(
    const store::NotificationFilter& filter, const store::Page& page) {
  return store::ReadValue<std::vector<Notification>>(
      store_, [&](ReadTx& tx) { return tx.ListNotifications(filter, page); });
}

Result<NotificationVMoves> HaService::ListVMoves(std::string_view notification_uuid,
                                                 store::VMoveFilter filter,
                                                 const store::Page& page) {
  return store::ReadValue<NotificationVMoves>(
      store_, [&](ReadTx& tx) -> Result<NotificationVMoves> {
        auto n = tx.GetNotification(notification_uuid);
        if (!n) return std::unexpected(n.error());
        if (n->type != NotificationType::kComputeHost) {
          return InvalidArgument("This notification " + n->uuid + " without vm moves.");
        }
        filter.notification_uuid = n->uuid;
        auto moves = tx.ListVMoves(filter, page);
        if (!moves) return std::unexpected(moves.error());
        auto counts = tx.CountVMoves({.notification_uuid = n->uuid});
        if (!counts) return std::unexpected(counts.error());
        return NotificationVMoves{std::move(*n), std::move(*moves), *counts};
      });
}

Result<std::vector<VMove>> HaService::ListRecentVMoves(int64_t notifications,
                                                       store::VMoveFilter filter,
                                                       const store::Page& page) {
  return store::ReadValue<
      std::vector<VMove>>(store_, [&](ReadTx& tx) -> Result<std::vector<VMove>> {
    // Only host notifications move VMs: the others would only narrow the window.
    auto recent = tx.ListNotifications({.type = NotificationType::kComputeHost},
                                       {.sort = {{"created_at", false}}, .limit = notifications});
    if (!recent) return std::unexpected(recent.error());
    filter.notification_uuids.clear();
    for (const Notification& n : *recent) filter.notification_uuids.push_back(n.uuid);
    if (filter.notification_uuids.empty()) {
      // An empty list would mean "any notification". No notification has an empty id, so this
      // matches nothing, and the page's sort keys and marker are still checked as always.
      filter.notification_uuid = "";
    }
    return tx.ListVMoves(filter, page);
  });
}

Result<VMove> HaService::GetVMove(std::string_view notification_uuid, std::string_view vmove_uuid) {
  return store::ReadValue<VMove>(store_, [&](ReadTx& tx) -> Result<VMove> {
    auto n = tx.GetNotification(notification_uuid);
    if (!n) return std::unexpected(n.error());
    if (n->type != NotificationType::kComputeHost) {
      return InvalidArgument("This notification " + n->uuid + " without vm moves.");
    }
    auto v = tx.GetVMove(vmove_uuid);
    if (!v) return v;
    if (v->notification_uuid != n->uuid) {
      return NotFound("No vm move with id " + std::string(vmove_uuid) + ".");
    }
    return v;
  });
}

Result<Overview> HaService::GetOverview(int64_t active_limit, int64_t recent) {
  Overview out;
  out.now = clock_.Now();
  out.since = out.now - 24 * 3600 * int64_t{1'000'000};
  Result<void> read = store_.Read([&](ReadTx& tx) -> Result<void> {
    const store::Page everything{.sort = {{"name", true}}, .limit = 1'000'000};
    auto segments = tx.ListSegments({}, everything);
    if (!segments) return std::unexpected(segments.error());
    auto hosts = tx.ListHosts({}, everything);
    if (!hosts) return std::unexpected(hosts.error());
    std::map<std::string, std::string, std::less<>> name_of;
    for (const Host& h : *hosts) name_of[h.uuid] = h.name;
    const auto with_moves = [&](Notification n) -> Result<OverviewNotification> {
      OverviewNotification o;
      if (auto it = name_of.find(n.source_host_uuid); it != name_of.end()) o.host_name = it->second;
      if (n.type == NotificationType::kComputeHost) {
        auto counts = tx.CountVMoves({.notification_uuid = n.uuid});
        if (!counts) return std::unexpected(counts.error());
        o.moves = *counts;
      }
      o.notification = std::move(n);
      return o;
    };

    const std::vector<NotificationStatus> active_statuses = {
        NotificationStatus::kNew, NotificationStatus::kRunning, NotificationStatus::kError};
    auto total = tx.CountNotifications({.statuses = active_statuses});
    if (!total) return std::unexpected(total.error());
    out.active_total = *total;
    auto active = tx.ListNotifications({.statuses = active_statuses},
                                       {.sort = {{"created_at", true}}, .limit = active_limit});
    if (!active) return std::unexpected(active.error());
    // A host is in recovery while any of its host or process notifications is active, not
    // only the listed ones.
    std::map<std::string, std::string> recovering;
    if (*total > int64_t(active->size())) {
      auto all = tx.ListNotifications({.statuses = active_statuses},
                                      {.sort = {{"created_at", true}}, .limit = 1'000'000});
      if (!all) return std::unexpected(all.error());
      for (const Notification& n : *all) {
        if (n.type != NotificationType::kVm) recovering.try_emplace(n.source_host_uuid, n.uuid);
      }
    }
    for (Notification& n : *active) {
      if (n.type != NotificationType::kVm) recovering.try_emplace(n.source_host_uuid, n.uuid);
      auto o = with_moves(std::move(n));
      if (!o) return std::unexpected(o.error());
      out.active.push_back(std::move(*o));
    }

    for (NotificationStatus st : {NotificationStatus::kNew, NotificationStatus::kRunning,
                                  NotificationStatus::kError, NotificationStatus::kFailed,
                                  NotificationStatus::kIgnored, NotificationStatus::kFinished}) {
      auto n = tx.CountNotifications({.statuses = {st}, .generated_since = out.since});
      if (!n) return std::unexpected(n.error());
      out.last_day.emplace_back(st, *n);
    }

    auto ended = tx.ListNotifications(
        {.statuses = {NotificationStatus::kFinished, NotificationStatus::kFailed},
         .type = NotificationType::kComputeHost},
        {.sort = {{"created_at", false}}, .limit = recent});
    if (!ended) return std::unexpected(ended.error());
    for (Notification& n : *ended) {
      auto o = with_moves(std::move(n));
      if (!o) return std::unexpected(o.error());
      out.recent.push_back(std::move(*o));
    }

    std::map<std::string, OverviewSegment*> by_uuid;
    out.segments.reserve(segments->size());
    for (Segment& seg : *segments) {
      out.segments.push_back({std::move(seg), {}});
      by_uuid[out.segments.back().segment.uuid] = &out.segments.back();
    }
    for (Host& h : *hosts) {
      auto seg = by_uuid.find(h.segment_uuid);
      if (seg == by_uuid.end()) continue;
      OverviewHost oh;
      if (auto r = recovering.find(h.uuid); r != recovering.end()) {
        oh.state = "in_recovery";
        oh.notification_uuid = r->second;
      } else if (h.on_maintenance) {
        oh.state = "maintenance";
        auto last = tx.ListNotifications(
            {.source_host_uuid = h.uuid, .type = NotificationType::kComputeHost},
            {.sort = {{"created_at", false}}, .limit = 1});
        if (!last) return std::unexpected(last.error());
        // Fenced by that recovery, unless the host was changed since it ended (unfenced and
        // put on maintenance by hand, say).
        if (!last->empty() && last->front().status == NotificationStatus::kFinished &&
            h.meta.updated_at.value_or(h.meta.created_at) <=
                last->front().meta.updated_at.value_or(last->front().meta.created_at)) {
          oh.state = "fenced";
          oh.notification_uuid = last->front().uuid;
        }
      } else {
        oh.state = h.reserved ? "reserved" : "up";
      }
      oh.host = std::move(h);
      seg->second->hosts.push_back(std::move(oh));
    }
    for (auto& seg : out.segments) {
      std::sort(seg.hosts.begin(), seg.hosts.end(), [](const OverviewHost& a, const OverviewHost& b) {
        return a.host.name < b.host.name;
      });
    }
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return out;
}

}  // namespace warden::ha
