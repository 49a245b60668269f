#include "api/validation.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/time.h"
#include "core/uuid.h"

namespace warden::api {
namespace {

using json = nlohmann::json;

// "foo" for strings (as Python's %s prints them), JSON for anything else.
std::string Show(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }
// 'foo' for strings (Python's repr), JSON for anything else.
std::string Repr(const json& v) {
  return v.is_string() ? "'" + v.get<std::string>() + "'" : v.dump();
}

std::unexpected<Error> Invalid(const std::string& path, const json& value,
                               const std::string& detail) {
  return InvalidArgument("Invalid input for field/attribute " + path + ". Value: " + Show(value) +
                         ". " + detail);
}

// Checks an object's property names against the allowed ones and the required ones.
Result<void> CheckObject(const std::string& path, const json& obj,
                         const std::vector<std::string_view>& allowed,
                         const std::vector<std::string_view>& required) {
  if (!obj.is_object()) return Invalid(path, obj, Repr(obj) + " is not of type 'object'");
  std::vector<std::string> unexpected;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      unexpected.push_back("'" + it.key() + "'");
    }
  }
  if (!unexpected.empty()) {
    std::string list;
    for (auto& u : unexpected) list += (list.empty() ? "" : ", ") + u;
    return Invalid(path, obj,
                   "Additional properties are not allowed (" + list +
                       (unexpected.size() == 1 ? " was" : " were") + " unexpected)");
  }
  for (std::string_view r : required) {
    if (!obj.contains(r)) {
      return Invalid(path, obj, "'" + std::string(r) + "' is a required property");
    }
  }
  return {};
}

// A string field: type, length bounds (in characters) and an optional extra check.
Result<std::string> StringField(const std::string& path, const json& v, size_t min_len,
                                size_t max_len) {
  if (!v.is_string()) return Invalid(path, v, Repr(v) + " is not of type 'string'");
  const std::string& s = v.get_ref<const std::string&>();
  size_t chars = 0;
  for (unsigned char c : s) chars += (c & 0xC0) != 0x80;
  if (chars < min_len) return Invalid(path, v, Repr(v) + " is too short");
  if (chars > max_len) return Invalid(path, v, Repr(v) + " is too long");
  return s;
}

Result<std::string> NameField(const std::string& path, const json& v) {
  auto s = StringField(path, v, 1, 255);
  if (!s) return s;
  if (!IsPrintableName(*s)) {
    return Invalid(path, v,
                   "An invalid 'name' value was provided. The name must be: printable "
                   "characters. Can not start or end with whitespace.");
  }
  return s;
}

// Masakari's parameter_types.boolean: a JSON boolean or one of its listed strings.
Result<bool> BoolField(const std::string& path, const json& v) {
  if (v.is_boolean()) return v.get<bool>();
  static const std::string_view kTrue[] = {"True", "TRUE", "true", "1",   "ON",
                                           "On",   "on",   "YES",  "Yes", "yes"};
  static const std::string_view kFalse[] = {"False", "FALSE", "false", "0",  "OFF",
                                            "Off",   "off",   "NO",    "No", "no"};
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    for (auto t : kTrue) {
      if (s == t) return true;
    }
    for (auto f : kFalse) {
      if (s == f) return false;
    }
  }
  return Invalid(path, v,
                 Repr(v) +
                     " is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', "
                     "'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', "
                     "'OFF', 'Off', 'off', 'NO', 'No', 'no']");
}

template <typename E>
Result<E> EnumField(const std::string& path, const json& v,
                    std::optional<E> (*parse)(std::string_view), const std::string& choices) {
  if (!v.is_string()) return Invalid(path, v, Repr(v) + " is not of type 'string'");
  auto e = parse(v.get_ref<const std::string&>());
  if (!e) return Invalid(path, v, Repr(v) + " is not one of " + choices);
  return *e;
}

Result<std::optional<std::string>> DescriptionField(const std::string& path, const json& v) {
  if (v.is_null()) return std::optional<std::string>();
  if (!v.is_string()) return Invalid(path, v, Repr(v) + " is not of type 'string', 'null'");
  return std::optional<std::string>(v.get<std::string>());
}

Result<std::string> HostTypeField(const std::string& path, const json& v) {
  auto s = StringField(path, v, 0, 255);
  if (!s) return s;
  for (char c : *s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      return Invalid(path, v, Repr(v) + " does not match '^[a-zA-Z0-9]*$'");
    }
  }
  return s;
}

// "['auto', 'reserved_host', ...]" from the domain's own list, as jsonschema prints an enum.
const std::string& RecoveryMethodChoices() {
  static const std::string choices = [] {
    std::string out = "[";
    for (std::string_view m : RecoveryMethodNames()) {
      out += (out.size() > 1 ? ", '" : "'") + std::string(m) + "'";
    }
    return out + "]";
  }();
  return choices;
}

std::optional<RecoveryMethod> ParseMethod(std::string_view s) { return ParseRecoveryMethod(s); }

// The payload schema of each notification type; returns the canonical payload JSON.
Result<std::string> CheckPayload(NotificationType type, const json& payload) {
  const std::string path = "payload";
  static const std::string kEvents = "['STARTED', 'STOPPED']";
  auto check_enum = [&](const char* key, std::initializer_list<std::string_view> values,
                        const std::string& shown) -> Result<void> {
    if (!payload.contains(key)) return {};
    const json& v = payload[key];
    std::string p = path + "/" + key;
    if (!v.is_string()) return Invalid(p, v, Repr(v) + " is not of type 'string'");
    const std::string& s = v.get_ref<const std::string&>();
    if (std::find(values.begin(), values.end(), s) == values.end()) {
      return Invalid(p, v, Repr(v) + " is not one of " + shown);
    }
    return {};
  };
  switch (type) {
    case NotificationType::kComputeHost: {
      if (auto r =
              CheckObject(path, payload, {"event", "host_status", "cluster_status"}, {"event"});
          !r) {
        return std::unexpected(r.error());
      }
      if (auto r = check_enum("event", {"STARTED", "STOPPED"}, kEvents); !r) {
        return std::unexpected(r.error());
      }
      if (auto r = check_enum("host_status", {"NORMAL", "UNKNOWN"}, "['NORMAL', 'UNKNOWN']"); !r) {
        return std::unexpected(r.error());
      }
      if (auto r = check_enum("cluster_status", {"ONLINE", "OFFLINE"}, "['ONLINE', 'OFFLINE']");
          !r) {
        return std::unexpected(r.error());
      }
      break;
    }
    case NotificationType::kProcess: {
      if (auto r = CheckObject(path, payload, {"process_name", "event"}, {"process_name", "event"});
          !r) {
        return std::unexpected(r.error());
      }
      if (auto r = StringField(path + "/process_name", payload["process_name"], 1, 4096); !r) {
        return std::unexpected(r.error());
      }
      if (auto r = check_enum("event", {"STARTED", "STOPPED"}, kEvents); !r) {
        return std::unexpected(r.error());
      }
      break;
    }
    case NotificationType::kVm: {
      if (auto r = CheckObject(path, payload, {"instance_uuid", "vir_domain_event", "event"},
                               {"instance_uuid", "vir_domain_event", "event"});
          !r) {
        return std::unexpected(r.error());
      }
      const json& id = payload["instance_uuid"];
      if (!id.is_string()) {
        return Invalid(path + "/instance_uuid", id, Repr(id) + " is not of type 'string'");
      }
      if (!IsUuidLike(id.get_ref<const std::string&>())) {
        return Invalid(path + "/instance_uuid", id, Repr(id) + " is not a 'uuid'");
      }
      for (const char* key : {"vir_domain_event", "event"}) {
        if (auto r = StringField(path + "/" + key, payload[key], 1, 255); !r) {
          return std::unexpected(r.error());
        }
      }
      break;
    }
  }
  return payload.dump();
}

}  // namespace

bool IsPrintableName(std::string_view s) {
  auto is_space_cp = [](uint32_t cp) {
    return cp == ' ' || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
  };
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    uint32_t cp;
    int len;
    if (c < 0x80) {
      cp = c, len = 1;
    } else if ((c >> 5) == 6) {
      cp = c & 0x1F, len = 2;
    } else if ((c >> 4) == 14) {
      cp = c & 0x0F, len = 3;
    } else if ((c >> 3) == 30) {
      cp = c & 0x07, len = 4;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += len;
    // Control (Cc), format-ish (U+200B..U+200F, U+2028..U+202E, U+FEFF), and line/paragraph
    // separators are not printable.
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || (cp >= 0x200B && cp <= 0x200F) ||
        (cp >= 0x2028 && cp <= 0x202E) || cp == 0xFEFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    cps.push_back(cp);
  }
  if (cps.empty()) return false;
  return !is_space_cp(cps.front()) && !is_space_cp(cps.back());
}

namespace {

// The fields of `{"segment": {...}}`, each checked if present. `required` lists the fields
// a create needs; an update needs at least one field (Masakari's anyOf).
Result<ha::SegmentUpdate> ParseSegmentFields(const json& body, ApiVersion v,
                                             const std::vector<std::string_view>& required) {
  if (auto r = CheckObject("", body, {"segment"}, {"segment"}); !r)
    return std::unexpected(r.error());
  const json& s = body["segment"];
  std::vector<std::string_view> allowed = {"name", "description", "recovery_method",
                                           "service_type"};
  if (v.minor >= 2) allowed.push_back("enabled");
  if (auto r = CheckObject("segment", s, allowed, required); !r) return std::unexpected(r.error());
  if (s.empty()) return Invalid("segment", s, "{} is not valid under any of the given schemas");
  ha::SegmentUpdate out;
  if (s.contains("name")) {
    auto n = NameField("name", s["name"]);
    if (!n) return std::unexpected(n.error());
    out.name = *n;
  }
  if (s.contains("recovery_method")) {
    auto m = EnumField<RecoveryMethod>("recovery_method", s["recovery_method"], ParseMethod,
                                       RecoveryMethodChoices());
    if (!m) return std::unexpected(m.error());
    out.recovery_method = *m;
  }
  if (s.contains("service_type")) {
    auto t = NameField("service_type", s["service_type"]);
    if (!t) return std::unexpected(t.error());
    out.service_type = *t;
  }
  if (s.contains("description")) {
    auto d = DescriptionField("description", s["description"]);
    if (!d) return std::unexpected(d.error());
    out.description = *d;
  }
  if (s.contains("enabled")) {
    auto e = BoolField("enabled", s["enabled"]);
    if (!e) return std::unexpected(e.error());
    out.enabled = *e;
  }
  return out;
}

// The fields of `{"host": {...}}`, as ParseSegmentFields.
Result<ha::HostUpdate> ParseHostFields(const json& body,
                                       const std::vector<std::string_view>& required) {
  if (auto r = CheckObject("", body, {"host"}, {"host"}); !r) return std::unexpected(r.error());
  const json& h = body["host"];
  if (auto r = CheckObject("host", h,
                           {"name", "type", "control_attributes", "reserved", "on_maintenance"},
                           required);
      !r) {
    return std::unexpected(r.error());
  }
  if (h.empty()) return Invalid("host", h, "{} is not valid under any of the given schemas");
  ha::HostUpdate out;
  if (h.contains("name")) {
    auto n = NameField("name", h["name"]);
    if (!n) return std::unexpected(n.error());
    out.name = *n;
  }
  if (h.contains("type")) {
    auto t = HostTypeField("type", h["type"]);
    if (!t) return std::unexpected(t.error());
    out.type = *t;
  }
  if (h.contains("control_attributes")) {
    const json& c = h["control_attributes"];
    if (!c.is_string())
      return Invalid("control_attributes", c, Repr(c) + " is not of type 'string'");
    out.control_attributes = c.get<std::string>();
  }
  for (const char* key : {"reserved", "on_maintenance"}) {
    if (!h.contains(key)) continue;
    auto b = BoolField(key, h[key]);
    if (!b) return std::unexpected(b.error());
    (std::string_view(key) == "reserved" ? out.reserved : out.on_maintenance) = *b;
  }
  return out;
}

}  // namespace

Result<ha::SegmentCreate> ParseSegmentCreate(const json& body, ApiVersion v) {
  auto f = ParseSegmentFields(body, v, {"name", "recovery_method", "service_type"});
  if (!f) return std::unexpected(f.error());
  return ha::SegmentCreate{.name = *f->name,
                           .description = f->description.value_or(std::nullopt),
                           .recovery_method = *f->recovery_method,
                           .service_type = *f->service_type,
                           .enabled = f->enabled};
}

Result<ha::SegmentUpdate> ParseSegmentUpdate(const json& body, ApiVersion v) {
  return ParseSegmentFields(body, v, {});
}

Result<ha::HostCreate> ParseHostCreate(const json& body) {
  auto f = ParseHostFields(body, {"name", "type", "control_attributes"});
  if (!f) return std::unexpected(f.error());
  return ha::HostCreate{.name = *f->name,
                        .type = *f->type,
                        .control_attributes = *f->control_attributes,
                        .reserved = f->reserved,
                        .on_maintenance = f->on_maintenance};
}

Result<ha::HostUpdate> ParseHostUpdate(const json& body) { return ParseHostFields(body, {}); }

Result<ha::NotificationCreate> ParseNotificationCreate(const json& body, WallMicros received_at) {
  const bool wrapped = body.is_object() && body.contains("notification");
  const json* n = &body;
  std::string path = "notification";
  if (wrapped) {
    if (auto r = CheckObject("", body, {"notification"}, {"notification"}); !r) {
      return std::unexpected(r.error());
    }
    n = &body["notification"];
    if (auto r = CheckObject(path, *n, {"type", "hostname", "generated_time", "payload"},
                             {"type", "hostname", "generated_time", "payload"});
        !r) {
      return std::unexpected(r.error());
    }
  } else {
    path = "body";
    if (auto r = CheckObject(path, *n, {"type", "hostname", "generated_time", "payload"},
                             {"type", "hostname", "payload"});
        !r) {
      return std::unexpected(r.error());
    }
  }
  const json& obj = *n;
  ha::NotificationCreate out;
  auto type = EnumField<NotificationType>(
      "type", obj["type"], ParseNotificationType,
      "['COMPUTE_HOST', 'VM', 'PROCESS', 'COMPUTE_INSTANCE', 'COMPUTE_PROCESS']");
  if (!type) return std::unexpected(type.error());
  out.type = *type;
  auto host = StringField("hostname", obj["hostname"], 1, 255);
  if (!host) return std::unexpected(host.error());
  for (char c : *host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) {
      return Invalid("hostname", obj["hostname"],
                     Repr(obj["hostname"]) + " does not match '^[a-zA-Z0-9-._]*$'");
    }
  }
  out.hostname = *host;
  if (obj.contains("generated_time")) {
    const json& t = obj["generated_time"];
    if (!t.is_string()) return Invalid("generated_time", t, Repr(t) + " is not of type 'string'");
    auto parsed = ParseIsoTime(t.get_ref<const std::string&>());
    if (!parsed) return Invalid("generated_time", t, Repr(t) + " is not a 'date-time'");
    out.generated_time = *parsed;
  } else {
    out.generated_time = received_at;
  }
  auto payload = CheckPayload(out.type, obj["payload"]);
  if (!payload) return std::unexpected(payload.error());
  out.payload_json = *payload;
  return out;
}

}  // namespace warden::api
