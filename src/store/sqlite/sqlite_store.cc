#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <variant>

#include "core/uuid.h"
#include "store/page.h"
#include "store/sqlite/recent_payloads.h"
#include "store/sqlite/wal_batching_vfs.h"

namespace warden::store {
namespace {

// ---------------------------------------------------------------------------------------
// Schema. Each entry is one migration, applied once, in order, in its own transaction.
// Timestamps are integer microseconds since the epoch (UTC). Soft delete as Masakari:
// deleted = id for a deleted row, 0 for a live one, so names are unique among live rows.

constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE failover_segments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid TEXT NOT NULL,
  name TEXT NOT NULL,
  service_type TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  description TEXT,
  recovery_method TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER,
  deleted_at INTEGER,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX failover_segments_uuid ON failover_segments(uuid);
CREATE UNIQUE INDEX failover_segments_name ON failover_segments(name, deleted);
CREATE TABLE hosts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid TEXT NOT NULL,
  name TEXT NOT NULL,
  failover_segment_id TEXT NOT NULL,
  type TEXT NOT NULL,
  control_attributes TEXT NOT NULL,
  reserved INTEGER NOT NULL DEFAULT 0,
  on_maintenance INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER,
  deleted_at INTEGER,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX hosts_uuid ON hosts(uuid);
CREATE UNIQUE INDEX hosts_name ON hosts(name, deleted);
CREATE INDEX hosts_segment ON hosts(failover_segment_id, deleted);
CREATE TABLE notifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  notification_uuid TEXT NOT NULL,
  generated_time INTEGER NOT NULL,
  source_host_uuid TEXT NOT NULL,
  failover_segment_uuid TEXT NOT NULL,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,
  payload_hash INTEGER NOT NULL,
  status TEXT NOT NULL,
  message TEXT,
  recovery_workflow_details TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL,
  updated_at INTEGER,
  deleted_at INTEGER,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX notifications_uuid ON notifications(notification_uuid);
CREATE INDEX notifications_dedup ON notifications(source_host_uuid, type, payload_hash, generated_time);
CREATE INDEX notifications_status ON notifications(status);
CREATE INDEX notifications_segment ON notifications(failover_segment_uuid, status);
CREATE INDEX notifications_created ON notifications(created_at, id);
CREATE TABLE vmoves (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid TEXT NOT NULL,
  notification_uuid TEXT NOT NULL,
  instance_uuid TEXT NOT NULL,
  instance_name TEXT NOT NULL,
  source_host TEXT NOT NULL,
  dest_host TEXT,
  start_time INTEGER,
  end_time INTEGER,
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  message TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER,
  deleted_at INTEGER,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX vmoves_uuid ON vmoves(uuid);
CREATE INDEX vmoves_notification ON vmoves(notification_uuid);
)sql",
    // 2: the duplicate check looks a payload up by its hash alone: an integer-only index stays
    // small (and in cache) although its keys are random; the other conditions are checked on
    // the few rows it finds.
    R"sql(
DROP INDEX IF EXISTS notifications_dedup;
CREATE INDEX IF NOT EXISTS notifications_payload_hash ON notifications(payload_hash);
)sql",
    // 3: the moves of a notification counted by status from the index alone (the progress
    // summary is polled while a recovery runs); the index also serves every lookup by
    // notification that the one it replaces served.
    R"sql(
CREATE INDEX IF NOT EXISTS vmoves_notification_status ON vmoves(notification_uuid, deleted, status);
DROP INDEX IF EXISTS vmoves_notification;
)sql",
    // 4: what a move leaves the instance in, and whether Warden holds its lock (both must
    // survive a restart in the middle of the move).
    R"sql(
ALTER TABLE vmoves ADD COLUMN restore_state TEXT;
ALTER TABLE vmoves ADD COLUMN warden_locked INTEGER NOT NULL DEFAULT 0;
)sql",
    // 5: automatic retries of a notification in `error`, so that a restart does not grant
    // new ones.
    R"sql(
ALTER TABLE notifications ADD COLUMN error_retries INTEGER NOT NULL DEFAULT 0;
)sql",
    // 6: the duplicate check finds payloads through the writer's in-memory index
    // (RecentPayloads): the index by payload hash, whose random keys dirtied a page anywhere
    // in the file at every create, goes. The check (when memory cannot answer) and the
    // recovery engine's triage range over one host's and type's generated times, which
    // mostly grow, so this index is written at the end of each host's part.
    R"sql(
DROP INDEX IF EXISTS notifications_payload_hash;
CREATE INDEX IF NOT EXISTS notifications_host_generated
  ON notifications(source_host_uuid, type, generated_time);
)sql",
};

// A column a list may be sorted by. Nullable columns sort as if NULL were the smallest value
// of their kind, so that keyset pagination over them stays total.
struct Column {
  std::string_view name;
  bool text;
  bool nullable;
};

constexpr Column kSegmentColumns[] = {{"id", false, false},
                                      {"uuid", true, false},
                                      {"name", true, false},
                                      {"service_type", true, false},
                                      {"enabled", false, false},
                                      {"description", true, true},
                                      {"recovery_method", true, false},
                                      {"created_at", false, false},
                                      {"updated_at", false, true},
                                      {"deleted_at", false, true},
                                      {"deleted", false, false}};
constexpr Column kHostColumns[] = {
    {"id", false, false},         {"uuid", true, false},
    {"name", true, false},        {"failover_segment_id", true, false},
    {"type", true, false},        {"control_attributes", true, false},
    {"reserved", false, false},   {"on_maintenance", false, false},
    {"created_at", false, false}, {"updated_at", false, true},
    {"deleted_at", false, true},  {"deleted", false, false}};
constexpr Column kNotificationColumns[] = {{"id", false, false},
                                           {"notification_uuid", true, false},
                                           {"generated_time", false, false},
                                           {"source_host_uuid", true, false},
                                           {"failover_segment_uuid", true, false},
                                           {"type", true, false},
                                           {"payload", true, false},
                                           {"status", true, false},
                                           {"message", true, true},
                                           {"created_at", false, false},
                                           {"updated_at", false, true},
                                           {"deleted_at", false, true},
                                           {"deleted", false, false}};
constexpr Column kVMoveColumns[] = {{"id", false, false},
                                    {"uuid", true, false},
                                    {"notification_uuid", true, false},
                                    {"instance_uuid", true, false},
                                    {"instance_name", true, false},
                                    {"source_host", true, false},
                                    {"dest_host", true, true},
                                    {"start_time", false, true},
                                    {"end_time", false, true},
                                    {"type", true, false},
                                    {"status", true, false},
                                    {"message", true, true},
                                    {"created_at", false, false},
                                    {"updated_at", false, true},
                                    {"deleted_at", false, true},
                                    {"deleted", false, false}};

template <size_t N>
std::vector<std::string_view> ColumnNames(const Column (&cols)[N]) {
  std::vector<std::string_view> names;
  for (const Column& c : cols) names.push_back(c.name);
  return names;
}

template <size_t N>
const Column* FindColumn(const Column (&cols)[N], std::string_view name) {
  for (const Column& c : cols) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string SortExpr(const Column& c) {
  std::string name(c.name);
  if (!c.nullable) return name;
  return "IFNULL(" + name + (c.text ? ", '')" : ", -1)");
}

constexpr const char* kSegmentSelect =
    "SELECT id, uuid, name, service_type, enabled, description, recovery_method, created_at, "
    "updated_at, deleted_at, deleted FROM failover_segments";
constexpr const char* kHostSelect =
    "SELECT id, uuid, name, failover_segment_id, type, control_attributes, reserved, "
    "on_maintenance, created_at, updated_at, deleted_at, deleted FROM hosts";
constexpr const char* kNotificationSelect =
    "SELECT id, notification_uuid, generated_time, source_host_uuid, failover_segment_uuid, type, "
    "payload, status, message, recovery_workflow_details, created_at, updated_at, deleted_at, "
    "deleted, error_retries FROM notifications";
constexpr const char* kVMoveSelect =
    "SELECT id, uuid, notification_uuid, instance_uuid, instance_name, source_host, dest_host, "
    "start_time, end_time, type, status, message, created_at, updated_at, deleted_at, deleted, "
    "restore_state, warden_locked FROM vmoves";

using Value = std::variant<std::monostate, int64_t, std::string>;

Value Opt(const std::optional<std::string>& v) { return v ? Value(*v) : Value(); }
Value Opt(const std::optional<int64_t>& v) { return v ? Value(*v) : Value(); }

// 64-bit FNV-1a of the canonical payload: an index key for the duplicate check, which then
// compares the payload itself.
int64_t PayloadHash(std::string_view payload) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : payload) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return int64_t(h);
}

// A JSON array of the given strings, read back in SQL with json_each().
std::string JsonStringArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& item : items) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (unsigned char c : item) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += char(c);
      } else if (c < 0x20) {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
        out += escaped;
      } else {
        out += char(c);
      }
    }
    out += '"';
  }
  return out + "]";
}

bool IsIoError(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_IOERR || primary == SQLITE_FULL || primary == SQLITE_CORRUPT ||
         primary == SQLITE_NOTADB || primary == SQLITE_CANTOPEN;
}

// One SQLite connection with a cache of prepared statements. Used by one thread at a time.
class Connection {
 public:
  ~Connection() {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    if (db_ != nullptr) sqlite3_close_v2(db_);
  }

  static Result<std::unique_ptr<Connection>> Open(const std::string& path, bool writer) {
    auto c = std::unique_ptr<Connection>(new Connection());
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path.c_str(), &c->db_, flags, WalBatchingVfsName());
    if (rc != SQLITE_OK) {
      std::string msg = c->db_ != nullptr ? sqlite3_errmsg(c->db_) : sqlite3_errstr(rc);
      return Unavailable("cannot open database " + path + ": " + msg);
    }
    sqlite3_busy_timeout(c->db_, 10000);
    sqlite3_extended_result_codes(c->db_, 1);
    // The writer keeps SQLite's default page cache (2 MiB): what it writes is mostly the last
    // pages of each table and index. (8 MiB saved 2-4% of the CPU per create while an index
    // with random keys was written; measured no better without it, for 6 MiB more memory.)
    const char* setup = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                 "PRAGMA foreign_keys=ON;"
                               : "PRAGMA query_only=ON;";
    if (auto r = c->Exec(setup); !r) return std::unexpected(r.error());
    return c;
  }

  Result<void> Exec(const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      last_rc_ = rc;
      std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      return Internal(std::string("sqlite: ") + msg);
    }
    return {};
  }

  // Returns a reset prepared statement for sql, cached by its text.
  Result<sqlite3_stmt*> Prepare(const std::string& sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) {
      sqlite3_reset(it->second);
      sqlite3_clear_bindings(it->second);
      return it->second;
    }
    // Lists build their SQL from the query's filters and sort keys, so the number of distinct
    // statements is bounded only by the combinations clients send: keep the cache bounded.
    // (No statement of this connection is in use here: a Query lives only inside one Run.)
    if (statements_.size() >= kMaxCachedStatements) {
      for (auto& [text, cached] : statements_) sqlite3_finalize(cached);
      statements_.clear();
    }
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), int(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                                nullptr);
    if (rc != SQLITE_OK) return Internal(std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
    statements_.emplace(sql, stmt);
    return stmt;
  }

  // Runs one parameterless statement through the statement cache.
  Result<void> Step(const std::string& sql) {
    auto r = QueryInt(sql);
    if (!r) return std::unexpected(r.error());
    return {};
  }

  // Runs one parameterless statement and returns the first column of its first row as an
  // integer (nullopt: no row, or NULL).
  Result<std::optional<int64_t>> QueryInt(const std::string& sql) {
    auto stmt = Prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    int rc = sqlite3_step(*stmt);
    std::optional<int64_t> value;
    if (rc == SQLITE_ROW && sqlite3_column_type(*stmt, 0) != SQLITE_NULL) {
      value = sqlite3_column_int64(*stmt, 0);
    }
    sqlite3_reset(*stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
      last_rc_ = rc;
      return Internal(std::string("sqlite: ") + sqlite3_errmsg(db_));
    }
    return value;
  }

  sqlite3* db() { return db_; }
  static constexpr size_t kMaxCachedStatements = 256;
  int last_rc() const { return last_rc_; }
  void set_last_rc(int rc) { last_rc_ = rc; }

 private:
  Connection() = default;
  sqlite3* db_ = nullptr;
  int last_rc_ = SQLITE_OK;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

// A statement being executed: binds values, steps rows, reads columns.
class Query {
 public:
  Query(Connection& conn, sqlite3_stmt* stmt) : conn_(conn), stmt_(stmt) {}
  ~Query() { sqlite3_reset(stmt_); }

  void Bind(const std::vector<Value>& values) {
    for (size_t i = 0; i < values.size(); ++i) {
      int idx = int(i) + 1;
      if (auto* n = std::get_if<int64_t>(&values[i])) {
        sqlite3_bind_int64(stmt_, idx, *n);
      } else if (auto* s = std::get_if<std::string>(&values[i])) {
        sqlite3_bind_text(stmt_, idx, s->data(), int(s->size()), SQLITE_TRANSIENT);
      } else {
        sqlite3_bind_null(stmt_, idx);
      }
    }
  }

  // true: a row is ready; false: done. Errors are returned.
  Result<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    conn_.set_last_rc(rc);
    int primary = rc & 0xff;
    std::string msg = sqlite3_errmsg(conn_.db());
    if (rc == SQLITE_CONSTRAINT_UNIQUE) return AlreadyExists("duplicate record: " + msg);
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Unavailable("sqlite: " + msg);
    return Internal("sqlite: " + msg);
  }

  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string Text(int col) {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      size_t(sqlite3_column_bytes(stmt_, col)));
  }
  std::optional<std::string> OptText(int col) {
    if (IsNull(col)) return std::nullopt;
    return Text(col);
  }
  std::optional<int64_t> OptInt(int col) {
    if (IsNull(col)) return std::nullopt;
    return Int(col);
  }
  RecordMeta Meta(int first) {
    RecordMeta m;
    m.created_at = Int(first);
    m.updated_at = OptInt(first + 1);
    m.deleted_at = OptInt(first + 2);
    m.deleted = Int(first + 3) != 0;
    return m;
  }

 private:
  Connection& conn_;
  sqlite3_stmt* stmt_;
};

Segment ReadSegment(Query& q) {
  Segment s;
  s.uuid = q.Text(1);
  s.name = q.Text(2);
  s.service_type = q.Text(3);
  s.enabled = q.Int(4) != 0;
  s.description = q.OptText(5);
  s.recovery_method = ParseRecoveryMethod(q.Text(6)).value_or(RecoveryMethod::kAuto);
  s.meta = q.Meta(7);
  s.meta.id = q.Int(0);
  return s;
}

Host ReadHost(Query& q) {
  Host h;
  h.uuid = q.Text(1);
  h.name = q.Text(2);
  h.segment_uuid = q.Text(3);
  h.type = q.Text(4);
  h.control_attributes = q.Text(5);
  h.reserved = q.Int(6) != 0;
  h.on_maintenance = q.Int(7) != 0;
  h.meta = q.Meta(8);
  h.meta.id = q.Int(0);
  return h;
}

Notification ReadNotification(Query& q) {
  Notification n;
  n.uuid = q.Text(1);
  n.generated_time = q.Int(2);
  n.source_host_uuid = q.Text(3);
  n.segment_uuid = q.Text(4);
  n.type = ParseNotificationType(q.Text(5)).value_or(NotificationType::kComputeHost);
  n.payload_json = q.Text(6);
  n.status = ParseNotificationStatus(q.Text(7)).value_or(NotificationStatus::kError);
  n.message = q.OptText(8);
  n.workflow_details_json = q.Text(9);
  n.meta = q.Meta(10);
  n.meta.id = q.Int(0);
  n.error_retries = int(q.Int(14));
  return n;
}

VMove ReadVMove(Query& q) {
  VMove v;
  v.uuid = q.Text(1);
  v.notification_uuid = q.Text(2);
  v.instance_uuid = q.Text(3);
  v.instance_name = q.Text(4);
  v.source_host = q.Text(5);
  v.dest_host = q.OptText(6);
  v.start_time = q.OptInt(7);
  v.end_time = q.OptInt(8);
  v.type = ParseVMoveType(q.Text(9)).value_or(VMoveType::kEvacuation);
  v.status = ParseVMoveStatus(q.Text(10)).value_or(VMoveStatus::kFailed);
  v.message = q.OptText(11);
  v.meta = q.Meta(12);
  v.meta.id = q.Int(0);
  v.restore_state = q.OptText(16);
  v.warden_locked = q.Int(17) != 0;
  return v;
}

// A WHERE clause under construction: conditions joined by AND, with their bound values.
struct Where {
  std::string sql = " WHERE deleted = 0";
  std::vector<Value> values;
  void Add(std::string condition, Value v) {
    sql += " AND " + condition;
    values.push_back(std::move(v));
  }
};

class SqliteTx final : public WriteTx {
 public:
  // `recent` is the writer's payload index, null on read connections.
  explicit SqliteTx(Connection& conn, RecentPayloads* recent = nullptr)
      : conn_(conn), recent_(recent) {}

  // --- reads ---------------------------------------------------------------------------

  Result<Segment> GetSegment(std::string_view uuid) override {
    return Get(kSegmentSelect, "uuid", uuid, ReadSegment, "No failover segment with id ");
  }

  Result<std::optional<Segment>> FindSegmentByName(std::string_view name) override {
    return Find(kSegmentSelect, "name", name, ReadSegment);
  }

  Result<std::vector<Segment>> ListSegments(const SegmentFilter& f, const Page& page) override {
    Where w;
    if (f.recovery_method) w.Add("recovery_method = ?", std::string(ToString(*f.recovery_method)));
    if (f.service_type) w.Add("service_type = ?", *f.service_type);
    if (f.enabled) w.Add("enabled = ?", int64_t{*f.enabled});
    return List<Segment>("failover_segments", kSegmentSelect, kSegmentColumns, std::move(w), page,
                         ReadSegment);
  }

  Result<Host> GetHost(std::string_view uuid) override {
    return Get(kHostSelect, "uuid", uuid, ReadHost, "No host with id ");
  }

  Result<std::optional<Host>> FindHostByName(std::string_view name) override {
    return Find(kHostSelect, "name", name, ReadHost);
  }

  Result<std::vector<Host>> ListHosts(const HostFilter& f, const Page& page) override {
    Where w;
    if (f.segment_uuid) w.Add("failover_segment_id = ?", *f.segment_uuid);
    if (f.name) w.Add("name = ?", *f.name);
    if (f.type) w.Add("type = ?", *f.type);
    if (f.on_maintenance) w.Add("on_maintenance = ?", int64_t{*f.on_maintenance});
    if (f.reserved) w.Add("reserved = ?", int64_t{*f.reserved});
    return List<Host>("hosts", kHostSelect, kHostColumns, std::move(w), page, ReadHost);
  }

  Result<Notification> GetNotification(std::string_view uuid) override {
    return Get(kNotificationSelect, "notification_uuid", uuid, ReadNotification,
               "No notification with id ");
  }

  Result<std::vector<Notification>> ListNotifications(const NotificationFilter& f,
                                                      const Page& page) override {
    auto w = NotificationWhere(f);
    if (!w) return std::unexpected(w.error());
    if (!*w) {
      // Nothing can match, but the sort keys and marker are still checked.
      *w = Where{};
      (*w)->sql += " AND 0";
    }
    return List<Notification>("notifications", kNotificationSelect, kNotificationColumns,
                              std::move(**w), page, ReadNotification);
  }

  Result<int64_t> CountNotifications(const NotificationFilter& f) override {
    auto w = NotificationWhere(f);
    if (!w) return std::unexpected(w.error());
    if (!*w) return 0;
    int64_t count = 0;
    auto r = Run("SELECT COUNT(*) FROM notifications" + (*w)->sql, (*w)->values,
                 [&](Query& q) { count = q.Int(0); });
    if (!r) return std::unexpected(r.error());
    return count;
  }

  Result<VMove> GetVMove(std::string_view uuid) override {
    return Get(kVMoveSelect, "uuid", uuid, ReadVMove, "No vm move with id ");
  }

  Result<std::vector<VMove>> ListVMoves(const VMoveFilter& f, const Page& page) override {
    return List<VMove>("vmoves", kVMoveSelect, kVMoveColumns, VMoveWhere(f), page, ReadVMove);
  }

  Result<VMoveCounts> CountVMoves(const VMoveFilter& f) override {
    Where w = VMoveWhere(f);
    VMoveCounts counts;
    auto r = Run("SELECT status, COUNT(*), MIN(start_time), MAX(end_time) FROM vmoves" + w.sql +
                     " GROUP BY status",
                 w.values, [&](Query& q) {
                   const int64_t n = q.Int(1);
                   const VMoveStatus status =
                       ParseVMoveStatus(q.Text(0)).value_or(VMoveStatus::kFailed);
                   if (auto first = q.OptInt(2);
                       first && (!counts.first_start || *first < *counts.first_start)) {
                     counts.first_start = first;
                   }
                   if (status == VMoveStatus::kSucceeded) counts.last_recovered = q.OptInt(3);
                   switch (status) {
                     case VMoveStatus::kPending:
                       counts.pending += n;
                       break;
                     case VMoveStatus::kOngoing:
                       counts.ongoing += n;
                       break;
                     case VMoveStatus::kSucceeded:
                       counts.succeeded += n;
                       break;
                     case VMoveStatus::kFailed:
                       counts.failed += n;
                       break;
                     case VMoveStatus::kIgnored:
                       counts.ignored += n;
                       break;
                   }
                 });
    if (!r) return std::unexpected(r.error());
    return counts;
  }

  // --- writes --------------------------------------------------------------------------

  Result<Segment> InsertSegment(Segment s) override {
    auto id = Insert(
        "INSERT INTO failover_segments (uuid, name, service_type, enabled, description, "
        "recovery_method, created_at, updated_at, deleted_at, deleted) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        {s.uuid, s.name, s.service_type, int64_t{s.enabled}, Opt(s.description),
         std::string(ToString(s.recovery_method)), s.meta.created_at, Opt(s.meta.updated_at),
         Opt(s.meta.deleted_at)},
        "Failover segment with name " + s.name + " already exists.");
    if (!id) return std::unexpected(id.error());
    s.meta.id = *id;
    return s;
  }

  Result<void> UpdateSegment(const Segment& s) override {
    return Change(
        "UPDATE failover_segments SET name = ?, service_type = ?, enabled = ?, description = ?, "
        "recovery_method = ?, updated_at = ? WHERE id = ? AND deleted = 0",
        {s.name, s.service_type, int64_t{s.enabled}, Opt(s.description),
         std::string(ToString(s.recovery_method)), Opt(s.meta.updated_at), s.meta.id},
        "Failover segment with name " + s.name + " already exists.",
        "No failover segment with id " + s.uuid + ".");
  }

  Result<void> DeleteSegment(int64_t id, WallMicros now) override {
    std::string uuid;
    auto r = Run("SELECT uuid FROM failover_segments WHERE id = ? AND deleted = 0", {id},
                 [&](Query& q) { uuid = q.Text(0); });
    if (!r) return r;
    if (uuid.empty()) return NotFound("No failover segment with id " + std::to_string(id) + ".");
    r =
        Run("UPDATE hosts SET deleted = id, deleted_at = ? WHERE failover_segment_id = ? AND "
            "deleted = 0",
            {now, uuid}, nullptr);
    if (!r) return r;
    return Run("UPDATE failover_segments SET deleted = id, deleted_at = ? WHERE id = ?", {now, id},
               nullptr);
  }

  Result<Host> InsertHost(Host h) override {
    auto id = Insert(
        "INSERT INTO hosts (uuid, name, failover_segment_id, type, control_attributes, reserved, "
        "on_maintenance, created_at, updated_at, deleted_at, deleted) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        {h.uuid, h.name, h.segment_uuid, h.type, h.control_attributes, int64_t{h.reserved},
         int64_t{h.on_maintenance}, h.meta.created_at, Opt(h.meta.updated_at),
         Opt(h.meta.deleted_at)},
        "Host with name " + h.name + " already exists.");
    if (!id) return std::unexpected(id.error());
    h.meta.id = *id;
    return h;
  }

  Result<void> UpdateHost(const Host& h) override {
    return Change(
        "UPDATE hosts SET name = ?, type = ?, control_attributes = ?, reserved = ?, "
        "on_maintenance = ?, updated_at = ? WHERE id = ? AND deleted = 0",
        {h.name, h.type, h.control_attributes, int64_t{h.reserved}, int64_t{h.on_maintenance},
         Opt(h.meta.updated_at), h.meta.id},
        "Host with name " + h.name + " already exists.", "No host with id " + h.uuid + ".");
  }

  Result<void> DeleteHost(int64_t id, WallMicros now) override {
    return Change("UPDATE hosts SET deleted = id, deleted_at = ? WHERE id = ? AND deleted = 0",
                  {now, id}, "", "No host with id " + std::to_string(id) + ".");
  }

  Result<Notification> InsertNotification(Notification n) override {
    const int64_t hash = PayloadHash(n.payload_json);
    auto id = Insert(
        "INSERT INTO notifications (notification_uuid, generated_time, source_host_uuid, "
        "failover_segment_uuid, type, payload, payload_hash, status, message, "
        "recovery_workflow_details, created_at, updated_at, deleted_at, deleted) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        {n.uuid, n.generated_time, n.source_host_uuid, n.segment_uuid,
         std::string(ToString(n.type)), n.payload_json, hash, std::string(ToString(n.status)),
         Opt(n.message), n.workflow_details_json, n.meta.created_at, Opt(n.meta.updated_at),
         Opt(n.meta.deleted_at)},
        "Notification " + n.uuid + " already exists.");
    if (!id) return std::unexpected(id.error());
    n.meta.id = *id;
    if (recent_ != nullptr) {
      recent_->Add(hash, recent_->KeyOf(n.source_host_uuid, ToString(n.type)), *id,
                   n.generated_time, n.meta.created_at);
    }
    return n;
  }

  Result<void> UpdateNotification(const Notification& n) override {
    return Change(
        "UPDATE notifications SET status = ?, message = ?, recovery_workflow_details = ?, "
        "updated_at = ?, error_retries = ? WHERE id = ? AND deleted = 0",
        {std::string(ToString(n.status)), Opt(n.message), n.workflow_details_json,
         Opt(n.meta.updated_at), int64_t(n.error_retries), n.meta.id},
        "", "No notification with id " + n.uuid + ".");
  }

  Result<VMove> InsertVMove(VMove v) override {
    auto id = Insert(
        "INSERT INTO vmoves (uuid, notification_uuid, instance_uuid, instance_name, source_host, "
        "dest_host, start_time, end_time, type, status, message, created_at, updated_at, "
        "deleted_at, deleted, restore_state, warden_locked) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
        {v.uuid, v.notification_uuid, v.instance_uuid, v.instance_name, v.source_host,
         Opt(v.dest_host), Opt(v.start_time), Opt(v.end_time), std::string(ToString(v.type)),
         std::string(ToString(v.status)), Opt(v.message), v.meta.created_at, Opt(v.meta.updated_at),
         Opt(v.meta.deleted_at), Opt(v.restore_state), int64_t(v.warden_locked)},
        "VM move " + v.uuid + " already exists.");
    if (!id) return std::unexpected(id.error());
    v.meta.id = *id;
    return v;
  }

  Result<void> UpdateVMove(const VMove& v) override {
    return Change(
        "UPDATE vmoves SET dest_host = ?, start_time = ?, end_time = ?, status = ?, message = ?, "
        "updated_at = ?, restore_state = ?, warden_locked = ? WHERE id = ? AND deleted = 0",
        {Opt(v.dest_host), Opt(v.start_time), Opt(v.end_time), std::string(ToString(v.status)),
         Opt(v.message), Opt(v.meta.updated_at), Opt(v.restore_state), int64_t(v.warden_locked),
         v.meta.id},
        "", "No vm move with id " + v.uuid + ".");
  }

 private:
  // Most candidate rows from the payload index looked up by id; more (a payload sent again
  // and again, status-aware duplicates) and the query ranges over the host's notifications.
  static constexpr size_t kMaxCandidates = 256;

  // The conditions of a notification filter; nullopt if the writer's payload index shows
  // that no row can match.
  Result<std::optional<Where>> NotificationWhere(const NotificationFilter& f) {
    // With a payload, the writer's index may name the only rows worth looking at.
    std::vector<int64_t> candidates;
    const int64_t payload_hash = f.payload_json ? PayloadHash(*f.payload_json) : 0;
    if (f.payload_json) {
      auto key = PayloadIndexKey(f);
      if (!key) return std::unexpected(key.error());
      if (*key) {
        recent_->Candidates(payload_hash, **key, *f.generated_since, candidates);
        if (candidates.empty()) return std::optional<Where>();
        if (candidates.size() > kMaxCandidates) candidates.clear();
      }
    }
    // Then they are looked up by row id: a unary + keeps SQLite from ranging over an index
    // on the other columns instead (it would, for more than one id).
    const char* column = candidates.empty() ? "" : "+";
    Where w;
    if (!f.statuses.empty()) {
      std::string in = std::string(column) + "status IN (";
      for (size_t i = 0; i < f.statuses.size(); ++i) {
        in += i == 0 ? "?" : ", ?";
        // Built in place: g++ 12 warns (wrongly) about a moved-in temporary variant here.
        w.values.emplace_back(std::in_place_type<std::string>, ToString(f.statuses[i]));
      }
      w.sql += " AND " + in + ")";
    }
    auto add = [&](const char* condition, Value v) {
      w.Add(std::string(column) + condition, std::move(v));
    };
    if (f.source_host_uuid) add("source_host_uuid = ?", *f.source_host_uuid);
    if (f.segment_uuid) add("failover_segment_uuid = ?", *f.segment_uuid);
    if (f.type) add("type = ?", std::string(ToString(*f.type)));
    if (f.generated_since) add("generated_time >= ?", *f.generated_since);
    if (f.payload_json) {
      if (!candidates.empty()) {
        // One statement whatever their number: a JSON array, bound as one value.
        std::string ids = "[";
        for (size_t i = 0; i < candidates.size(); ++i) {
          ids += (i == 0 ? "" : ",") + std::to_string(candidates[i]);
        }
        w.Add("id IN (SELECT value FROM json_each(?))", ids + "]");
      }
      add("payload_hash = ?", payload_hash);
      add("payload = ?", *f.payload_json);
    }
    return w;
  }

  // The filter's host and type in the writer's payload index if it knows every notification
  // the filter could match (nullopt if not); asks the database, once per host and type, about
  // those created before the index was loaded.
  Result<std::optional<uint32_t>> PayloadIndexKey(const NotificationFilter& f) {
    if (recent_ == nullptr || !f.generated_since || !f.source_host_uuid || !f.type) {
      return std::nullopt;
    }
    const std::string_view type = ToString(*f.type);
    const uint32_t key = recent_->KeyOf(*f.source_host_uuid, type);
    auto known = [&](bool covered) { return covered ? std::optional(key) : std::nullopt; };
    std::optional<bool> covered = recent_->Covers(key, *f.generated_since);
    if (covered) return known(*covered);
    // The latest generated among them: walking the host's index from the latest down, the
    // first one created before the floor.
    int64_t latest = RecentPayloads::kNever;
    auto r =
        Run("SELECT generated_time FROM notifications WHERE source_host_uuid = ? AND type = ? AND "
            "created_at < ? AND deleted = 0 ORDER BY generated_time DESC LIMIT 1",
            {*f.source_host_uuid, std::string(type), recent_->load_floor()},
            [&](Query& q) { latest = q.Int(0); });
    if (!r) return std::unexpected(r.error());
    recent_->SetLoadedLatest(key, latest);
    return known(*recent_->Covers(key, *f.generated_since));
  }

  static Where VMoveWhere(const VMoveFilter& f) {
    Where w;
    if (f.notification_uuid) w.Add("notification_uuid = ?", *f.notification_uuid);
    if (!f.notification_uuids.empty()) {
      // One bound JSON array whatever the number of ids: the statement text (and so its cache
      // entry) does not vary with the count, and no count exceeds SQLite's variable limit.
      w.Add("notification_uuid IN (SELECT value FROM json_each(?))",
            JsonStringArray(f.notification_uuids));
    }
    if (f.type) w.Add("type = ?", std::string(ToString(*f.type)));
    if (f.status) w.Add("status = ?", std::string(ToString(*f.status)));
    if (f.source_host) w.Add("source_host = ?", *f.source_host);
    if (f.dest_host) w.Add("dest_host = ?", *f.dest_host);
    return w;
  }

  Result<void> Run(const std::string& sql, const std::vector<Value>& values,
                   const std::function<void(Query&)>& on_row) {
    auto stmt = conn_.Prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    Query q(conn_, *stmt);
    q.Bind(values);
    while (true) {
      auto more = q.Step();
      if (!more) return std::unexpected(more.error());
      if (!*more) return {};
      if (on_row) on_row(q);
    }
  }

  template <typename T>
  Result<std::vector<T>> Select(const std::string& sql, const std::vector<Value>& values,
                                T (*read)(Query&)) {
    std::vector<T> out;
    auto r = Run(sql, values, [&](Query& q) { out.push_back(read(q)); });
    if (!r) return std::unexpected(r.error());
    return out;
  }

  // The live row whose `column` equals `key` (a unique column), if any.
  template <typename T>
  Result<std::optional<T>> Find(const char* select, const char* column, std::string_view key,
                                T (*read)(Query&)) {
    auto rows = Select<T>(std::string(select) + " WHERE " + column + " = ? AND deleted = 0",
                          {std::string(key)}, read);
    if (!rows) return std::unexpected(rows.error());
    if (rows->empty()) return std::optional<T>();
    return std::optional<T>(std::move(rows->front()));
  }

  // The same, or NotFound with Masakari's message: `missing` followed by the key and a period.
  template <typename T>
  Result<T> Get(const char* select, const char* column, std::string_view key, T (*read)(Query&),
                std::string_view missing) {
    auto found = Find(select, column, key, read);
    if (!found) return std::unexpected(found.error());
    if (!found->has_value()) return NotFound(std::string(missing) + std::string(key) + ".");
    return std::move(**found);
  }

  // Keyset pagination: rows strictly after the marker row in the complete sort order.
  template <typename T, size_t N>
  Result<std::vector<T>> List(std::string_view table, const char* select,
                              const Column (&columns)[N], Where w, const Page& page,
                              T (*read)(Query&)) {
    static const std::vector<std::string_view> names = ColumnNames(columns);
    auto keys = CompleteSort(page.sort, names);
    if (!keys) return std::unexpected(keys.error());
    if (page.limit <= 0) return std::vector<T>();
    std::string order;
    for (const SortKey& k : *keys) {
      order += order.empty() ? " ORDER BY " : ", ";
      order += SortExpr(*FindColumn(columns, k.column)) + (k.ascending ? " ASC" : " DESC");
    }
    if (page.marker) {
      std::string cols;
      for (const SortKey& k : *keys) {
        cols += (cols.empty() ? "" : ", ") + SortExpr(*FindColumn(columns, k.column));
      }
      std::vector<Value> marker_values;
      auto r =
          Run("SELECT " + cols + " FROM " + std::string(table) + " WHERE id = ? AND deleted = 0",
              {*page.marker}, [&](Query& q) {
                for (size_t i = 0; i < keys->size(); ++i) {
                  const Column* c = FindColumn(columns, (*keys)[i].column);
                  marker_values.push_back(c->text ? Value(q.Text(int(i))) : Value(q.Int(int(i))));
                }
              });
      if (!r) return std::unexpected(r.error());
      if (marker_values.empty()) {
        return InvalidArgument("Marker " + std::to_string(*page.marker) + " could not be found.");
      }
      std::string any;
      for (size_t i = 0; i < keys->size(); ++i) {
        std::string all;
        for (size_t j = 0; j <= i; ++j) {
          const SortKey& k = (*keys)[j];
          std::string expr = SortExpr(*FindColumn(columns, k.column));
          const char* op = j < i ? " = ?" : (k.ascending ? " > ?" : " < ?");
          all += (j == 0 ? "" : " AND ") + expr + op;
          w.values.push_back(marker_values[j]);
        }
        any += (i == 0 ? "(" : " OR (") + all + ")";
      }
      w.sql += " AND (" + any + ")";
    }
    w.values.push_back(page.limit);
    return Select<T>(std::string(select) + w.sql + order + " LIMIT ?", w.values, read);
  }

  Result<int64_t> Insert(const std::string& sql, const std::vector<Value>& values,
                         const std::string& duplicate_message) {
    auto r = Run(sql, values, nullptr);
    if (!r) {
      if (r.error().code() == ErrorCode::kAlreadyExists) return AlreadyExists(duplicate_message);
      return std::unexpected(r.error());
    }
    return sqlite3_last_insert_rowid(conn_.db());
  }

  Result<void> Change(const std::string& sql, const std::vector<Value>& values,
                      const std::string& duplicate_message, const std::string& missing_message) {
    auto r = Run(sql, values, nullptr);
    if (!r) {
      if (r.error().code() == ErrorCode::kAlreadyExists) return AlreadyExists(duplicate_message);
      return r;
    }
    if (sqlite3_changes(conn_.db()) == 0) return NotFound(missing_message);
    return {};
  }

  Connection& conn_;
  RecentPayloads* recent_;
};

// ---------------------------------------------------------------------------------------

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SqliteOptions options)
      : options_(std::move(options)), recent_(options_.duplicate_horizon_seconds * 1'000'000) {}

  ~SqliteStore() override {
    {
      std::lock_guard lock(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    if (writer_thread_.joinable()) writer_thread_.join();
    {
      std::lock_guard lock(checkpoint_mu_);
      checkpoint_stopping_ = true;
    }
    checkpoint_cv_.notify_all();
    if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  }

  Result<void> Start() {
    auto w = Connection::Open(options_.path, /*writer=*/true);
    if (!w) return std::unexpected(w.error());
    writer_ = std::move(*w);
    if (auto r = Migrate(); !r) return r;
    if (auto r = LoadRecentPayloads(); !r) return r;
    auto version = DataVersion();
    if (!version) return std::unexpected(version.error());
    data_version_ = *version;
    // Checkpoints (copying the WAL into the database file, with its own fsync) run on a
    // connection of their own, so a commit never waits for one.
    auto c = Connection::Open(options_.path, /*writer=*/true);
    if (!c) return std::unexpected(c.error());
    checkpointer_ = std::move(*c);
    if (auto r = writer_->Exec("PRAGMA wal_autocheckpoint=0"); !r) return r;
    catch_up_at_ = options_.checkpoint_pages;
    if (options_.max_page_count > 0) {
      std::string pragma = "PRAGMA max_page_count=" + std::to_string(options_.max_page_count);
      if (auto r = writer_->Exec(pragma.c_str()); !r) return r;
    }
    sqlite3_wal_hook(writer_->db(), &SqliteStore::OnWalCommit, this);
    writer_thread_ = std::thread([this] { WriterLoop(); });
    checkpoint_thread_ = std::thread([this] { CheckpointLoop(); });
    return {};
  }

  Result<void> Read(const std::function<Result<void>(ReadTx&)>& fn) override {
    auto conn = AcquireReader();
    if (!conn) return std::unexpected(conn.error());
    Result<void> result;
    if (auto r = (*conn)->Exec("BEGIN"); !r) {
      result = r;
    } else {
      SqliteTx tx(**conn);
      try {
        result = fn(tx);
      } catch (const std::exception& e) {
        result = Internal(std::string("read transaction threw: ") + e.what());
      }
      (*conn)->Exec("COMMIT");
    }
    ReleaseReader(std::move(*conn));
    return result;
  }

  void WriteAsync(std::function<Result<void>(WriteTx&)> fn,
                  std::function<void(Result<void>)> done) override {
    {
      std::lock_guard lock(queue_mu_);
      if (!stopping_) {
        queue_.push_back(PendingWrite{std::move(fn), std::move(done)});
        queue_cv_.notify_one();
        return;
      }
    }
    done(Unavailable("store is closing"));
  }

  Result<void> Ping() override {
    if (latched_.load()) return Unavailable("store refuses writes after an I/O error");
    // A constant-time query on a reader connection: readiness is probed every few seconds
    // and must not cost more as the tables grow.
    auto conn = AcquireReader();
    if (!conn) return std::unexpected(conn.error());
    auto r = (*conn)->Step("SELECT 1 FROM schema_migrations LIMIT 1");
    ReleaseReader(std::move(*conn));
    return r;
  }

  Stats GetStats() const override {
    return Stats{.commits = commits_.load(),
                 .transactions = transactions_.load(),
                 .generation = generation_.load(),
                 .checkpoints = checkpoints_.load(),
                 .checkpoint_failures = checkpoint_failures_.load(),
                 .foreign_writes = foreign_writes_.load()};
  }

 private:
  struct PendingWrite {
    std::function<Result<void>(WriteTx&)> fn;
    std::function<void(Result<void>)> done;
  };

  // Called by SQLite on the writer thread after each commit with the WAL's size in pages.
  static int OnWalCommit(void* self, sqlite3*, const char*, int pages) {
    auto* store = static_cast<SqliteStore*>(self);
    // Fewer pages than at the last commit: the WAL restarted from its beginning.
    if (pages < store->wal_pages_) {
      // A new WAL: what a checkpoint of the old one reports later is not about this one.
      store->backfill_ = (((store->backfill_.load() >> 32) + 1) << 32);
      store->catch_up_at_ = store->options_.checkpoint_pages;
    }
    store->wal_pages_ = pages;
    // Whenever it is more than kCheckpointStep frames behind: each pass copies what came
    // during the last, so the database file is written (and fsynced) in steps all along —
    // measured, one bulk copy of a full WAL stalled commits behind its fsync and doubled the
    // p99 latency of creates on a large table. Never for the last few frames: the writer
    // takes those (CatchUpWal), and the checkpointer must not hold the checkpoint lock then.
    if (pages - store->BackfilledFrames() > kCheckpointStep) {
      {
        std::lock_guard lock(store->checkpoint_mu_);
        store->checkpoint_wanted_ = true;
      }
      store->checkpoint_cv_.notify_one();
    }
    return SQLITE_OK;
  }

  void CheckpointLoop() {
    while (true) {
      {
        std::unique_lock lock(checkpoint_mu_);
        checkpoint_cv_.wait(lock, [&] { return checkpoint_stopping_ || checkpoint_wanted_; });
        if (checkpoint_stopping_) break;
        checkpoint_wanted_ = false;
      }
      int log_pages = 0, done_pages = 0;
      const uint64_t wal_epoch = backfill_.load() >> 32;
      int rc = sqlite3_wal_checkpoint_v2(checkpointer_->db(), "main", SQLITE_CHECKPOINT_PASSIVE,
                                         &log_pages, &done_pages);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        checkpoint_failures_++;
      } else if (rc == SQLITE_OK && done_pages >= 0) {
        // Recorded only if the WAL did not restart meanwhile.
        uint64_t seen = backfill_.load();
        while ((seen >> 32) == wal_epoch &&
               !backfill_.compare_exchange_weak(seen, (wal_epoch << 32) | uint32_t(done_pages))) {
        }
      }
      checkpoints_++;
    }
    // A last full checkpoint at close keeps the WAL file small on disk.
    sqlite3_wal_checkpoint_v2(checkpointer_->db(), "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr,
                              nullptr);
  }

  Result<void> Migrate() {
    if (auto r = writer_->Exec(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "applied_at INTEGER NOT NULL)");
        !r) {
      return r;
    }
    auto version = writer_->QueryInt("SELECT MAX(version) FROM schema_migrations");
    if (!version) return std::unexpected(version.error());
    const int64_t current = version->value_or(0);
    const int64_t latest = int64_t(std::size(kMigrations));
    if (current > latest) {
      return FailedPrecondition("database schema version " + std::to_string(current) +
                                " is newer than this warden (" + std::to_string(latest) + ")");
    }
    for (int64_t v = current + 1; v <= latest; ++v) {
      std::string sql = std::string("BEGIN IMMEDIATE;") + kMigrations[v - 1] +
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (" +
                        std::to_string(v) + ", strftime('%s','now') * 1000000); COMMIT;";
      if (auto r = writer_->Exec(sql.c_str()); !r) {
        writer_->Exec("ROLLBACK");
        return Internal("migration " + std::to_string(v) + " failed: " + r.error().message());
      }
    }
    return {};
  }

  // Fills the payload index with the notifications created within the horizon of the newest
  // one (the created_at index finds them).
  Result<void> LoadRecentPayloads() {
    auto newest = writer_->QueryInt("SELECT MAX(created_at) FROM notifications");
    if (!newest) return std::unexpected(newest.error());
    if (!*newest) return {};  // no notification yet: the index covers everything
    recent_.SetNewest(**newest);
    auto stmt = writer_->Prepare(
        "SELECT id, payload_hash, source_host_uuid, type, generated_time, created_at "
        "FROM notifications WHERE created_at >= ? AND deleted = 0");
    if (!stmt) return std::unexpected(stmt.error());
    Query q(*writer_, *stmt);
    q.Bind({recent_.load_floor()});
    size_t loaded = 0;
    while (true) {
      auto row = q.Step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      recent_.Add(q.Int(1), recent_.KeyOf(q.Text(2), q.Text(3)), q.Int(0), q.Int(4), q.Int(5));
      if (++loaded % 4096 == 0) recent_.Commit();  // a batch's worth at a time
    }
    recent_.Commit();
    return {};
  }

  // SQLite's count of commits by other connections, as the writer sees it.
  Result<int64_t> DataVersion() {
    auto v = writer_->QueryInt("PRAGMA data_version");
    if (!v) return std::unexpected(v.error());
    return v->value_or(0);
  }

  // How often an idle writer looks for commits by other connections.
  static constexpr auto kIdleCheck = std::chrono::milliseconds(250);

  void WriterLoop() {
    std::vector<PendingWrite> batch;
    while (true) {
      {
        std::unique_lock lock(queue_mu_);
        if (!queue_cv_.wait_for(lock, kIdleCheck, [&] { return stopping_ || !queue_.empty(); })) {
          lock.unlock();
          NoticeForeignWrites();
          continue;
        }
        if (queue_.empty()) return;  // stopping and drained
        while (!queue_.empty() && int(batch.size()) < options_.max_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      CommitBatch(batch);
      batch.clear();
      CatchUpWal();
    }
  }

  // If another connection (another process on this file, the sqlite3 shell) committed since
  // the last look, the payload index does not know its notifications and starts over, and the
  // generation moves so that the API's response cache does not answer from before them.
  // Checked at the start of each batch and, while no write comes, every kIdleCheck. When the
  // version cannot be read, the index starts over anyway.
  void NoticeForeignWrites() {
    auto v = DataVersion();
    if (!v) return recent_.ForgetAll();
    if (*v == data_version_) return;
    data_version_ = *v;
    recent_.ForgetAll();
    foreign_writes_++;
    generation_++;
  }

  // Lets the WAL start again from its beginning under a steady stream of writes.
  //
  // SQLite restarts the WAL only when a write begins with every frame already copied into
  // the database; the background checkpointer never gets there while commits keep coming,
  // so under load the WAL grew without bound (0.5 GB in a 90 s benchmark) and every
  // fdatasync also carried the file's growth. Here, once the WAL holds checkpoint_pages and
  // the checkpointer is at most kCatchUpTail frames behind, the writer copies those frames
  // itself — between batches, when it is the only writer; the checkpoint fsyncs the
  // database before it returns — and its next transaction restarts the WAL. A reader still
  // on an old snapshot can hold the restart back; the writer tries again a little later.
  static constexpr int kCatchUpTail = 128;  // frames: the writer's share, a few batches
  // Frames a background checkpoint pass waits for: each pass ends with an fsync of the
  // database, a flush the commits' own wait behind. 512 (2 MiB) rather than 128: a quarter
  // of those flushes, and pages rewritten by successive commits copied once; measured a
  // little faster, with the same p99.
  static constexpr int kCheckpointStep = 512;

  void CatchUpWal() {
    if (wal_pages_ < catch_up_at_ || wal_pages_ - BackfilledFrames() > kCatchUpTail) {
      return;
    }
    int log_pages = 0, done_pages = 0;
    int rc = sqlite3_wal_checkpoint_v2(writer_->db(), "main", SQLITE_CHECKPOINT_PASSIVE,
                                       &log_pages, &done_pages);
    if (rc == SQLITE_BUSY) return;  // the background checkpoint still runs: next batch
    // Should the WAL not restart (a reader), not again at every batch.
    catch_up_at_ = wal_pages_ + 2 * kCatchUpTail;
    if (rc == SQLITE_OK) {
      checkpoints_++;
    } else {
      checkpoint_failures_++;
    }
  }

  // Tells each caller its outcome. Runs on the writer thread: measured, handing the batch to a
  // separate completion thread cost more in context switches on two cores than it saved.
  void Complete(std::vector<PendingWrite>& batch, std::vector<Result<void>>& results) {
    // Any batch, committed or not, may have changed what readers see. The generation moves
    // before any caller hears of the outcome, so a read made after hearing it never gets an
    // answer cached before the write.
    generation_++;
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
  }

  // One commit for the whole batch; each transaction inside its own savepoint.
  //
  // SQLite may roll back the whole outer transaction by itself (SQLITE_FULL, IOERR, NOMEM).
  // After that a SAVEPOINT would silently open a new autocommit transaction and RELEASE would
  // commit it on its own, so the outer transaction is checked before and after every step:
  // once it is gone, nothing more runs, every transaction of the batch is reported failed
  // (none of them is committed), and an I/O error latches the store.
  void CommitBatch(std::vector<PendingWrite>& batch) {
    std::vector<Result<void>> results(batch.size());
    if (latched_.load()) {
      for (auto& r : results) {
        r = Unavailable("store refuses writes after an I/O error: " + latch_reason_);
      }
      return Complete(batch, results);
    }
    if (auto r = writer_->Exec("BEGIN IMMEDIATE"); !r) {
      for (auto& each : results) each = r;
      return Complete(batch, results);
    }
    // Holding the write lock, nobody else can commit until this batch ends.
    NoticeForeignWrites();
    sqlite3* db = writer_->db();
    SqliteTx tx(*writer_, &recent_);
    int64_t committed_txs = 0;
    std::optional<Error> lost;  // set once the outer transaction is gone
    for (size_t i = 0; i < batch.size() && !lost; ++i) {
      if (auto sp = writer_->Step("SAVEPOINT w"); !sp) {
        lost = sp.error();
        break;
      }
      recent_.Savepoint();
      Result<void> r;
      writer_->set_last_rc(SQLITE_OK);
      try {
        r = batch[i].fn(tx);
      } catch (const std::exception& e) {
        r = Internal(std::string("write transaction threw: ") + e.what());
      }
      // A full disk or an I/O error inside a statement ends the batch as surely as a lost
      // transaction: the commit could not be trusted.
      if (IsIoError(writer_->last_rc())) {
        lost = Error(ErrorCode::kUnavailable,
                     std::string("the database failed to write: ") + sqlite3_errmsg(db));
        break;
      }
      if (sqlite3_get_autocommit(db) != 0) {
        lost = Error(ErrorCode::kUnavailable,
                     std::string("the database rolled the batch back: ") + sqlite3_errmsg(db));
        break;
      }
      if (!r) recent_.RollbackToSavepoint();
      Result<void> end = r ? writer_->Step("RELEASE w") : writer_->Step("ROLLBACK TO w");
      if (end && !r) end = writer_->Step("RELEASE w");
      if (!end || sqlite3_get_autocommit(db) != 0) {
        lost = Error(ErrorCode::kUnavailable,
                     std::string("the database rolled the batch back: ") + sqlite3_errmsg(db));
        break;
      }
      if (r) ++committed_txs;
      results[i] = std::move(r);
    }
    if (lost) {
      recent_.Abort();
      int rc = sqlite3_extended_errcode(db);
      if (sqlite3_get_autocommit(db) == 0) writer_->Exec("ROLLBACK");
      if (IsIoError(rc) || IsIoError(writer_->last_rc())) Latch(lost->message());
      for (auto& r : results) r = Unavailable(lost->message());
      return Complete(batch, results);
    }
    if (auto c = writer_->Exec("COMMIT"); !c) {
      int rc = writer_->last_rc();
      if (sqlite3_get_autocommit(db) == 0) writer_->Exec("ROLLBACK");
      if (IsIoError(rc)) Latch(c.error().message());
      recent_.Abort();
      for (auto& r : results) {
        if (r) r = Unavailable("commit failed: " + c.error().message());
      }
    } else {
      recent_.Commit();
      commits_++;
      transactions_ += committed_txs;
    }
    Complete(batch, results);
  }

  void Latch(const std::string& reason) {
    latch_reason_ = reason;
    latched_ = true;
  }

  Result<std::unique_ptr<Connection>> AcquireReader() {
    std::unique_lock lock(pool_mu_);
    pool_cv_.wait(
        lock, [&] { return !idle_readers_.empty() || open_readers_ < options_.read_connections; });
    if (!idle_readers_.empty()) {
      auto c = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return c;
    }
    ++open_readers_;
    lock.unlock();
    auto c = Connection::Open(options_.path, /*writer=*/false);
    if (!c) {
      std::lock_guard relock(pool_mu_);
      --open_readers_;
      pool_cv_.notify_one();
    }
    return c;
  }

  void ReleaseReader(std::unique_ptr<Connection> c) {
    {
      std::lock_guard lock(pool_mu_);
      idle_readers_.push_back(std::move(c));
    }
    pool_cv_.notify_one();
  }

  const SqliteOptions options_;

  // Owned by the writer thread after Start().
  std::unique_ptr<Connection> writer_;
  RecentPayloads recent_;
  int64_t data_version_ = 0;  // writer thread only
  std::atomic<int64_t> foreign_writes_{0};
  std::thread writer_thread_;

  // The checkpointer: its own connection and thread, woken when the WAL has grown.
  std::unique_ptr<Connection> checkpointer_;
  std::thread checkpoint_thread_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;    // GUARDED_BY(checkpoint_mu_)
  bool checkpoint_stopping_ = false;  // GUARDED_BY(checkpoint_mu_)
  std::atomic<int64_t> checkpoints_{0};
  std::atomic<int64_t> checkpoint_failures_{0};
  int wal_pages_ = 0;  // the WAL's size at the last commit; writer thread only
  int catch_up_at_ = 0;  // WAL pages from which the writer catches up; writer thread only
  // The WAL's restart count (high 32 bits) and the frames the last background checkpoint of
  // that WAL copied (low 32 bits), in one word so that the pair is read and set at once.
  std::atomic<uint64_t> backfill_{0};
  int BackfilledFrames() const { return int(backfill_.load() & 0xffffffffu); }

  std::string latch_reason_;
  std::atomic<bool> latched_{false};

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<PendingWrite> queue_;  // GUARDED_BY(queue_mu_)
  bool stopping_ = false;           // GUARDED_BY(queue_mu_)

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;  // GUARDED_BY(pool_mu_)
  int open_readers_ = 0;                                   // GUARDED_BY(pool_mu_)

  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> transactions_{0};
  std::atomic<int64_t> generation_{0};
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  if (options.path.empty() || options.path == ":memory:") {
    return InvalidArgument("sqlite store needs a file path, got '" + options.path + "'");
  }
  if (options.read_connections < 1 || options.max_batch < 1) {
    return InvalidArgument("sqlite store needs read_connections >= 1 and max_batch >= 1");
  }
  if (options.duplicate_horizon_seconds < 1 ||
      options.duplicate_horizon_seconds > int64_t{100} * 365 * 86400) {
    return InvalidArgument("sqlite store needs duplicate_horizon_seconds from 1 to 100 years");
  }
  auto store = std::make_unique<SqliteStore>(options);
  if (auto r = store->Start(); !r) return std::unexpected(r.error());
  return std::unique_ptr<Store>(std::move(store));
}

Result<SchemaVersion> ReadSqliteSchemaVersion(const std::string& path) {
  SchemaVersion v;
  v.latest = int64_t(std::size(kMigrations));
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return v;
  v.exists = true;
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  // Closed however this ends (sqlite3_open_v2 may hand back a handle even when it fails).
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> owner(db, &sqlite3_close);
  if (rc != SQLITE_OK) {
    return Unavailable("cannot open " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_migrations", -1, &stmt, nullptr) !=
      SQLITE_OK) {
    // No such table: a database no Warden has migrated (or not a Warden database).
    const std::string why = sqlite3_errmsg(db);
    if (why.find("no such table") != std::string::npos) return v;
    return Unavailable("cannot read " + path + ": " + why);
  }
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> statement(stmt, &sqlite3_finalize);
  const int step = sqlite3_step(stmt);
  if (step != SQLITE_ROW) return Unavailable("cannot read " + path + ": " + sqlite3_errmsg(db));
  v.current = sqlite3_column_int64(stmt, 0);
  return v;
}

}  // namespace warden::store
