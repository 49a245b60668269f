// A consumer of Warden's queue on RabbitMQ: declares its queue (with a dead-letter exchange
// and queue) and the bindings to the notification exchanges, hands every delivery to an
// AmqpMessageHandler, and carries out its verdict: ack, reject without requeue (so the
// broker dead-letters it), or requeue after the handler's backoff.
//
// Runs on its own thread with blocking calls. When the broker goes away or refuses (login,
// a queue declared with other arguments), it logs, waits a capped exponential backoff with
// jitter and connects again, to the next URL host in turn. Stop() returns within about
// `poll_interval` plus the handler's current call; messages not yet acknowledged are
// redelivered by the broker to the next consumer.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "detect/amqp_intake.h"

namespace warden::detect {

struct AmqpEndpoint {
  std::string host;
  uint16_t port = 5672;
  std::string user = "guest";
  std::string password = "guest";
};

struct AmqpUrl {
  std::vector<AmqpEndpoint> endpoints;  // at least one
  std::string vhost = "/";
};

// Parses amqp://, and oslo's transport_url rabbit://user:pass@host:port[,user:pass@host:port
// ...]/vhost. Percent-escapes in user, password and vhost are decoded; an empty path is the
// vhost "/". Errors never repeat the password.
Result<AmqpUrl> ParseAmqpUrl(std::string_view url);

// The URL with every password replaced by "***", for logs and --check-config.
std::string RedactAmqpUrl(std::string_view url);

struct AmqpBinding {
  std::string exchange;
  std::string routing_key;
};

struct AmqpConsumerOptions {
  AmqpUrl url;
  std::string queue = "warden.notifications";
  std::vector<AmqpBinding> bindings;
  bool declare_exchanges = true;
  std::string exchange_type = "topic";
  bool exchange_durable = false;  // oslo.messaging's default (amqp_durable_queues = false)
  int prefetch = 10;
  std::string dead_letter_exchange = "warden.dead-letter";
  std::string dead_letter_queue = "warden.notifications.dead";
  int heartbeat_seconds = 60;
  int64_t connect_timeout_micros = 5'000'000;
  int64_t reconnect_backoff_initial_micros = 1'000'000;
  int64_t reconnect_backoff_max_micros = 60'000'000;
  int64_t poll_interval_micros = 200'000;  // how often a waiting consumer checks for Stop()
  AmqpLog log;
};

struct AmqpConsumerStats {
  int64_t connects = 0;          // sessions established (queue declared, consuming)
  int64_t connect_failures = 0;  // attempts that failed, and sessions that broke
  int64_t deliveries = 0;        // messages received
  int64_t acks = 0;
  int64_t dead_letters = 0;  // rejected without requeue
  int64_t requeues = 0;
  int64_t handler_failures = 0;  // the handler threw: connection dropped unacknowledged
  bool connected = false;
};

class AmqpConsumer {
 public:
  virtual ~AmqpConsumer() = default;
  // Stops consuming and joins the thread. Idempotent.
  virtual void Stop() = 0;
  virtual AmqpConsumerStats Stats() const = 0;
};

// Starts the consumer thread. `handler` and `clock` must outlive the consumer.
std::unique_ptr<AmqpConsumer> StartRabbitConsumer(AmqpConsumerOptions options,
                                                  AmqpMessageHandler& handler, const Clock& clock);

// The intake's and the consumer's counters as Prometheus text (warden_amqp_*).
std::string RenderAmqpMetrics(const std::map<std::string, int64_t>& outcomes,
                              const AmqpConsumerStats& consumer);

}  // namespace warden::detect
