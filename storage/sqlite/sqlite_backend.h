// SqliteBackend: SqlBackend over one SQLite connection (WAL mode,
// busy_timeout, synchronous=FULL by default). Used for sqlite:///path.db
// (the single-machine default) and sqlite::memory: (fast tests).
//
// Thread-safety: thread-safe; a mutex serializes transactions, and writers
// start with BEGIN IMMEDIATE so other processes on the same file wait for
// the lock (busy_timeout) instead of failing mid-transaction.
// Ownership: owns the connection and its cached prepared statements.
#ifndef NAS_STORAGE_SQLITE_SQLITE_BACKEND_H_
#define NAS_STORAGE_SQLITE_SQLITE_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/sql/sql_backend.h"
#include "storage/store_options.h"

namespace nas::storage::sql {

// Opens (creating if needed) the database at `path`, or an in-memory one for
// ":memory:". Errors name the path.
absl::StatusOr<std::unique_ptr<SqlBackend>> OpenSqliteBackend(
    const std::string& path, const StoreOptions& options);

}  // namespace nas::storage::sql

#endif  // NAS_STORAGE_SQLITE_SQLITE_BACKEND_H_
