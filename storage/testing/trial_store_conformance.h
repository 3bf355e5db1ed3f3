// The TrialStore conformance suite: one parameterized gtest suite that every
// implementation must pass (the way google/vizier tests its datastores).
//
// An implementation's test instantiates it with a StoreEnvFactory:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, TrialStoreConformanceTest,
//                            ::testing::Values(SqliteFileEnvFactory()),
//                            StoreEnvName);
//
// Each test gets a fresh, private database from the factory and drops it at
// the end. Test-only; the suite's fixtures are not thread-safe themselves,
// but the tests call stores from many threads.
#ifndef NAS_STORAGE_TESTING_TRIAL_STORE_CONFORMANCE_H_
#define NAS_STORAGE_TESTING_TRIAL_STORE_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "storage/store_options.h"
#include "storage/trial_store.h"

namespace nas::storage::testing {

// One private database for one test. The destructor drops it.
class StoreEnv {
 public:
  virtual ~StoreEnv() = default;
  // The URL OpenTrialStore() opens the database with.
  virtual std::string url() const = 0;
  // Runs SQL on the database directly (behind the store's back).
  virtual absl::Status ExecRaw(const std::string& sql) = 0;
};

struct StoreEnvFactory {
  std::string name;
  // A new database; nullptr means "skip" (e.g. no PostgreSQL configured).
  std::function<absl::StatusOr<std::unique_ptr<StoreEnv>>()> create;
};

std::string StoreEnvName(const ::testing::TestParamInfo<StoreEnvFactory>& info);

// Options that make an unreachable server fail fast in tests.
StoreOptions TestStoreOptions();

class TrialStoreConformanceTest
    : public ::testing::TestWithParam<StoreEnvFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Opens another store on the same database.
  absl::StatusOr<std::unique_ptr<TrialStore>> Reopen();

  std::unique_ptr<StoreEnv> env_;
  std::unique_ptr<TrialStore> store_;
};

}  // namespace nas::storage::testing

#endif  // NAS_STORAGE_TESTING_TRIAL_STORE_CONFORMANCE_H_
