// One session with MariaDB (or MySQL, or a Galera node) through MariaDB Connector/C: the only
// file that sees <mysql.h>. The store on MariaDB builds on it.
//
// Statements are text with `?` placeholders; values are bound client-side: integers printed,
// strings escaped for the session's character set and quoted, nullopt as NULL — so no value is
// ever read as SQL. Results come back as text (what the text protocol carries).
//
// Errors keep MariaDB's number and are sorted for the caller:
//   - Retryable() — the whole transaction may be run again: 1213 deadlock (Galera's
//     certification failure included), 1205 lock wait timeout, 1047 WSREP not ready, and the
//     lost-connection family 2002, 2003, 2006, 2013 (then reconnect first);
//   - 1062 duplicate key → AlreadyExists; 1045 access denied → Unauthenticated; the rest
//     Unavailable (the server) or Internal (a statement Warden got wrong).
// Messages never hold the password.
//
// Not thread-safe: one connection per thread at a time (a pool hands them out).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/retry.h"
#include "store/db_url.h"

namespace warden::store::mariadb {

// A bound value: an integer, a string or NULL.
using Value = std::variant<int64_t, std::string, std::nullopt_t>;
using Row = std::vector<std::optional<std::string>>;

// What a failed statement said.
struct SqlError {
  unsigned number = 0;  // MariaDB's error number (ER_*, CR_*)
  std::string sqlstate;
  std::string message;

  bool Retryable() const;
  bool ConnectionLost() const;  // 2002, 2003, 2006, 2013: the session must be opened again
  Error ToError() const;
};

struct ConnectOptions {
  int connect_timeout_seconds = 5;
  int read_timeout_seconds = 30;
  int write_timeout_seconds = 30;
  // Galera: reads wait until this node has applied every earlier commit of the cluster
  // (wsrep_sync_wait = 1), so a replica reads what another replica's node committed.
  bool causal_reads = true;
};

class Connection {
 public:
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Opens a session to `url` (kMysql). SqlError on failure (a bad password is 1045).
  static std::variant<std::unique_ptr<Connection>, SqlError> Open(const DatabaseUrl& url,
                                                                  const ConnectOptions& options);

  // Runs a statement; returns the affected rows (for INSERT/UPDATE/DELETE) — Galera's reliable
  // compare-and-set is an UPDATE … WHERE whose affected count says who won.
  std::variant<int64_t, SqlError> Exec(const std::string& sql, const std::vector<Value>& params = {});
  // Runs a query; returns every row.
  std::variant<std::vector<Row>, SqlError> Query(const std::string& sql,
                                                 const std::vector<Value>& params = {});
  // The id AUTO_INCREMENT gave the last INSERT.
  int64_t LastInsertId() const;
  // The statement with its values bound (escaped, quoted), as it is sent.
  std::variant<std::string, SqlError> Bind(const std::string& sql, const std::vector<Value>& params);

 private:
  struct Handle;
  explicit Connection(std::unique_ptr<Handle> handle);
  SqlError LastError() const;
  std::unique_ptr<Handle> h_;
};

// How a transaction is run again after a retryable error (core/retry.h): up to 6 runs, from
// 20 ms doubling up to 1 s, each pause drawn within ±50 %.
inline constexpr RetryPolicy kTransactionRetry{.attempts = 6, .delay_micros = 20'000,
                                               .exponential = true, .max_delay_micros = 1'000'000,
                                               .jitter = 0.5};

// A connection that reopens itself, and the one way to write: whole transactions, run again
// after a retryable error. Not thread-safe (one per thread; a pool hands them out).
class Session {
 public:
  Session(DatabaseUrl url, ConnectOptions options) : url_(std::move(url)), options_(options) {}

  // Runs `body` between BEGIN and COMMIT. A retryable error from any statement or from the
  // COMMIT rolls the transaction back (a COMMIT whose answer was lost may have committed:
  // `body` must be idempotent, e.g. insert by a unique key and treat 1062 as done) and runs
  // it again after a pause, reconnecting first when the connection was lost. Returns the
  // last error once `retry.attempts` runs failed, or at once for an error not retryable.
  // `body` returns nullopt on success, or the error that ends the transaction.
  std::optional<SqlError> Transaction(const std::function<std::optional<SqlError>(Connection&)>& body,
                                      const RetryPolicy& retry = kTransactionRetry);

  // Transactions run again so far (for metrics and tests).
  int64_t retries() const { return retries_; }
  // The open connection (opening it if needed), or why it cannot be.
  std::variant<Connection*, SqlError> Get();

 private:
  const DatabaseUrl url_;
  const ConnectOptions options_;
  const RealClock clock_;  // a blocking session waits in real time, through the clock
  std::mt19937_64 rng_{std::random_device{}()};
  std::unique_ptr<Connection> conn_;
  int64_t retries_ = 0;
};

}  // namespace warden::store::mariadb
