// The AMQP intake's part of warden.conf: [amqp] (the RabbitMQ connection, queue, bindings,
// dead-lettering, requeue back-off) and [amqp_rule:NAME] sections (how a message becomes a
// notification; detect/amqp_rules.h). MakeAmqpSettings checks them all and reads password_file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config_keys.h"
#include "core/error.h"
#include "detect/amqp_consumer.h"
#include "detect/amqp_intake.h"

namespace warden::detect {

struct AmqpConfig {
  bool enabled = false;
  std::string url = "rabbit://guest:guest@127.0.0.1:5672/";  // shown with "***" passwords
  std::string password_file;
  std::string queue = "warden.notifications";
  std::string bindings =
      "nova:versioned_notifications.error, nova:versioned_notifications.info, "
      "nova:notifications.error";
  bool declare_exchanges = true;
  std::string exchange_type = "topic";
  bool exchange_durable = false;
  int64_t prefetch = 10;
  std::string dead_letter_exchange = "warden.dead-letter";
  std::string dead_letter_queue = "warden.notifications.dead";
  int64_t heartbeat = 60;  // seconds; 0 disables
  std::string connect_timeout = "5s";
  std::string reconnect_backoff_initial = "1s";
  std::string reconnect_backoff_max = "60s";
  int64_t requeue_limit = 10;
  std::string requeue_backoff_initial = "1s";
  std::string requeue_backoff_max = "30s";
  bool default_rules = true;
  std::string service_down_time = "60s";
  // [amqp_rule:NAME] sections in file order
  config::NamedSections rules;
};

const std::vector<config::Key<AmqpConfig>>& AmqpConfigKeys();
const config::Family<AmqpConfig>& AmqpRuleSections();

// The consumer's and the intake's options; errors name the key. The rule table is checked
// even while [amqp] is disabled (enabling it later cannot reveal a typo); the password file is
// read only when it will be used. The logs of both are left unset.
struct AmqpSettings {
  AmqpConsumerOptions consumer;
  AmqpIntakeOptions intake;
};
Result<AmqpSettings> MakeAmqpSettings(const AmqpConfig& config);

}  // namespace warden::detect
