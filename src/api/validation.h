// Request bodies of the Masakari v1 API, checked as strictly as Masakari's JSON schemas
// (unknown properties rejected, types, lengths, patterns, enums) and turned into the typed
// inputs of ha::HaService. Messages follow the jsonschema wording Masakari returns, always
// naming the field.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "core/clock.h"
#include "core/error.h"
#include "ha/ha_service.h"

namespace warden::api {

// The request's microversion: 1.minor.
struct ApiVersion {
  int minor = 0;
};
inline constexpr int kMaxMinorVersion = 3;

Result<ha::SegmentCreate> ParseSegmentCreate(const nlohmann::json& body, ApiVersion v);
Result<ha::SegmentUpdate> ParseSegmentUpdate(const nlohmann::json& body, ApiVersion v);
Result<ha::HostCreate> ParseHostCreate(const nlohmann::json& body);
Result<ha::HostUpdate> ParseHostUpdate(const nlohmann::json& body);

// Accepts Masakari's `{"notification": {...}}` and the seeds' flat webhook body
// `{"hostname", "type", "payload"[, "generated_time"]}`; a missing generated_time in the flat
// form means `received_at`.
Result<ha::NotificationCreate> ParseNotificationCreate(const nlohmann::json& body,
                                                       WallMicros received_at);

// True if s is a string Masakari's `name` format accepts: printable characters, with no
// leading or trailing whitespace.
bool IsPrintableName(std::string_view s);

}  // namespace warden::api
