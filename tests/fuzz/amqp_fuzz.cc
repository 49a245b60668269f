// amqp_fuzz: deliveries from the bus made from arbitrary bytes, handled by the AMQP intake
// (the rule table, then ha::HaService over a real SQLite store), and what must hold whatever
// came in:
//   - Handle returns (no crash, no exception, nothing the sanitizers see);
//   - the verdict goes with the outcome: created, duplicate, skipped, unknown_host and
//     host_on_maintenance are acknowledged, poison is dead-lettered; the store is healthy,
//     so store_retry and store_error do not happen;
//   - only `created` commits a write, and the notification it names is stored;
//   - the same delivery again (a redelivery) creates nothing more.
// The command line is fuzz_main.h's. An input's first line is the AMQP message_id property
// (often empty), the rest the message body.
#include <map>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/test_temp_dir.h"
#include "detect/amqp_intake.h"
#include "fuzz_main.h"
#include "ha/ha_service.h"
#include "store/sqlite/sqlite_store.h"

namespace warden {
namespace {

const std::string kNova = R"("nova_object.name": "ServiceStatusPayload",
  "nova_object.namespace": "nova", "nova_object.version": "1.1", "nova_object.data": )";

const char* const kSeeds[] = {
    "\n"
    R"({"event_type": "compute.host.error", "publisher_id": "compute.compute1",
        "timestamp": "2026-01-02 03:04:05.000000",
        "payload": {"host": "compute1", "host_status": "NORMAL", "event": "STOPPED"}})",
    "m-1\n"
    R"({"event_type": "compute.instance.error", "payload": {"hostname": "compute2",
        "instance_uuid": "178b0921-8f85-4257-88b6-2e743b5a975c", "vir_domain_event": "IO_ERROR",
        "event": "IO_ERROR"}})",
    "\n"
    R"({"oslo.version": "2.0", "oslo.message": "{\"event_type\": \"service.update\", \"message_id\": \"a1\", \"publisher_id\": \"nova-compute:compute1\", \"timestamp\": \"2026-01-02 03:04:05.000000\", \"payload\": {\"nova_object.name\": \"ServiceStatusPayload\", \"nova_object.data\": {\"binary\": \"nova-compute\", \"host\": \"compute1\", \"forced_down\": true, \"disabled\": true, \"last_seen_up\": \"2026-01-01T00:00:00Z\"}}}"})",
    "\n"
    R"({"event_type": "service.update", "message_id": "a2", "timestamp": "2026-01-02T03:04:05Z",
        "payload": {"nova_object.name": "ServiceStatusPayload", "nova_object.data":
          {"binary": "nova-compute", "host": "compute2", "forced_down": false, "disabled": true,
           "last_seen_up": null}}})",
    "\n"
    R"({"event_type": "instance.evacuate.error", "publisher_id": "nova-compute:compute2",
        "payload": {"nova_object.data": {"host": "compute2", "state": "error",
          "uuid": "278b0921-8f85-4257-88b6-2e743b5a975c"}}})",
    "\n{\"event_type\": \"compute.instance.create.end\", \"payload\": {}}",
    "\n{\"event_type\": \"compute.host.error\", \"payload\": {\"host\": \"nowhere\"}}",
    "\n{\"event_type\": \"compute.host.error\", \"payload\": {\"host\": \"maint1\"}}",
    "\n{\"oslo.version\": \"2.0\", \"oslo.message\": \"{bad\"}",
    "\njunk",
};

// clang-format off
const char* const kDictionary[] = {
    "null", "true", "false", "0", "-1", "1e999", "\"\"", "[]", "{}", "\"\\u0000\"", "\"\\ud800\"",
    "\\", "\\\"", "\"", ",", ":", "{", "}", "[", "]", "\xc3", "\xff", "\xed\xa0\x80",
    "event_type", "payload", "host", "hostname", "publisher_id", "timestamp", "message_id",
    "_unique_id", "oslo.version", "oslo.message", "2.0", "1.0", "nova_object.data", "binary",
    "nova-compute", "forced_down", "disabled", "last_seen_up", "state", "error", "uuid",
    "instance_uuid", "instance_id", "event", "host_status", "cluster_status", "vir_domain_event",
    "compute.host.error", "compute.instance.error", "service.update", "instance.*.error", "*",
    "compute1", "compute2", "maint1", "compute.", "nova-compute:", "2026-01-02 03:04:05.000000",
    "2026-01-02T03:04:05Z", "9999-99-99", "yesterday", "NORMAL", "UNKNOWN", "STOPPED",
    "LIFECYCLE", "OFFLINE",
};
// clang-format on

class Harness {
 public:
  Harness() {
    auto dir = ProcessTempDir("warden-amqp-fuzz");
    auto s = store::OpenSqliteStore({.path = (dir / "w.db").string()});
    if (!s) Die("store: " + s.error().ToString());
    store_ = std::move(*s);
    service_ = std::make_unique<ha::HaService>(*store_, clock_, ha::HaOptions{});
    auto seg = service_->CreateSegment(
        {.name = "seg", .recovery_method = RecoveryMethod::kAuto, .service_type = "COMPUTE"});
    if (!seg) Die("segment: " + seg.error().ToString());
    for (const char* h : {"compute1", "compute2", "maint1"}) {
      ha::HostCreate host{.name = h, .type = "COMPUTE", .control_attributes = "SSH"};
      host.on_maintenance = std::string_view(h) == "maint1";
      if (auto r = service_->CreateHost(seg->uuid, host); !r) Die("host: " + r.error().ToString());
    }
    intake_ = std::make_unique<detect::AmqpIntake>(
        *service_, clock_,
        detect::AmqpIntakeOptions{.rules = detect::DefaultAmqpRules(60'000'000),
                                  .log = [](std::string_view, std::string_view, const auto&) {}});
  }

  fuzz::Verdict Run(const std::string& input) {
    size_t eol = input.find('\n');
    detect::AmqpMessage message{.body = eol == std::string::npos ? input : input.substr(eol + 1),
                                .message_id = eol == std::string::npos ? "" : input.substr(0, eol),
                                .exchange = "nova",
                                .routing_key = "versioned_notifications.error"};
    clock_.Advance(
        1'000'000);  // a second per input: some mutants fall outside the duplicate window
    const int64_t before = store_->GetStats().transactions;
    detect::AmqpHandling h = intake_->Handle(message);
    ++outcomes_[h.outcome];
    const int64_t committed = store_->GetStats().transactions - before;
    static const std::map<std::string, detect::AmqpVerdict> kVerdicts = {
        {"created", detect::AmqpVerdict::kAck},
        {"duplicate", detect::AmqpVerdict::kAck},
        {"skipped", detect::AmqpVerdict::kAck},
        {"unknown_host", detect::AmqpVerdict::kAck},
        {"host_on_maintenance", detect::AmqpVerdict::kAck},
        {"poison", detect::AmqpVerdict::kDeadLetter},
    };
    auto want = kVerdicts.find(h.outcome);
    if (want == kVerdicts.end()) return Fail("outcome '" + h.outcome + "': " + h.reason);
    if (h.verdict != want->second) return Fail("verdict does not go with " + h.outcome);
    if (h.outcome != "created") {
      if (committed != 0) return Fail(h.outcome + " committed a write: " + h.reason);
      return {.interesting = h.outcome != "poison"};
    }
    if (committed != 1) return Fail("created, with " + std::to_string(committed) + " commits");
    auto stored = service_->GetNotification(h.notification_uuid);
    if (!stored) return Fail("created " + h.notification_uuid + " is not stored");
    message.redelivered = true;
    detect::AmqpHandling again = intake_->Handle(message);
    if (store_->GetStats().transactions - before != 1) {
      return Fail("a redelivery created again (" + again.outcome + ")");
    }
    if (again.verdict != detect::AmqpVerdict::kAck) {
      return Fail("a redelivery was not acknowledged: " + again.outcome);
    }
    return {};
  }

  std::string Summary() const {
    std::string out;
    for (const auto& [outcome, n] : outcomes_) {
      out += (out.empty() ? "" : " ") + outcome + ":" + std::to_string(n);
    }
    return out;
  }

 private:
  static fuzz::Verdict Fail(std::string what) { return {.failure = std::move(what)}; }
  [[noreturn]] static void Die(const std::string& why) { fuzz::Die("amqp_fuzz", why); }

  SimulatedClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ha::HaService> service_;
  std::unique_ptr<detect::AmqpIntake> intake_;
  std::map<std::string, int64_t> outcomes_;
};

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  warden::Harness harness;
  return warden::fuzz::FuzzMain(
      argc, argv,
      {.name = "amqp_fuzz",
       .seeds = {std::begin(warden::kSeeds), std::end(warden::kSeeds)},
       .dictionary = warden::kDictionary,
       .check = [&](const std::string& input) { return harness.Run(input); },
       .summary = [&] { return harness.Summary(); }});
}
