// The embedded store: SQLite in WAL mode.
//
// Writes go to one writer thread that owns the only writable connection. It takes every
// write transaction queued since its last commit, runs each inside its own savepoint (so a
// failing one leaves the others intact), and commits them together with one fsync: group
// commit. Reads run concurrently on a small pool of read-only connections.
//
// If a commit fails with an I/O error the store latches the error and refuses further writes
// until it is reopened — guessing whether a failed fsync wrote anything is how data is lost.
//
// One store per database file is the deployment: another connection writing the same file
// (a second process) stays correct — the writer notices it at its next batch, or within
// 250 ms when idle, and its duplicate check starts over from SQL (Stats::foreign_writes) —
// but costs that check its memory for about a duplicate window each time.
#pragma once

#include <memory>
#include <string>

#include "core/error.h"
#include "store/store.h"

namespace warden::store {

struct SqliteOptions {
  std::string path;          // a file path, or ":memory:"-like paths are refused (WAL needs a file)
  int read_connections = 4;  // upper bound of the read pool
  int max_batch = 512;       // most write transactions in one commit
  // Most database pages (0: no limit). Beyond it writes fail as on a full disk: for tests.
  int64_t max_page_count = 0;
  // The WAL's size (pages) from which it restarts from its beginning. Checkpoints run in
  // the background all along, whenever they fall 512 pages behind.
  int checkpoint_pages = 4000;  // 16 MiB
  // How far back from the newest notification's creation the writer's in-memory payload
  // index reaches (RecentPayloads): a duplicate check over a longer window is answered in
  // SQL, correctly but by ranging over that host's and type's notifications generated since.
  // The server sets it to the duplicate window plus ten minutes, for notifications that
  // arrive late.
  int64_t duplicate_horizon_seconds = 780;
};

// Opens (creating if needed) and migrates the database at options.path.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

// Which migrations a database has (0: none, or no database file at all) and how many this
// build knows, read without changing anything.
struct SchemaVersion {
  int64_t current = 0;
  int64_t latest = 0;
  bool exists = false;  // the database file exists
};
Result<SchemaVersion> ReadSqliteSchemaVersion(const std::string& path);

}  // namespace warden::store
