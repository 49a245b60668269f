// The AMQP intake's configuration keys and its settings built from them (see amqp_config.h).
#include "detect/amqp_config.h"

#include <fstream>
#include <sstream>

#include "core/strings.h"
#include "core/time.h"
#include "detect/amqp_rules.h"

namespace warden::detect {

const std::vector<config::Key<AmqpConfig>>& AmqpConfigKeys() {
  using C = AmqpConfig;
  using config::Bool;
  using config::Choice;
  using config::Int;
  using config::String;
  static const std::vector<config::Key<C>> keys = {
      Bool("amqp", "enabled", &C::enabled),
      config::Key<C>{"amqp", "url",
                     [](C& c, const std::string& v) -> std::string {
                       auto u = ParseAmqpUrl(v);
                       if (!u) return u.error().message();
                       c.url = v;
                       return "";
                     },
                     [](const C& c) { return RedactAmqpUrl(c.url); }},
      String("amqp", "password_file", &C::password_file),
      String("amqp", "queue", &C::queue),
      String("amqp", "bindings", &C::bindings),
      Bool("amqp", "declare_exchanges", &C::declare_exchanges),
      Choice("amqp", "exchange_type", &C::exchange_type, {"topic", "direct", "fanout", "headers"}),
      Bool("amqp", "exchange_durable", &C::exchange_durable),
      Int("amqp", "prefetch", &C::prefetch, 1, 65535),
      String("amqp", "dead_letter_exchange", &C::dead_letter_exchange),
      String("amqp", "dead_letter_queue", &C::dead_letter_queue),
      Int("amqp", "heartbeat", &C::heartbeat, 0, 3600),
      String("amqp", "connect_timeout", &C::connect_timeout),
      String("amqp", "reconnect_backoff_initial", &C::reconnect_backoff_initial),
      String("amqp", "reconnect_backoff_max", &C::reconnect_backoff_max),
      Int("amqp", "requeue_limit", &C::requeue_limit, 0, 1000),
      String("amqp", "requeue_backoff_initial", &C::requeue_backoff_initial),
      String("amqp", "requeue_backoff_max", &C::requeue_backoff_max),
      Bool("amqp", "default_rules", &C::default_rules),
      String("amqp", "service_down_time", &C::service_down_time),
  };
  return keys;
}

const config::Family<AmqpConfig>& AmqpRuleSections() {
  static const config::Family<AmqpConfig> family = [] {
    std::vector<std::string> keys;
    for (auto k : AmqpRuleKeys()) keys.emplace_back(k);
    return config::Family<AmqpConfig>{
        "amqp_rule", "an AMQP rule", std::move(keys),
        [](AmqpConfig& c) -> config::NamedSections& { return c.rules; }, nullptr};
  }();
  return family;
}

Result<AmqpSettings> MakeAmqpSettings(const AmqpConfig& c) {
  AmqpSettings out;
  auto duration = [](const std::string& key, const std::string& v, bool positive,
                     int64_t& field) -> Result<void> {
    auto d = ParseDurationMicros(v);
    if (!d || (positive && *d <= 0)) {
      return InvalidArgument("[amqp] " + key + ": '" + v + "' is not a duration (500ms, 2s, 1m)");
    }
    field = *d;
    return {};
  };
  AmqpConsumerOptions& o = out.consumer;
  auto url = ParseAmqpUrl(c.url);
  if (!url) return InvalidArgument("[amqp] url: " + url.error().message());
  o.url = *url;
  if (c.enabled && !c.password_file.empty()) {
    std::ifstream f(c.password_file);
    std::string password;
    if (!f || !std::getline(f, password)) {
      return InvalidArgument("[amqp] password_file: cannot read " + c.password_file);
    }
    password = Trim(password);
    if (password.empty()) {
      return InvalidArgument("[amqp] password_file: " + c.password_file + " is empty");
    }
    for (auto& ep : o.url.endpoints) ep.password = password;
  }
  auto name = [](const std::string& key, const std::string& v) -> Result<void> {
    if (v.empty() || v.size() > 255) return InvalidArgument("[amqp] " + key + ": 1 to 255 characters");
    return {};
  };
  for (auto [key, v] : {std::pair{"queue", &c.queue},
                        {"dead_letter_exchange", &c.dead_letter_exchange},
                        {"dead_letter_queue", &c.dead_letter_queue}}) {
    if (auto r = name(key, *v); !r) return std::unexpected(r.error());
  }
  if (c.dead_letter_queue == c.queue) {
    return InvalidArgument("[amqp] dead_letter_queue: must differ from [amqp] queue");
  }
  o.queue = c.queue;
  o.dead_letter_exchange = c.dead_letter_exchange;
  o.dead_letter_queue = c.dead_letter_queue;
  std::stringstream bindings(c.bindings);
  for (std::string item; std::getline(bindings, item, ',');) {
    item = Trim(item);
    if (item.empty()) continue;
    size_t colon = item.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size()) {
      return InvalidArgument("[amqp] bindings: '" + item + "' is not exchange:routing_key");
    }
    o.bindings.push_back({item.substr(0, colon), item.substr(colon + 1)});
  }
  if (o.bindings.empty()) {
    return InvalidArgument("[amqp] bindings: at least one exchange:routing_key is needed");
  }
  o.declare_exchanges = c.declare_exchanges;
  o.exchange_type = c.exchange_type;
  o.exchange_durable = c.exchange_durable;
  o.prefetch = int(c.prefetch);
  o.heartbeat_seconds = int(c.heartbeat);
  if (auto r = duration("connect_timeout", c.connect_timeout, true, o.connect_timeout_micros);
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = duration("reconnect_backoff_initial", c.reconnect_backoff_initial, true,
                        o.reconnect_backoff_initial_micros);
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = duration("reconnect_backoff_max", c.reconnect_backoff_max, true,
                        o.reconnect_backoff_max_micros);
      !r) {
    return std::unexpected(r.error());
  }
  if (o.reconnect_backoff_max_micros < o.reconnect_backoff_initial_micros) {
    return InvalidArgument(
        "[amqp] reconnect_backoff_max: must not be below [amqp] reconnect_backoff_initial");
  }
  AmqpIntakeOptions& in = out.intake;
  in.requeue_limit = int(c.requeue_limit);
  if (auto r = duration("requeue_backoff_initial", c.requeue_backoff_initial, true,
                        in.requeue_backoff_initial_micros);
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = duration("requeue_backoff_max", c.requeue_backoff_max, true,
                        in.requeue_backoff_max_micros);
      !r) {
    return std::unexpected(r.error());
  }
  if (in.requeue_backoff_max_micros < in.requeue_backoff_initial_micros) {
    return InvalidArgument(
        "[amqp] requeue_backoff_max: must not be below [amqp] requeue_backoff_initial");
  }
  // The consumer sends no heartbeat while it waits to requeue: the broker would drop it.
  if (o.heartbeat_seconds > 0 && in.requeue_backoff_max_micros >= o.heartbeat_seconds * 1'000'000LL) {
    return InvalidArgument("[amqp] requeue_backoff_max: must be below [amqp] heartbeat (" +
                           std::to_string(o.heartbeat_seconds) + "s)");
  }
  int64_t service_down = 0;
  if (auto r = duration("service_down_time", c.service_down_time, true, service_down); !r) {
    return std::unexpected(r.error());
  }
  for (const auto& [rule_name, keys] : c.rules) {
    auto rule = ParseAmqpRule(rule_name, keys);
    if (!rule) {
      return InvalidArgument("[amqp_rule:" + rule_name + "] " + rule.error().message());
    }
    in.rules.push_back(std::move(*rule));
  }
  if (c.default_rules) {
    for (auto& r : DefaultAmqpRules(service_down)) in.rules.push_back(std::move(r));
  }
  if (c.enabled && in.rules.empty()) {
    return InvalidArgument(
        "[amqp] default_rules: with no [amqp_rule:NAME] section, nothing would be mapped");
  }
  return out;
}

}  // namespace warden::detect
