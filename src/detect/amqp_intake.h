// What happens to one AMQP delivery: mapped by the rule table (detect/amqp_rules.h), created
// through ha::HaService, and answered with a verdict the consumer carries out.
//
//   created, or already stored (a redelivery), duplicate, unknown host, host on maintenance,
//   no rule / ignored                                  → acknowledge
//   poison (unparsable, missing or bad fields)         → dead-letter (reject, no requeue)
//   transient store error                              → requeue after a backoff, at most
//                                                        `requeue_limit` times, then dead-letter
//   any other store error                              → dead-letter
//
// The consumer acknowledges only after Handle returns kAck, which for a created notification
// is after its durable commit.
//
// Thread-compatible: one consumer thread calls Handle; Stats() may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "detect/amqp_rules.h"
#include "ha/ha_service.h"

namespace warden::detect {

// Receives log lines: level ("info", "warning", "error"), message, fields.
using AmqpLog = std::function<void(std::string_view, std::string_view,
                                   const std::vector<std::pair<std::string, std::string>>&)>;

enum class AmqpVerdict { kAck, kDeadLetter, kRequeue };

struct AmqpHandling {
  AmqpVerdict verdict = AmqpVerdict::kAck;
  // created | duplicate | skipped | unknown_host | host_on_maintenance | poison |
  // store_retry | store_error: the label it is counted under.
  std::string outcome;
  std::string reason;
  std::string notification_uuid;   // created or duplicate
  int64_t retry_after_micros = 0;  // kRequeue: wait this long before requeueing
};

// Handles one delivery. The seam between the broker adapter and the domain: tests decorate
// it to inject crashes.
class AmqpMessageHandler {
 public:
  virtual ~AmqpMessageHandler() = default;
  // May throw only if a decorator does; the consumer then drops the connection unacknowledged.
  virtual AmqpHandling Handle(const AmqpMessage& message) = 0;
};

// Capped exponential backoff with full jitter: a delay in [base/2, base] where
// base = min(max, initial * 2^attempt). `unit` is a uniform draw in [0, 1).
int64_t BackoffMicros(int attempt, int64_t initial_micros, int64_t max_micros, double unit);

struct AmqpIntakeOptions {
  std::vector<AmqpRule> rules;
  int requeue_limit = 10;
  int64_t requeue_backoff_initial_micros = 1'000'000;
  int64_t requeue_backoff_max_micros = 30'000'000;
  AmqpLog log;
  // Told of Nova's instance rebuild events (ReadInstanceNews) before the rules see the
  // message; on the consumer's thread, so it must only hand the news over.
  std::function<void(const InstanceNews&)> instance_news;
};

class AmqpIntake final : public AmqpMessageHandler {
 public:
  AmqpIntake(ha::HaService& service, const Clock& clock, AmqpIntakeOptions options);

  AmqpHandling Handle(const AmqpMessage& message) override;

  // Deliveries handled, by outcome label.
  std::map<std::string, int64_t> Stats() const;

 private:
  void Count(const std::string& outcome);
  void Log(std::string_view level, std::string_view msg,
           std::vector<std::pair<std::string, std::string>> fields) const;

  ha::HaService& service_;
  const Clock& clock_;
  const AmqpIntakeOptions options_;
  std::mt19937_64 random_;
  std::map<std::string, int> attempts_;  // idempotency key → transient failures so far
  mutable std::mutex mu_;
  std::map<std::string, int64_t> counts_;  // guarded by mu_
};

}  // namespace warden::detect
