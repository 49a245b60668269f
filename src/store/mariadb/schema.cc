#include "store/mariadb/schema.h"

#include "core/clock.h"

namespace warden::store::mariadb {
namespace {

// Times are integer microseconds since the epoch (UTC), as in the SQLite store; soft delete as
// Masakari: deleted = id for a deleted row, 0 for a live one, so names are unique among live
// rows. Text that is looked up or unique is VARCHAR (indexable); the rest TEXT or MEDIUMTEXT.
const std::vector<std::string> kSchema1 = {
    "CREATE TABLE IF NOT EXISTS failover_segments ("
    " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " uuid VARCHAR(36) NOT NULL, name VARCHAR(255) NOT NULL, service_type VARCHAR(255) NOT NULL,"
    " enabled TINYINT NOT NULL DEFAULT 1, description TEXT,"
    " recovery_method VARCHAR(32) NOT NULL,"
    " created_at BIGINT NOT NULL, updated_at BIGINT, deleted_at BIGINT,"
    " deleted BIGINT NOT NULL DEFAULT 0,"
    " UNIQUE KEY failover_segments_uuid (uuid),"
    " UNIQUE KEY failover_segments_name (name, deleted)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS hosts ("
    " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " uuid VARCHAR(36) NOT NULL, name VARCHAR(255) NOT NULL,"
    " failover_segment_id VARCHAR(36) NOT NULL, type VARCHAR(255) NOT NULL,"
    " control_attributes TEXT NOT NULL,"
    " reserved TINYINT NOT NULL DEFAULT 0, on_maintenance TINYINT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL, updated_at BIGINT, deleted_at BIGINT,"
    " deleted BIGINT NOT NULL DEFAULT 0,"
    " UNIQUE KEY hosts_uuid (uuid), UNIQUE KEY hosts_name (name, deleted),"
    " KEY hosts_segment (failover_segment_id, deleted)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS notifications ("
    " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " notification_uuid VARCHAR(36) NOT NULL, generated_time BIGINT NOT NULL,"
    " source_host_uuid VARCHAR(36) NOT NULL, failover_segment_uuid VARCHAR(36) NOT NULL,"
    " type VARCHAR(32) NOT NULL, payload MEDIUMTEXT NOT NULL, payload_hash BIGINT NOT NULL,"
    " status VARCHAR(32) NOT NULL, message TEXT,"
    " recovery_workflow_details MEDIUMTEXT NOT NULL,"
    " error_retries INT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL, updated_at BIGINT, deleted_at BIGINT,"
    " deleted BIGINT NOT NULL DEFAULT 0,"
    " UNIQUE KEY notifications_uuid (notification_uuid),"
    " KEY notifications_status (status),"
    " KEY notifications_segment (failover_segment_uuid, status),"
    " KEY notifications_created (created_at, id),"
    " KEY notifications_host_generated (source_host_uuid, type, generated_time)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS vmoves ("
    " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " uuid VARCHAR(36) NOT NULL, notification_uuid VARCHAR(36) NOT NULL,"
    " instance_uuid VARCHAR(36) NOT NULL, instance_name VARCHAR(255) NOT NULL,"
    " source_host VARCHAR(255) NOT NULL, dest_host VARCHAR(255),"
    " start_time BIGINT, end_time BIGINT, type VARCHAR(32) NOT NULL,"
    " status VARCHAR(32) NOT NULL, message TEXT, restore_state VARCHAR(32),"
    " warden_locked TINYINT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL, updated_at BIGINT, deleted_at BIGINT,"
    " deleted BIGINT NOT NULL DEFAULT 0,"
    " UNIQUE KEY vmoves_uuid (uuid),"
    " KEY vmoves_notification_status (notification_uuid, deleted, status)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
};

std::optional<SqlError> Exec(Connection& c, const std::string& sql,
                             const std::vector<Value>& params = {}) {
  auto r = c.Exec(sql, params);
  if (auto* e = std::get_if<SqlError>(&r)) return *e;
  return std::nullopt;
}

Error Failed(const std::string& what, const SqlError& e) {
  Error out = e.ToError();
  return Error(out.code(), "schema " + what + ": " + out.message());
}

// Runs `fn` on the session's connection, reconnecting and repeating after retryable errors
// (a single statement outside a transaction).
template <typename T>
std::variant<T, SqlError> Each(Session& s, const std::function<std::variant<T, SqlError>(Connection&)>& fn) {
  std::variant<T, SqlError> out = SqlError{};
  auto e = s.Transaction([&](Connection& c) -> std::optional<SqlError> {
    out = fn(c);
    if (auto* err = std::get_if<SqlError>(&out)) return *err;
    return std::nullopt;
  });
  if (e) return *e;
  return out;
}

}  // namespace

const std::vector<std::vector<std::string>>& Migrations() {
  static const std::vector<std::vector<std::string>> all = {kSchema1};
  return all;
}

Result<int64_t> SchemaVersion(Session& session) {
  auto got = session.Get();
  if (auto* e = std::get_if<SqlError>(&got)) return std::unexpected(Failed("version", *e));
  Connection& c = *std::get<Connection*>(got);
  auto rows = c.Query(
      "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
      "AND table_name = 'schema_migrations'");
  if (auto* e = std::get_if<SqlError>(&rows)) return std::unexpected(Failed("version", *e));
  if (std::get<std::vector<Row>>(rows).at(0).at(0) == "0") return 0;
  auto v = c.Query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (auto* e = std::get_if<SqlError>(&v)) return std::unexpected(Failed("version", *e));
  return std::stoll(*std::get<std::vector<Row>>(v).at(0).at(0));
}

Result<int64_t> Migrate(Session& session, const MigrateOptions& options) {
  const int64_t latest = int64_t(Migrations().size());
  // The bookkeeping tables and the lease row: idempotent, safe to race.
  auto setup = session.Transaction([](Connection& c) -> std::optional<SqlError> {
    if (auto e = Exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations (version INT NOT NULL "
                         "PRIMARY KEY, applied_at BIGINT NOT NULL, applied_by VARCHAR(255) NOT "
                         "NULL) ENGINE=InnoDB")) {
      return e;
    }
    if (auto e = Exec(c, "CREATE TABLE IF NOT EXISTS schema_lease (name VARCHAR(32) NOT NULL "
                         "PRIMARY KEY, holder VARCHAR(255), expires_at DATETIME(6) NOT NULL) "
                         "ENGINE=InnoDB")) {
      return e;
    }
    return Exec(c, "INSERT IGNORE INTO schema_lease VALUES ('schema', NULL, "
                   "NOW(6) - INTERVAL 1 SECOND)");
  });
  if (setup) return std::unexpected(Failed("setup", *setup));

  auto found = SchemaVersion(session);
  if (!found) return std::unexpected(found.error());
  const RealClock clock;  // a blocking wait for another replica, through the clock
  const MonoMicros deadline = clock.Monotonic() + options.wait_micros;
  for (;;) {
    auto now = SchemaVersion(session);
    if (!now) return std::unexpected(now.error());
    if (*now > latest) {
      return FailedPrecondition("database schema version " + std::to_string(*now) +
                                " is newer than this warden (" + std::to_string(latest) + ")");
    }
    if (*now == latest) return *found;
    // Claim the lease: free, expired, or already ours.
    auto claimed = Each<int64_t>(session, [&](Connection& c) {
      return c.Exec("UPDATE schema_lease SET holder = ?, expires_at = NOW(6) + INTERVAL ? SECOND "
                    "WHERE name = 'schema' AND (holder IS NULL OR expires_at < NOW(6) OR holder = ?)",
                    {options.holder, int64_t(options.lease_seconds), options.holder});
    });
    if (auto* e = std::get_if<SqlError>(&claimed)) return std::unexpected(Failed("lease", *e));
    if (std::get<int64_t>(claimed) == 1) break;
    if (clock.Monotonic() > deadline) {
      return Unavailable("another replica has held the schema lease for longer than " +
                         std::to_string(options.wait_micros / 1'000'000) + " s");
    }
    clock.SleepFor(200'000);
  }

  // Holding the lease: what is still missing (another holder may have done some), in order.
  auto from = SchemaVersion(session);
  if (!from) return std::unexpected(from.error());
  for (int64_t v = *from + 1; v <= latest; ++v) {
    for (const std::string& statement : Migrations()[size_t(v - 1)]) {
      auto done = Each<int64_t>(session, [&](Connection& c) { return c.Exec(statement); });
      if (auto* e = std::get_if<SqlError>(&done)) {
        return std::unexpected(Failed("migration " + std::to_string(v), *e));
      }
    }
    auto noted = Each<int64_t>(session, [&](Connection& c) {
      return c.Exec("INSERT IGNORE INTO schema_migrations VALUES (?, "
                    "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED), ?)",
                    {v, options.holder});
    });
    if (auto* e = std::get_if<SqlError>(&noted)) {
      return std::unexpected(Failed("migration " + std::to_string(v), *e));
    }
  }
  Each<int64_t>(session, [&](Connection& c) {
    return c.Exec("UPDATE schema_lease SET holder = NULL, expires_at = NOW(6) - INTERVAL 1 SECOND "
                  "WHERE name = 'schema' AND holder = ?",
                  {options.holder});
  });
  return *found;
}

}  // namespace warden::store::mariadb
