// The durable store of segments, hosts, notifications and VM moves.
//
// Work happens in transactions. A read transaction sees one consistent snapshot. A write
// transaction is all-or-nothing: if the function returns an error, none of its writes
// happen, and the error is returned. When Write() returns success, the transaction is
// committed durably (on disk, fsynced) — this is what lets the API answer 202 only after a
// notification is safe.
//
// Implementations may group the write transactions of concurrent callers into one commit
// (group commit); each caller still gets its own all-or-nothing outcome.
//
// Thread-safety: Store is safe to call from any number of threads. A ReadTx/WriteTx is
// valid only inside the function it is passed to, on that thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/domain.h"
#include "core/error.h"

namespace warden::store {

struct SortKey {
  std::string column;  // a column of the listed record, by its API field name
  bool ascending = false;
};

// Masakari's pagination: sort keys (with created_at and id appended by the caller), an
// integer-id marker and a limit. A nullable field sorts as if NULL were its smallest value, so
// that the order stays total and a marker unambiguous.
struct Page {
  std::vector<SortKey> sort;      // empty: created_at desc, id desc
  std::optional<int64_t> marker;  // id of the last record of the previous page
  int64_t limit = 1000;
};

struct SegmentFilter {
  std::optional<RecoveryMethod> recovery_method;
  std::optional<std::string> service_type;
  std::optional<bool> enabled;
};

struct HostFilter {
  std::optional<std::string> segment_uuid;
  std::optional<std::string> name;
  std::optional<std::string> type;
  std::optional<bool> on_maintenance;
  std::optional<bool> reserved;
};

struct NotificationFilter {
  std::vector<NotificationStatus> statuses;  // any of; empty: all
  std::optional<std::string> source_host_uuid;
  std::optional<std::string> segment_uuid;
  std::optional<NotificationType> type;
  std::optional<WallMicros> generated_since;  // generated_time >= this
  std::optional<std::string> payload_json;    // exactly this canonical payload
};

// Every given constraint applies (AND).
struct VMoveFilter {
  std::optional<std::string> notification_uuid;
  std::vector<std::string> notification_uuids;  // any of; empty: no constraint
  std::optional<VMoveType> type;
  std::optional<VMoveStatus> status;
  std::optional<std::string> source_host;
  std::optional<std::string> dest_host;
};

// How many VM moves are in each status.
struct VMoveCounts {
  int64_t pending = 0;
  int64_t ongoing = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t ignored = 0;
  std::optional<WallMicros> first_start;     // the earliest start_time of any move
  std::optional<WallMicros> last_recovered;  // the latest end_time of a succeeded move

  int64_t Total() const { return pending + ongoing + succeeded + failed + ignored; }
};

// Errors: NotFound for a missing record (message names it as Masakari does); InvalidArgument
// for a bad sort key or an unknown marker; Unavailable/Internal for the backend's failures.
class ReadTx {
 public:
  virtual ~ReadTx() = default;

  virtual Result<Segment> GetSegment(std::string_view uuid) = 0;
  virtual Result<std::optional<Segment>> FindSegmentByName(std::string_view name) = 0;
  virtual Result<std::vector<Segment>> ListSegments(const SegmentFilter& filter,
                                                    const Page& page) = 0;

  virtual Result<Host> GetHost(std::string_view uuid) = 0;
  virtual Result<std::optional<Host>> FindHostByName(std::string_view name) = 0;
  virtual Result<std::vector<Host>> ListHosts(const HostFilter& filter, const Page& page) = 0;

  virtual Result<Notification> GetNotification(std::string_view uuid) = 0;
  virtual Result<std::vector<Notification>> ListNotifications(const NotificationFilter& filter,
                                                              const Page& page) = 0;
  virtual Result<int64_t> CountNotifications(const NotificationFilter& filter) = 0;

  virtual Result<VMove> GetVMove(std::string_view uuid) = 0;
  // Sortable by any field; by start_time, moves not yet started (NULL) sort as the earliest.
  virtual Result<std::vector<VMove>> ListVMoves(const VMoveFilter& filter, const Page& page) = 0;
  virtual Result<VMoveCounts> CountVMoves(const VMoveFilter& filter) = 0;
};

class WriteTx : public ReadTx {
 public:
  // Inserts set meta.id from the backend and return the stored record. Uniqueness of
  // segment names and host names among live records is enforced (AlreadyExists).
  virtual Result<Segment> InsertSegment(Segment segment) = 0;
  // Updates every mutable field of the live record with segment.meta.id.
  virtual Result<void> UpdateSegment(const Segment& segment) = 0;
  // Soft-deletes the segment and its hosts (deleted = id, deleted_at = now).
  virtual Result<void> DeleteSegment(int64_t id, WallMicros now) = 0;

  virtual Result<Host> InsertHost(Host host) = 0;
  virtual Result<void> UpdateHost(const Host& host) = 0;
  virtual Result<void> DeleteHost(int64_t id, WallMicros now) = 0;

  virtual Result<Notification> InsertNotification(Notification notification) = 0;
  virtual Result<void> UpdateNotification(const Notification& notification) = 0;

  virtual Result<VMove> InsertVMove(VMove vmove) = 0;
  virtual Result<void> UpdateVMove(const VMove& vmove) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Runs fn in a read transaction; returns fn's result or the backend's error.
  virtual Result<void> Read(const std::function<Result<void>(ReadTx&)>& fn) = 0;

  // Runs fn in a write transaction and commits it durably. Returns fn's error (and nothing
  // of fn's is written) or the commit's error, or success once committed.
  // REQUIRES: not called from inside another Read/Write of this store.
  Result<void> Write(std::function<Result<void>(WriteTx&)> fn);

  // As Write, without waiting: `done` receives the outcome once the transaction is committed
  // (or has failed). fn and done run on the store's own thread (done runs at once on the
  // caller's thread if the store is closing), so both must be quick and must not wait for
  // the store.
  virtual void WriteAsync(std::function<Result<void>(WriteTx&)> fn,
                          std::function<void(Result<void>)> done) = 0;

  // Cheap reachability check, for /readyz.
  virtual Result<void> Ping() = 0;

  struct Stats {
    int64_t commits = 0;       // durable commits (fsyncs)
    int64_t transactions = 0;  // write transactions committed: over commits, the batch size
    // Advances after every write attempt, committed or not, before its callers are told: a
    // value read before a read began, and unchanged after, means no write happened meanwhile.
    int64_t generation = 0;
    int64_t checkpoints = 0;          // background WAL checkpoints run
    int64_t checkpoint_failures = 0;  // ... that failed (the WAL then keeps growing)
    // Times the writer found the database written by another connection since it last looked
    // (another process on the same file): the duplicate check's memory then starts over.
    int64_t foreign_writes = 0;
  };
  virtual Stats GetStats() const = 0;
};

// Runs fn in one read transaction and returns its value (or its error, or the store's).
// (Kept as a Result assigned in place. A std::optional<Result<T>> assigned here failed two API
// tests with g++ 12.2 -O2: valgrind showed the error's message freed with the temporary the
// optional was assigned from. A reduced program did not reproduce it; the cause is not known.)
template <typename T>
Result<T> ReadValue(Store& store, const std::function<Result<T>(ReadTx&)>& fn) {
  Result<T> out = std::unexpected(Error(ErrorCode::kInternal, "the read did not run"));
  auto r = store.Read([&](ReadTx& tx) -> Result<void> {
    out = fn(tx);
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

// Runs fn in one durable write transaction and returns its value; when fn fails, nothing
// of it is written and its error is returned.
template <typename T>
Result<T> WriteValue(Store& store, const std::function<Result<T>(WriteTx&)>& fn) {
  std::optional<T> out;
  auto r = store.Write([&](WriteTx& tx) -> Result<void> {
    auto v = fn(tx);
    if (!v) return std::unexpected(v.error());
    out = std::move(*v);
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return std::move(*out);
}

}  // namespace warden::store
