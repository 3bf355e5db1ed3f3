// OpenTrialStore: picks and opens a TrialStore implementation from a URL.
//
//   sqlite:///abs/path/file.db    SQLite file (created if missing; WAL mode)
//   sqlite://relative/path.db     SQLite file relative to the working dir
//   sqlite::memory:               private in-memory SQLite (tests)
//   postgresql://user:pw@host:port/db?sslmode=...   (also postgres://)
//
// The schema is created or migrated on open. Errors name the URL with its
// password masked: INVALID_ARGUMENT for a malformed URL, UNAVAILABLE when a
// server stays unreachable after options.connect_attempts, UNAUTHENTICATED
// for a refused login, FAILED_PRECONDITION for a schema newer than this
// binary. Thread-safe (stateless); the caller owns the returned store.
#ifndef NAS_STORAGE_STORE_URL_H_
#define NAS_STORAGE_STORE_URL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/store_options.h"
#include "storage/trial_store.h"

namespace nas::storage {

absl::StatusOr<std::unique_ptr<TrialStore>> OpenTrialStore(
    const std::string& url, const StoreOptions& options = {});

}  // namespace nas::storage

#endif  // NAS_STORAGE_STORE_URL_H_
