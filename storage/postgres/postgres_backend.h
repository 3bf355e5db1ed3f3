// PostgresBackend: SqlBackend over libpqxx 6.4 with a connection pool,
// per-connection prepared statements, and bounded retries with backoff on
// serialization failures, deadlocks and lost connections.
//
// Thread-safety: thread-safe; each transaction borrows one pooled connection.
// Ownership: owns its connections.
#ifndef NAS_STORAGE_POSTGRES_POSTGRES_BACKEND_H_
#define NAS_STORAGE_POSTGRES_POSTGRES_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/sql/sql_backend.h"
#include "storage/store_options.h"

namespace nas::storage::sql {

// Connects to `url` (a libpq URI), retrying options.connect_attempts times.
// Errors name the URL with its password masked: UNAVAILABLE when the server
// cannot be reached, UNAUTHENTICATED for a refused password/role,
// NOT_FOUND for a missing database.
absl::StatusOr<std::unique_ptr<SqlBackend>> OpenPostgresBackend(
    const std::string& url, const StoreOptions& options);

}  // namespace nas::storage::sql

#endif  // NAS_STORAGE_POSTGRES_POSTGRES_BACKEND_H_
