// Masakari's JSON views of the domain records: field names, order and formats as the v1 API
// prints them (timestamps naive UTC with microseconds, `deleted` a boolean).
#pragma once

#include "api/json_writer.h"
#include "core/domain.h"
#include "ha/ha_service.h"
#include "ha/recovery_control.h"
#include "store/store.h"

namespace warden::api {

void WriteSegment(JsonWriter& w, const Segment& s);
void WriteHost(JsonWriter& w, const Host& h, const Segment& segment);
// recovery_workflow_details is included from microversion 1.1 on, on show only.
void WriteNotification(JsonWriter& w, const Notification& n, bool with_workflow_details);
void WriteVMove(JsonWriter& w, const VMove& v);
// Warden's overview of segments, hosts and recoveries, for the dashboard.
void WriteOverview(JsonWriter& w, const ha::Overview& o);
// Warden's N+1 check of a segment.
void WriteHeadroom(JsonWriter& w, const ha::SegmentHeadroom& h);
// Warden's addition to a notification's vmoves list: its status and its moves by status, with
// `ongoing` shown as "running".
void WriteVMoveSummary(JsonWriter& w, NotificationStatus status, const store::VMoveCounts& c);

}  // namespace warden::api
