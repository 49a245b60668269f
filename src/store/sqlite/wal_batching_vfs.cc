#include "store/sqlite/wal_batching_vfs.h"

#include <sqlite3.h>

#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace warden::store {
namespace {

// The unix VFS writes at most 128 KiB - 1 per call (a larger write comes back short, which
// SQLite reports as a full disk), so a buffered write stays well below that.
constexpr size_t kMaxBuffered = 64 * 1024;

struct BatchFile {
  sqlite3_file base;          // must be first: SQLite sees this
  sqlite3_file* real;         // the default VFS's file, allocated right after this struct
  bool wal;                   // only WAL files buffer writes
  std::vector<char>* buffer;  // pending bytes, to be written at `offset`
  sqlite3_int64 offset;
};

sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;

BatchFile* Self(sqlite3_file* f) { return reinterpret_cast<BatchFile*>(f); }

int Flush(BatchFile* f) {
  if (!f->wal || f->buffer->empty()) return SQLITE_OK;
  int rc = f->real->pMethods->xWrite(f->real, f->buffer->data(), int(f->buffer->size()), f->offset);
  f->buffer->clear();
  return rc;
}

int Close(sqlite3_file* file) {
  BatchFile* f = Self(file);
  int flush = Flush(f);
  int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
  delete f->buffer;
  f->buffer = nullptr;
  return flush != SQLITE_OK ? flush : rc;
}

int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  BatchFile* f = Self(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xRead(f->real, out, amount, offset);
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  BatchFile* f = Self(file);
  if (!f->wal) return f->real->pMethods->xWrite(f->real, data, amount, offset);
  std::vector<char>& b = *f->buffer;
  const bool contiguous = b.empty() || offset == f->offset + sqlite3_int64(b.size());
  if (!contiguous || b.size() + size_t(amount) > kMaxBuffered) {
    if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  }
  if (size_t(amount) > kMaxBuffered)
    return f->real->pMethods->xWrite(f->real, data, amount, offset);
  if (b.empty()) f->offset = offset;
  const char* p = static_cast<const char*>(data);
  b.insert(b.end(), p, p + amount);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  BatchFile* f = Self(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xTruncate(f->real, size);
}

int Sync(sqlite3_file* file, int flags) {
  BatchFile* f = Self(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xSync(f->real, flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  BatchFile* f = Self(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFileSize(f->real, size);
}

int Lock(sqlite3_file* file, int level) {
  return Self(file)->real->pMethods->xLock(Self(file)->real, level);
}
int Unlock(sqlite3_file* file, int level) {
  BatchFile* f = Self(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xUnlock(f->real, level);
}
int CheckReservedLock(sqlite3_file* file, int* out) {
  return Self(file)->real->pMethods->xCheckReservedLock(Self(file)->real, out);
}
int FileControl(sqlite3_file* file, int op, void* arg) {
  BatchFile* f = Self(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFileControl(f->real, op, arg);
}
int SectorSize(sqlite3_file* file) {
  return Self(file)->real->pMethods->xSectorSize(Self(file)->real);
}
int DeviceCharacteristics(sqlite3_file* file) {
  return Self(file)->real->pMethods->xDeviceCharacteristics(Self(file)->real);
}
int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  return Self(file)->real->pMethods->xShmMap(Self(file)->real, region, size, extend, out);
}
int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  return Self(file)->real->pMethods->xShmLock(Self(file)->real, offset, n, flags);
}
void ShmBarrier(sqlite3_file* file) { Self(file)->real->pMethods->xShmBarrier(Self(file)->real); }
int ShmUnmap(sqlite3_file* file, int delete_flag) {
  return Self(file)->real->pMethods->xShmUnmap(Self(file)->real, delete_flag);
}
int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  BatchFile* f = Self(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFetch(f->real, offset, amount, out);
}
int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* p) {
  return Self(file)->real->pMethods->xUnfetch(Self(file)->real, offset, p);
}

const sqlite3_io_methods kMethods = {3,
                                     Close,
                                     Read,
                                     Write,
                                     Truncate,
                                     Sync,
                                     FileSize,
                                     Lock,
                                     Unlock,
                                     CheckReservedLock,
                                     FileControl,
                                     SectorSize,
                                     DeviceCharacteristics,
                                     ShmMap,
                                     ShmLock,
                                     ShmBarrier,
                                     ShmUnmap,
                                     Fetch,
                                     Unfetch};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  BatchFile* f = Self(file);
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->real->pMethods = nullptr;
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  f->buffer = nullptr;
  f->offset = 0;
  f->base.pMethods = nullptr;
  int rc = g_real->xOpen(g_real, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  // The real file's methods decide which optional methods exist; keep ours at its version.
  f->buffer = new (std::nothrow) std::vector<char>();
  if (f->buffer == nullptr) {
    f->real->pMethods->xClose(f->real);
    return SQLITE_NOMEM;
  }
  if (f->wal) f->buffer->reserve(64 * 1024);
  f->base.pMethods = &kMethods;
  return SQLITE_OK;
}

}  // namespace

const char* WalBatchingVfsName() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    g_vfs = *g_real;
    g_vfs.zName = "warden-wal-batching";
    g_vfs.szOsFile = int(sizeof(BatchFile)) + g_real->szOsFile;
    g_vfs.xOpen = Open;
    g_vfs.pNext = nullptr;
    sqlite3_vfs_register(&g_vfs, /*makeDflt=*/0);
  });
  return g_vfs.zName;
}

}  // namespace warden::store
