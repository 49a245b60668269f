// Microversion negotiation and the version documents (see microversion.h).
#include "api/microversion.h"

#include <charconv>
#include <optional>
#include <string_view>

namespace warden::api {

const char* const kMinVersion = "1.0";
const std::string kMaxVersion = "1." + std::to_string(kMaxMinorVersion);

Result<ApiVersion> RequestedVersion(const HttpRequest& request, HttpResponse* not_acceptable) {
  const std::string* header = request.Header("openstack-api-version");
  if (header == nullptr) return ApiVersion{0};
  std::string_view all = *header;
  std::optional<std::string> wanted;
  while (!all.empty()) {
    size_t comma = all.find(',');
    std::string_view entry = all.substr(0, comma);
    all = comma == std::string_view::npos ? std::string_view() : all.substr(comma + 1);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    size_t space = entry.find(' ');
    if (space == std::string_view::npos) continue;
    std::string_view service = entry.substr(0, space);
    std::string_view value = entry.substr(space + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (service == "instance-ha") wanted = std::string(value);
  }
  if (!wanted) return ApiVersion{0};
  if (*wanted == "latest") return ApiVersion{kMaxMinorVersion};
  int major = 0, minor = 0;
  std::string_view v = *wanted;
  size_t dot = v.find('.');
  auto digits_ok = [](std::string_view d) {
    return !d.empty() && d.size() <= 6 && d.find_first_not_of("0123456789") == std::string::npos &&
           (d.size() == 1 || d[0] != '0');
  };
  if (dot == std::string_view::npos || !digits_ok(v.substr(0, dot)) ||
      !digits_ok(v.substr(dot + 1)) || v[0] == '0') {
    return InvalidArgument("API Version String " + *wanted +
                           " is of invalid format. Must be of format MajorNum.MinorNum.");
  }
  std::from_chars(v.data(), v.data() + dot, major);
  std::from_chars(v.data() + dot + 1, v.data() + v.size(), minor);
  if (major != 1 || minor > kMaxMinorVersion) {
    *not_acceptable =
        FaultResponse(406, "masakariFault",
                      "Version " + *wanted + " is not supported by the API. Minimum is " +
                          kMinVersion + " and maximum is " + kMaxVersion + ".");
    return MakeError(ErrorCode::kInvalidArgument, "not acceptable");
  }
  return ApiVersion{minor};
}

void WriteVersion(JsonWriter& w, const std::string& base, bool describedby) {
  w.BeginObject();
  w.Key("id").String("v1.0").Key("status").String("CURRENT");
  w.Key("version").String(kMaxVersion).Key("min_version").String(kMinVersion);
  w.Key("updated").String("2016-07-01T11:33:21Z");
  w.Key("links").BeginArray();
  w.BeginObject().Key("rel").String("self").Key("href").String(base + "/v1/").EndObject();
  if (describedby) {
    w.BeginObject().Key("rel").String("describedby").Key("type").String("text/html");
    w.Key("href").String("https://docs.openstack.org/").EndObject();
  }
  w.EndArray();
  if (describedby) {
    w.Key("media-types").BeginArray().BeginObject();
    w.Key("base").String("application/json");
    w.Key("type").String("application/vnd.openstack.masakari+json;version=1");
    w.EndObject().EndArray();
  }
  w.EndObject();
}

}  // namespace warden::api
