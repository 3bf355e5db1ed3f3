#include "storage/testing/pg_test_env.h"

#include <cstdlib>
#include <pqxx/pqxx>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace nas::storage::testing {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

absl::Status AdminExec(const std::string& dsn, const std::string& sql) {
  try {
    pqxx::connection conn(dsn);
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(sql, ": ", e.what()));
  }
}

class PostgresEnv : public StoreEnv {
 public:
  PostgresEnv(std::string admin_dsn, std::string db)
      : admin_dsn_(std::move(admin_dsn)), db_(std::move(db)) {}
  ~PostgresEnv() override {
    absl::Status s = AdminExec(
        admin_dsn_, absl::StrCat("DROP DATABASE IF EXISTS ", db_, " WITH (FORCE)"));
    if (!s.ok()) ADD_FAILURE() << s;
  }
  std::string url() const override { return PostgresUrlFor(admin_dsn_, db_); }
  absl::Status ExecRaw(const std::string& sql) override {
    return AdminExec(url(), sql);
  }

 private:
  const std::string admin_dsn_;
  const std::string db_;
};

}  // namespace

std::string PostgresUrlFor(const std::string& admin_dsn, const std::string& db) {
  const size_t scheme = admin_dsn.find("://");
  const size_t slash =
      admin_dsn.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const size_t query = admin_dsn.find('?');
  std::string url = admin_dsn.substr(0, slash == std::string::npos
                                            ? std::min(query, admin_dsn.size())
                                            : slash);
  absl::StrAppend(&url, "/", db);
  if (query != std::string::npos) absl::StrAppend(&url, admin_dsn.substr(query));
  return url;
}

absl::StatusOr<std::unique_ptr<StoreEnv>> NewPostgresDatabase() {
  const std::string dsn = Env("NAS_TEST_PG_ADMIN_DSN");
  if (dsn.empty()) {
    if (Env("NAS_REQUIRE_PG") == "1") {
      return absl::FailedPreconditionError(
          "NAS_REQUIRE_PG=1 but NAS_TEST_PG_ADMIN_DSN is not set (run "
          "tools/test.sh)");
    }
    return nullptr;
  }
  static thread_local absl::BitGen gen;
  const std::string db =
      absl::StrFormat("nas_test_%016x", absl::Uniform<uint64_t>(gen));
  absl::Status s = AdminExec(dsn, absl::StrCat("CREATE DATABASE ", db));
  if (!s.ok()) return s;
  return std::unique_ptr<StoreEnv>(new PostgresEnv(dsn, db));
}

StoreEnvFactory PostgresEnvFactory() {
  return {"Postgres", &NewPostgresDatabase};
}

}  // namespace nas::storage::testing
