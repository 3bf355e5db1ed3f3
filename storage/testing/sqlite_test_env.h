// SqliteFileEnvFactory: conformance-suite databases as SQLite files in the
// test's temporary directory (TEST_TMPDIR), one fresh file per test.
// Test-only. Thread-compatible.
#ifndef NAS_STORAGE_TESTING_SQLITE_TEST_ENV_H_
#define NAS_STORAGE_TESTING_SQLITE_TEST_ENV_H_

#include "storage/testing/trial_store_conformance.h"

namespace nas::storage::testing {

StoreEnvFactory SqliteFileEnvFactory();

// A fresh path for a SQLite file under TEST_TMPDIR (or /tmp).
std::string NewSqlitePath();

}  // namespace nas::storage::testing

#endif  // NAS_STORAGE_TESTING_SQLITE_TEST_ENV_H_
