// SqlBackend: the small seam between the shared SQL TrialStore
// (sql_trial_store.h) and a database driver (SQLite or libpqxx).
//
// Statements are written once, in PostgreSQL syntax with $1..$n parameters;
// a backend adapts them (the SQLite backend turns $n into ?n and drops
// "FOR UPDATE [SKIP LOCKED]", since its writers are serialized anyway).
// User-supplied values only ever travel as parameters.
//
// Thread-safety: SqlBackend is thread-safe; a SqlTx belongs to the one thread
// running the transaction and lives only during Transact().
#ifndef NAS_STORAGE_SQL_SQL_BACKEND_H_
#define NAS_STORAGE_SQL_SQL_BACKEND_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace nas::storage::sql {

// Raw bytes bound as BYTEA/BLOB.
struct Blob {
  std::string bytes;
};

using SqlParam = std::variant<std::nullptr_t, int64_t, double, std::string, Blob>;

// One result row: each column as text (NULL: nullopt). Integers are decimal,
// floats round-trip exactly, booleans are "t"/"f" or "1"/"0", BYTEA/BLOB
// columns hold the raw bytes.
using SqlRow = std::vector<std::optional<std::string>>;
using SqlRows = std::vector<SqlRow>;

enum class Dialect { kPostgres, kSqlite };

// A statement with its parameters.
struct Statement {
  std::string sql;
  std::vector<SqlParam> params;
};

// One open transaction.
class SqlTx {
 public:
  virtual ~SqlTx() = default;
  // Runs one (prepared, cached) statement and returns its rows.
  virtual absl::StatusOr<SqlRows> Query(const std::string& sql,
                                        const std::vector<SqlParam>& params) = 0;
  // Runs `statements` in order, one result each; after a failed one the
  // rest are not run (their results are errors too). A backend may send
  // them together (PostgreSQL: one round trip).
  virtual std::vector<absl::StatusOr<SqlRows>> QueryBatch(
      const std::vector<Statement>& statements) {
    std::vector<absl::StatusOr<SqlRows>> out;
    for (const Statement& s : statements) {
      if (!out.empty() && !out.back().ok()) {
        out.push_back(absl::AbortedError("not run: an earlier statement failed"));
        continue;
      }
      out.push_back(Query(s.sql, s.params));
    }
    return out;
  }
  // Runs a parameterless script of several statements (migrations).
  virtual absl::Status ExecScript(const std::string& sql) = 0;
  // Runs `sql` as one of the transaction's last statements, for its effect
  // only (no rows). A backend may hold it back and send it with the COMMIT
  // (PostgreSQL: one round trip for both); an error then fails the commit
  // and the transaction rolls back as if the statement had failed here.
  // Statements held back run in the order given, after every Query().
  virtual absl::Status QueryAtCommit(const std::string& sql,
                                     const std::vector<SqlParam>& params) {
    return Query(sql, params).status();
  }
  // A statement of this transaction failed in the database (as opposed to a
  // caller's own check failing): the transaction must not go on.
  virtual bool broken() const = 0;
};

class SqlBackend {
 public:
  virtual ~SqlBackend() = default;
  virtual Dialect dialect() const = 0;
  // Runs `fn` in one transaction: commits when it returns OK, else rolls back
  // and returns its status. Transient failures (serialization failure,
  // deadlock, busy database, lost connection) roll back and call `fn` again,
  // a bounded number of times with backoff, so `fn` must assign (not append
  // to) its outputs.
  virtual absl::Status Transact(const std::function<absl::Status(SqlTx&)>& fn) = 0;

  // Runs one statement as its own transaction, with the same retries. The
  // PostgreSQL backend sends it alone (autocommit: one round trip instead of
  // BEGIN, statement, COMMIT); a retry after a lost connection may run it
  // twice, so use it only for statements whose repetition is harmless.
  virtual absl::StatusOr<SqlRows> Execute(const std::string& sql,
                                          const std::vector<SqlParam>& params) {
    return ExecuteIn(
        [this](const std::function<absl::Status(SqlTx&)>& fn) {
          return Transact(fn);
        },
        sql, params);
  }

 protected:
  // Runs `sql` through `transact` (a Transact-like function).
  static absl::StatusOr<SqlRows> ExecuteIn(
      const std::function<absl::Status(
          const std::function<absl::Status(SqlTx&)>&)>& transact,
      const std::string& sql, const std::vector<SqlParam>& params) {
    SqlRows rows;
    absl::Status s = transact([&](SqlTx& tx) -> absl::Status {
      auto r = tx.Query(sql, params);
      if (!r.ok()) return r.status();
      rows = std::move(r).value();
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return rows;
  }
};

}  // namespace nas::storage::sql

#endif  // NAS_STORAGE_SQL_SQL_BACKEND_H_
