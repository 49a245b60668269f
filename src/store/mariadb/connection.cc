#include "store/mariadb/connection.h"

#include <mysql.h>

#include <algorithm>

namespace warden::store::mariadb {

struct Connection::Handle {
  MYSQL* db = nullptr;
  ~Handle() {
    if (db != nullptr) mysql_close(db);
  }
};

bool SqlError::ConnectionLost() const {
  return number == 2002 || number == 2003 || number == 2006 || number == 2013;
}

bool SqlError::Retryable() const {
  return number == 1213 || number == 1205 || number == 1047 || ConnectionLost();
}

Error SqlError::ToError() const {
  const std::string what = "MariaDB error " + std::to_string(number) + ": " + message;
  if (number == 1062) return Error(ErrorCode::kAlreadyExists, what);
  if (number == 1045) return Error(ErrorCode::kUnauthenticated, what);
  if (Retryable() || number >= 2000) return Error(ErrorCode::kUnavailable, what);
  return Error(ErrorCode::kInternal, what);
}

Connection::Connection(std::unique_ptr<Handle> handle) : h_(std::move(handle)) {}
Connection::~Connection() = default;

SqlError Connection::LastError() const {
  return {mysql_errno(h_->db), mysql_sqlstate(h_->db), mysql_error(h_->db)};
}

std::variant<std::unique_ptr<Connection>, SqlError> Connection::Open(
    const DatabaseUrl& url, const ConnectOptions& options) {
  auto h = std::make_unique<Handle>();
  h->db = mysql_init(nullptr);
  if (h->db == nullptr) return SqlError{2008, "HY000", "out of memory"};
  const unsigned connect = unsigned(url.connect_timeout > 0 ? url.connect_timeout
                                                            : options.connect_timeout_seconds);
  const unsigned read =
      unsigned(url.read_timeout > 0 ? url.read_timeout : options.read_timeout_seconds);
  const unsigned write =
      unsigned(url.write_timeout > 0 ? url.write_timeout : options.write_timeout_seconds);
  mysql_options(h->db, MYSQL_OPT_CONNECT_TIMEOUT, &connect);
  mysql_options(h->db, MYSQL_OPT_READ_TIMEOUT, &read);
  mysql_options(h->db, MYSQL_OPT_WRITE_TIMEOUT, &write);
  mysql_options(h->db, MYSQL_SET_CHARSET_NAME, url.charset.c_str());
  if (url.Tls()) {
    if (!url.ssl_ca.empty()) mysql_options(h->db, MYSQL_OPT_SSL_CA, url.ssl_ca.c_str());
    if (!url.ssl_cert.empty()) mysql_options(h->db, MYSQL_OPT_SSL_CERT, url.ssl_cert.c_str());
    if (!url.ssl_key.empty()) mysql_options(h->db, MYSQL_OPT_SSL_KEY, url.ssl_key.c_str());
    const my_bool verify = url.ssl_verify_cert || url.ssl_verify_identity;
    mysql_options(h->db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  }
  const bool socket = !url.unix_socket.empty();
  if (mysql_real_connect(h->db, socket ? nullptr : url.host.c_str(), url.user.c_str(),
                         url.password.c_str(), url.database.c_str(),
                         socket ? 0 : unsigned(url.port),
                         socket ? url.unix_socket.c_str() : nullptr, CLIENT_FOUND_ROWS) ==
      nullptr) {
    return SqlError{mysql_errno(h->db), mysql_sqlstate(h->db), mysql_error(h->db)};
  }
  std::unique_ptr<Connection> c(new Connection(std::move(h)));
  // Each statement commits by itself unless inside BEGIN … COMMIT; the isolation and strictness
  // every replica's store assumes.
  for (const char* setup : {"SET SESSION autocommit = 1",
                            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                            "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE'"}) {
    if (auto r = c->Exec(setup); std::holds_alternative<SqlError>(r)) {
      return std::get<SqlError>(r);
    }
  }
  if (options.causal_reads) {
    // Only a Galera node has wsrep_sync_wait doing anything; a plain server may lack it.
    auto r = c->Exec("SET SESSION wsrep_sync_wait = 1");
    if (auto* e = std::get_if<SqlError>(&r); e != nullptr && e->number != 1193) return *e;
  }
  return c;
}

std::variant<std::string, SqlError> Connection::Bind(const std::string& sql,
                                                     const std::vector<Value>& params) {
  std::string out;
  out.reserve(sql.size() + 16 * params.size());
  size_t next = 0;
  bool quoted = false;  // inside a '...' literal of the statement itself
  for (char c : sql) {
    if (c == '\'') quoted = !quoted;
    if (c != '?' || quoted) {
      out += c;
      continue;
    }
    if (next >= params.size()) {
      return SqlError{0, "HY000", "more placeholders than values in: " + sql};
    }
    const Value& v = params[next++];
    if (const auto* i = std::get_if<int64_t>(&v)) {
      out += std::to_string(*i);
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      std::string escaped(s->size() * 2 + 1, '\0');
      const unsigned long n =
          mysql_real_escape_string(h_->db, escaped.data(), s->data(), (unsigned long)s->size());
      if (n == (unsigned long)-1) return LastError();
      escaped.resize(n);
      out += '\'';
      out += escaped;
      out += '\'';
    } else {
      out += "NULL";
    }
  }
  if (next != params.size()) return SqlError{0, "HY000", "more values than placeholders in: " + sql};
  return out;
}

std::variant<int64_t, SqlError> Connection::Exec(const std::string& sql,
                                                 const std::vector<Value>& params) {
  auto bound = Bind(sql, params);
  if (auto* e = std::get_if<SqlError>(&bound)) return *e;
  const std::string& text = std::get<std::string>(bound);
  if (mysql_real_query(h_->db, text.data(), (unsigned long)text.size()) != 0) return LastError();
  // A statement that returns rows (rare here) has them read and dropped.
  if (MYSQL_RES* res = mysql_store_result(h_->db); res != nullptr) mysql_free_result(res);
  if (mysql_errno(h_->db) != 0) return LastError();
  return int64_t(mysql_affected_rows(h_->db));
}

std::variant<std::vector<Row>, SqlError> Connection::Query(const std::string& sql,
                                                           const std::vector<Value>& params) {
  auto bound = Bind(sql, params);
  if (auto* e = std::get_if<SqlError>(&bound)) return *e;
  const std::string& text = std::get<std::string>(bound);
  if (mysql_real_query(h_->db, text.data(), (unsigned long)text.size()) != 0) return LastError();
  MYSQL_RES* res = mysql_store_result(h_->db);
  if (res == nullptr) {
    if (mysql_errno(h_->db) != 0) return LastError();
    return std::vector<Row>{};
  }
  std::unique_ptr<MYSQL_RES, decltype(&mysql_free_result)> owner(res, &mysql_free_result);
  const unsigned columns = mysql_num_fields(res);
  std::vector<Row> rows;
  rows.reserve(size_t(mysql_num_rows(res)));
  while (MYSQL_ROW r = mysql_fetch_row(res)) {
    const unsigned long* lengths = mysql_fetch_lengths(res);
    Row row(columns);
    for (unsigned i = 0; i < columns; ++i) {
      if (r[i] != nullptr) row[i] = std::string(r[i], lengths[i]);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

int64_t Connection::LastInsertId() const { return int64_t(mysql_insert_id(h_->db)); }

std::variant<Connection*, SqlError> Session::Get() {
  if (conn_ == nullptr) {
    auto opened = Connection::Open(url_, options_);
    if (auto* e = std::get_if<SqlError>(&opened)) return *e;
    conn_ = std::move(std::get<std::unique_ptr<Connection>>(opened));
  }
  return conn_.get();
}

std::optional<SqlError> Session::Transaction(
    const std::function<std::optional<SqlError>(Connection&)>& body,
    const RetryPolicy& retry) {
  SqlError last;
  for (int attempt = 1; attempt <= std::max(1, retry.attempts); ++attempt) {
    if (attempt > 1) {
      ++retries_;
      clock_.SleepFor(retry.DelayBefore(attempt, rng_));
    }
    auto got = Get();
    if (auto* e = std::get_if<SqlError>(&got)) {
      last = *e;
      if (!last.Retryable()) return last;
      continue;
    }
    Connection& c = *std::get<Connection*>(got);
    std::optional<SqlError> failed;
    if (auto begin = c.Exec("BEGIN"); std::holds_alternative<SqlError>(begin)) {
      failed = std::get<SqlError>(begin);
    } else if (auto e = body(c)) {
      failed = std::move(e);
    } else if (auto commit = c.Exec("COMMIT"); std::holds_alternative<SqlError>(commit)) {
      failed = std::get<SqlError>(commit);
    } else {
      return std::nullopt;
    }
    last = *failed;
    if (last.ConnectionLost()) {
      conn_.reset();  // reopened on the next run
    } else {
      c.Exec("ROLLBACK");  // its own failure changes nothing: the transaction is over either way
    }
    if (!last.Retryable()) return last;
  }
  return last;
}

}  // namespace warden::store::mariadb
