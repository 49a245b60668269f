// A SQLite VFS shim that turns the many small writes SQLite makes to the WAL during a commit
// (a header and a page per frame, two system calls each frame) into one write per commit.
//
// Writes to a WAL file are kept in memory while they are contiguous and written out, in one
// call, before anything that needs them on disk or visible: a sync, a read, a size query, a
// truncate, a file control, or close. Durability is unchanged: SQLite syncs the WAL before a
// commit is visible to readers, and the sync writes the buffer first. Every other file, and
// every other operation, passes through to the default VFS.
#pragma once

namespace warden::store {

// Registers the VFS (once) and returns its name for sqlite3_open_v2.
const char* WalBatchingVfsName();

}  // namespace warden::store
