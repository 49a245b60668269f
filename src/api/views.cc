#include "api/views.h"

#include "core/time.h"

namespace warden::api {
namespace {

void WriteTime(JsonWriter& w, const std::optional<WallMicros>& t) {
  if (t) {
    w.String(FormatIsoTime(*t));
  } else {
    w.Null();
  }
}

void WriteMeta(JsonWriter& w, const RecordMeta& m) {
  w.Key("created_at").String(FormatIsoTime(m.created_at));
  w.Key("updated_at");
  WriteTime(w, m.updated_at);
  w.Key("deleted_at");
  WriteTime(w, m.deleted_at);
  w.Key("deleted").Bool(m.deleted);
  w.Key("id").Int(m.id);
}

}  // namespace

void WriteSegment(JsonWriter& w, const Segment& s) {
  w.BeginObject();
  WriteMeta(w, s.meta);
  w.Key("uuid").String(s.uuid);
  w.Key("name").String(s.name);
  w.Key("service_type").String(s.service_type);
  w.Key("enabled").Bool(s.enabled);
  w.Key("description").OptString(s.description);
  w.Key("recovery_method").String(ToString(s.recovery_method));
  w.EndObject();
}

void WriteHost(JsonWriter& w, const Host& h, const Segment& segment) {
  w.BeginObject();
  WriteMeta(w, h.meta);
  w.Key("uuid").String(h.uuid);
  w.Key("name").String(h.name);
  w.Key("failover_segment_id").String(h.segment_uuid);
  w.Key("failover_segment");
  WriteSegment(w, segment);
  w.Key("type").String(h.type);
  w.Key("reserved").Bool(h.reserved);
  w.Key("control_attributes").String(h.control_attributes);
  w.Key("on_maintenance").Bool(h.on_maintenance);
  w.EndObject();
}

void WriteNotification(JsonWriter& w, const Notification& n, bool with_workflow_details) {
  w.BeginObject();
  WriteMeta(w, n.meta);
  w.Key("notification_uuid").String(n.uuid);
  w.Key("generated_time").String(FormatIsoTime(n.generated_time));
  w.Key("source_host_uuid").String(n.source_host_uuid);
  w.Key("failover_segment_uuid").String(n.segment_uuid);
  w.Key("type").String(ToString(n.type));
  w.Key("payload").Raw(n.payload_json);
  w.Key("status").String(ToString(n.status));
  w.Key("message").OptString(n.message);
  if (with_workflow_details) w.Key("recovery_workflow_details").Raw(n.workflow_details_json);
  w.EndObject();
}

void WriteVMove(JsonWriter& w, const VMove& v) {
  w.BeginObject();
  WriteMeta(w, v.meta);
  w.Key("uuid").String(v.uuid);
  w.Key("notification_uuid").String(v.notification_uuid);
  w.Key("instance_uuid").String(v.instance_uuid);
  w.Key("instance_name").String(v.instance_name);
  w.Key("source_host").String(v.source_host);
  w.Key("dest_host").OptString(v.dest_host);
  w.Key("start_time");
  WriteTime(w, v.start_time);
  w.Key("end_time");
  WriteTime(w, v.end_time);
  w.Key("type").String(ToString(v.type));
  w.Key("status").String(ToString(v.status));
  w.Key("message").OptString(v.message);
  w.EndObject();
}

void WriteVMoveSummary(JsonWriter& w, NotificationStatus status, const store::VMoveCounts& c) {
  w.BeginObject();
  w.Key("notification_status").String(ToString(status));
  w.Key("total").Int(c.Total());
  w.Key("succeeded").Int(c.succeeded);
  w.Key("failed").Int(c.failed);
  w.Key("pending").Int(c.pending);
  w.Key("running").Int(c.ongoing);
  w.Key("ignored").Int(c.ignored);
  w.EndObject();
}

namespace {

// A notification as the overview lists it: its identity, host by name too, status and timings.
void WriteOverviewNotification(JsonWriter& w, const ha::OverviewNotification& o) {
  const Notification& n = o.notification;
  w.BeginObject();
  w.Key("notification_uuid").String(n.uuid);
  w.Key("type").String(ToString(n.type));
  w.Key("status").String(ToString(n.status));
  w.Key("source_host_uuid").String(n.source_host_uuid);
  w.Key("host_name").String(o.host_name);
  w.Key("failover_segment_uuid").String(n.segment_uuid);
  w.Key("generated_time").String(FormatIsoTime(n.generated_time));
  w.Key("created_at").String(FormatIsoTime(n.meta.created_at));
  w.Key("updated_at");
  WriteTime(w, n.meta.updated_at);
  w.Key("first_move_started_at");
  WriteTime(w, o.moves.first_start);
  w.Key("last_recovered_at");
  WriteTime(w, o.moves.last_recovered);
  w.Key("vmoves");
  WriteVMoveSummary(w, n.status, o.moves);
  w.EndObject();
}

}  // namespace

void WriteOverview(JsonWriter& w, const ha::Overview& o) {
  w.BeginObject();
  w.Key("now").String(FormatIsoTime(o.now));
  w.Key("since").String(FormatIsoTime(o.since));
  w.Key("segments").BeginArray();
  for (const auto& s : o.segments) {
    w.BeginObject();
    w.Key("uuid").String(s.segment.uuid);
    w.Key("name").String(s.segment.name);
    w.Key("recovery_method").String(ToString(s.segment.recovery_method));
    w.Key("service_type").String(s.segment.service_type);
    w.Key("enabled").Bool(s.segment.enabled);
    w.Key("hosts").BeginArray();
    for (const auto& h : s.hosts) {
      w.BeginObject();
      w.Key("uuid").String(h.host.uuid);
      w.Key("name").String(h.host.name);
      w.Key("state").String(h.state);
      w.Key("reserved").Bool(h.host.reserved);
      w.Key("on_maintenance").Bool(h.host.on_maintenance);
      w.Key("notification_uuid");
      if (h.notification_uuid.empty()) {
        w.Null();
      } else {
        w.String(h.notification_uuid);
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("last_24h").BeginObject();
  int64_t total = 0;
  for (const auto& [status, n] : o.last_day) {
    w.Key(ToString(status)).Int(n);
    total += n;
  }
  w.Key("total").Int(total);
  w.EndObject();
  w.Key("active_total").Int(o.active_total);
  w.Key("active").BeginArray();
  for (const auto& n : o.active) WriteOverviewNotification(w, n);
  w.EndArray();
  w.Key("recent").BeginArray();
  for (const auto& n : o.recent) WriteOverviewNotification(w, n);
  w.EndArray();
  w.EndObject();
}

void WriteHeadroom(JsonWriter& w, const ha::SegmentHeadroom& s) {
  bool all_ok = !s.hosts.empty();
  for (const auto& h : s.hosts) all_ok = all_ok && h.Ok();
  w.BeginObject();
  w.Key("segment_uuid").String(s.segment.uuid);
  w.Key("segment_name").String(s.segment.name);
  w.Key("recovery_method").String(ToString(s.segment.recovery_method));
  w.Key("checked_at").String(FormatIsoTime(s.checked_at));
  w.Key("ok").Bool(all_ok);
  w.Key("capacity_known").Bool(s.capacity_known);
  w.Key("capacity_error");
  if (s.capacity_known) {
    w.Null();
  } else {
    w.String(s.capacity_error);
  }
  w.Key("vcpus").BeginObject().Key("total").Int(s.total_vcpus).Key("free").Int(s.free_vcpus).EndObject();
  w.Key("ram_mb").BeginObject().Key("total").Int(s.total_ram_mb).Key("free").Int(s.free_ram_mb).EndObject();
  w.Key("hosts").BeginArray();
  for (const auto& h : s.hosts) {
    w.BeginObject();
    w.Key("uuid").String(h.uuid);
    w.Key("name").String(h.name);
    w.Key("reserved").Bool(h.reserved);
    w.Key("usable").Bool(h.usable);
    w.Key("note").String(h.note);
    w.Key("checked").Bool(h.checked);
    w.Key("ok").Bool(h.Ok());
    w.Key("instances").Int(h.instances);
    w.Key("ha_instances").Int(h.ha_instances);
    w.Key("placed").Int(h.placed);
    w.Key("ha_placed").Int(h.ha_placed);
    w.Key("shortfall").String(h.shortfall);
    w.Key("vcpus").BeginObject().Key("total").Int(h.total_vcpus).Key("used").Int(h.used_vcpus).EndObject();
    w.Key("ram_mb").BeginObject().Key("total").Int(h.total_ram_mb).Key("used").Int(h.used_ram_mb).EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace warden::api
