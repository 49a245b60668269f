// Microversions: the version a request asks for with `OpenStack-API-Version: instance-ha X`
// (1.0 to 1.3, `latest`), and the version documents of `/` and `/v1/`.
#pragma once

#include <string>

#include "api/http.h"
#include "api/json_writer.h"
#include "api/validation.h"
#include "core/error.h"

namespace warden::api {

extern const char* const kMinVersion;
extern const std::string kMaxVersion;

// Parses the microversion of `OpenStack-API-Version: instance-ha X` (possibly one entry of a
// comma-separated list). No entry means 1.0; `latest` the maximum. A version out of range sets
// `not_acceptable` to Masakari's 406 answer and returns an error.
Result<ApiVersion> RequestedVersion(const HttpRequest& request, HttpResponse* not_acceptable);

// One version document (`/` lists it, `/v1/` shows it with its links and media types).
void WriteVersion(JsonWriter& w, const std::string& base, bool describedby);

}  // namespace warden::api
