#include "storage/sqlite/sqlite_backend.h"

#include <sqlite3.h>

#include <cstdio>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace nas::storage::sql {
namespace {

bool IsBusy(int rc) {
  return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

// Maps a SQLite result code to a status; `what` says what failed.
absl::Status SqliteError(sqlite3* db, int rc, const std::string& what) {
  const std::string msg =
      absl::StrCat(what, ": ", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                   " (sqlite code ", rc, ")");
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(absl::StrCat(
          msg, "; the disk (or max_page_count) is full, nothing was written"));
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(msg);
      }
      return absl::FailedPreconditionError(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(msg);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::PermissionDeniedError(msg);
    case SQLITE_CANTOPEN:
      return absl::UnavailableError(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// PostgreSQL-syntax statement -> SQLite: $n -> ?n; row locks ("FOR UPDATE
// [OF t] [SKIP LOCKED]") dropped: the backend mutex serializes writers.
std::string ToSqlite(const std::string& sql) {
  std::string out = absl::StrReplaceAll(
      sql, {{" FOR UPDATE SKIP LOCKED", ""},
            {" FOR UPDATE OF t", ""},
            {" FOR UPDATE", ""}});
  for (char& c : out) {
    if (c == '$') c = '?';
  }
  return out;
}

class SqliteBackend;

class SqliteTx : public SqlTx {
 public:
  explicit SqliteTx(SqliteBackend* backend) : backend_(backend) {}
  absl::StatusOr<SqlRows> Query(const std::string& sql,
                                const std::vector<SqlParam>& params) override;
  absl::Status ExecScript(const std::string& sql) override;
  // The last statement failed with SQLITE_BUSY/LOCKED: retry the transaction.
  bool busy() const { return busy_; }
  bool broken() const override { return broken_; }

 private:
  SqliteBackend* backend_;
  bool busy_ = false;
  bool broken_ = false;
};

class SqliteBackend : public SqlBackend {
 public:
  SqliteBackend(sqlite3* db, std::string path, const StoreOptions& options)
      : db_(db), path_(std::move(path)), options_(options) {}
  ~SqliteBackend() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  Dialect dialect() const override { return Dialect::kSqlite; }

  absl::Status Transact(
      const std::function<absl::Status(SqlTx&)>& fn) override {
    absl::MutexLock lock(&mu_);
    absl::Duration backoff = options_.retry_backoff;
    absl::Status last;
    for (int attempt = 0; attempt < std::max(1, options_.transaction_attempts);
         ++attempt) {
      if (attempt > 0) {
        absl::SleepFor(backoff);
        backoff *= 2;
      }
      int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      if (rc != SQLITE_OK) {
        last = SqliteError(db_, rc, absl::StrCat("begin on ", path_));
        if (IsBusy(rc)) continue;
        return last;
      }
      SqliteTx tx(this);
      absl::Status s = fn(tx);
      if (s.ok()) {
        rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
        if (rc == SQLITE_OK) return absl::OkStatus();
        s = SqliteError(db_, rc, absl::StrCat("commit on ", path_));
      }
      if (!sqlite3_get_autocommit(db_)) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      }
      if (!tx.busy() && !IsBusy(sqlite3_extended_errcode(db_))) return s;
      last = s;
    }
    return absl::UnavailableError(
        absl::StrCat("sqlite database ", path_, " stayed busy after ",
                     options_.transaction_attempts, " attempts: ",
                     last.message()));
  }

 private:
  friend class SqliteTx;

  // Runs `sql` with `params`; called with mu_ held (inside Transact).
  absl::StatusOr<SqlRows> RunLocked(const std::string& sql,
                                    const std::vector<SqlParam>& params,
                                    bool* busy) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    sqlite3_stmt* stmt = nullptr;
    auto it = statements_.find(sql);
    if (it != statements_.end()) {
      stmt = it->second;
    } else {
      const std::string text = ToSqlite(sql);
      int rc = sqlite3_prepare_v3(db_, text.c_str(), -1,
                                  SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (rc != SQLITE_OK) {
        *busy = IsBusy(rc);
        return SqliteError(db_, rc, absl::StrCat("prepare '", text, "'"));
      }
      statements_[sql] = stmt;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    for (size_t i = 0; i < params.size(); ++i) {
      const int idx = static_cast<int>(i) + 1;
      const SqlParam& p = params[i];
      if (std::holds_alternative<int64_t>(p)) {
        sqlite3_bind_int64(stmt, idx, std::get<int64_t>(p));
      } else if (std::holds_alternative<double>(p)) {
        sqlite3_bind_double(stmt, idx, std::get<double>(p));
      } else if (std::holds_alternative<std::string>(p)) {
        const auto& v = std::get<std::string>(p);
        sqlite3_bind_text64(stmt, idx, v.data(), v.size(), SQLITE_TRANSIENT,
                            SQLITE_UTF8);
      } else if (std::holds_alternative<Blob>(p)) {
        const auto& v = std::get<Blob>(p).bytes;
        sqlite3_bind_blob64(stmt, idx, v.data(), v.size(), SQLITE_TRANSIENT);
      } else {
        sqlite3_bind_null(stmt, idx);
      }
    }
    SqlRows rows;
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        *busy = IsBusy(rc);
        absl::Status s = SqliteError(db_, sqlite3_extended_errcode(db_),
                                     "statement");
        sqlite3_reset(stmt);
        return s;
      }
      const int n = sqlite3_column_count(stmt);
      SqlRow row(n);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_NULL:
            break;
          case SQLITE_INTEGER:
            row[c] = std::to_string(sqlite3_column_int64(stmt, c));
            break;
          case SQLITE_FLOAT: {
            char buf[40];
            std::snprintf(buf, sizeof(buf), "%.17g",
                          sqlite3_column_double(stmt, c));
            row[c] = buf;
            break;
          }
          default: {
            const void* data = sqlite3_column_blob(stmt, c);
            const int size = sqlite3_column_bytes(stmt, c);
            row[c] = std::string(static_cast<const char*>(data ? data : ""),
                                 size);
          }
        }
      }
      rows.push_back(std::move(row));
    }
    sqlite3_reset(stmt);
    return rows;
  }

  absl::Status ExecScriptLocked(const std::string& sql, bool* busy)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return absl::OkStatus();
    *busy = IsBusy(rc);
    return SqliteError(db_, sqlite3_extended_errcode(db_), "script");
  }

  // Serializes transactions. SqliteTx only exists inside Transact(), so its
  // calls of the *Locked methods hold it (asserted there).
  absl::Mutex mu_;
  sqlite3* const db_;
  const std::string path_;
  const StoreOptions options_;
  absl::flat_hash_map<std::string, sqlite3_stmt*> statements_
      ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<SqlRows> SqliteTx::Query(const std::string& sql,
                                        const std::vector<SqlParam>& params) {
  backend_->mu_.AssertHeld();
  absl::StatusOr<SqlRows> rows = backend_->RunLocked(sql, params, &busy_);
  if (!rows.ok()) broken_ = true;
  return rows;
}

absl::Status SqliteTx::ExecScript(const std::string& sql) {
  backend_->mu_.AssertHeld();
  absl::Status s = backend_->ExecScriptLocked(sql, &busy_);
  if (!s.ok()) broken_ = true;
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqlBackend>> OpenSqliteBackend(
    const std::string& path, const StoreOptions& options) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status s = SqliteError(db, rc, absl::StrCat("open sqlite database '",
                                                      path, "'"));
    sqlite3_close_v2(db);
    return s;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(
                               absl::ToInt64Milliseconds(options.busy_timeout)));
  std::string pragmas = absl::StrCat(
      "PRAGMA foreign_keys = ON; PRAGMA synchronous = ",
      options.sqlite_full_sync ? "FULL" : "NORMAL", ";");
  if (path != ":memory:") absl::StrAppend(&pragmas, "PRAGMA journal_mode = WAL;");
  if (options.sqlite_max_page_count > 0) {
    absl::StrAppend(&pragmas, "PRAGMA max_page_count = ",
                    options.sqlite_max_page_count, ";");
  }
  const int prc = sqlite3_exec(db, pragmas.c_str(), nullptr, nullptr, nullptr);
  if (prc != SQLITE_OK) {
    absl::Status s = SqliteError(db, prc, absl::StrCat("configure sqlite database '",
                                                       path, "'"));
    sqlite3_close_v2(db);
    return s;
  }
  return std::unique_ptr<SqlBackend>(new SqliteBackend(db, path, options));
}

}  // namespace nas::storage::sql
