#include "storage/postgres/postgres_backend.h"

#include <pqxx/pqxx>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "storage/sql/store_logic.h"

namespace nas::storage::sql {
namespace {

constexpr unsigned kByteaOid = 17;

struct Connection {
  std::unique_ptr<pqxx::connection> conn;
  absl::flat_hash_set<std::string> prepared;
};

// What a caught exception means for the transaction.
struct Failure {
  absl::Status status;
  bool retry = false;           // transient: run the transaction again
  bool drop_connection = false;  // the connection is unusable
};

// Maps an exception thrown by libpqxx (or anything else) to a Failure.
// Must be called from inside a catch block.
Failure CurrentFailure(const std::string& what) {
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    return {absl::UnavailableError(absl::StrCat(
                what, ": the connection was lost during COMMIT; the outcome "
                      "is unknown: ", e.what())),
            false, true};
  } catch (const pqxx::broken_connection& e) {
    return {absl::UnavailableError(absl::StrCat(what, ": connection lost: ",
                                                e.what())),
            true, true};
  } catch (const pqxx::transaction_rollback& e) {
    // serialization_failure, deadlock_detected, ...
    return {absl::AbortedError(absl::StrCat(what, ": ", e.what())), true,
            false};
  } catch (const pqxx::unique_violation& e) {
    return {absl::AlreadyExistsError(absl::StrCat(what, ": ", e.what()))};
  } catch (const pqxx::integrity_constraint_violation& e) {
    return {absl::FailedPreconditionError(absl::StrCat(what, ": ", e.what()))};
  } catch (const pqxx::disk_full& e) {
    return {absl::ResourceExhaustedError(absl::StrCat(
        what, ": the database server's disk is full; nothing was written: ",
        e.what()))};
  } catch (const pqxx::insufficient_resources& e) {
    return {absl::ResourceExhaustedError(absl::StrCat(what, ": ", e.what()))};
  } catch (const pqxx::insufficient_privilege& e) {
    return {absl::PermissionDeniedError(absl::StrCat(what, ": ", e.what()))};
  } catch (const pqxx::sql_error& e) {
    const std::string state = e.sqlstate();
    if (state == "57P01" || state == "57P02" || state == "57P03") {
      // admin_shutdown, crash_shutdown, cannot_connect_now
      return {absl::UnavailableError(absl::StrCat(what, ": ", e.what())), true,
              true};
    }
    return {absl::InternalError(absl::StrCat(what, ": SQLSTATE ", state, ": ",
                                             e.what()))};
  } catch (const std::exception& e) {
    return {absl::InternalError(absl::StrCat(what, ": ", e.what()))};
  } catch (...) {
    return {absl::InternalError(absl::StrCat(what, ": unknown exception"))};
  }
}

std::string StatementName(const std::string& sql) {
  return absl::StrCat("nas_", std::hash<std::string>()(sql));
}

class PostgresTx : public SqlTx {
 public:
  PostgresTx(Connection* conn, pqxx::transaction_base* work)
      : conn_(conn), work_(work) {}

  absl::StatusOr<SqlRows> Query(const std::string& sql,
                                const std::vector<SqlParam>& params) override {
    try {
      const std::string name = StatementName(sql);
      if (!conn_->prepared.contains(name)) {
        conn_->conn->prepare(name, sql);
        conn_->prepared.insert(name);
      }
      auto invocation = work_->prepared(name);
      for (const SqlParam& p : params) {
        if (std::holds_alternative<int64_t>(p)) {
          invocation(std::get<int64_t>(p));
        } else if (std::holds_alternative<double>(p)) {
          invocation(std::get<double>(p));
        } else if (std::holds_alternative<std::string>(p)) {
          invocation(std::get<std::string>(p));
        } else if (std::holds_alternative<Blob>(p)) {
          const std::string& b = std::get<Blob>(p).bytes;
          invocation(pqxx::binarystring(b.data(), b.size()));
        } else {
          invocation();
        }
      }
      return Rows(invocation.exec());
    } catch (...) {
      failure_ = CurrentFailure("query");
      return failure_->status;
    }
  }

  // The statements as "EXECUTE name(literals)" (each prepared beforehand:
  // the plan is still the cached one) in one pqxx::pipeline: one round trip.
  std::vector<absl::StatusOr<SqlRows>> QueryBatch(
      const std::vector<Statement>& statements) override {
    if (statements.size() < 2) return SqlTx::QueryBatch(statements);
    std::vector<absl::StatusOr<SqlRows>> out;
    try {
      pqxx::pipeline pipe(*work_);
      pipe.retain(static_cast<int>(statements.size()));
      std::vector<pqxx::pipeline::query_id> ids;
      for (const Statement& st : statements) {
        const std::string name = StatementName(st.sql);
        if (!conn_->prepared.contains(name)) {
          conn_->conn->prepare(name, st.sql);
          conn_->prepared.insert(name);
        }
        conn_->conn->prepare_now(name);  // no-op once prepared
        std::string text = absl::StrCat("EXECUTE ", name);
        for (size_t i = 0; i < st.params.size(); ++i) {
          absl::StrAppend(&text, i ? ", " : "(", Literal(st.params[i]));
        }
        if (!st.params.empty()) text += ')';
        ids.push_back(pipe.insert(text));
      }
      pipe.complete();
      for (pqxx::pipeline::query_id id : ids) out.push_back(Rows(pipe.retrieve(id)));
      return out;
    } catch (...) {
      failure_ = CurrentFailure("query batch");
      out.resize(statements.size(), failure_->status);
      for (auto& r : out) {
        if (r.ok()) r = failure_->status;
      }
      return out;
    }
  }

  absl::Status ExecScript(const std::string& sql) override {
    try {
      work_->exec(sql);
      return absl::OkStatus();
    } catch (...) {
      failure_ = CurrentFailure("script");
      return failure_->status;
    }
  }

  // Held back: sent with the COMMIT (see PostgresBackend::Transact), its
  // parameters rendered as quoted literals (a multi-statement text has no
  // bound parameters).
  absl::Status QueryAtCommit(const std::string& sql,
                             const std::vector<SqlParam>& params) override {
    std::string out;
    for (size_t i = 0; i < sql.size(); ++i) {
      size_t j = i + 1;
      while (j < sql.size() && absl::ascii_isdigit(sql[j])) ++j;
      size_t n = 0;
      if (sql[i] != '$' || j == i + 1 ||
          !absl::SimpleAtoi(sql.substr(i + 1, j - i - 1), &n) || n == 0 ||
          n > params.size()) {
        if (sql[i] == '$') {
          return absl::InvalidArgumentError(
              absl::StrCat("QueryAtCommit: bad parameter reference at ", i,
                           " in: ", sql));
        }
        out += sql[i];
        continue;
      }
      out += Literal(params[n - 1]);
      i = j - 1;
    }
    absl::StrAppend(&at_commit_, out, ";\n");
    return absl::OkStatus();
  }

  // What QueryAtCommit() held back, followed by `last`.
  std::string HeldBack(const std::string& last) const {
    return at_commit_ + last;
  }

  const std::optional<Failure>& failure() const { return failure_; }
  bool broken() const override { return failure_.has_value(); }

 private:
  std::string Literal(const SqlParam& p) const {
    if (std::holds_alternative<int64_t>(p)) {
      return absl::StrCat(std::get<int64_t>(p));
    }
    if (std::holds_alternative<double>(p)) {
      const double d = std::get<double>(p);
      if (std::isnan(d)) return "'NaN'::float8";
      if (std::isinf(d)) return d > 0 ? "'Infinity'::float8" : "'-Infinity'::float8";
      return absl::StrFormat("%.17g::float8", d);
    }
    if (std::holds_alternative<std::string>(p)) {
      return work_->quote(std::get<std::string>(p));
    }
    if (std::holds_alternative<Blob>(p)) {
      const std::string& b = std::get<Blob>(p).bytes;
      return work_->quote_raw(reinterpret_cast<const unsigned char*>(b.data()),
                              b.size());
    }
    return "NULL";
  }

  static SqlRows Rows(const pqxx::result& result) {
    SqlRows rows;
    rows.reserve(result.size());
    for (const auto& r : result) {
      SqlRow row(r.size());
      for (pqxx::row::size_type c = 0; c < r.size(); ++c) {
        const pqxx::field f = r[c];
        if (f.is_null()) continue;
        if (f.type() == kByteaOid) {
          row[c] = pqxx::binarystring(f).str();
        } else {
          row[c] = std::string(f.c_str(), f.size());
        }
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  Connection* conn_;
  pqxx::transaction_base* work_;
  std::optional<Failure> failure_;
  std::string at_commit_;
};

class PostgresBackend : public SqlBackend {
 public:
  PostgresBackend(std::string url, const StoreOptions& options)
      : url_(std::move(url)),
        masked_url_(MaskPassword(url_)),
        options_(options) {}

  Dialect dialect() const override { return Dialect::kPostgres; }

  // Opens one connection (with the start-up retries) to check the server.
  absl::Status Start() {
    absl::Duration backoff = options_.connect_backoff;
    absl::Status last;
    const int attempts = std::max(1, options_.connect_attempts);
    for (int i = 0; i < attempts; ++i) {
      if (i > 0) {
        absl::SleepFor(backoff);
        backoff *= 2;
      }
      auto conn = Open();
      if (conn.ok()) {
        {
          absl::MutexLock lock(&mu_);
          ++open_;
        }
        Release(std::move(conn).value());
        return absl::OkStatus();
      }
      last = conn.status();
      if (last.code() != absl::StatusCode::kUnavailable) return last;
      LOG(WARNING) << "PostgreSQL " << masked_url_ << " not reachable (attempt "
                   << i + 1 << " of " << attempts << "): " << last.message();
    }
    return absl::UnavailableError(absl::StrCat(
        "cannot reach PostgreSQL at ", masked_url_, " after ", attempts,
        " attempts: ", last.message()));
  }

  absl::Status Transact(
      const std::function<absl::Status(SqlTx&)>& fn) override {
    return Run(fn, /*block=*/true);
  }

  absl::StatusOr<SqlRows> Execute(const std::string& sql,
                                  const std::vector<SqlParam>& params) override {
    return ExecuteIn(
        [this](const std::function<absl::Status(SqlTx&)>& fn) {
          return Run(fn, /*block=*/false);
        },
        sql, params);
  }

 private:
  // Runs `fn` with the retries. `block`: in a transaction block, BEGIN and
  // COMMIT sent by hand on a pqxx::nontransaction so that the statements
  // held back by QueryAtCommit() travel with the COMMIT (one round trip for
  // them all); else autocommit (Execute(): one statement).
  absl::Status Run(const std::function<absl::Status(SqlTx&)>& fn, bool block) {
    absl::Duration backoff = options_.retry_backoff;
    absl::Status last;
    const int attempts = std::max(1, options_.transaction_attempts);
    for (int attempt = 0; attempt < attempts; ++attempt) {
      if (attempt > 0) {
        absl::SleepFor(backoff * absl::Uniform(bitgen_(), 0.5, 1.5));
        backoff *= 2;
      }
      auto conn_or = Acquire();
      if (!conn_or.ok()) {
        last = conn_or.status();
        continue;
      }
      std::unique_ptr<Connection> conn = std::move(conn_or).value();
      Failure failure;
      bool committing = false;
      try {
        pqxx::nontransaction work(*conn->conn);
        if (block) work.exec("BEGIN");
        PostgresTx tx(conn.get(), &work);
        absl::Status s = fn(tx);
        if (s.ok()) {
          committing = true;
          const std::string end = tx.HeldBack(block ? "COMMIT" : "");
          if (!end.empty()) work.exec(end);
          // Ends the pqxx transaction object (no SQL for a nontransaction):
          // the connection must be free of it before another thread
          // borrows it.
          work.commit();
          Release(std::move(conn));
          return absl::OkStatus();
        }
        if (block) work.exec("ROLLBACK");
        work.abort();
        if (!tx.failure().has_value() || !tx.failure()->retry) {
          Release(std::move(conn));
          return s;
        }
        failure = *tx.failure();
      } catch (const pqxx::broken_connection& e) {
        failure = CurrentFailure("transaction");
        if (committing) {
          // The COMMIT may or may not have happened: never run it again.
          failure = {absl::UnavailableError(absl::StrCat(
                         "transaction: the connection was lost during "
                         "COMMIT; the outcome is unknown: ",
                         e.what())),
                     false, true};
        }
      } catch (...) {
        // The server refused a statement (or the COMMIT): nothing was
        // committed; end the failed transaction block before reuse.
        failure = CurrentFailure("transaction");
        if (block && !failure.drop_connection && !RollBack(*conn)) {
          failure.drop_connection = true;
        }
      }
      if (!failure.drop_connection && conn->conn->is_open()) {
        Release(std::move(conn));
      } else {
        Drop();
      }
      if (!failure.retry) return failure.status;
      VLOG(1) << "retrying transaction: " << failure.status;
      last = failure.status;
    }
    return RetriesExhausted(last, attempts);
  }

  absl::Status RetriesExhausted(const absl::Status& last, int attempts) const {
    return absl::Status(
        last.code() == absl::StatusCode::kAborted ? absl::StatusCode::kAborted
                                                  : absl::StatusCode::kUnavailable,
        absl::StrCat("PostgreSQL ", masked_url_, ": transaction failed after ",
                     attempts, " attempts: ", last.message()));
  }

  // Ends an open (possibly failed) transaction block; false if the
  // connection is unusable.
  static bool RollBack(Connection& conn) {
    try {
      if (!conn.conn->is_open()) return false;
      pqxx::nontransaction work(*conn.conn);
      work.exec("ROLLBACK");
      return true;
    } catch (...) {
      return false;
    }
  }

  absl::BitGen& bitgen_() {
    static thread_local absl::BitGen gen;
    return gen;
  }

  absl::StatusOr<std::unique_ptr<Connection>> Open() {
    try {
      auto conn = std::make_unique<Connection>();
      conn->conn = std::make_unique<pqxx::connection>(url_);
      // Short OLTP statements: a parallel worker or JIT costs more than the
      // query (a top-10 is an index scan).
      conn->conn->set_variable("max_parallel_workers_per_gather", "0");
      conn->conn->set_variable("jit", "off");
      return conn;
    } catch (const pqxx::broken_connection& e) {
      const std::string msg = e.what();
      const std::string where = absl::StrCat("PostgreSQL ", masked_url_, ": ");
      if (absl::StrContains(msg, "password authentication failed") ||
          absl::StrContains(msg, "no password supplied") ||
          absl::StrContains(msg, "not permitted to log in") ||
          (absl::StrContains(msg, "role") &&
           absl::StrContains(msg, "does not exist"))) {
        return absl::UnauthenticatedError(
            absl::StrCat(where, "authentication failed: ", msg));
      }
      if (absl::StrContains(msg, "database") &&
          absl::StrContains(msg, "does not exist")) {
        return absl::NotFoundError(absl::StrCat(where, msg));
      }
      if (absl::StrContains(msg, "invalid") ||
          absl::StrContains(msg, "missing")) {
        return absl::InvalidArgumentError(absl::StrCat(where, msg));
      }
      return absl::UnavailableError(absl::StrCat(where, msg));
    } catch (...) {
      return CurrentFailure(absl::StrCat("connect to ", masked_url_)).status;
    }
  }

  // Borrows an idle connection, or opens one while under the pool size.
  absl::StatusOr<std::unique_ptr<Connection>> Acquire() {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !idle_.empty() || open_ < std::max(1, options_.pool_size);
      };
      mu_.Await(absl::Condition(&ready));
      if (!idle_.empty()) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        return conn;
      }
      ++open_;
    }
    auto conn = Open();
    if (!conn.ok()) Drop();
    return conn;
  }

  void Release(std::unique_ptr<Connection> conn) {
    absl::MutexLock lock(&mu_);
    idle_.push_back(std::move(conn));
  }

  // Forgets a borrowed connection (closed by its destructor).
  void Drop() {
    absl::MutexLock lock(&mu_);
    --open_;
  }

  const std::string url_;
  const std::string masked_url_;
  const StoreOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  // Connections open: idle plus borrowed.
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqlBackend>> OpenPostgresBackend(
    const std::string& url, const StoreOptions& options) {
  auto backend = std::make_unique<PostgresBackend>(url, options);
  RETURN_IF_ERROR(backend->Start());
  return std::unique_ptr<SqlBackend>(std::move(backend));
}

}  // namespace nas::storage::sql
