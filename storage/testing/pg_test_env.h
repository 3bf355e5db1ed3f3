// PostgresEnvFactory: conformance-suite databases on the private PostgreSQL
// server named by NAS_TEST_PG_ADMIN_DSN (tools/test.sh starts it). Each test
// creates its own database with a random name and drops it at the end, so
// tests can run in parallel.
//
// Without NAS_TEST_PG_ADMIN_DSN the factory returns nullptr (skip), unless
// NAS_REQUIRE_PG=1, then an error (fail). Test-only. Thread-compatible.
#ifndef NAS_STORAGE_TESTING_PG_TEST_ENV_H_
#define NAS_STORAGE_TESTING_PG_TEST_ENV_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/testing/trial_store_conformance.h"

namespace nas::storage::testing {

StoreEnvFactory PostgresEnvFactory();

// A new empty database (nullptr: PostgreSQL not configured, skip).
absl::StatusOr<std::unique_ptr<StoreEnv>> NewPostgresDatabase();

// The admin DSN with its database replaced by `db`.
std::string PostgresUrlFor(const std::string& admin_dsn, const std::string& db);

}  // namespace nas::storage::testing

#endif  // NAS_STORAGE_TESTING_PG_TEST_ENV_H_
