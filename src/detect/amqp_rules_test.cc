#include "detect/amqp_rules.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/time.h"
#include "core/uuid.h"

namespace warden::detect {
namespace {

using json = nlohmann::json;

constexpr WallMicros kNow = 1'700'000'000'000'000;
const std::vector<AmqpRule>& Defaults() {
  static const std::vector<AmqpRule> rules = DefaultAmqpRules(60'000'000);
  return rules;
}

MappingOutcome Map(const std::string& body, const std::string& message_id = "",
                   const std::vector<AmqpRule>& rules = Defaults()) {
  return MapAmqpMessage({.body = body, .message_id = message_id}, rules, kNow);
}

// oslo.messaging's envelope around a message.
std::string Oslo(const json& inner) {
  return json{{"oslo.version", "2.0"}, {"oslo.message", inner.dump()}}.dump();
}

MappedNotification Mapped(const MappingOutcome& o) {
  if (const auto* r = std::get_if<RejectedMessage>(&o)) ADD_FAILURE() << "rejected: " << r->reason;
  if (const auto* s = std::get_if<SkippedMessage>(&o)) ADD_FAILURE() << "skipped: " << s->reason;
  const auto* m = std::get_if<MappedNotification>(&o);
  return m != nullptr ? *m : MappedNotification{};
}

std::string Rejected(const MappingOutcome& o) {
  const auto* r = std::get_if<RejectedMessage>(&o);
  return r == nullptr ? "(not rejected)" : r->reason;
}

bool WasSkipped(const MappingOutcome& o) { return std::holds_alternative<SkippedMessage>(o); }

json ServiceUpdate(json data) {
  json d = {{"host", "compute1"},
            {"binary", "nova-compute"},
            {"disabled", false},
            {"forced_down", false},
            {"last_seen_up", "2023-11-14T22:13:10Z"},
            {"disabled_reason", nullptr}};
  d.update(data);
  return {{"message_id", "0bfa6e8e-5a49-4a09-9dd0-7f0c3a1f2b11"},
          {"publisher_id", "nova-compute:compute1"},
          {"event_type", "service.update"},
          {"priority", "INFO"},
          {"timestamp", "2023-11-14 22:13:20.000000"},
          {"payload",
           {{"nova_object.name", "ServiceStatusPayload"},
            {"nova_object.namespace", "nova"},
            {"nova_object.version", "1.1"},
            {"nova_object.data", d}}}};
}

json InstanceAction(const std::string& event_type, const std::string& state) {
  return {{"message_id", "5a7c2e0d-8f7b-4a1c-9d8e-3b2a1c0d9e8f"},
          {"publisher_id", "nova-compute:compute2"},
          {"event_type", event_type},
          {"priority", "ERROR"},
          {"timestamp", "2023-11-14 22:13:20.000000"},
          {"payload",
           {{"nova_object.name", "InstanceActionPayload"},
            {"nova_object.data",
             {{"uuid", "178B0921-8F85-4257-88B6-2E743B5A975C"},
              {"host", "compute2"},
              {"state", state},
              {"fault", {{"nova_object.data", {{"message", "boom"}}}}}}}}}};
}

// --- the seeds' events ----------------------------------------------------------------------

TEST(AmqpRules, ComputeHostErrorBecomesAnUnconfirmedHostNotification) {
  auto o = Map(R"({"event_type":"compute.host.error","publisher_id":"compute.compute1",
                   "timestamp":"2023-11-14 22:13:20.5","payload":{"host":"compute1"}})");
  const auto& m = Mapped(o);
  EXPECT_EQ(m.create.type, NotificationType::kComputeHost);
  EXPECT_EQ(m.create.hostname, "compute1");
  EXPECT_EQ(m.create.payload_json,
            R"({"cluster_status":"OFFLINE","event":"STOPPED","host_status":"UNKNOWN"})");
  EXPECT_EQ(m.create.generated_time, *ParseIsoTime("2023-11-14T22:13:20.5Z"));
  EXPECT_EQ(m.rule, "compute-host-error");
}

TEST(AmqpRules, ComputeHostErrorKeepsTheMessagesOwnStatusUpperCased) {
  auto o = Map(R"({"event_type":"compute.host.error","payload":{"hostname":"compute-01.x",
                   "event":"stopped","host_status":"normal","cluster_status":"offline"}})");
  const auto& m = Mapped(o);
  EXPECT_EQ(m.create.hostname, "compute-01.x");
  EXPECT_EQ(m.create.payload_json,
            R"({"cluster_status":"OFFLINE","event":"STOPPED","host_status":"NORMAL"})");
  EXPECT_EQ(m.create.generated_time, kNow);  // no timestamp: the time of receipt
}

TEST(AmqpRules, ComputeHostErrorFindsTheHostInThePublisherId) {
  const auto& a = Mapped(Map(R"({"event_type":"compute.host.error","payload":{},
                                  "publisher_id":"compute.compute7"})"));
  EXPECT_EQ(a.create.hostname, "compute7");
  const auto& b = Mapped(Map(R"({"event_type":"compute.host.error","payload":{},
                                  "publisher_id":"nova-compute:compute8.example"})"));
  EXPECT_EQ(b.create.hostname, "compute8.example");
}

TEST(AmqpRules, ComputeInstanceErrorBecomesAVmNotification) {
  auto o = Map(R"({"event_type":"compute.instance.error","payload":{"host":"compute2",
                   "instance_id":"178B0921-8F85-4257-88B6-2E743B5A975C"}})");
  const auto& m = Mapped(o);
  EXPECT_EQ(m.create.type, NotificationType::kVm);
  EXPECT_EQ(m.create.hostname, "compute2");
  EXPECT_EQ(m.create.payload_json,
            R"({"event":"LIFECYCLE","instance_uuid":"178b0921-8f85-4257-88b6-2e743b5a975c",)"
            R"("vir_domain_event":"STOPPED_FAILED"})");
}

TEST(AmqpRules, ComputeInstanceErrorKeepsTheMonitorsEventNames) {
  auto o = Map(R"({"event_type":"compute.instance.error","payload":{"host":"compute2",
                   "instance_uuid":"178b0921-8f85-4257-88b6-2e743b5a975c",
                   "event":"IO_ERROR","vir_domain_event":"IO_ERROR_REPORT"}})");
  EXPECT_EQ(Mapped(o).create.payload_json,
            R"({"event":"IO_ERROR","instance_uuid":"178b0921-8f85-4257-88b6-2e743b5a975c",)"
            R"("vir_domain_event":"IO_ERROR_REPORT"})");
}

// --- Nova's versioned notifications ---------------------------------------------------------

TEST(AmqpRules, ServiceForcedDownIsAConfirmedHostFailure) {
  auto o = Map(Oslo(ServiceUpdate({{"forced_down", true}, {"disabled", true}})));
  const auto& m = Mapped(o);
  EXPECT_EQ(m.rule, "nova-service-forced-down");
  EXPECT_EQ(m.create.type, NotificationType::kComputeHost);
  EXPECT_EQ(m.create.hostname, "compute1");
  EXPECT_EQ(m.create.payload_json,
            R"({"cluster_status":"OFFLINE","event":"STOPPED","host_status":"NORMAL"})");
  EXPECT_EQ(m.create.generated_time, *ParseIsoTime("2023-11-14T22:13:20Z"));
  EXPECT_EQ(m.idempotency_key, "oslo:0bfa6e8e-5a49-4a09-9dd0-7f0c3a1f2b11");
}

TEST(AmqpRules, DisabledServiceNotSeenForServiceDownTimeIsADeadProcess) {
  // Last seen 70 s before the message, over the 60 s service_down_time.
  auto o = Map(Oslo(ServiceUpdate({{"disabled", true}, {"last_seen_up", "2023-11-14T22:12:10Z"}})));
  const auto& m = Mapped(o);
  EXPECT_EQ(m.rule, "nova-service-down");
  EXPECT_EQ(m.create.type, NotificationType::kProcess);
  EXPECT_EQ(m.create.payload_json, R"({"event":"STOPPED","process_name":"nova-compute"})");
  // Never seen up at all counts as down too.
  EXPECT_EQ(
      Mapped(Map(Oslo(ServiceUpdate({{"disabled", true}, {"last_seen_up", nullptr}})))).create.type,
      NotificationType::kProcess);
}

TEST(AmqpRules, OtherServiceUpdatesAreSkipped) {
  // Disabled by an operator while it still reports: maintenance, not a failure.
  EXPECT_TRUE(WasSkipped(Map(Oslo(ServiceUpdate({{"disabled", true}})))));
  // Enabled again, or up.
  EXPECT_TRUE(WasSkipped(Map(Oslo(ServiceUpdate(json::object())))));
  // Not a compute service.
  EXPECT_TRUE(
      WasSkipped(Map(Oslo(ServiceUpdate({{"binary", "nova-scheduler"}, {"forced_down", true}})))));
}

TEST(AmqpRules, InstanceActionErrorLeavingTheInstanceInErrorIsAVmFailure) {
  auto o = Map(Oslo(InstanceAction("instance.power_on.error", "error")));
  const auto& m = Mapped(o);
  EXPECT_EQ(m.rule, "nova-instance-error");
  EXPECT_EQ(m.create.type, NotificationType::kVm);
  EXPECT_EQ(m.create.hostname, "compute2");
  EXPECT_EQ(m.create.payload_json,
            R"({"event":"LIFECYCLE","instance_uuid":"178b0921-8f85-4257-88b6-2e743b5a975c",)"
            R"("vir_domain_event":"STOPPED_FAILED"})");
}

TEST(AmqpRules, InstanceEventsThatAreNotFailuresAreSkipped) {
  EXPECT_TRUE(WasSkipped(Map(Oslo(InstanceAction("instance.resize.error", "active")))));
  EXPECT_TRUE(WasSkipped(Map(Oslo(InstanceAction("instance.update", "error")))));
  auto no_host = InstanceAction("instance.create.error", "error");
  no_host["payload"]["nova_object.data"]["host"] = nullptr;
  EXPECT_TRUE(WasSkipped(Map(Oslo(no_host))));
  EXPECT_TRUE(WasSkipped(Map(R"({"event_type":"compute.instance.create.end","payload":{}})")));
}

// --- poison ---------------------------------------------------------------------------------

TEST(AmqpRules, MalformedMessagesAreRejectedWithAReason) {
  EXPECT_NE(Rejected(Map("not json")).find("not JSON"), std::string::npos);
  EXPECT_EQ(Rejected(Map("[1,2]")), "not a JSON object");
  EXPECT_EQ(Rejected(Map("")).find("not JSON"), 0u);
  EXPECT_EQ(Rejected(Map(R"({"payload":{}})")), "no event_type");
  EXPECT_EQ(Rejected(Map(R"({"event_type":7})")), "no event_type");
  EXPECT_EQ(Rejected(Map(R"({"oslo.version":"2.0","oslo.message":{"event_type":"x"}})")),
            "oslo.message is not a string");
  EXPECT_EQ(Rejected(Map(R"({"oslo.version":"1.0","oslo.message":"{}"})")),
            "unsupported oslo.version (2.0 expected)");
  EXPECT_NE(Rejected(Map(R"({"oslo.version":"2.0","oslo.message":"{bad"})")).find("not JSON"),
            std::string::npos);
  EXPECT_EQ(Rejected(Map(std::string(10000, '[') + std::string(10000, ']'))),
            "JSON nested deeper than 64");
  EXPECT_NE(Rejected(Map(std::string(kMaxAmqpBodyBytes + 1, ' '))).find("over the limit"),
            std::string::npos);
  EXPECT_NE(
      Rejected(Map("{\"event_type\":\"compute.host.error\",\"payload\":{\"host\":\"a\xff\"}}"))
          .find("not JSON"),
      std::string::npos);
}

TEST(AmqpRules, MatchedMessagesWithMissingOrBadFieldsAreRejected) {
  EXPECT_NE(
      Rejected(Map(R"({"event_type":"compute.host.error","payload":{}})")).find("no hostname"),
      std::string::npos);
  EXPECT_NE(Rejected(Map(R"({"event_type":"compute.host.error","payload":{"host":"a b"}})"))
                .find("does not match"),
            std::string::npos);
  EXPECT_NE(Rejected(Map(R"({"event_type":"compute.host.error","payload":{"host":"c1",
                              "host_status":"DOWN"}})"))
                .find("host_status 'DOWN' is not one of NORMAL, UNKNOWN"),
            std::string::npos);
  EXPECT_NE(Rejected(Map(R"({"event_type":"compute.instance.error","payload":{"host":"c1"}})"))
                .find("no instance_uuid"),
            std::string::npos);
  EXPECT_NE(Rejected(Map(R"({"event_type":"compute.instance.error","payload":{"host":"c1",
                              "instance_id":"not-a-uuid"}})"))
                .find("is not a UUID"),
            std::string::npos);
  EXPECT_NE(Rejected(Map(R"({"event_type":"compute.host.error","timestamp":"yesterday",
                              "payload":{"host":"c1"}})"))
                .find("generated_time 'yesterday' is not a timestamp"),
            std::string::npos);
  EXPECT_NE(Rejected(Map(Oslo(ServiceUpdate({{"disabled", true}, {"last_seen_up", "soon"}}))))
                .find("last_seen_up is not a timestamp"),
            std::string::npos);
}

TEST(AmqpRules, NothingInAMessageOrRuleThrows) {
  // A configured literal that is not UTF-8 cannot be written as JSON: poison, not a crash.
  auto rule = ParseAmqpRule("r", {{"event_type", "e"},
                                  {"type", "VM"},
                                  {"hostname", "h1"},
                                  {"instance_uuid", "$id"},
                                  {"event", "LIFECYCLE\xff"},
                                  {"vir_domain_event", "STOPPED_FAILED"}});
  ASSERT_TRUE(rule.has_value());
  std::vector<AmqpRule> rules = {*rule};
  auto o = Map(R"({"event_type":"e","id":"178b0921-8f85-4257-88b6-2e743b5a975c"})", "", rules);
  EXPECT_EQ(Rejected(o).rfind("cannot map: ", 0), 0u) << Rejected(o);
}

// --- idempotency ----------------------------------------------------------------------------

// Nova's rebuild events tell the engine to read an evacuation's record now.
TEST(AmqpRules, RebuildEventsAreInstanceNews) {
  for (const char* event : {"instance.rebuild.end", "instance.rebuild.error"}) {
    auto news = ReadInstanceNews({.body = Oslo(InstanceAction(event, "active"))});
    ASSERT_TRUE(news) << event;
    EXPECT_EQ(news->event_type, event);
    EXPECT_EQ(news->instance_uuid, "178B0921-8F85-4257-88B6-2E743B5A975C");
  }
  // Nova's legacy (unversioned) notification.
  auto legacy = ReadInstanceNews(
      {.body = R"({"event_type":"compute.instance.rebuild.end","payload":{"instance_id":"i-1"}})"});
  ASSERT_TRUE(legacy);
  EXPECT_EQ(legacy->instance_uuid, "i-1");
  // Anything else is not news: other events, no uuid, garbage, an oversized body.
  EXPECT_FALSE(ReadInstanceNews({.body = Oslo(InstanceAction("instance.update", "active"))}));
  // Sent when the rebuild starts, not when it ends.
  EXPECT_FALSE(ReadInstanceNews({.body = Oslo(InstanceAction("instance.evacuate", "active"))}));
  EXPECT_FALSE(ReadInstanceNews({.body = R"({"event_type":"instance.rebuild.end","payload":{}})"}));
  EXPECT_FALSE(ReadInstanceNews(
      {.body = R"({"event_type":"instance.rebuild.end","payload":{"nova_object.data":{"uuid":7}}})"}));
  EXPECT_FALSE(ReadInstanceNews({.body = "{not json"}));
  EXPECT_FALSE(ReadInstanceNews({.body = R"({"oslo.version":"2.0","oslo.message":"[1]"})"}));
  EXPECT_FALSE(ReadInstanceNews({.body = std::string(kMaxAmqpBodyBytes + 1, ' ')}));
}

TEST(AmqpRules, IdempotencyKeyPrefersTheAmqpMessageIdThenOslosIds) {
  const std::string body = Oslo({{"event_type", "x"}, {"message_id", "m1"}, {"_unique_id", "u1"}});
  EXPECT_EQ(AmqpIdempotencyKey({.body = body, .message_id = "p1"}), "amqp:p1");
  EXPECT_EQ(AmqpIdempotencyKey({.body = body}), "oslo:m1");
  EXPECT_EQ(AmqpIdempotencyKey({.body = Oslo({{"event_type", "x"}, {"_unique_id", "u1"}})}),
            "oslo-unique:u1");
  const std::string key = AmqpIdempotencyKey({.body = R"({"event_type":"x"})"});
  EXPECT_EQ(key.rfind("sha256:", 0), 0u);
  EXPECT_EQ(key.size(), 7u + 64u);
  EXPECT_EQ(AmqpIdempotencyKey({.body = R"({"event_type":"x"})"}), key);
  EXPECT_NE(AmqpIdempotencyKey({.body = R"({"event_type":"y"})"}), key);
  // Even a body that does not parse has a key (it is dead-lettered, but counted once).
  EXPECT_EQ(AmqpIdempotencyKey({.body = "junk"}).rfind("sha256:", 0), 0u);
}

TEST(AmqpRules, NotificationUuidIsAVersion5UuidOfTheKey) {
  const std::string a = NotificationUuidForKey("amqp:p1");
  EXPECT_TRUE(IsUuidLike(a));
  EXPECT_EQ(a, *CanonicalUuid(a));
  EXPECT_EQ(a[14], '5');
  EXPECT_TRUE(std::string("89ab").find(a[19]) != std::string::npos);
  EXPECT_EQ(NotificationUuidForKey("amqp:p1"), a);
  // RFC 9562's v5 over Warden's namespace: Python's uuid.uuid5(UUID("3b0c6f2e-915d-4a7e-
  // 8c21-5f0ad46319b7"), "amqp:p1") gives the same. Fixed for good: a redelivered message
  // must map to the notification stored before an upgrade.
  EXPECT_EQ(a, "964a294e-beb6-5701-8ab8-ba7f51c77cac");
  EXPECT_NE(NotificationUuidForKey("amqp:p2"), a);
  EXPECT_NE(NotificationUuidForKey("oslo:p1"), a);
}

TEST(AmqpRules, MappedNotificationCarriesTheUuidOfItsMessage) {
  const std::string body = R"({"event_type":"compute.host.error","payload":{"host":"c1"}})";
  const auto& with_id = Mapped(Map(body, "msg-1"));
  EXPECT_EQ(with_id.idempotency_key, "amqp:msg-1");
  EXPECT_EQ(with_id.create.uuid, NotificationUuidForKey("amqp:msg-1"));
  // The same message delivered again maps to the same uuid; another message to another.
  EXPECT_EQ(Mapped(Map(body, "msg-1")).create.uuid, with_id.create.uuid);
  EXPECT_NE(Mapped(Map(body, "msg-2")).create.uuid, with_id.create.uuid);
  EXPECT_EQ(Mapped(Map(body)).create.uuid, Mapped(Map(body)).create.uuid);
}

// --- the table ------------------------------------------------------------------------------

TEST(AmqpRules, ConfiguredRulesComeFirstAndMayIgnore) {
  auto custom = ParseAmqpRule("mine", {{"event_type", "compute.host.*"},
                                       {"type", "COMPUTE_HOST"},
                                       {"hostname", "$payload.node"},
                                       {"event", "STOPPED"},
                                       {"host_status", "NORMAL"}});
  ASSERT_TRUE(custom.has_value()) << custom.error().ToString();
  auto ignore = ParseAmqpRule("quiet", {{"event_type", "compute.instance.error"},
                                        {"when", "$payload.host == canary"},
                                        {"type", "ignore"}});
  ASSERT_TRUE(ignore.has_value()) << ignore.error().ToString();
  std::vector<AmqpRule> rules = {*custom, *ignore};
  rules.insert(rules.end(), Defaults().begin(), Defaults().end());
  const auto& m =
      Mapped(Map(R"({"event_type":"compute.host.down","payload":{"node":"n1"}})", "", rules));
  EXPECT_EQ(m.rule, "mine");
  EXPECT_EQ(m.create.payload_json, R"({"event":"STOPPED","host_status":"NORMAL"})");
  EXPECT_TRUE(WasSkipped(Map(R"({"event_type":"compute.instance.error","payload":{"host":"canary",
                               "instance_id":"178b0921-8f85-4257-88b6-2e743b5a975c"}})",
                             "", rules)));
  EXPECT_EQ(Mapped(Map(R"({"event_type":"compute.instance.error","payload":{"host":"c3",
                          "instance_id":"178b0921-8f85-4257-88b6-2e743b5a975c"}})",
                       "", rules))
                .rule,
            "compute-instance-error");
}

TEST(AmqpRules, RuleErrorsNameTheKey) {
  auto err = [](std::map<std::string, std::string> keys) {
    auto r = ParseAmqpRule("r", keys);
    return r ? std::string("(accepted)") : r.error().message();
  };
  const std::map<std::string, std::string> ok = {
      {"event_type", "e"}, {"type", "COMPUTE_HOST"}, {"hostname", "$host"}, {"event", "STOPPED"}};
  EXPECT_EQ(err(ok), "(accepted)");
  auto with = [&](std::string k, std::string v) {
    auto m = ok;
    m[k] = v;
    return m;
  };
  auto without = [&](std::string k) {
    auto m = ok;
    m.erase(k);
    return m;
  };
  EXPECT_EQ(err(with("colour", "red")).rfind("colour: unknown key", 0), 0u);
  EXPECT_EQ(err(without("event_type")), "event_type: required");
  EXPECT_EQ(err(without("hostname")), "hostname: required");
  EXPECT_EQ(err(without("event")), "event: required for type = COMPUTE_HOST");
  EXPECT_EQ(err(with("type", "HOST")).rfind("type: 'HOST' is not one of", 0), 0u);
  EXPECT_EQ(err(with("host_status", "DOWN")), "host_status: 'DOWN' is not one of NORMAL, UNKNOWN");
  EXPECT_EQ(err(with("instance_uuid", "$uuid")), "instance_uuid: not used by type = COMPUTE_HOST");
  EXPECT_EQ(err(with("when", "$a ~ b")).rfind("when: '$a ~ b' is not", 0), 0u);
  EXPECT_EQ(err(with("when", "a == b")), "when: 'a == b': the left side must be a $path");
  EXPECT_EQ(err(with("when", "$a older_than soon")).rfind("when: '$a older_than soon'", 0), 0u);
  EXPECT_EQ(err(with("hostname", "bad host")), "hostname: 'bad host' is not a host name");
  EXPECT_EQ(err(with("generated_time", "never")), "generated_time: 'never' is not a timestamp");
  EXPECT_EQ(err({{"event_type", "e"}, {"type", "ignore"}, {"hostname", "$h"}}),
            "hostname: not used by type = ignore");
  EXPECT_EQ(err({{"event_type", "e"},
                 {"type", "VM"},
                 {"hostname", "$h"},
                 {"event", "LIFECYCLE"},
                 {"vir_domain_event", "STOPPED_FAILED"},
                 {"instance_uuid", "nope"}}),
            "instance_uuid: 'nope' is not a UUID");
  EXPECT_EQ(
      err({{"event_type", "e"}, {"type", "PROCESS"}, {"hostname", "$h"}, {"event", "STOPPED"}}),
      "process_name: required for type = PROCESS");
}

TEST(AmqpRules, PathsReachIntoKeysThatHoldDots) {
  auto rule =
      ParseAmqpRule("r", {{"event_type", "e"},
                          {"type", "PROCESS"},
                          {"hostname", "$payload.nova_object.data.host"},
                          {"process_name", "$payload.nova_object.data.binary, nova-compute"},
                          {"event", "STOPPED"}});
  ASSERT_TRUE(rule.has_value());
  std::vector<AmqpRule> rules = {*rule};
  const auto& m = Mapped(
      Map(R"({"event_type":"e","payload":{"nova_object.data":{"host":"h1","binary":"libvirtd"}}})",
          "", rules));
  EXPECT_EQ(m.create.hostname, "h1");
  EXPECT_EQ(m.create.payload_json, R"({"event":"STOPPED","process_name":"libvirtd"})");
  // A missing path falls through to the next alternative, here a literal.
  EXPECT_EQ(
      Mapped(Map(R"({"event_type":"e","payload":{"nova_object.data":{"host":"h1"}}})", "", rules))
          .create.payload_json,
      R"({"event":"STOPPED","process_name":"nova-compute"})");
}

}  // namespace
}  // namespace warden::detect
