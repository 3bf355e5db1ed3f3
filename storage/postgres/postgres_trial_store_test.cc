// The conformance suite on PostgreSQL (a private server from tools/test.sh),
// plus PostgreSQL-only behaviour: connection errors.
#include <string>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/store_url.h"
#include "storage/testing/pg_test_env.h"
#include "storage/testing/trial_store_conformance.h"

namespace nas::storage::testing {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

INSTANTIATE_TEST_SUITE_P(Postgres, TrialStoreConformanceTest,
                         ::testing::Values(PostgresEnvFactory()),
                         StoreEnvName);

TEST(PostgresStoreTest, MissingDatabaseIsNotFound) {
  ASSERT_OK_AND_ASSIGN(auto env, NewPostgresDatabase());
  if (env == nullptr) GTEST_SKIP() << "no PostgreSQL configured";
  const std::string url = PostgresUrlFor(
      std::getenv("NAS_TEST_PG_ADMIN_DSN"), "nas_no_such_database");
  EXPECT_THAT(OpenTrialStore(url, TestStoreOptions()),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("nas_no_such_database")));
}

TEST(PostgresStoreTest, WrongPasswordIsUnauthenticatedAndMasked) {
  ASSERT_OK_AND_ASSIGN(auto env, NewPostgresDatabase());
  if (env == nullptr) GTEST_SKIP() << "no PostgreSQL configured";
  // The test server trusts every local login, so make a role that needs a
  // password the server cannot check: a role without LOGIN is refused.
  ASSERT_OK(env->ExecRaw("CREATE ROLE nas_nologin_role NOLOGIN"));
  std::string url = env->url();
  url.replace(url.find("://") + 3, url.find('@') - url.find("://") - 3,
              "nas_nologin_role:secret-pw");
  auto store = OpenTrialStore(url, TestStoreOptions());
  EXPECT_THAT(store, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("secret-pw")));
  EXPECT_THAT(store.status().message(), HasSubstr("***"));
  (void)env->ExecRaw("DROP ROLE nas_nologin_role");
}

}  // namespace
}  // namespace nas::storage::testing
