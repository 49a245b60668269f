#include "detect/amqp_rules.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "core/digest.h"
#include "core/strings.h"
#include "core/time.h"
#include "core/uuid.h"

namespace warden::detect {
namespace {

using json = nlohmann::json;

constexpr std::string_view kRuleKeys[] = {
    "event_type",  "when",           "type",          "hostname",         "generated_time", "event",
    "host_status", "cluster_status", "instance_uuid", "vir_domain_event", "process_name"};

// Which payload fields each notification type has, and which of them are required.
struct PayloadShape {
  std::vector<std::string_view> required;
  std::vector<std::string_view> optional;
};

PayloadShape ShapeOf(NotificationType t) {
  switch (t) {
    case NotificationType::kComputeHost:
      return {{"event"}, {"host_status", "cluster_status"}};
    case NotificationType::kVm:
      return {{"event", "instance_uuid", "vir_domain_event"}, {}};
    case NotificationType::kProcess:
      return {{"event", "process_name"}, {}};
  }
  return {};
}

// The values an enumerated payload field may take (Masakari's schema); empty: free text.
std::vector<std::string_view> AllowedValues(NotificationType t, std::string_view field) {
  if (field == "event" && t != NotificationType::kVm) return {"STARTED", "STOPPED"};
  if (field == "host_status") return {"NORMAL", "UNKNOWN"};
  if (field == "cluster_status") return {"ONLINE", "OFFLINE"};
  return {};
}

// Fields whose values are upper-cased on the way in: Masakari's enums and the instance
// monitor's event names are upper-case, and a publisher's "stopped" means STOPPED.
bool UpperCased(std::string_view field) {
  return field == "event" || field == "host_status" || field == "cluster_status" ||
         field == "vir_domain_event";
}

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    std::string item = Trim(s.substr(start, comma - start));
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return char(std::toupper(c)); });
  return s;
}

std::string Join(const std::vector<std::string_view>& v) {
  std::string out;
  for (auto s : v) out += (out.empty() ? "" : ", ") + std::string(s);
  return out;
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Iterative '*' matching with one backtrack point: linear in practice, never recursive.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// The value at a dotted path. Keys may themselves hold dots (Nova's "nova_object.data"), so
// at each level the longest run of segments that names a key wins.
const json* Lookup(const json& root, std::string_view path) {
  std::vector<std::string> segs;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    segs.emplace_back(path.substr(start, dot == std::string_view::npos ? path.npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  const json* cur = &root;
  size_t i = 0;
  while (i < segs.size()) {
    if (!cur->is_object()) return nullptr;
    const json* next = nullptr;
    size_t used = 0;
    for (size_t j = segs.size(); j > i && next == nullptr; --j) {
      std::string key = segs[i];
      for (size_t k = i + 1; k < j; ++k) key += "." + segs[k];
      auto it = cur->find(key);
      if (it != cur->end()) {
        next = &*it;
        used = j - i;
      }
    }
    if (next == nullptr) return nullptr;
    cur = next;
    i += used;
  }
  return cur;
}

// A scalar as text: strings as they are, numbers and booleans as JSON; nullopt otherwise.
std::optional<std::string> ScalarText(const json* v) {
  if (v == nullptr || v->is_null() || v->is_object() || v->is_array()) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  return v->dump();
}

std::string PublisherHost(const json& msg) {
  const json* p = Lookup(msg, "publisher_id");
  if (p == nullptr || !p->is_string()) return "";
  const std::string& s = p->get_ref<const std::string&>();
  size_t sep = s.find(':');
  if (sep == std::string::npos) sep = s.find('.');
  return sep == std::string::npos ? s : s.substr(sep + 1);
}

// The first alternative that yields a non-empty value.
std::optional<std::string> Resolve(const json& msg, const std::vector<std::string>& alternatives) {
  for (const std::string& alt : alternatives) {
    if (alt.empty() || alt[0] != '$') return alt;
    std::string v;
    if (alt == "$publisher_host") {
      v = PublisherHost(msg);
    } else if (auto t = ScalarText(Lookup(msg, std::string_view(alt).substr(1)))) {
      v = *t;
    }
    if (!v.empty()) return v;
  }
  return std::nullopt;
}

std::string Describe(const std::vector<std::string>& alternatives) {
  std::string out;
  for (const auto& a : alternatives) out += (out.empty() ? "" : ", ") + a;
  return out;
}

Result<AmqpCondition> ParseCondition(const std::string& text) {
  AmqpCondition c;
  std::string lhs;
  if (size_t p = text.find(" older_than "); p != std::string::npos) {
    lhs = Trim(text.substr(0, p));
    auto d = ParseDurationMicros(Trim(text.substr(p + 12)));
    if (!d) return InvalidArgument("'" + text + "': " + d.error().message());
    c.op = AmqpCondition::Op::kOlderThan;
    c.older_micros = *d;
  } else if (size_t p = text.find("!="); p != std::string::npos) {
    lhs = Trim(text.substr(0, p));
    c.op = AmqpCondition::Op::kNotEquals;
    c.text = Trim(text.substr(p + 2));
  } else if (size_t p = text.find("=="); p != std::string::npos) {
    lhs = Trim(text.substr(0, p));
    c.op = AmqpCondition::Op::kEquals;
    c.text = Trim(text.substr(p + 2));
  } else {
    return InvalidArgument("'" + text +
                           "' is not '$path == text', '$path != text' or "
                           "'$path older_than DURATION'");
  }
  if (lhs.size() < 2 || lhs[0] != '$') {
    return InvalidArgument("'" + text + "': the left side must be a $path");
  }
  c.path = lhs.substr(1);
  return c;
}

// Evaluates one condition; an error for a timestamp that is there but not a timestamp.
Result<bool> Holds(const AmqpCondition& c, const json& msg, WallMicros generated_time) {
  const json* v = Lookup(msg, c.path);
  auto text = ScalarText(v);
  switch (c.op) {
    case AmqpCondition::Op::kEquals:
      return text.value_or("null") == c.text;
    case AmqpCondition::Op::kNotEquals:
      return text.value_or("null") != c.text;
    case AmqpCondition::Op::kOlderThan: {
      if (!text) return true;
      auto t = ParseIsoTime(*text);
      if (!t) return InvalidArgument("$" + c.path + " is not a timestamp");
      return generated_time - *t > c.older_micros;
    }
  }
  return false;
}

bool ValidHostname(std::string_view h) {
  if (h.empty() || h.size() > 255) return false;
  return std::all_of(h.begin(), h.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_';
  });
}

// Decodes a body, unwrapping oslo.messaging's envelope; an error says why it is poison.
Result<json> Decode(const std::string& body) {
  if (body.size() > kMaxAmqpBodyBytes) {
    return InvalidArgument("body of " + std::to_string(body.size()) + " bytes is over the limit");
  }
  constexpr int kMaxDepth = 64;
  auto parse = [&](const std::string& text) -> Result<json> {
    try {
      return json::parse(text, [&](int depth, json::parse_event_t, json&) {
        if (depth > kMaxDepth) throw std::length_error("nesting");
        return true;
      });
    } catch (const std::length_error&) {
      return InvalidArgument("JSON nested deeper than " + std::to_string(kMaxDepth));
    } catch (const json::exception& e) {
      return InvalidArgument(std::string("not JSON: ") + e.what());
    }
  };
  auto outer = parse(body);
  if (!outer) return outer;
  if (!outer->is_object()) return InvalidArgument("not a JSON object");
  auto env = outer->find("oslo.message");
  if (env == outer->end()) return outer;
  auto version = outer->find("oslo.version");
  if (version == outer->end() || !version->is_string() || *version != "2.0") {
    return InvalidArgument("unsupported oslo.version (2.0 expected)");
  }
  if (!env->is_string()) return InvalidArgument("oslo.message is not a string");
  auto inner = parse(env->get<std::string>());
  if (!inner) return inner;
  if (!inner->is_object()) return InvalidArgument("oslo.message is not a JSON object");
  return inner;
}

std::string KeyOf(const AmqpMessage& m, const json* decoded) {
  if (!m.message_id.empty()) return "amqp:" + m.message_id;
  if (decoded != nullptr) {
    for (auto [field, prefix] :
         {std::pair{"message_id", "oslo:"}, {"_unique_id", "oslo-unique:"}}) {
      auto it = decoded->find(field);
      if (it != decoded->end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
        return prefix + it->get<std::string>();
      }
    }
  }
  return "sha256:" + Sha256Hex(m.body);
}

// Builds the notification a matched rule describes.
MappingOutcome Build(const AmqpRule& rule, const std::string& event_type, const json& msg,
                     WallMicros generated_time, std::string key) {
  auto reject = [&](std::string why) {
    return RejectedMessage{event_type, "rule " + rule.name + ": " + std::move(why)};
  };
  auto field = [&](std::string_view name) -> std::optional<std::string> {
    auto it = rule.fields.find(std::string(name));
    if (it == rule.fields.end()) return std::nullopt;
    return Resolve(msg, it->second);
  };
  auto hostname = field("hostname");
  if (!hostname) {
    return reject("no hostname in the message (" + Describe(rule.fields.at("hostname")) + ")");
  }
  if (!ValidHostname(*hostname)) {
    return reject("hostname '" + hostname->substr(0, 300) + "' does not match '^[a-zA-Z0-9-._]*$'");
  }
  json payload = json::object();
  const PayloadShape shape = ShapeOf(rule.type);
  for (bool required : {true, false}) {
    for (std::string_view name : required ? shape.required : shape.optional) {
      auto v = field(name);
      if (!v) {
        if (!required) continue;
        return reject("no " + std::string(name) + " in the message (" +
                      Describe(rule.fields.at(std::string(name))) + ")");
      }
      std::string value = UpperCased(name) ? Upper(*v) : *v;
      auto allowed = AllowedValues(rule.type, name);
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
        return reject(std::string(name) + " '" + value.substr(0, 100) + "' is not one of " +
                      Join(allowed));
      }
      if (name == "instance_uuid") {
        auto canonical = CanonicalUuid(value);
        if (!canonical) return reject("instance_uuid '" + value.substr(0, 100) + "' is not a UUID");
        value = *canonical;
      }
      const size_t max = name == "process_name" ? 4096 : 255;
      if (value.empty() || value.size() > max) {
        return reject(std::string(name) + " must be 1 to " + std::to_string(max) + " characters");
      }
      payload[std::string(name)] = value;
    }
  }
  MappedNotification out;
  out.create.type = rule.type;
  out.create.hostname = *hostname;
  out.create.generated_time = generated_time;
  out.create.payload_json = payload.dump();  // sorted keys, no spaces: the canonical form
  out.create.uuid = NotificationUuidForKey(key);
  out.rule = rule.name;
  out.event_type = event_type;
  out.idempotency_key = std::move(key);
  return out;
}

AmqpRule MustParse(const std::string& name, const std::map<std::string, std::string>& keys) {
  auto r = ParseAmqpRule(name, keys);
  if (!r) throw std::logic_error("built-in AMQP rule " + name + ": " + r.error().message());
  return *r;
}

}  // namespace

std::span<const std::string_view> AmqpRuleKeys() { return kRuleKeys; }

Result<AmqpRule> ParseAmqpRule(const std::string& name,
                               const std::map<std::string, std::string>& keys) {
  AmqpRule rule;
  rule.name = name;
  for (const auto& [k, v] : keys) {
    if (std::find(std::begin(kRuleKeys), std::end(kRuleKeys), k) == std::end(kRuleKeys)) {
      return InvalidArgument(k + ": unknown key (" +
                             Join({std::begin(kRuleKeys), std::end(kRuleKeys)}) + ")");
    }
  }
  auto get = [&](const char* k) -> std::string {
    auto it = keys.find(k);
    return it == keys.end() ? "" : Trim(it->second);
  };
  rule.event_type = get("event_type");
  if (rule.event_type.empty()) return InvalidArgument("event_type: required");
  for (const std::string& c : SplitList(get("when"))) {
    auto cond = ParseCondition(c);
    if (!cond) return InvalidArgument("when: " + cond.error().message());
    rule.when.push_back(*cond);
  }
  const std::string type = get("type");
  if (type == "ignore") {
    rule.ignore = true;
    for (const auto& [k, v] : keys) {
      if (k != "event_type" && k != "when" && k != "type") {
        return InvalidArgument(k + ": not used by type = ignore");
      }
    }
    return rule;
  }
  auto parsed = ParseNotificationType(type);
  if (!parsed) {
    return InvalidArgument("type: '" + type +
                           "' is not one of: COMPUTE_HOST, VM, PROCESS, COMPUTE_INSTANCE, "
                           "COMPUTE_PROCESS, ignore");
  }
  rule.type = *parsed;
  const PayloadShape shape = ShapeOf(rule.type);
  auto used = [&](std::string_view k) {
    return k == "hostname" || k == "generated_time" ||
           std::find(shape.required.begin(), shape.required.end(), k) != shape.required.end() ||
           std::find(shape.optional.begin(), shape.optional.end(), k) != shape.optional.end();
  };
  for (const auto& [k, v] : keys) {
    if (k == "event_type" || k == "when" || k == "type") continue;
    if (!used(k)) return InvalidArgument(k + ": not used by type = " + type);
    std::vector<std::string> alternatives = SplitList(v);
    if (alternatives.empty()) return InvalidArgument(k + ": empty");
    for (const std::string& alt : alternatives) {
      if (alt[0] == '$') {
        if (alt.size() < 2) return InvalidArgument(k + ": '$' needs a path");
        continue;
      }
      // Literals are checked now, so that a typo stops start-up rather than every message.
      auto allowed = AllowedValues(rule.type, k);
      const std::string value = UpperCased(k) ? Upper(alt) : alt;
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
        return InvalidArgument(k + ": '" + alt + "' is not one of " + Join(allowed));
      }
      if (k == "hostname" && !ValidHostname(alt)) {
        return InvalidArgument(k + ": '" + alt + "' is not a host name");
      }
      if (k == "instance_uuid" && !IsUuidLike(alt)) {
        return InvalidArgument(k + ": '" + alt + "' is not a UUID");
      }
      if (k == "generated_time" && !ParseIsoTime(alt)) {
        return InvalidArgument(k + ": '" + alt + "' is not a timestamp");
      }
    }
    rule.fields[k] = std::move(alternatives);
  }
  if (!rule.fields.contains("hostname")) return InvalidArgument("hostname: required");
  for (std::string_view k : shape.required) {
    if (!rule.fields.contains(std::string(k))) {
      return InvalidArgument(std::string(k) + ": required for type = " + type);
    }
  }
  if (!rule.fields.contains("generated_time")) {
    rule.fields["generated_time"] = {"$timestamp", "$generated_time"};
  }
  return rule;
}

std::vector<AmqpRule> DefaultAmqpRules(int64_t service_down_micros) {
  const std::string down = std::to_string(service_down_micros) + "us";
  const std::string data = "$payload.nova_object.data.";
  const std::string seed_host =
      "$payload.host, $payload.hostname, $payload.nova_object.data.host, $hostname, $host, "
      "$publisher_host";
  return {
      // Nova: a compute service forced down. Nova's contract for forced_down is that the
      // host is really down (fenced), so the host status is NORMAL, as the host monitor says
      // after its own power check.
      MustParse("nova-service-forced-down",
                {{"event_type", "service.update"},
                 {"when", data + "binary == nova-compute, " + data + "forced_down == true"},
                 {"type", "COMPUTE_HOST"},
                 {"hostname", data + "host"},
                 {"event", "STOPPED"},
                 {"host_status", "NORMAL"},
                 {"cluster_status", "OFFLINE"}}),
      // Nova: a compute service disabled that has not reported for service_down_time: its
      // nova-compute process is gone, the host is not known to be.
      MustParse("nova-service-down",
                {{"event_type", "service.update"},
                 {"when", data + "binary == nova-compute, " + data + "disabled == true, " + data +
                              "forced_down != true, " + data + "last_seen_up older_than " + down},
                 {"type", "PROCESS"},
                 {"hostname", data + "host"},
                 {"process_name", "nova-compute"},
                 {"event", "STOPPED"}}),
      // Nova: an instance action that failed and left the instance in error on a host.
      MustParse("nova-instance-error", {{"event_type", "instance.*.error"},
                                        {"when", data + "state == error, " + data + "host != null"},
                                        {"type", "VM"},
                                        {"hostname", data + "host"},
                                        {"instance_uuid", data + "uuid"},
                                        {"event", "LIFECYCLE"},
                                        {"vir_domain_event", "STOPPED_FAILED"}}),
      // The seeds' events. The host status is the message's if it has one: an error event
      // alone does not say the host is off, so without one it is UNKNOWN (Warden fences such
      // hosts itself where a fencer is configured).
      MustParse("compute-host-error", {{"event_type", "compute.host.error"},
                                       {"type", "COMPUTE_HOST"},
                                       {"hostname", seed_host},
                                       {"event", "$payload.event, STOPPED"},
                                       {"host_status", "$payload.host_status, UNKNOWN"},
                                       {"cluster_status", "$payload.cluster_status, OFFLINE"}}),
      MustParse("compute-instance-error",
                {{"event_type", "compute.instance.error"},
                 {"type", "VM"},
                 {"hostname", seed_host},
                 {"instance_uuid", "$payload.instance_uuid, $payload.instance_id, $payload.uuid, " +
                                       data +
                                       "uuid, "
                                       "$instance_uuid"},
                 {"event", "$payload.event, LIFECYCLE"},
                 {"vir_domain_event", "$payload.vir_domain_event, STOPPED_FAILED"}}),
  };
}

namespace {

MappingOutcome MapUnguarded(const AmqpMessage& message, std::span<const AmqpRule> rules,
                            WallMicros received_at) {
  auto decoded = Decode(message.body);
  if (!decoded) return RejectedMessage{"", decoded.error().message()};
  const json& msg = *decoded;
  auto et = msg.find("event_type");
  if (et == msg.end() || !et->is_string() || et->get_ref<const std::string&>().empty()) {
    return RejectedMessage{"", "no event_type"};
  }
  const std::string event_type = et->get<std::string>();
  for (const AmqpRule& rule : rules) {
    if (!GlobMatch(rule.event_type, event_type)) continue;
    // The message's own time where it has one (oslo's timestamp is naive UTC).
    WallMicros generated_time = received_at;
    if (auto it = rule.fields.find("generated_time"); it != rule.fields.end()) {
      if (auto t = Resolve(msg, it->second)) {
        auto parsed = ParseIsoTime(*t);
        if (!parsed) {
          return RejectedMessage{event_type, "rule " + rule.name + ": generated_time '" +
                                                 t->substr(0, 100) + "' is not a timestamp"};
        }
        generated_time = *parsed;
      }
    }
    bool holds = true;
    for (const AmqpCondition& c : rule.when) {
      auto h = Holds(c, msg, generated_time);
      if (!h) return RejectedMessage{event_type, "rule " + rule.name + ": " + h.error().message()};
      if (!*h) {
        holds = false;
        break;
      }
    }
    if (!holds) continue;
    if (rule.ignore) return SkippedMessage{event_type, "rule " + rule.name + " ignores it"};
    return Build(rule, event_type, msg, generated_time, KeyOf(message, &msg));
  }
  return SkippedMessage{event_type, "no rule matches"};
}

}  // namespace

MappingOutcome MapAmqpMessage(const AmqpMessage& message, std::span<const AmqpRule> rules,
                              WallMicros received_at) {
  // Whatever a message holds, it is at worst poison: an exception here would otherwise drop
  // the connection and bring the same message back, forever.
  try {
    return MapUnguarded(message, rules, received_at);
  } catch (const std::exception& e) {
    return RejectedMessage{"", std::string("cannot map: ") + e.what()};
  }
}

std::optional<InstanceNews> ReadInstanceNews(const AmqpMessage& message) {
  // (instance.evacuate is sent when the rebuild starts on the destination: no news.)
  static constexpr std::string_view kEvents[] = {
      "instance.rebuild.end", "instance.rebuild.error", "compute.instance.rebuild.end",
      "compute.instance.rebuild.error"};
  try {
    if (message.body.size() > kMaxAmqpBodyBytes) return std::nullopt;
    auto msg = Decode(message.body);
    if (!msg) return std::nullopt;
    const auto event = ScalarText(Lookup(*msg, "event_type"));
    if (!event || std::find(std::begin(kEvents), std::end(kEvents), *event) == std::end(kEvents)) {
      return std::nullopt;
    }
    const json* uuid = Lookup(*msg, "payload.nova_object.data.uuid");
    if (uuid == nullptr) uuid = Lookup(*msg, "payload.instance_id");
    if (uuid == nullptr || !uuid->is_string()) return std::nullopt;
    const std::string& id = uuid->get_ref<const std::string&>();
    if (id.empty() || id.size() > 64) return std::nullopt;
    return InstanceNews{*event, id};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string AmqpIdempotencyKey(const AmqpMessage& message) {
  auto decoded = Decode(message.body);
  return KeyOf(message, decoded ? &*decoded : nullptr);
}

std::string NotificationUuidForKey(std::string_view key) {
  // RFC 9562 section 5.5: SHA-1 over the namespace's 16 bytes and the name.
  static constexpr unsigned char kNamespace[16] = {0x3b, 0x0c, 0x6f, 0x2e, 0x91, 0x5d, 0x4a, 0x7e,
                                                   0x8c, 0x21, 0x5f, 0x0a, 0xd4, 0x63, 0x19, 0xb7};
  std::string digest =
      Sha1(std::string_view(reinterpret_cast<const char*>(kNamespace), sizeof kNamespace), key);
  digest[6] = char((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = char((digest[8] & 0x3f) | 0x80);  // RFC variant
  const std::string hex = HexLower(reinterpret_cast<const unsigned char*>(digest.data()), 16);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

}  // namespace warden::detect
