// How a message from the AMQP bus becomes a Warden notification.
//
// A table of rules, tried in order: a rule matches a message's event_type (exactly, or by a
// pattern with '*'), optionally only when conditions on the message hold, and says which
// notification type to create and where each field comes from. The first rule that matches
// decides. Defaults cover the seeds' `compute.host.error` / `compute.instance.error` events
// and Nova's versioned `service.update` and `instance.*.error` notifications.
//
// Pure: no broker, no store, no clock (the time of receipt is an argument). The consumer
// calls MapAmqpMessage for every delivery; what the store then says is decided by
// detect/amqp_intake.h.
//
// Value specs (every field of a rule): a comma-separated list of alternatives, the first
// that yields a value wins. `$a.b.c` reads the string (or number/boolean, as its JSON text)
// at that path of the message; `$publisher_host` is the host part of oslo's publisher_id
// ("nova-compute:compute1" or "compute.compute1" → "compute1"); anything else is a literal.
//
// Conditions (`when`): comma-separated, all must hold. `$path == text`, `$path != text`
// (a missing path or JSON null reads as "null"), `$path older_than DURATION` (the timestamp
// at path is that much older than the message's generated_time; a missing or null one
// counts as older).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/clock.h"
#include "core/domain.h"
#include "core/error.h"
#include "ha/ha_service.h"

namespace warden::detect {

struct AmqpCondition {
  enum class Op { kEquals, kNotEquals, kOlderThan };
  std::string path;  // without the '$'
  Op op = Op::kEquals;
  std::string text;          // kEquals, kNotEquals
  int64_t older_micros = 0;  // kOlderThan
};

struct AmqpRule {
  std::string name;
  std::string event_type;  // exact, or '*' for any run of characters
  std::vector<AmqpCondition> when;
  bool ignore = false;  // `type = ignore`: matched messages are acknowledged, nothing created
  NotificationType type = NotificationType::kComputeHost;
  // hostname, generated_time and the payload fields of `type` → alternatives.
  std::map<std::string, std::vector<std::string>> fields;
};

// The keys of an [amqp_rule:NAME] section.
std::span<const std::string_view> AmqpRuleKeys();

// Builds a rule from its section's keys. Errors name the key ("type: 'X' is not one of ...").
Result<AmqpRule> ParseAmqpRule(const std::string& name,
                               const std::map<std::string, std::string>& keys);

// The built-in table. `service_down_micros`: how long since a nova-compute service was last
// seen up before a disabled one counts as a dead process (Nova's service_down_time).
std::vector<AmqpRule> DefaultAmqpRules(int64_t service_down_micros);

// One delivery, as the adapter hands it over.
struct AmqpMessage {
  std::string body;
  std::string message_id;  // the AMQP message_id property; empty if absent
  std::string exchange;
  std::string routing_key;
  bool redelivered = false;
};

// A notification to create; create.uuid is derived from idempotency_key.
struct MappedNotification {
  ha::NotificationCreate create;
  std::string rule;
  std::string event_type;
  std::string idempotency_key;
};
// Nothing to create (no rule, conditions unmet, an ignore rule): acknowledge.
struct SkippedMessage {
  std::string event_type;
  std::string reason;
};
// A poison message (unparsable, missing or bad fields): dead-letter, never retry.
struct RejectedMessage {
  std::string event_type;  // empty if not even that could be read
  std::string reason;
};
using MappingOutcome = std::variant<MappedNotification, SkippedMessage, RejectedMessage>;

// Largest body accepted; bigger ones are rejected unread.
inline constexpr size_t kMaxAmqpBodyBytes = 1 << 20;

// Never throws: whatever goes wrong makes the message a RejectedMessage.
MappingOutcome MapAmqpMessage(const AmqpMessage& message, std::span<const AmqpRule> rules,
                              WallMicros received_at);

// What identifies a message across redeliveries: the AMQP message_id property, else oslo's
// message_id, else oslo's message_id, else oslo's _unique_id (read inside oslo's envelope),
// else a SHA-256 of the body. Prefixed by its origin ("amqp:", "oslo:", "oslo-unique:",
// "sha256:"), so that ids of different origins never collide.
std::string AmqpIdempotencyKey(const AmqpMessage& message);

// Nova saying an instance's rebuild (an evacuation's work on the destination) ended: the
// engine looks at that evacuation's record now instead of at its next poll. The message is
// only a hint — what counts is still the record Warden reads from Nova.
struct InstanceNews {
  std::string event_type;     // instance.rebuild.end, instance.rebuild.error, or the legacy
                              // compute.instance.rebuild.end / .error
  std::string instance_uuid;  // payload.nova_object.data.uuid, or the legacy payload.instance_id
};

// nullopt for any other message (or one without an instance UUID). Never throws.
std::optional<InstanceNews> ReadInstanceNews(const AmqpMessage& message);

// A name-based (version 5, SHA-1) UUID of `key` in Warden's AMQP namespace: the same key
// always gives the same notification_uuid.
std::string NotificationUuidForKey(std::string_view key);

}  // namespace warden::detect
