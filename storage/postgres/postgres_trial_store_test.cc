// The conformance suite on PostgreSQL (a private server from tools/test.sh),
// plus PostgreSQL-only behaviour: connection errors, statements sent with
// the COMMIT.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

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

// Threads sharing a small pool: a connection goes back to the pool only
// once its transaction object is gone, so the next borrower can start one.
TEST(PostgresStoreTest, ConnectionsAreReusedAcrossThreads) {
  ASSERT_OK_AND_ASSIGN(auto env, NewPostgresDatabase());
  if (env == nullptr) GTEST_SKIP() << "no PostgreSQL configured";
  StoreOptions options = TestStoreOptions();
  options.pool_size = 2;
  ASSERT_OK_AND_ASSIGN(auto backend,
                       sql::OpenPostgresBackend(env->url(), options));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        absl::Status s;
        if ((i + t) % 3 == 0) {
          s = backend->Execute("SELECT 1", {}).status();
        } else if ((i + t) % 3 == 1) {
          s = backend->Transact([](sql::SqlTx& tx) {
            return tx.QueryAtCommit("SELECT $1", {int64_t{1}});
          });
        } else {
          // Refused by its own check: the rollback path.
          s = backend->Transact([](sql::SqlTx& tx) -> absl::Status {
            RETURN_IF_ERROR(tx.Query("SELECT 1", {}).status());
            return absl::FailedPreconditionError("refused");
          });
          if (s.code() == absl::StatusCode::kFailedPrecondition) s = absl::OkStatus();
        }
        if (!s.ok()) {
          ++failures;
          ADD_FAILURE() << s;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace nas::storage::testing
