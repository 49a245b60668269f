#include "detect/amqp_intake.h"

#include <algorithm>
#include <variant>

namespace warden::detect {

int64_t BackoffMicros(int attempt, int64_t initial_micros, int64_t max_micros, double unit) {
  int64_t base = std::max<int64_t>(initial_micros, 1);
  for (int i = 0; i < attempt && base < max_micros; ++i) base *= 2;
  base = std::min(base, max_micros);
  unit = std::clamp(unit, 0.0, 1.0);
  return base / 2 + int64_t(double(base - base / 2) * unit);
}

AmqpIntake::AmqpIntake(ha::HaService& service, const Clock& clock, AmqpIntakeOptions options)
    : service_(service),
      clock_(clock),
      options_(std::move(options)),
      random_(uint64_t(clock.Monotonic()) ^ 0x9e3779b97f4a7c15ULL) {}

std::map<std::string, int64_t> AmqpIntake::Stats() const {
  std::lock_guard lock(mu_);
  return counts_;
}

void AmqpIntake::Count(const std::string& outcome) {
  std::lock_guard lock(mu_);
  ++counts_[outcome];
}

void AmqpIntake::Log(std::string_view level, std::string_view msg,
                     std::vector<std::pair<std::string, std::string>> fields) const {
  if (options_.log) options_.log(level, msg, fields);
}

AmqpHandling AmqpIntake::Handle(const AmqpMessage& message) {
  if (options_.instance_news) {
    if (auto news = ReadInstanceNews(message)) {
      options_.instance_news(*news);
      Count("instance_news");
    }
  }
  const MappingOutcome mapped = MapAmqpMessage(message, options_.rules, clock_.Now());
  AmqpHandling h;
  std::vector<std::pair<std::string, std::string>> fields = {{"exchange", message.exchange},
                                                             {"routing_key", message.routing_key}};
  if (const auto* r = std::get_if<RejectedMessage>(&mapped)) {
    h = {.verdict = AmqpVerdict::kDeadLetter, .outcome = "poison", .reason = r->reason};
    fields.push_back({"event_type", r->event_type});
    fields.push_back({"reason", r->reason});
    Log("error", "amqp message is poison; dead-lettered", fields);
    Count(h.outcome);
    return h;
  }
  if (const auto* s = std::get_if<SkippedMessage>(&mapped)) {
    h = {.verdict = AmqpVerdict::kAck, .outcome = "skipped", .reason = s->reason};
    Count(h.outcome);
    return h;
  }
  const auto& m = std::get<MappedNotification>(mapped);
  fields.push_back({"event_type", m.event_type});
  fields.push_back({"rule", m.rule});
  fields.push_back({"host", m.create.hostname});
  fields.push_back({"type", std::string(ToString(m.create.type))});
  fields.push_back({"notification", m.create.uuid});
  auto created = service_.CreateNotification(m.create);
  h.notification_uuid = m.create.uuid;
  if (created) {
    attempts_.erase(m.idempotency_key);
    h.outcome = "created";
    Log("info", "amqp notification created", fields);
  } else {
    const Error& e = created.error();
    fields.push_back({"error", e.message()});
    switch (e.code()) {
      case ErrorCode::kAlreadyExists:
        // A redelivery of a stored message, or Masakari's duplicate rule: nothing to add.
        h.outcome = "duplicate";
        Log("info", "amqp notification already stored or duplicate; acknowledged", fields);
        break;
      case ErrorCode::kInvalidArgument:
        // The mapping produced a valid create, so the host is what the service refused.
        h.outcome = "unknown_host";
        h.notification_uuid.clear();
        Log("warning", "amqp event for a host in no segment; skipped", fields);
        break;
      case ErrorCode::kFailedPrecondition:
        h.outcome = "host_on_maintenance";
        h.notification_uuid.clear();
        Log("info", "amqp event for a host on maintenance; skipped", fields);
        break;
      default:
        h.notification_uuid.clear();
        if (IsRetryable(e)) {
          int& attempt = attempts_[m.idempotency_key];
          if (attempt < options_.requeue_limit) {
            h.verdict = AmqpVerdict::kRequeue;
            h.outcome = "store_retry";
            h.retry_after_micros =
                BackoffMicros(attempt, options_.requeue_backoff_initial_micros,
                              options_.requeue_backoff_max_micros,
                              std::uniform_real_distribution<double>(0, 1)(random_));
            ++attempt;
            fields.push_back({"attempt", std::to_string(attempt)});
            Log("warning", "amqp notification not stored (transient); requeueing", fields);
            break;
          }
          attempts_.erase(m.idempotency_key);
        }
        h.verdict = AmqpVerdict::kDeadLetter;
        h.outcome = "store_error";
        h.reason = e.message();
        Log("error", "amqp notification not stored; dead-lettered", fields);
        break;
    }
  }
  // The retry map is only for messages failing right now; never let it grow without bound.
  if (attempts_.size() > 10'000) attempts_.clear();
  Count(h.outcome);
  return h;
}

}  // namespace warden::detect
