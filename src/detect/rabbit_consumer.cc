// The rabbitmq-c adapter of AmqpConsumer: the only file that includes rabbitmq-c's headers.
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "detect/amqp_consumer.h"

namespace warden::detect {
namespace {

constexpr amqp_channel_t kChannel = 1;

timeval ToTimeval(int64_t micros) {
  return timeval{.tv_sec = time_t(micros / 1'000'000), .tv_usec = suseconds_t(micros % 1'000'000)};
}

std::string Text(amqp_bytes_t b) {
  return b.bytes == nullptr ? std::string() : std::string(static_cast<const char*>(b.bytes), b.len);
}

amqp_bytes_t Bytes(const std::string& s) {
  return amqp_bytes_t{.len = s.size(), .bytes = const_cast<char*>(s.data())};
}

// Why an RPC failed, in words; never includes credentials.
std::string Describe(const amqp_rpc_reply_t& r) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "";
    case AMQP_RESPONSE_NONE:
      return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
        return "connection closed by the broker: " + std::to_string(m->reply_code) + " " +
               Text(m->reply_text);
      }
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
        return "channel closed by the broker: " + std::to_string(m->reply_code) + " " +
               Text(m->reply_text);
      }
      return "broker error (method " + std::to_string(r.reply.id) + ")";
  }
  return "unknown reply";
}

std::string Seconds(int64_t micros) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", double(micros) / 1e6);
  return buf;
}

class RabbitConsumer final : public AmqpConsumer {
 public:
  RabbitConsumer(AmqpConsumerOptions options, AmqpMessageHandler& handler, const Clock& clock)
      : options_(std::move(options)),
        handler_(handler),
        random_(uint64_t(clock.Monotonic()) * 0x9e3779b97f4a7c15ULL + 1) {
    thread_ = std::thread([this] { Run(); });
  }
  ~RabbitConsumer() override { Stop(); }

  void Stop() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      // Wakes a thread blocked on the socket (a login or an RPC that waits for the broker).
      if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  AmqpConsumerStats Stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  bool Stopping() const {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  // Sleeps for `micros` unless stopped first; returns false if stopped.
  bool WaitFor(int64_t micros) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, std::chrono::microseconds(micros), [this] { return stopping_; });
  }

  template <typename F>
  void Update(F f) {
    std::lock_guard lock(mu_);
    f(stats_);
  }

  void Log(std::string_view level, std::string_view msg,
           std::vector<std::pair<std::string, std::string>> fields) const {
    if (options_.log) options_.log(level, msg, fields);
  }

  void Run() {
    size_t endpoint = 0;
    int failures = 0;
    while (!Stopping()) {
      const AmqpEndpoint& ep = options_.url.endpoints[endpoint % options_.url.endpoints.size()];
      const std::string broker = ep.host + ":" + std::to_string(ep.port);
      bool established = false;
      Result<void> r = Session(ep, broker, established);
      Update([](AmqpConsumerStats& s) { s.connected = false; });
      if (Stopping()) break;
      if (established) failures = 0;
      Update([](AmqpConsumerStats& s) { ++s.connect_failures; });
      const int64_t delay = BackoffMicros(failures, options_.reconnect_backoff_initial_micros,
                                          options_.reconnect_backoff_max_micros,
                                          std::uniform_real_distribution<double>(0, 1)(random_));
      ++failures;
      Log("warning", established ? "amqp session lost; reconnecting" : "amqp connect failed",
          {{"broker", broker},
           {"vhost", options_.url.vhost},
           {"error", r ? "closed" : r.error().message()},
           {"attempt", std::to_string(failures)},
           {"retry_in", Seconds(delay)}});
      ++endpoint;
      if (!WaitFor(delay)) break;
    }
    Log("info", "amqp consumer stopped", {{"queue", options_.queue}});
  }

  // One connection, from connect to its end. Returns an error saying why it ended (nothing
  // when stopped). `established` tells whether consuming had started.
  Result<void> Session(const AmqpEndpoint& ep, const std::string& broker, bool& established) {
    amqp_connection_state_t conn = amqp_new_connection();
    if (conn == nullptr) return Internal("out of memory");
    bool logged_in = false;
    struct Closer {
      RabbitConsumer* self;
      amqp_connection_state_t conn;
      bool* logged_in;
      ~Closer() {
        {
          std::lock_guard lock(self->mu_);
          self->fd_ = -1;
        }
        // A polite close where the broker still listens (it then requeues our unacked
        // messages at once); on a broken socket this fails fast.
        if (*logged_in) amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(conn);
      }
    } closer{this, conn, &logged_in};

    amqp_socket_t* socket = amqp_tcp_socket_new(conn);
    if (socket == nullptr) return Internal("cannot create a socket");
    timeval timeout = ToTimeval(options_.connect_timeout_micros);
    errno = 0;
    if (int st = amqp_socket_open_noblock(socket, ep.host.c_str(), ep.port, &timeout);
        st != AMQP_STATUS_OK) {
      const int err = errno;
      std::string why = amqp_error_string2(st);
      if (st == AMQP_STATUS_SOCKET_ERROR && err != 0) why = std::strerror(err);
      return Unavailable("cannot connect: " + why);
    }
    {
      std::lock_guard lock(mu_);
      fd_ = amqp_socket_get_sockfd(socket);
      if (stopping_) return {};
    }
    amqp_set_handshake_timeout(conn, &timeout);
    amqp_set_rpc_timeout(conn, &timeout);
    amqp_rpc_reply_t reply =
        amqp_login(conn, options_.url.vhost.c_str(), 0, 131072, options_.heartbeat_seconds,
                   AMQP_SASL_METHOD_PLAIN, ep.user.c_str(), ep.password.c_str());
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      return Unavailable("login as " + ep.user + " failed: " + Describe(reply));
    }
    logged_in = true;
    amqp_channel_open(conn, kChannel);
    if (auto r = Check(conn, "opening a channel"); !r) return r;
    if (auto r = Declare(conn); !r) return r;
    amqp_basic_qos(conn, kChannel, 0, uint16_t(options_.prefetch), 0);
    if (auto r = Check(conn, "setting prefetch"); !r) return r;
    amqp_basic_consume(conn, kChannel, Bytes(options_.queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    if (auto r = Check(conn, "consuming from " + options_.queue); !r) return r;
    established = true;
    Update([](AmqpConsumerStats& s) {
      ++s.connects;
      s.connected = true;
    });
    Log("info", "amqp consuming",
        {{"broker", broker}, {"vhost", options_.url.vhost}, {"queue", options_.queue}});
    return Consume(conn);
  }

  Result<void> Check(amqp_connection_state_t conn, const std::string& what) {
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) return {};
    return Unavailable(what + ": " + Describe(r));
  }

  // The dead-letter exchange and queue, our queue pointing at them, and the bindings.
  Result<void> Declare(amqp_connection_state_t conn) {
    const std::string& dlx = options_.dead_letter_exchange;
    const std::string& dlq = options_.dead_letter_queue;
    amqp_exchange_declare(conn, kChannel, Bytes(dlx), amqp_cstring_bytes("direct"), 0, 1, 0, 0,
                          amqp_empty_table);
    if (auto r = Check(conn, "declaring exchange " + dlx); !r) return r;
    amqp_queue_declare(conn, kChannel, Bytes(dlq), 0, 1, 0, 0, amqp_empty_table);
    if (auto r = Check(conn, "declaring queue " + dlq); !r) return r;
    amqp_queue_bind(conn, kChannel, Bytes(dlq), Bytes(dlx), Bytes(dlq), amqp_empty_table);
    if (auto r = Check(conn, "binding " + dlq + " to " + dlx); !r) return r;

    amqp_table_entry_t args[2];
    args[0].key = amqp_cstring_bytes("x-dead-letter-exchange");
    args[0].value.kind = AMQP_FIELD_KIND_UTF8;
    args[0].value.value.bytes = Bytes(dlx);
    args[1].key = amqp_cstring_bytes("x-dead-letter-routing-key");
    args[1].value.kind = AMQP_FIELD_KIND_UTF8;
    args[1].value.value.bytes = Bytes(dlq);
    amqp_table_t table{.num_entries = 2, .entries = args};
    amqp_queue_declare(conn, kChannel, Bytes(options_.queue), 0, 1, 0, 0, table);
    if (auto r = Check(conn, "declaring queue " + options_.queue +
                                 " (if it exists with other arguments, delete it or change "
                                 "[amqp] queue)");
        !r) {
      return r;
    }
    for (const AmqpBinding& b : options_.bindings) {
      if (options_.declare_exchanges) {
        amqp_exchange_declare(conn, kChannel, Bytes(b.exchange), Bytes(options_.exchange_type), 0,
                              options_.exchange_durable ? 1 : 0, 0, 0, amqp_empty_table);
        if (auto r = Check(conn, "declaring exchange " + b.exchange +
                                     " (see [amqp] exchange_durable and exchange_type)");
            !r) {
          return r;
        }
      }
      amqp_queue_bind(conn, kChannel, Bytes(options_.queue), Bytes(b.exchange),
                      Bytes(b.routing_key), amqp_empty_table);
      if (auto r = Check(
              conn, "binding " + options_.queue + " to " + b.exchange + " with " + b.routing_key);
          !r) {
        return r;
      }
    }
    return {};
  }

  Result<void> Consume(amqp_connection_state_t conn) {
    while (!Stopping()) {
      amqp_maybe_release_buffers(conn);
      amqp_envelope_t envelope;
      timeval poll = ToTimeval(options_.poll_interval_micros);
      amqp_rpc_reply_t r = amqp_consume_message(conn, &envelope, &poll, 0);
      if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        Result<void> handled = Deliver(conn, envelope);
        amqp_destroy_envelope(&envelope);
        if (!handled) return handled;
        continue;
      }
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
          r.library_error == AMQP_STATUS_TIMEOUT) {
        continue;
      }
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
          r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        // A frame other than a delivery: the broker closing the channel or connection.
        amqp_frame_t frame;
        timeval zero = ToTimeval(options_.poll_interval_micros);
        int st = amqp_simple_wait_frame_noblock(conn, &frame, &zero);
        if (st != AMQP_STATUS_OK) return Unavailable(amqp_error_string2(st));
        if (frame.frame_type == AMQP_FRAME_METHOD) {
          if (frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
            auto* m = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
            return Unavailable("connection closed by the broker: " + std::to_string(m->reply_code) +
                               " " + Text(m->reply_text));
          }
          if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
            auto* m = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
            return Unavailable("channel closed by the broker: " + std::to_string(m->reply_code) +
                               " " + Text(m->reply_text));
          }
        }
        continue;  // anything else (a stray ack or return) is of no interest
      }
      return Unavailable(Describe(r));
    }
    return {};
  }

  Result<void> Deliver(amqp_connection_state_t conn, const amqp_envelope_t& envelope) {
    AmqpMessage m;
    m.body = Text(envelope.message.body);
    if (envelope.message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
      m.message_id = Text(envelope.message.properties.message_id);
    }
    m.exchange = Text(envelope.exchange);
    m.routing_key = Text(envelope.routing_key);
    m.redelivered = envelope.redelivered != 0;
    Update([](AmqpConsumerStats& s) { ++s.deliveries; });
    AmqpHandling h;
    try {
      h = handler_.Handle(m);
    } catch (const std::exception& e) {
      // Whatever state the handler left, the broker redelivers an unacknowledged message once
      // this connection is gone, and the notification's uuid makes that harmless.
      Update([](AmqpConsumerStats& s) { ++s.handler_failures; });
      return Internal(std::string("message handler failed: ") + e.what());
    }
    int st = AMQP_STATUS_OK;
    switch (h.verdict) {
      case AmqpVerdict::kAck:
        st = amqp_basic_ack(conn, kChannel, envelope.delivery_tag, 0);
        if (st == AMQP_STATUS_OK) Update([](AmqpConsumerStats& s) { ++s.acks; });
        break;
      case AmqpVerdict::kDeadLetter:
        st = amqp_basic_reject(conn, kChannel, envelope.delivery_tag, 0);
        if (st == AMQP_STATUS_OK) Update([](AmqpConsumerStats& s) { ++s.dead_letters; });
        break;
      case AmqpVerdict::kRequeue:
        // Waiting here holds back this consumer's other deliveries too: while the store is
        // failing, that is what we want.
        if (!WaitFor(h.retry_after_micros)) return {};
        st = amqp_basic_reject(conn, kChannel, envelope.delivery_tag, 1);
        if (st == AMQP_STATUS_OK) Update([](AmqpConsumerStats& s) { ++s.requeues; });
        break;
    }
    if (st != AMQP_STATUS_OK) {
      return Unavailable(std::string("cannot answer a delivery: ") + amqp_error_string2(st));
    }
    return {};
  }

  const AmqpConsumerOptions options_;
  AmqpMessageHandler& handler_;
  std::mt19937_64 random_;  // consumer thread only
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;    // guarded by mu_
  int fd_ = -1;              // guarded by mu_
  AmqpConsumerStats stats_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace

std::unique_ptr<AmqpConsumer> StartRabbitConsumer(AmqpConsumerOptions options,
                                                  AmqpMessageHandler& handler, const Clock& clock) {
  return std::make_unique<RabbitConsumer>(std::move(options), handler, clock);
}

}  // namespace warden::detect
