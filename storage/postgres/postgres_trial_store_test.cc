// The conformance suite on PostgreSQL (a private server from tools/test.sh),
// plus PostgreSQL-only behaviour: connection errors, statements sent with
// the COMMIT.
#include <string>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/postgres/postgres_backend.h"
#include "storage/sql/sql_backend.h"
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

// Statements held back by QueryAtCommit() travel with the COMMIT: their
// parameters become literals (odd strings, bytes, extreme doubles survive),
// they run after every Query(), and when one fails nothing of the
// transaction is kept and the connection stays usable.
TEST(PostgresStoreTest, QueryAtCommitRunsWithTheCommitOrRollsBackAll) {
  ASSERT_OK_AND_ASSIGN(auto env, NewPostgresDatabase());
  if (env == nullptr) GTEST_SKIP() << "no PostgreSQL configured";
  StoreOptions options = TestStoreOptions();
  options.pool_size = 1;  // the failed transaction's connection is reused
  ASSERT_OK_AND_ASSIGN(auto backend,
                       sql::OpenPostgresBackend(env->url(), options));
  ASSERT_OK(backend->Transact([](sql::SqlTx& tx) {
    return tx.ExecScript(
        "CREATE TABLE at_commit (k TEXT PRIMARY KEY, n BIGINT, d DOUBLE "
        "PRECISION, b BYTEA, z TEXT)");
  }));
  const std::string odd = "it's a \\ \"quote\" $1 -- ; \n\xc3\xa9 end";
  const std::string bytes("\0\x01\xff'\\", 5);
  ASSERT_OK(backend->Transact([&](sql::SqlTx& tx) -> absl::Status {
    RETURN_IF_ERROR(tx.QueryAtCommit(
        "INSERT INTO at_commit (k, n, d, b, z) VALUES ($1, $2, $3, $4, $5)",
        {odd, int64_t{-9007199254740993}, 1e-300, sql::Blob{bytes}, nullptr}));
    // Held back: not visible yet inside the transaction.
    ASSIGN_OR_RETURN(sql::SqlRows rows,
                     tx.Query("SELECT COUNT(*) FROM at_commit", {}));
    EXPECT_EQ(rows[0][0], "0");
    return absl::OkStatus();
  }));
  ASSERT_OK_AND_ASSIGN(
      sql::SqlRows rows,
      backend->Execute("SELECT k, n, d, b, z IS NULL FROM at_commit", {}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], odd);
  EXPECT_EQ(rows[0][1], "-9007199254740993");
  EXPECT_EQ(std::stod(*rows[0][2]), 1e-300);
  EXPECT_EQ(rows[0][3], bytes);
  EXPECT_EQ(rows[0][4], "t");

  // The held-back statement fails (duplicate key): the earlier statement of
  // the same transaction is rolled back too.
  EXPECT_THAT(backend->Transact([&](sql::SqlTx& tx) -> absl::Status {
    RETURN_IF_ERROR(
        tx.Query("INSERT INTO at_commit (k) VALUES ('kept?')", {}).status());
    return tx.QueryAtCommit("INSERT INTO at_commit (k) VALUES ($1)", {odd});
  }),
              StatusIs(absl::StatusCode::kAlreadyExists));
  ASSERT_OK_AND_ASSIGN(rows,
                       backend->Execute("SELECT COUNT(*) FROM at_commit", {}));
  EXPECT_EQ(rows[0][0], "1");
  // A bad parameter reference is refused before anything is sent.
  EXPECT_THAT(backend->Transact([&](sql::SqlTx& tx) {
    return tx.QueryAtCommit("INSERT INTO at_commit (k) VALUES ($2)", {odd});
  }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("$2")));
  // The one pooled connection is still usable.
  ASSERT_OK(backend->Transact([&](sql::SqlTx& tx) {
    return tx.QueryAtCommit("INSERT INTO at_commit (k) VALUES ($1)",
                            {std::string("after")});
  }));
  ASSERT_OK_AND_ASSIGN(rows,
                       backend->Execute("SELECT COUNT(*) FROM at_commit", {}));
  EXPECT_EQ(rows[0][0], "2");
}

}  // namespace
}  // namespace nas::storage::testing
