// The conformance suite on SQLite files, plus SQLite-only behaviour:
// in-memory stores and a full disk.
#include <string>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/store_url.h"
#include "storage/testing/sqlite_test_env.h"
#include "storage/testing/trial_store_conformance.h"

namespace nas::storage::testing {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

INSTANTIATE_TEST_SUITE_P(Sqlite, TrialStoreConformanceTest,
                         ::testing::Values(SqliteFileEnvFactory()),
                         StoreEnvName);

TEST(SqliteStoreTest, InMemoryStoresAreIndependent) {
  ASSERT_OK_AND_ASSIGN(auto a, OpenTrialStore("sqlite::memory:"));
  ASSERT_OK_AND_ASSIGN(auto b, OpenTrialStore("sqlite::memory:"));
  nas::v1::JobSpec spec;
  spec.set_name("mem");
  ASSERT_OK_AND_ASSIGN(nas::v1::Job job, a->CreateJob(spec, "", 1));
  EXPECT_OK(a->GetJob(job.id()));
  EXPECT_THAT(b->GetJob(job.id()), StatusIs(absl::StatusCode::kNotFound));
}

TEST(SqliteStoreTest, FullDiskFailsClearlyAndKeepsEarlierData) {
  StoreOptions options;
  options.sqlite_max_page_count = 80;  // pages of 4 KiB: a tiny "disk"
  const std::string url = "sqlite://" + NewSqlitePath();
  ASSERT_OK_AND_ASSIGN(auto store, OpenTrialStore(url, options));
  nas::v1::JobSpec spec;
  spec.set_name("full");
  ASSERT_OK_AND_ASSIGN(nas::v1::Job job, store->CreateJob(spec, "", 1));
  std::vector<int64_t> kept;
  absl::Status last;
  for (int batch = 0; batch < 1000 && last.ok(); ++batch) {
    std::vector<NewTrial> trials(20);
    for (int i = 0; i < 20; ++i) {
      trials[i].architecture.set_hash(absl::StrCat("h", batch, "-", i));
      trials[i].architecture.set_canonical(std::string(200, 'c'));
      trials[i].eval_key = "e";
    }
    auto ids = store->InsertTrials(job.id(), trials, std::nullopt, 1);
    last = ids.status();
    if (ids.ok()) kept.insert(kept.end(), ids->begin(), ids->end());
  }
  EXPECT_THAT(last, StatusIs(absl::StatusCode::kResourceExhausted,
                             HasSubstr("full")));
  ASSERT_FALSE(kept.empty());
  // Everything committed before is intact, and the failed batch left nothing.
  ASSERT_OK_AND_ASSIGN(nas::v1::Job got, store->GetJob(job.id()));
  EXPECT_EQ(got.counts().pending(), static_cast<int64_t>(kept.size()));
  EXPECT_OK(store->GetTrial(kept.back(), false));
  store.reset();
  ASSERT_OK_AND_ASSIGN(store, OpenTrialStore(url, options));
  ASSERT_OK_AND_ASSIGN(got, store->GetJob(job.id()));
  EXPECT_EQ(got.counts().pending(), static_cast<int64_t>(kept.size()));
}

}  // namespace
}  // namespace nas::storage::testing
