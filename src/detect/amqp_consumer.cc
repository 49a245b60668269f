// The consumer's pure parts: URLs and metrics text. The broker adapter is rabbit_consumer.cc.
#include "detect/amqp_consumer.h"

#include <charconv>
#include <string>

#include "core/strings.h"

namespace warden::detect {
namespace {

Result<std::string> PercentDecode(std::string_view s, const char* what) {
  auto decoded = warden::PercentDecode(s);
  if (!decoded) return InvalidArgument(std::string("bad percent-escape in the ") + what);
  return *decoded;
}

// Splits "scheme://authority/path" into its parts; false if there is no "://".
bool SplitUrl(std::string_view url, std::string_view& scheme, std::string_view& authority,
              std::string_view& rest) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return false;
  scheme = url.substr(0, sep);
  std::string_view after = url.substr(sep + 3);
  size_t slash = after.find_first_of("/?");
  authority = after.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string_view() : after.substr(slash);
  return true;
}

std::vector<std::string_view> SplitComma(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string_view::npos ? s.npos : comma - start));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

}  // namespace

Result<AmqpUrl> ParseAmqpUrl(std::string_view url) {
  std::string_view scheme, authority, rest;
  if (!SplitUrl(url, scheme, authority, rest)) {
    return InvalidArgument("not a URL (rabbit://user:pass@host:port/vhost)");
  }
  if (scheme == "amqps" || scheme == "rabbits") {
    return InvalidArgument("TLS (" + std::string(scheme) + "://) is not supported by this build");
  }
  if (scheme != "amqp" && scheme != "rabbit") {
    return InvalidArgument("scheme '" + std::string(scheme) + "' is not amqp or rabbit");
  }
  AmqpUrl out;
  std::string user = "guest", password = "guest";
  for (std::string_view entry : SplitComma(authority)) {
    AmqpEndpoint ep;
    size_t at = entry.rfind('@');
    if (at != std::string_view::npos) {
      std::string_view creds = entry.substr(0, at);
      size_t colon = creds.find(':');
      auto u = PercentDecode(creds.substr(0, colon), "user name");
      if (!u) return std::unexpected(u.error());
      user = *u;
      password.clear();
      if (colon != std::string_view::npos) {
        auto p = PercentDecode(creds.substr(colon + 1), "password");
        if (!p) return std::unexpected(p.error());
        password = *p;
      }
      entry = entry.substr(at + 1);
    }
    // An entry without credentials uses the previous entry's (oslo lists them per host).
    ep.user = user;
    ep.password = password;
    std::string_view host = entry, port;
    if (!entry.empty() && entry[0] == '[') {
      size_t close = entry.find(']');
      if (close == std::string_view::npos) return InvalidArgument("unclosed '[' in a host");
      host = entry.substr(1, close - 1);
      std::string_view after = entry.substr(close + 1);
      if (!after.empty()) {
        if (after[0] != ':') return InvalidArgument("junk after ']' in a host");
        port = after.substr(1);
      }
    } else if (size_t colon = entry.rfind(':'); colon != std::string_view::npos) {
      host = entry.substr(0, colon);
      port = entry.substr(colon + 1);
    }
    if (host.empty()) return InvalidArgument("a host is empty");
    ep.host = std::string(host);
    if (!port.empty()) {
      int p = 0;
      auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
      if (ec != std::errc() || ptr != port.data() + port.size() || p < 1 || p > 65535) {
        return InvalidArgument("port '" + std::string(port) + "' of " + ep.host +
                               " is not 1-65535");
      }
      ep.port = uint16_t(p);
    }
    out.endpoints.push_back(std::move(ep));
  }
  if (!rest.empty() && rest[0] == '?') return InvalidArgument("query parameters are not supported");
  if (!rest.empty()) {
    std::string_view path = rest.substr(1);
    if (path.find('?') != std::string_view::npos) {
      return InvalidArgument("query parameters are not supported");
    }
    if (!path.empty()) {
      auto v = PercentDecode(path, "vhost");
      if (!v) return std::unexpected(v.error());
      out.vhost = *v;
    }
  }
  return out;
}

std::string RedactAmqpUrl(std::string_view url) {
  std::string_view scheme, authority, rest;
  if (!SplitUrl(url, scheme, authority, rest)) return "***";
  std::string out = std::string(scheme) + "://";
  bool first = true;
  for (std::string_view entry : SplitComma(authority)) {
    if (!first) out += ",";
    first = false;
    size_t at = entry.rfind('@');
    if (at == std::string_view::npos) {
      out += entry;
      continue;
    }
    std::string_view creds = entry.substr(0, at);
    size_t colon = creds.find(':');
    out += std::string(creds.substr(0, colon));
    if (colon != std::string_view::npos) out += ":***";
    out += entry.substr(at);
  }
  return out + std::string(rest);
}

std::string RenderAmqpMetrics(const std::map<std::string, int64_t>& outcomes,
                              const AmqpConsumerStats& c) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  metric("warden_amqp_messages_total", "counter",
         "AMQP deliveries handled, by outcome (created, duplicate, skipped, unknown_host, "
         "host_on_maintenance, poison, store_retry, store_error).");
  for (const char* o : {"created", "duplicate", "skipped", "unknown_host", "host_on_maintenance",
                        "poison", "store_retry", "store_error"}) {
    auto it = outcomes.find(o);
    out += std::string("warden_amqp_messages_total{outcome=\"") + o + "\"} " +
           std::to_string(it == outcomes.end() ? 0 : it->second) + "\n";
  }
  auto one = [&](const char* name, const char* type, const char* help, int64_t v) {
    metric(name, type, help);
    out += std::string(name) + " " + std::to_string(v) + "\n";
  };
  one("warden_amqp_connects_total", "counter", "AMQP sessions established.", c.connects);
  one("warden_amqp_connect_failures_total", "counter",
      "AMQP connection attempts that failed and sessions that broke.", c.connect_failures);
  one("warden_amqp_dead_lettered_total", "counter",
      "AMQP messages rejected to the dead-letter queue.", c.dead_letters);
  one("warden_amqp_requeued_total", "counter", "AMQP messages requeued after a transient error.",
      c.requeues);
  one("warden_amqp_deliveries_total", "counter", "AMQP messages received from the broker.",
      c.deliveries);
  one("warden_amqp_handler_failures_total", "counter",
      "Deliveries whose handling failed unexpectedly (the session is dropped, the message "
      "redelivered).",
      c.handler_failures);
  one("warden_amqp_connected", "gauge", "1 while consuming from the broker.", c.connected ? 1 : 0);
  return out;
}

}  // namespace warden::detect
