#include "storage/testing/sqlite_test_env.h"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace nas::storage::testing {
namespace {

class SqliteFileEnv : public StoreEnv {
 public:
  explicit SqliteFileEnv(std::string path) : path_(std::move(path)) {}
  ~SqliteFileEnv() override {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove(absl::StrCat(path_, suffix).c_str());
    }
  }
  std::string url() const override { return absl::StrCat("sqlite://", path_); }
  absl::Status ExecRaw(const std::string& sql) override {
    sqlite3* db = nullptr;
    int rc = sqlite3_open(path_.c_str(), &db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    absl::Status s = rc == SQLITE_OK
                         ? absl::OkStatus()
                         : absl::InternalError(sqlite3_errmsg(db));
    sqlite3_close(db);
    return s;
  }

 private:
  const std::string path_;
};

}  // namespace

std::string NewSqlitePath() {
  static std::atomic<int> counter{0};
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir ? dir : "/tmp", "/store-", getpid(), "-",
                      counter++, ".db");
}

StoreEnvFactory SqliteFileEnvFactory() {
  return {"SqliteFile",
          []() -> absl::StatusOr<std::unique_ptr<StoreEnv>> {
            return std::make_unique<SqliteFileEnv>(NewSqlitePath());
          }};
}

}  // namespace nas::storage::testing
