#include "storage/sql/sql_trial_store.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "storage/sql/store_logic.h"

namespace nas::storage::sql {
namespace {

using nas::v1::Direction;
using nas::v1::TrialState;

// ------------------------------------------------------------ rows, params

SqlParam P(int64_t v) { return v; }
SqlParam P(double v) { return v; }
SqlParam OptP(const std::optional<double>& v) {
  if (v.has_value()) return *v;
  return nullptr;
}

int64_t Int(const SqlRow& row, size_t i) {
  int64_t v = 0;
  if (row[i].has_value()) (void)absl::SimpleAtoi(*row[i], &v);
  return v;
}
double Dbl(const SqlRow& row, size_t i) {
  double v = 0;
  if (row[i].has_value()) (void)absl::SimpleAtod(*row[i], &v);
  return v;
}
std::string Str(const SqlRow& row, size_t i) {
  return row[i].has_value() ? *row[i] : std::string();
}
bool Bool(const SqlRow& row, size_t i) {
  return row[i].has_value() && (*row[i] == "t" || *row[i] == "1" ||
                                *row[i] == "true");
}
bool IsNull(const SqlRow& row, size_t i) { return !row[i].has_value(); }

// --------------------------------------------------------------- JSON

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& m) {
  std::string out;
  auto s = google::protobuf::util::MessageToJsonString(m, &out);
  if (!s.ok()) return absl::InternalError(absl::StrCat("to JSON: ", s.ToString()));
  return out;
}

absl::Status FromJson(const std::string& json, google::protobuf::Message* m) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto s = google::protobuf::util::JsonStringToMessage(json, m, options);
  if (!s.ok()) {
    return absl::DataLossError(
        absl::StrCat("stored ", m->GetTypeName(), " is not valid: ", s.ToString()));
  }
  return absl::OkStatus();
}

// Non-finite values are dropped: JSON (and jsonb) cannot hold them.
absl::StatusOr<std::string> MetricsToJson(
    const std::map<std::string, double>& metrics) {
  google::protobuf::Struct s;
  for (const auto& [name, value] : metrics) {
    if (std::isfinite(value)) (*s.mutable_fields())[name].set_number_value(value);
  }
  return ToJson(s);
}

absl::Status MetricsFromJson(const std::string& json,
                             google::protobuf::Map<std::string, double>* out) {
  google::protobuf::Struct s;
  RETURN_IF_ERROR(FromJson(json, &s));
  for (const auto& [name, value] : s.fields()) {
    if (value.kind_case() == google::protobuf::Value::kNumberValue) {
      (*out)[name] = value.number_value();
    }
  }
  return absl::OkStatus();
}

std::optional<double> MetricOf(const std::map<std::string, double>& metrics,
                               const std::string& name) {
  if (name.empty()) return std::nullopt;
  auto it = metrics.find(name);
  if (it == metrics.end() || !std::isfinite(it->second)) return std::nullopt;
  return it->second;
}

std::string NewId(const char* prefix) {
  static thread_local absl::BitGen gen;
  return absl::StrFormat("%s-%016x", prefix, absl::Uniform<uint64_t>(gen));
}

// ------------------------------------------------------------- counts

// Column of job_trial_counts for a trial state (index into kCountColumns).
constexpr std::array<const char*, 8> kCountColumns = {
    "pending", "leased",        "running",   "succeeded",
    "failed",  "stopped_early", "cancelled", "cache_hits"};

int CountIndex(TrialState s) {
  return (s >= nas::v1::PENDING && s <= nas::v1::CANCELLED) ? s - 1 : -1;
}

// Accumulates count changes of a transaction and writes them, one UPDATE per
// (job, shard), in key order so concurrent writers lock rows in one order.
class CountDelta {
 public:
  // Puts every change on this shard (any shard will do: readers sum them)
  // instead of the trial's own; -1 goes back to the trial's.
  void SetShard(int64_t shard) { shard_ = shard; }
  void Move(const std::string& job_id, int64_t trial_id, TrialState from,
            TrialState to) {
    auto& d = deltas_[{job_id, ShardOf(trial_id)}];
    if (CountIndex(from) >= 0) --d[CountIndex(from)];
    if (CountIndex(to) >= 0) ++d[CountIndex(to)];
  }
  void AddCacheHit(const std::string& job_id, int64_t trial_id) {
    ++deltas_[{job_id, ShardOf(trial_id)}][7];
  }
  // `at_commit`: the UPDATEs may travel with the COMMIT (the transaction
  // reads no counts after this).
  absl::Status Flush(SqlTx& tx, bool at_commit = false) {
    static const std::string* const kSql = [] {
      std::string sql = "UPDATE job_trial_counts SET ";
      for (size_t i = 0; i < kCountColumns.size(); ++i) {
        absl::StrAppend(&sql, i ? ", " : "", kCountColumns[i], " = ",
                        kCountColumns[i], " + $", i + 3);
      }
      absl::StrAppend(&sql, " WHERE job_id = $1 AND shard = $2");
      return new std::string(sql);
    }();
    for (const auto& [key, d] : deltas_) {
      if (d == std::array<int64_t, 8>{}) continue;
      std::vector<SqlParam> params = {key.first, key.second};
      for (int64_t v : d) params.push_back(v);
      RETURN_IF_ERROR(at_commit ? tx.QueryAtCommit(*kSql, params)
                                : tx.Query(*kSql, params).status());
    }
    deltas_.clear();
    return absl::OkStatus();
  }

 private:
  int64_t ShardOf(int64_t trial_id) const {
    return shard_ >= 0 ? shard_ : trial_id % kCountShards;
  }

  int64_t shard_ = -1;
  std::map<std::pair<std::string, int64_t>, std::array<int64_t, 8>> deltas_;
};

// ------------------------------------------------------------ statements

// The columns TrialsFromRows() reads, of `t` (a trials row) and `a` (its
// architecture); the last one says whether the trial has latencies.
constexpr char kTrialSelect[] =
    "SELECT t.id, t.job_id, t.state, t.attempt, t.worker_id, "
    "t.lease_deadline_ms, t.create_time_ms, t.start_time_ms, t.end_time_ms, "
    "t.metrics, t.cache_hit, t.failure_reason, t.failure_message, a.params, "
    "a.macs, a.genotype, t.architecture_id, (SELECT COUNT(*) FROM "
    "device_latency d WHERE d.architecture_id = t.architecture_id) ";
constexpr size_t kHasLatenciesColumn = 17;

// kTrialSelect over trials: append "WHERE ...".
const std::string& TrialColumns() {
  static const std::string* const kSql = new std::string(absl::StrCat(
      kTrialSelect,
      "FROM trials t JOIN architectures a ON a.id = t.architecture_id "));
  return *kSql;
}

// A PostgreSQL array literal of `values` (bound as a parameter, never
// spliced into SQL): every element double-quoted, `"` and `\` escaped.
std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char ch : values[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string IntArray(const std::vector<int64_t>& values) {
  return absl::StrCat("{", absl::StrJoin(values, ","), "}");
}

// PostgreSQL: InsertTrials' rows in one statement (architectures upserted,
// trials inserted in input order); returns the new trial ids.
constexpr char kInsertTrialsPostgres[] =
    "WITH input AS (SELECT * FROM unnest(CAST($2 AS TEXT[]), CAST($3 AS "
    "TEXT[]), CAST($4 AS TEXT[]), CAST($5 AS BIGINT[]), CAST($6 AS BIGINT[]), "
    "CAST($7 AS TEXT[])) WITH ORDINALITY AS i(hash, canonical, genotype, "
    "params, macs, eval_key, n)), "
    "arch AS (INSERT INTO architectures (hash, canonical, genotype, params, "
    "macs) SELECT DISTINCT ON (hash) hash, canonical, CAST(genotype AS JSONB), "
    "params, macs FROM input ORDER BY hash, n ON CONFLICT (hash) DO UPDATE SET "
    "params = CASE WHEN excluded.params > 0 THEN excluded.params ELSE "
    "architectures.params END, macs = CASE WHEN excluded.macs > 0 THEN "
    "excluded.macs ELSE architectures.macs END RETURNING id, hash), "
    "ins AS (INSERT INTO trials (job_id, architecture_id, eval_key, state, "
    "attempt, create_time_ms) SELECT $1, arch.id, input.eval_key, 1, 1, $8 "
    "FROM input JOIN arch ON arch.hash = input.hash ORDER BY input.n "
    "RETURNING id) "
    "SELECT id FROM ins ORDER BY id";

// PostgreSQL: the deferred AcquireTrial calls of one job as one statement:
// the $2 oldest PENDING trials go to the workers of $3 (with deadlines $4 and
// start times $5) in order; each row ends with the caller's 1-based index.
const std::string& AcquireManyPostgres() {
  static const std::string* const kSql = new std::string(absl::StrCat(
      "WITH picked AS (SELECT id, row_number() OVER (ORDER BY create_time_ms, "
      "id) AS n FROM (SELECT id, create_time_ms FROM trials WHERE job_id = $1 "
      "AND state = 1 ORDER BY create_time_ms, id LIMIT $2 FOR UPDATE SKIP "
      "LOCKED) p), "
      "w AS (SELECT * FROM unnest(CAST($3 AS TEXT[]), CAST($4 AS BIGINT[]), "
      "CAST($5 AS BIGINT[])) WITH ORDINALITY AS w(worker_id, deadline, start, "
      "n)), "
      "upd AS (UPDATE trials t SET state = 2, worker_id = w.worker_id, "
      "lease_deadline_ms = w.deadline, start_time_ms = w.start, end_time_ms = "
      "NULL FROM picked, w WHERE t.id = picked.id AND w.n = picked.n "
      "RETURNING t.*, w.n AS caller) ",
      kTrialSelect,
      ", t.caller FROM upd t JOIN architectures a ON a.id = t.architecture_id"));
  return *kSql;
}


// `$2 = 0 OR` the state bit of t.state is set in the mask $2.
constexpr char kStateMask[] =
    "($2 = 0 OR ($2 & (1 << CAST(t.state AS INTEGER))) <> 0)";

struct JobObjectives {
  std::string primary_metric;
  Direction primary_direction = nas::v1::MAXIMIZE;
  std::string secondary_metric;
  Direction secondary_direction = nas::v1::MAXIMIZE;
};

Direction DirectionOrMax(Direction d) {
  return d == nas::v1::MINIMIZE ? nas::v1::MINIMIZE : nas::v1::MAXIMIZE;
}

JobObjectives ObjectivesOf(const nas::v1::JobSpec& spec) {
  JobObjectives o;
  if (spec.objectives_size() > 0) {
    o.primary_metric = spec.objectives(0).metric();
    o.primary_direction = DirectionOrMax(spec.objectives(0).direction());
  }
  if (spec.objectives_size() > 1) {
    o.secondary_metric = spec.objectives(1).metric();
    o.secondary_direction = DirectionOrMax(spec.objectives(1).direction());
  }
  return o;
}

// Everything the fenced writes need to know about a trial, read with a row
// lock (PostgreSQL) inside the writing transaction.
struct LockedTrial {
  std::string job_id;
  TrialState state = nas::v1::TRIAL_STATE_UNSPECIFIED;
  int32_t attempt = 0;
  int32_t lease_expirations = 0;
  int64_t architecture_id = 0;
  JobObjectives objectives;  // of the trial's job
};

absl::StatusOr<LockedTrial> LockTrial(SqlTx& tx, int64_t trial_id) {
  ASSIGN_OR_RETURN(
      SqlRows rows,
      tx.Query("SELECT t.job_id, t.state, t.attempt, t.lease_expirations, "
               "t.architecture_id, j.primary_metric, j.primary_direction, "
               "j.secondary_metric, j.secondary_direction FROM trials t JOIN "
               "jobs j ON j.id = t.job_id WHERE t.id = $1 FOR UPDATE OF t",
               {P(trial_id)}));
  if (rows.empty()) return TrialNotFound(trial_id);
  const SqlRow& r = rows[0];
  LockedTrial t;
  t.job_id = Str(r, 0);
  t.state = static_cast<TrialState>(Int(r, 1));
  t.attempt = static_cast<int32_t>(Int(r, 2));
  t.lease_expirations = static_cast<int32_t>(Int(r, 3));
  t.architecture_id = Int(r, 4);
  t.objectives.primary_metric = Str(r, 5);
  t.objectives.primary_direction = static_cast<Direction>(Int(r, 6));
  t.objectives.secondary_metric = Str(r, 7);
  t.objectives.secondary_direction = static_cast<Direction>(Int(r, 8));
  return t;
}

// A pareto_members row with its two objectives.
struct Member {
  int64_t trial_id = 0;
  std::pair<double, double> point;
};

}  // namespace

// What the write operations of one group-commit transaction defer to its
// end: count changes (one UPDATE per job) and the newest strategy snapshot
// of each job (one INSERT per job). Only the committer thread touches it.
struct WriteBatch {
  struct StagedSnapshot {
    size_t op = 0;  // the operation that staged it
    StrategySnapshot snapshot;
    int64_t now_ms = 0;
  };

  // An AcquireTrial deferred to the end of the transaction (PostgreSQL),
  // where each job's acquires run as one statement.
  struct Acquire {
    std::string worker_id;
    int64_t lease_deadline_ms = 0;
    int64_t now_ms = 0;
    SqlRows* rows = nullptr;  // receives the leased trial's row, if any
  };

  // A CompleteTrial deferred likewise: the transaction's completions run as
  // one statement.
  struct Complete {
    TrialRef ref;
    TrialOutcome outcome;
    std::string metrics_json;
    std::optional<StrategySnapshot> snapshot;
    int64_t now_ms = 0;
    size_t op = 0;
  };

  void Begin() {
    members.clear();
    written_versions.clear();
    blamed.reset();
    completes.clear();
    counts = CountDelta();
    counts.SetShard(sequence++ % kCountShards);
    snapshots.clear();
    acquires.clear();
  }

  CountDelta counts;
  std::map<std::string, std::vector<StagedSnapshot>> snapshots;
  // Per job, in submission order.
  std::map<std::string, std::vector<Acquire>> acquires;
  std::vector<Complete> completes;  // in submission order
  // Each job's pareto_members as this transaction leaves them (read once,
  // from `committed_members` when there), and as the last committed
  // transaction left them. A stale entry is harmless: the table stays a
  // superset of the front (a member dropped elsewhere was dominated by a
  // newer one, which dominates whatever the stale one dominates).
  std::map<std::string, std::vector<Member>> members;
  std::map<std::string, std::vector<Member>> committed_members;
  // Each job's newest snapshot version written by this transaction, and as
  // committed (read once per job otherwise). The store's process is the
  // only writer of a job's snapshots (one controller per store); the
  // primary key (job_id, version) still refuses a repeated version.
  std::map<std::string, int64_t> written_versions;
  std::map<std::string, int64_t> committed_versions;
  // Set when running deferred work failed by the fault of the operation
  // with this index (see GroupCommitter::Hooks::culprit).
  std::optional<size_t> blamed;
  size_t op = 0;  // the running operation's index in the transaction
  int64_t sequence = 0;
};

namespace {

// The batch's deferred acquires: one statement per job, in job order.
std::vector<Statement> AcquireStatements(WriteBatch& batch) {
  std::vector<Statement> out;
  for (auto& [job_id, calls] : batch.acquires) {
    std::vector<std::string> workers;
    std::vector<int64_t> deadlines, starts;
    for (const WriteBatch::Acquire& c : calls) {
      workers.push_back(c.worker_id);
      deadlines.push_back(c.lease_deadline_ms);
      starts.push_back(c.now_ms);
      c.rows->clear();
    }
    out.push_back({AcquireManyPostgres(),
                   {job_id, P(static_cast<int64_t>(calls.size())),
                    TextArray(workers), IntArray(deadlines), IntArray(starts)}});
  }
  return out;
}

// Hands each job's leased rows (`results`, from AcquireStatements()) to the
// callers.
absl::Status ApplyAcquires(WriteBatch& batch,
                           std::vector<absl::StatusOr<SqlRows>>::iterator results) {
  for (auto& [job_id, calls] : batch.acquires) {
    absl::StatusOr<SqlRows>& rows = *results++;
    if (!rows.ok()) return rows.status();
    for (SqlRow& row : *rows) {
      const int64_t caller = Int(row, row.size() - 1);
      if (caller < 1 || caller > static_cast<int64_t>(calls.size())) {
        return absl::InternalError(absl::StrCat("acquire: caller ", caller));
      }
      batch.counts.Move(job_id, Int(row, 0), nas::v1::PENDING,
                        nas::v1::LEASED);
      row.pop_back();
      calls[caller - 1].rows->push_back(std::move(row));
    }
  }
  batch.acquires.clear();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Member>> ReadMembers(SqlTx& tx,
                                                const std::string& job_id);

// The job's pareto_members as this transaction sees them (see
// WriteBatch::members); read from the database at most once per job.
absl::StatusOr<std::vector<Member>*> BatchMembers(SqlTx& tx, WriteBatch& batch,
                                                  const std::string& job_id) {
  auto it = batch.members.find(job_id);
  if (it != batch.members.end()) return &it->second;
  auto committed = batch.committed_members.find(job_id);
  if (committed != batch.committed_members.end()) {
    return &batch.members.emplace(job_id, committed->second).first->second;
  }
  ASSIGN_OR_RETURN(std::vector<Member> read, ReadMembers(tx, job_id));
  return &batch.members.emplace(job_id, std::move(read)).first->second;
}

// Stages `snapshot` (if any) to be written at the end of the transaction.
// Of a job's snapshots in one transaction only the last submitted is
// written, which is exact since all commit together.
absl::Status StageSnapshot(WriteBatch& batch, const std::string& job_id,
                           const std::optional<StrategySnapshot>& snapshot,
                           int64_t now_ms) {
  if (snapshot.has_value()) {
    batch.snapshots[job_id].push_back({batch.op, *snapshot, now_ms});
  }
  return absl::OkStatus();
}

// Writes the newest staged snapshot of each job. Versions must grow in
// submission order and exceed the stored one; the first that does not
// blames the operation that staged it.
absl::Status WriteSnapshots(SqlTx& tx, WriteBatch& batch,
                            std::optional<size_t>* blame) {
  for (auto& [job_id, staged] : batch.snapshots) {
    std::stable_sort(staged.begin(), staged.end(),
                     [](const WriteBatch::StagedSnapshot& a,
                        const WriteBatch::StagedSnapshot& b) {
                       return a.op < b.op;
                     });
    int64_t previous = std::numeric_limits<int64_t>::min();
    if (auto known = batch.committed_versions.find(job_id);
        known != batch.committed_versions.end()) {
      previous = known->second;
    } else {
      ASSIGN_OR_RETURN(SqlRows rows,
                       tx.Query("SELECT MAX(version) FROM strategy_snapshots "
                                "WHERE job_id = $1",
                                {job_id}));
      if (!rows.empty() && !IsNull(rows[0], 0)) previous = Int(rows[0], 0);
    }
    for (const WriteBatch::StagedSnapshot& s : staged) {
      if (s.snapshot.version <= previous) {
        *blame = s.op;
        return absl::FailedPreconditionError(absl::StrCat(
            "strategy snapshot version ", s.snapshot.version, " of job '",
            job_id, "' is not newer than the stored version ", previous));
      }
      previous = s.snapshot.version;
    }
    const WriteBatch::StagedSnapshot& newest = staged.back();
    // Nothing in the transaction reads them back: they go with the COMMIT.
    RETURN_IF_ERROR(tx.QueryAtCommit(
        "INSERT INTO strategy_snapshots (job_id, version, state, "
        "create_time_ms) VALUES ($1, $2, $3, $4)",
        {job_id, P(newest.snapshot.version), Blob{newest.snapshot.state},
         P(newest.now_ms)}));
    RETURN_IF_ERROR(tx.QueryAtCommit(
        "DELETE FROM strategy_snapshots WHERE job_id = $1 AND version < $2",
        {job_id, P(newest.snapshot.version - kKeptSnapshots)}));
    batch.written_versions[job_id] = newest.snapshot.version;
  }
  return absl::OkStatus();
}

absl::StatusOr<JobObjectives> ReadObjectives(SqlTx& tx,
                                             const std::string& job_id) {
  ASSIGN_OR_RETURN(SqlRows rows,
                   tx.Query("SELECT primary_metric, primary_direction, "
                            "secondary_metric, secondary_direction FROM jobs "
                            "WHERE id = $1",
                            {job_id}));
  if (rows.empty()) return JobNotFound(job_id);
  JobObjectives o;
  o.primary_metric = Str(rows[0], 0);
  o.primary_direction = static_cast<Direction>(Int(rows[0], 1));
  o.secondary_metric = Str(rows[0], 2);
  o.secondary_direction = static_cast<Direction>(Int(rows[0], 3));
  return o;
}

absl::StatusOr<nas::v1::Job> ReadJob(SqlTx& tx, const std::string& job_id) {
  ASSIGN_OR_RETURN(SqlRows rows,
                   tx.Query("SELECT id, state, spec, create_time_ms, "
                            "update_time_ms, message, primary_metric, "
                            "primary_direction FROM jobs WHERE id = $1",
                            {job_id}));
  if (rows.empty()) return JobNotFound(job_id);
  const SqlRow& r = rows[0];
  nas::v1::Job job;
  job.set_id(Str(r, 0));
  job.set_state(static_cast<nas::v1::JobState>(Int(r, 1)));
  RETURN_IF_ERROR(FromJson(Str(r, 2), job.mutable_spec()));
  job.set_create_time_ms(Int(r, 3));
  job.set_update_time_ms(Int(r, 4));
  job.set_message(Str(r, 5));

  std::string sums = "SELECT ";
  for (size_t i = 0; i < kCountColumns.size(); ++i) {
    absl::StrAppend(&sums, i ? ", " : "", "SUM(", kCountColumns[i], ")");
  }
  absl::StrAppend(&sums, " FROM job_trial_counts WHERE job_id = $1");
  ASSIGN_OR_RETURN(SqlRows counts, tx.Query(sums, {job_id}));
  if (!counts.empty()) {
    const SqlRow& c = counts[0];
    auto* out = job.mutable_counts();
    out->set_pending(Int(c, 0));
    out->set_leased(Int(c, 1));
    out->set_running(Int(c, 2));
    out->set_succeeded(Int(c, 3));
    out->set_failed(Int(c, 4));
    out->set_stopped_early(Int(c, 5));
    out->set_cancelled(Int(c, 6));
    out->set_cache_hits(Int(c, 7));
  }
  if (!Str(r, 6).empty()) {
    const bool minimize = Int(r, 7) == nas::v1::MINIMIZE;
    ASSIGN_OR_RETURN(
        SqlRows best,
        tx.Query(minimize
                     ? "SELECT id, primary_objective FROM trials WHERE job_id = "
                       "$1 AND primary_objective IS NOT NULL AND state = 4 "
                       "ORDER BY primary_objective ASC, id LIMIT 1"
                     : "SELECT id, primary_objective FROM trials WHERE job_id = "
                       "$1 AND primary_objective IS NOT NULL AND state = 4 "
                       "ORDER BY primary_objective DESC, id LIMIT 1",
                 {job_id}));
    if (!best.empty()) {
      job.set_best_trial_id(Int(best[0], 0));
      job.set_best_objective(Dbl(best[0], 1));
    }
  }
  return job;
}

absl::StatusOr<std::vector<nas::v1::DeviceLatency>> ReadLatencies(
    SqlTx& tx, int64_t architecture_id) {
  ASSIGN_OR_RETURN(SqlRows rows,
                   tx.Query("SELECT device, batch_size, median_ms, p90_ms, "
                            "threads FROM device_latency WHERE "
                            "architecture_id = $1 ORDER BY device, batch_size",
                            {P(architecture_id)}));
  std::vector<nas::v1::DeviceLatency> out;
  for (const SqlRow& r : rows) {
    nas::v1::DeviceLatency l;
    l.set_device(Str(r, 0));
    l.set_batch_size(static_cast<int32_t>(Int(r, 1)));
    l.set_median_ms(Dbl(r, 2));
    l.set_p90_ms(Dbl(r, 3));
    l.set_threads(static_cast<int32_t>(Int(r, 4)));
    out.push_back(std::move(l));
  }
  return out;
}

// Turns rows of kTrialSelect into trials (plus latencies, measurements).
// `tx` may be null if no row has latencies and !with_measurements.
absl::StatusOr<std::vector<nas::v1::Trial>> TrialsFromRows(
    SqlTx* tx, const SqlRows& rows, bool with_measurements) {
  if (tx == nullptr && with_measurements) {
    return absl::InternalError("TrialsFromRows: measurements need a transaction");
  }
  std::vector<nas::v1::Trial> trials;
  trials.reserve(rows.size());
  for (const SqlRow& r : rows) {
    nas::v1::Trial t;
    t.set_id(Int(r, 0));
    t.set_job_id(Str(r, 1));
    t.set_state(static_cast<TrialState>(Int(r, 2)));
    t.set_attempt(static_cast<int32_t>(Int(r, 3)));
    t.set_worker_id(Str(r, 4));
    t.set_lease_deadline_ms(Int(r, 5));
    t.set_create_time_ms(Int(r, 6));
    t.set_start_time_ms(Int(r, 7));
    t.set_end_time_ms(Int(r, 8));
    if (!IsNull(r, 9)) RETURN_IF_ERROR(MetricsFromJson(Str(r, 9), t.mutable_metrics()));
    t.set_cache_hit(Bool(r, 10));
    t.set_failure_reason(Str(r, 11));
    t.set_failure_message(Str(r, 12));
    t.set_params(Int(r, 13));
    t.set_macs(Int(r, 14));
    RETURN_IF_ERROR(FromJson(Str(r, 15), t.mutable_architecture()));
    if (Int(r, kHasLatenciesColumn) > 0) {
      if (tx == nullptr) {
        return absl::InternalError("TrialsFromRows: latencies need a transaction");
      }
      ASSIGN_OR_RETURN(auto latencies, ReadLatencies(*tx, Int(r, 16)));
      for (auto& l : latencies) *t.add_latencies() = std::move(l);
    }
    if (with_measurements) {
      ASSIGN_OR_RETURN(SqlRows ms,
                       tx->Query("SELECT step, metric, value, time_ms FROM "
                                "measurements WHERE trial_id = $1 AND "
                                "attempt = $2 ORDER BY step, metric",
                                {P(t.id()), P(int64_t{t.attempt()})}));
      for (const SqlRow& m : ms) {
        if (t.measurements_size() == 0 ||
            t.measurements().rbegin()->step() != Int(m, 0)) {
          t.add_measurements()->set_step(Int(m, 0));
        }
        auto* last = t.mutable_measurements(t.measurements_size() - 1);
        if (!IsNull(m, 2)) (*last->mutable_metrics())[Str(m, 1)] = Dbl(m, 2);
        last->set_time_ms(std::max(last->time_ms(), Int(m, 3)));
      }
    }
    trials.push_back(std::move(t));
  }
  return trials;
}

absl::StatusOr<nas::v1::Trial> ReadTrial(SqlTx& tx, int64_t trial_id,
                                         bool with_measurements) {
  ASSIGN_OR_RETURN(SqlRows rows, tx.Query(absl::StrCat(TrialColumns(),
                                                       "WHERE t.id = $1"),
                                          {P(trial_id)}));
  if (rows.empty()) return TrialNotFound(trial_id);
  ASSIGN_OR_RETURN(auto trials, TrialsFromRows(&tx, rows, with_measurements));
  return std::move(trials[0]);
}

absl::StatusOr<std::vector<Member>> ReadMembers(SqlTx& tx,
                                                const std::string& job_id) {
  ASSIGN_OR_RETURN(SqlRows rows,
                   tx.Query("SELECT m.trial_id, t.primary_objective, "
                            "t.secondary_objective FROM pareto_members m JOIN "
                            "trials t ON t.id = m.trial_id WHERE m.job_id = $1",
                            {job_id}));
  std::vector<Member> members;
  for (const SqlRow& r : rows) {
    members.push_back({Int(r, 0), {Dbl(r, 1), Dbl(r, 2)}});
  }
  return members;
}

// Keeps pareto_members a superset of the job's front: adds the new trial
// unless a member dominates it, and drops the members it dominates.
absl::Status UpdateParetoMembers(SqlTx& tx, const std::string& job_id,
                                 int64_t trial_id, const JobObjectives& o,
                                 std::pair<double, double> point,
                                 std::vector<Member>& members) {
  std::vector<int64_t> dominated;
  for (const Member& m : members) {
    if (Dominates(m.point, point, o.primary_direction, o.secondary_direction)) {
      return absl::OkStatus();
    }
    if (Dominates(point, m.point, o.primary_direction, o.secondary_direction)) {
      dominated.push_back(m.trial_id);
    }
  }
  RETURN_IF_ERROR(tx.Query(
      "INSERT INTO pareto_members (job_id, trial_id) VALUES ($1, $2)",
      {job_id, P(trial_id)}));
  for (int64_t id : dominated) {
    RETURN_IF_ERROR(tx.Query(
        "DELETE FROM pareto_members WHERE job_id = $1 AND trial_id = $2",
        {job_id, P(id)}));
  }
  members.erase(std::remove_if(members.begin(), members.end(),
                               [&](const Member& m) {
                                 return std::find(dominated.begin(),
                                                  dominated.end(),
                                                  m.trial_id) != dominated.end();
                               }),
                members.end());
  members.push_back({trial_id, point});
  return absl::OkStatus();
}

// What the fenced part of CompleteTrial found and did.
struct Completion {
  bool done_before = false;  // the attempt had completed already: no change
  std::string job_id;
  int64_t architecture_id = 0;
  JobObjectives objectives;
  std::optional<double> a, b;  // the new trial's first two objectives
};

// The fence outcome for an attempt that was not updated.
absl::StatusOr<Completion> NotCompleted(const TrialRef& ref, int32_t attempt,
                                        TrialState state) {
  Completion c;
  if (attempt == ref.attempt &&
      (state == nas::v1::SUCCEEDED || state == nas::v1::STOPPED_EARLY)) {
    c.done_before = true;
    return c;
  }
  RETURN_IF_ERROR(CheckFence(ref, attempt, state));
  return absl::InternalError(absl::StrCat("trial ", ref.trial_id,
                                          ": active attempt was not updated"));
}

// Locks, fences and ends the attempt; stages the count changes.
absl::StatusOr<Completion> CompleteState(SqlTx& tx, CountDelta& counts,
                                         const TrialRef& ref,
                                         const TrialOutcome& outcome,
                                         const std::string& metrics_json,
                                         int64_t now_ms) {
  ASSIGN_OR_RETURN(LockedTrial t, LockTrial(tx, ref.trial_id));
  if (t.attempt != ref.attempt || !IsActive(t.state)) {
    return NotCompleted(ref, t.attempt, t.state);
  }
  Completion c;
  c.job_id = t.job_id;
  c.architecture_id = t.architecture_id;
  c.objectives = t.objectives;
  c.a = MetricOf(outcome.metrics, t.objectives.primary_metric);
  c.b = MetricOf(outcome.metrics, t.objectives.secondary_metric);
  RETURN_IF_ERROR(tx.Query(
      "UPDATE trials SET state = $2, end_time_ms = $3, metrics = $4, "
      "primary_objective = $5, secondary_objective = $6, cache_hit = $7, "
      "lease_deadline_ms = NULL WHERE id = $1",
      {P(ref.trial_id), P(int64_t{outcome.state}), P(now_ms), metrics_json,
       OptP(c.a), OptP(c.b), P(int64_t{outcome.cache_hit ? 1 : 0})}));
  counts.Move(t.job_id, ref.trial_id, t.state, outcome.state);
  if (outcome.cache_hit) counts.AddCacheHit(t.job_id, ref.trial_id);
  return c;
}

// PostgreSQL: the deferred CompleteTrial calls as one statement. One row per
// call, in order: whether it was applied, and the trial as it was.
constexpr char kCompleteManyPostgres[] =
    "WITH input AS (SELECT * FROM unnest(CAST($1 AS BIGINT[]), CAST($2 AS "
    "INTEGER[]), CAST($3 AS INTEGER[]), CAST($4 AS TEXT[]), CAST($5 AS "
    "INTEGER[])) WITH ORDINALITY AS i(id, attempt, state, metrics, cache_hit, "
    "n)), "
    "first AS (SELECT DISTINCT ON (id) * FROM input ORDER BY id, n), "
    "old AS (SELECT t.id, t.job_id, t.state, t.attempt, t.architecture_id "
    "FROM trials t WHERE t.id IN (SELECT id FROM input) FOR UPDATE), "
    "upd AS (UPDATE trials t SET state = f.state, end_time_ms = $6, metrics = "
    "CAST(f.metrics AS JSONB), primary_objective = CAST(CAST(f.metrics AS "
    "JSONB) ->> j.primary_metric AS DOUBLE PRECISION), secondary_objective = "
    "CAST(CAST(f.metrics AS JSONB) ->> j.secondary_metric AS DOUBLE "
    "PRECISION), cache_hit = (f.cache_hit <> 0), lease_deadline_ms = NULL "
    "FROM first f, old o, jobs j WHERE t.id = f.id AND o.id = f.id AND "
    "o.attempt = f.attempt AND o.state IN (2, 3) AND j.id = o.job_id "
    "RETURNING t.id, f.n, t.primary_objective, t.secondary_objective, "
    "j.primary_metric, j.primary_direction, j.secondary_metric, "
    "j.secondary_direction) "
    "SELECT i.n, o.job_id, o.state, o.attempt, o.architecture_id, u.n, "
    "u.primary_objective, u.secondary_objective, u.primary_metric, "
    "u.primary_direction, u.secondary_metric, u.secondary_direction FROM "
    "input i LEFT JOIN old o ON o.id = i.id LEFT JOIN upd u ON u.id = i.id "
    "ORDER BY i.n";

// The batch's deferred completions as one statement (see
// WriteBatch::Complete).
Statement CompleteStatement(const WriteBatch& batch) {
  std::vector<int64_t> ids, attempts, states, cache_hits;
  std::vector<std::string> metrics;
  for (const WriteBatch::Complete& c : batch.completes) {
    ids.push_back(c.ref.trial_id);
    attempts.push_back(c.ref.attempt);
    states.push_back(c.outcome.state);
    metrics.push_back(c.metrics_json);
    cache_hits.push_back(c.outcome.cache_hit ? 1 : 0);
  }
  return {kCompleteManyPostgres,
          {IntArray(ids), IntArray(attempts), IntArray(states),
           TextArray(metrics), IntArray(cache_hits),
           P(batch.completes.front().now_ms)}};
}

// Finishes the completions from CompleteStatement()'s rows. A call refused
// by the fence is blamed (the batch runs again without it).
absl::Status ApplyCompletes(SqlTx& tx, WriteBatch& batch, const SqlRows& rows,
                            std::optional<size_t>* blame) {
  if (rows.size() != batch.completes.size()) {
    return absl::InternalError(absl::StrCat("complete: ", rows.size(),
                                            " rows for ",
                                            batch.completes.size(), " calls"));
  }
  for (size_t k = 0; k < rows.size(); ++k) {
    const SqlRow& r = rows[k];
    WriteBatch::Complete& c = batch.completes[k];
    const bool applied = !IsNull(r, 5) && Int(r, 5) == static_cast<int64_t>(k + 1);
    if (!applied) {
      absl::Status refused =
          IsNull(r, 1) ? TrialNotFound(c.ref.trial_id)
                       : NotCompleted(c.ref, static_cast<int32_t>(Int(r, 3)),
                                      static_cast<TrialState>(Int(r, 2)))
                             .status();
      // Applied by an earlier call of this batch: the same attempt is OK.
      if (refused.ok() || (!IsNull(r, 5) && Int(r, 3) == c.ref.attempt)) {
        continue;
      }
      *blame = c.op;
      return refused;
    }
    const std::string job_id = Str(r, 1);
    const int64_t architecture_id = Int(r, 4);
    batch.counts.Move(job_id, c.ref.trial_id, static_cast<TrialState>(Int(r, 2)),
                      c.outcome.state);
    if (c.outcome.cache_hit) batch.counts.AddCacheHit(job_id, c.ref.trial_id);
    if (c.outcome.params > 0 || c.outcome.macs > 0) {
      RETURN_IF_ERROR(tx.QueryAtCommit(
          "UPDATE architectures SET "
          "params = CASE WHEN $2 > 0 THEN $2 ELSE params END, "
          "macs = CASE WHEN $3 > 0 THEN $3 ELSE macs END WHERE id = $1",
          {P(architecture_id), P(c.outcome.params), P(c.outcome.macs)}));
    }
    for (const auto& l : c.outcome.latencies) {
      RETURN_IF_ERROR(tx.QueryAtCommit(
          "INSERT INTO device_latency (architecture_id, device, batch_size, "
          "median_ms, p90_ms, threads, trial_id) VALUES ($1, $2, $3, $4, $5, "
          "$6, $7) ON CONFLICT (architecture_id, device, batch_size) DO "
          "UPDATE SET median_ms = excluded.median_ms, p90_ms = "
          "excluded.p90_ms, threads = excluded.threads, trial_id = "
          "excluded.trial_id",
          {P(architecture_id), l.device(), P(int64_t{l.batch_size()}),
           P(l.median_ms()), P(l.p90_ms()), P(int64_t{l.threads()}),
           P(c.ref.trial_id)}));
    }
    if (c.outcome.state == nas::v1::SUCCEEDED && !IsNull(r, 6) &&
        !IsNull(r, 7) && !Str(r, 10).empty()) {
      JobObjectives o;
      o.primary_metric = Str(r, 8);
      o.primary_direction = static_cast<Direction>(Int(r, 9));
      o.secondary_metric = Str(r, 10);
      o.secondary_direction = static_cast<Direction>(Int(r, 11));
      ASSIGN_OR_RETURN(std::vector<Member> * members,
                       BatchMembers(tx, batch, job_id));
      RETURN_IF_ERROR(UpdateParetoMembers(tx, job_id, c.ref.trial_id, o,
                                          {Dbl(r, 6), Dbl(r, 7)}, *members));
    }
    batch.op = c.op;
    RETURN_IF_ERROR(StageSnapshot(batch, job_id, c.snapshot, c.now_ms));
  }
  batch.completes.clear();
  return absl::OkStatus();
}

// Runs the deferred completions, then the deferred acquires, sent together
// (SqlTx::QueryBatch: one round trip on PostgreSQL). What the completions
// then write (architectures, latencies, Pareto members) follows the acquires.
absl::Status RunDeferredWork(SqlTx& tx, WriteBatch& batch,
                             std::optional<size_t>* blame) {
  if (batch.completes.empty() && batch.acquires.empty()) {
    return absl::OkStatus();
  }
  std::vector<Statement> statements;
  if (!batch.completes.empty()) statements.push_back(CompleteStatement(batch));
  for (Statement& a : AcquireStatements(batch)) {
    statements.push_back(std::move(a));
  }
  std::vector<absl::StatusOr<SqlRows>> results = tx.QueryBatch(statements);
  if (results.size() != statements.size()) {
    return absl::InternalError("QueryBatch: one result per statement expected");
  }
  auto next = results.begin();
  if (!batch.completes.empty()) {
    absl::StatusOr<SqlRows>& rows = *next++;
    if (!rows.ok()) return rows.status();
    RETURN_IF_ERROR(ApplyCompletes(tx, batch, *rows, blame));
  }
  return ApplyAcquires(batch, next);
}

int64_t StateMask(const std::vector<TrialState>& states) {
  int64_t mask = 0;
  for (TrialState s : states) mask |= int64_t{1} << (static_cast<int>(s) & 31);
  return mask;
}

}  // namespace

// ================================================================ migrations

absl::Status ApplyMigrations(SqlBackend& backend,
                             const std::vector<EmbeddedFile>& migrations) {
  struct Migration {
    int64_t version;
    std::string name;
    std::string sql;
  };
  std::vector<Migration> known;
  for (const EmbeddedFile& f : migrations) {
    int64_t version = 0;
    const std::string name = f.name;
    if (!absl::SimpleAtoi(name.substr(0, name.find('_')), &version)) {
      return absl::InternalError(absl::StrCat(
          "migration '", name, "' does not start with a version number"));
    }
    known.push_back({version, name, f.contents});
  }
  const int64_t newest = known.empty() ? 0 : known.back().version;
  return backend.Transact([&](SqlTx& tx) -> absl::Status {
    if (backend.dialect() == Dialect::kPostgres) {
      // Two processes starting at once migrate one after the other.
      RETURN_IF_ERROR(tx.Query("SELECT pg_advisory_xact_lock(7236001)", {}));
    }
    RETURN_IF_ERROR(tx.ExecScript(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version BIGINT PRIMARY KEY, name TEXT NOT NULL, "
        "applied_time_ms BIGINT NOT NULL)"));
    ASSIGN_OR_RETURN(SqlRows rows,
                     tx.Query("SELECT MAX(version) FROM schema_migrations", {}));
    const int64_t current = rows.empty() ? 0 : Int(rows[0], 0);
    if (current > newest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database schema is at version ", current,
          " but this binary knows versions up to ", newest,
          "; refusing to run an older binary against a newer schema "
          "(upgrade the binary)"));
    }
    for (const Migration& m : known) {
      if (m.version <= current) continue;
      absl::Status s = tx.ExecScript(m.sql);
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat("migration ", m.name, ": ",
                                                   s.message()));
      }
      RETURN_IF_ERROR(tx.Query(
          "INSERT INTO schema_migrations (version, name, applied_time_ms) "
          "VALUES ($1, $2, $3)",
          {P(m.version), m.name,
           P(absl::ToUnixMillis(absl::Now()))}));
    }
    return absl::OkStatus();
  });
}

// ================================================================ store

SqlTrialStore::SqlTrialStore(std::unique_ptr<SqlBackend> backend)
    : backend_(std::move(backend)), batch_(std::make_unique<WriteBatch>()) {
  GroupCommitter::Hooks hooks;
  hooks.begin = [this] { batch_->Begin(); };
  hooks.culprit = [this] { return batch_->blamed; };
  hooks.finish = [this](SqlTx& tx, std::optional<size_t>* blame) {
    RETURN_IF_ERROR(RunDeferredWork(tx, *batch_, blame));
    RETURN_IF_ERROR(WriteSnapshots(tx, *batch_, blame));
    return batch_->counts.Flush(tx, /*at_commit=*/true);
  };
  hooks.committed = [this] {
    for (auto& [job_id, members] : batch_->members) {
      batch_->committed_members[job_id] = std::move(members);
    }
    batch_->members.clear();
    for (const auto& [job_id, version] : batch_->written_versions) {
      batch_->committed_versions[job_id] = version;
    }
    batch_->written_versions.clear();
  };
  committer_ = std::make_unique<GroupCommitter>(backend_.get(), std::move(hooks));
}

SqlTrialStore::~SqlTrialStore() { committer_.reset(); }

absl::Status SqlTrialStore::Write(
    const std::function<absl::Status(SqlTx&)>& fn) {
  return committer_->Run([this, &fn](SqlTx& tx, size_t index) {
    RETURN_IF_ERROR(RunDeferred(tx));
    batch_->op = index;
    return fn(tx);
  });
}

absl::Status SqlTrialStore::RunDeferred(SqlTx& tx) {
  // Earlier operations' deferred work runs first, keeping submission order.
  return RunDeferredWork(tx, *batch_, &batch_->blamed);
}

absl::StatusOr<std::unique_ptr<SqlTrialStore>> SqlTrialStore::Create(
    std::unique_ptr<SqlBackend> backend,
    const std::vector<EmbeddedFile>& migrations) {
  RETURN_IF_ERROR(ApplyMigrations(*backend, migrations));
  return std::unique_ptr<SqlTrialStore>(new SqlTrialStore(std::move(backend)));
}

// ------------------------------------------------------------------ jobs

absl::StatusOr<nas::v1::Job> SqlTrialStore::CreateJob(
    const nas::v1::JobSpec& spec, const std::string& request_id,
    int64_t now_ms) {
  ASSIGN_OR_RETURN(const std::string spec_json, ToJson(spec));
  const JobObjectives o = ObjectivesOf(spec);
  nas::v1::Job job;
  RETURN_IF_ERROR(Write([&](SqlTx& tx) -> absl::Status {
    const std::string id = NewId("job");
    ASSIGN_OR_RETURN(
        SqlRows inserted,
        tx.Query("INSERT INTO jobs (id, name, request_id, state, spec, "
                 "primary_metric, primary_direction, secondary_metric, "
                 "secondary_direction, message, create_time_ms, "
                 "update_time_ms) VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, "
                 "'', $9, $9) ON CONFLICT (request_id) DO NOTHING RETURNING id",
                 {id, spec.name(),
                  request_id.empty() ? SqlParam(nullptr) : SqlParam(request_id),
                  spec_json, o.primary_metric,
                  P(int64_t{o.primary_direction}), o.secondary_metric,
                  P(int64_t{o.secondary_direction}), P(now_ms)}));
    if (inserted.empty()) {
      ASSIGN_OR_RETURN(SqlRows existing,
                       tx.Query("SELECT id FROM jobs WHERE request_id = $1",
                                {request_id}));
      if (existing.empty()) {
        return absl::AbortedError("job request id raced; try again");
      }
      // Its counts may have changes staged by this transaction.
      RETURN_IF_ERROR(batch_->counts.Flush(tx));
      ASSIGN_OR_RETURN(job, ReadJob(tx, Str(existing[0], 0)));
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(tx.Query(
        absl::StrCat("WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 "
                     "FROM s WHERE n < ",
                     kCountShards - 1,
                     ") INSERT INTO job_trial_counts (job_id, shard) "
                     "SELECT $1, n FROM s"),
        {id}));
    ASSIGN_OR_RETURN(job, ReadJob(tx, id));
    return absl::OkStatus();
  }));
  return job;
}

absl::StatusOr<nas::v1::Job> SqlTrialStore::GetJob(const std::string& job_id) {
  nas::v1::Job job;
  RETURN_IF_ERROR(backend_->Transact([&](SqlTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(job, ReadJob(tx, job_id));
    return absl::OkStatus();
  }));
  return job;
}

absl::StatusOr<std::vector<nas::v1::Job>> SqlTrialStore::ListJobs(
    nas::v1::JobState state, int32_t limit, int64_t offset) {
  std::vector<nas::v1::Job> jobs;
  RETURN_IF_ERROR(backend_->Transact([&](SqlTx& tx) -> absl::Status {
    jobs.clear();
    ASSIGN_OR_RETURN(SqlRows rows,
                     tx.Query("SELECT id FROM jobs WHERE ($1 = 0 OR state = $1) "
                              "ORDER BY create_time_ms, id LIMIT $2 OFFSET $3",
                              {P(int64_t{state}), P(int64_t{limit}),
                               P(offset)}));
    for (const SqlRow& r : rows) {
      ASSIGN_OR_RETURN(nas::v1::Job job, ReadJob(tx, Str(r, 0)));
      jobs.push_back(std::move(job));
    }
    return absl::OkStatus();
  }));
  return jobs;
}

absl::Status SqlTrialStore::SetJobState(const std::string& job_id,
                                        nas::v1::JobState state,
                                        const std::string& message,
                                        int64_t now_ms) {
  if (state == nas::v1::JOB_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError("SetJobState: state is unspecified");
  }
  return Write([&](SqlTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(SqlRows rows,
                     tx.Query("UPDATE jobs SET state = $2, message = $3, "
                              "update_time_ms = $4 WHERE id = $1 RETURNING id",
                              {job_id, P(int64_t{state}), message, P(now_ms)}));
    return rows.empty() ? JobNotFound(job_id) : absl::OkStatus();
  });
}

absl::Status SqlTrialStore::UpdateJobSpec(const std::string& job_id,
                                          const nas::v1::JobSpec& spec,
                                          int64_t now_ms) {
  ASSIGN_OR_RETURN(const std::string spec_json, ToJson(spec));
  const JobObjectives o = ObjectivesOf(spec);
  return Write([&](SqlTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(JobObjectives old, ReadObjectives(tx, job_id));
    if (old.primary_metric != o.primary_metric ||
        old.primary_direction != o.primary_direction ||
        old.secondary_metric != o.secondary_metric ||
        old.secondary_direction != o.secondary_direction) {
      return absl::InvalidArgumentError(absl::StrCat(
          "job '", job_id, "': the first two objectives cannot change"));
    }
    return tx.Query("UPDATE jobs SET spec = $2, name = $3, update_time_ms = $4 "
                    "WHERE id = $1",
                    {job_id, spec_json, spec.name(), P(now_ms)})
        .status();
  });
}

// ---------------------------------------------------------------- trials

absl::StatusOr<std::vector<int64_t>> SqlTrialStore::InsertTrials(
    const std::string& job_id, const std::vector<NewTrial>& trials,
    const std::optional<StrategySnapshot>& snapshot, int64_t now_ms) {
  std::vector<std::string> genotypes;
  for (size_t i = 0; i < trials.size(); ++i) {
    const auto& arch = trials[i].architecture;
    if (arch.hash().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "InsertTrials: trials[", i, "].architecture.hash is empty"));
    }
    ASSIGN_OR_RETURN(std::string json, ToJson(arch));
    genotypes.push_back(std::move(json));
  }
  std::vector<int64_t> ids;
  RETURN_IF_ERROR(Write([&](SqlTx& tx) -> absl::Status {
    ids.clear();
    ASSIGN_OR_RETURN(SqlRows job,
                     tx.Query("SELECT id FROM jobs WHERE id = $1", {job_id}));
    if (job.empty()) return JobNotFound(job_id);
    CountDelta& counts = batch_->counts;
    if (backend_->dialect() == Dialect::kPostgres && !trials.empty()) {
      std::vector<std::string> hashes, canonicals, eval_keys;
      std::vector<int64_t> params, macs;
      for (const NewTrial& t : trials) {
        hashes.push_back(t.architecture.hash());
        canonicals.push_back(t.architecture.canonical());
        eval_keys.push_back(t.eval_key);
        params.push_back(t.params);
        macs.push_back(t.macs);
      }
      ASSIGN_OR_RETURN(
          SqlRows rows,
          tx.Query(kInsertTrialsPostgres,
                   {job_id, TextArray(hashes), TextArray(canonicals),
                    TextArray(genotypes), IntArray(params), IntArray(macs),
                    TextArray(eval_keys), P(now_ms)}));
      if (rows.size() != trials.size()) {
        return absl::InternalError(absl::StrCat(
            "InsertTrials: inserted ", rows.size(), " of ", trials.size()));
      }
      for (const SqlRow& r : rows) {
        ids.push_back(Int(r, 0));
        counts.Move(job_id, ids.back(), nas::v1::TRIAL_STATE_UNSPECIFIED,
                    nas::v1::PENDING);
      }
      return StageSnapshot(*batch_, job_id, snapshot, now_ms);
    }
    for (size_t i = 0; i < trials.size(); ++i) {
      const NewTrial& t = trials[i];
      ASSIGN_OR_RETURN(
          SqlRows arch,
          tx.Query("INSERT INTO architectures (hash, canonical, genotype, "
                   "params, macs) VALUES ($1, $2, $3, $4, $5) "
                   "ON CONFLICT (hash) DO UPDATE SET "
                   "params = CASE WHEN excluded.params > 0 THEN excluded.params "
                   "ELSE architectures.params END, "
                   "macs = CASE WHEN excluded.macs > 0 THEN excluded.macs "
                   "ELSE architectures.macs END RETURNING id",
                   {t.architecture.hash(), t.architecture.canonical(),
                    genotypes[i], P(t.params), P(t.macs)}));
      ASSIGN_OR_RETURN(
          SqlRows trial,
          tx.Query("INSERT INTO trials (job_id, architecture_id, eval_key, "
                   "state, attempt, create_time_ms) VALUES ($1, $2, $3, 1, 1, "
                   "$4) RETURNING id",
                   {job_id, P(Int(arch[0], 0)), t.eval_key, P(now_ms)}));
      ids.push_back(Int(trial[0], 0));
      counts.Move(job_id, ids.back(), nas::v1::TRIAL_STATE_UNSPECIFIED,
                  nas::v1::PENDING);
    }
    RETURN_IF_ERROR(StageSnapshot(*batch_, job_id, snapshot, now_ms));
    return absl::OkStatus();
  }));
  return ids;
}

std::shared_future<absl::Status> SqlTrialStore::Issue(
    std::function<absl::Status(SqlTx&)> fn, bool defers) {
  return committer_->Submit(
      [this, fn = std::move(fn), defers](SqlTx& tx, size_t index) {
        if (!defers) RETURN_IF_ERROR(RunDeferred(tx));
        batch_->op = index;
        return fn(tx);
      });
}

absl::StatusOr<std::optional<nas::v1::Trial>> SqlTrialStore::AcquireTrial(
    const std::string& job_id, const std::string& worker_id,
    int64_t lease_deadline_ms, int64_t now_ms) {
  return IssueAcquireTrial(job_id, worker_id, lease_deadline_ms, now_ms).Wait();
}

PendingWrite<absl::StatusOr<std::optional<nas::v1::Trial>>>
SqlTrialStore::IssueAcquireTrial(const std::string& job_id,
                                 const std::string& worker_id,
                                 int64_t lease_deadline_ms, int64_t now_ms) {
  using Result = absl::StatusOr<std::optional<nas::v1::Trial>>;
  struct Out {
    SqlRows rows;                          // PostgreSQL
    std::optional<nas::v1::Trial> trial;  // SQLite
  };
  auto out = std::make_shared<Out>();
  const bool postgres = backend_->dialect() == Dialect::kPostgres;
  std::shared_future<absl::Status> done = Issue([=](SqlTx& tx) -> absl::Status {
    if (postgres) {
      // Deferred: the transaction's acquires of a job run as one statement.
      batch_->acquires[job_id].push_back(
          {worker_id, lease_deadline_ms, now_ms, &out->rows});
      return absl::OkStatus();
    }
    out->trial.reset();
    ASSIGN_OR_RETURN(
        SqlRows rows,
        tx.Query("UPDATE trials SET state = 2, worker_id = $2, "
                 "lease_deadline_ms = $3, start_time_ms = $4, end_time_ms = "
                 "NULL WHERE id = (SELECT id FROM trials WHERE job_id = $1 AND "
                 "state = 1 ORDER BY create_time_ms, id LIMIT 1 FOR UPDATE SKIP "
                 "LOCKED) "
                 "RETURNING id",
                 {job_id, worker_id, P(lease_deadline_ms), P(now_ms)}));
    if (rows.empty()) return absl::OkStatus();
    const int64_t id = Int(rows[0], 0);
    batch_->counts.Move(job_id, id, nas::v1::PENDING, nas::v1::LEASED);
    ASSIGN_OR_RETURN(out->trial, ReadTrial(tx, id, false));
    return absl::OkStatus();
  }, /*defers=*/postgres);
  return PendingWrite<Result>([this, out, done, postgres]() -> Result {
    RETURN_IF_ERROR(done.get());
    if (!postgres) return std::move(out->trial);
    std::optional<nas::v1::Trial> result;
    if (out->rows.empty()) return result;
    if (Int(out->rows[0], kHasLatenciesColumn) > 0) {
      return GetTrial(Int(out->rows[0], 0), false);
    }
    ASSIGN_OR_RETURN(auto trials, TrialsFromRows(nullptr, out->rows, false));
    result = std::move(trials[0]);
    return result;
  });
}

absl::Status SqlTrialStore::ExtendLease(const TrialRef& ref,
                                        int64_t lease_deadline_ms) {
  return Write([&](SqlTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(LockedTrial t, LockTrial(tx, ref.trial_id));
    RETURN_IF_ERROR(CheckFence(ref, t.attempt, t.state));
    return tx.Query("UPDATE trials SET lease_deadline_ms = $2 WHERE id = $1",
                    {P(ref.trial_id), P(lease_deadline_ms)})
        .status();
  });
}

absl::Status SqlTrialStore::AddMeasurement(const TrialRef& ref,
                                           const nas::v1::Measurement& m) {
  return IssueAddMeasurement(ref, m, 0).Wait();
}

PendingWrite<absl::Status> SqlTrialStore::IssueAddMeasurement(
    const TrialRef& ref, const nas::v1::Measurement& m,
    int64_t lease_deadline_ms) {
  std::shared_future<absl::Status> done = Issue([=](SqlTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(LockedTrial t, LockTrial(tx, ref.trial_id));
    RETURN_IF_ERROR(CheckFence(ref, t.attempt, t.state));
    std::map<std::string, double> sorted(m.metrics().begin(), m.metrics().end());
    for (const auto& [metric, value] : sorted) {
      RETURN_IF_ERROR(tx.Query(
          "INSERT INTO measurements (trial_id, attempt, step, metric, value, "
          "time_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (trial_id, "
          "attempt, step, metric) DO UPDATE SET value = excluded.value, "
          "time_ms = excluded.time_ms",
          {P(ref.trial_id), P(int64_t{ref.attempt}), P(m.step()), metric,
           std::isfinite(value) ? SqlParam(value) : SqlParam(nullptr),
           P(m.time_ms())}));
    }
    if (t.state == nas::v1::LEASED || lease_deadline_ms > 0) {
      RETURN_IF_ERROR(tx.Query(
          "UPDATE trials SET state = 3, lease_deadline_ms = CASE WHEN $2 > 0 "
          "THEN $2 ELSE lease_deadline_ms END WHERE id = $1",
          {P(ref.trial_id), P(lease_deadline_ms)}));
    }
    if (t.state == nas::v1::LEASED) {
      batch_->counts.Move(t.job_id, ref.trial_id, nas::v1::LEASED,
                          nas::v1::RUNNING);
    }
    return absl::OkStatus();
  });
  return PendingWrite<absl::Status>([done] { return done.get(); });
}

absl::Status SqlTrialStore::CompleteTrial(
    const TrialRef& ref, const TrialOutcome& outcome,
    const std::optional<StrategySnapshot>& snapshot, int64_t now_ms) {
  return IssueCompleteTrial(ref, outcome, snapshot, now_ms).Wait();
}

PendingWrite<absl::Status> SqlTrialStore::IssueCompleteTrial(
    const TrialRef& ref, const TrialOutcome& outcome,
    const std::optional<StrategySnapshot>& snapshot, int64_t now_ms) {
  if (outcome.state != nas::v1::SUCCEEDED &&
      outcome.state != nas::v1::STOPPED_EARLY) {
    return PendingWrite<absl::Status>::Ready(absl::InvalidArgumentError(
        absl::StrCat("CompleteTrial: outcome state must be SUCCEEDED or "
                     "STOPPED_EARLY, not ",
                     nas::v1::TrialState_Name(outcome.state))));
  }
  absl::StatusOr<std::string> json = MetricsToJson(outcome.metrics);
  if (!json.ok()) return PendingWrite<absl::Status>::Ready(json.status());
  const bool postgres = backend_->dialect() == Dialect::kPostgres;
  std::shared_future<absl::Status> done = Issue(
      [=, metrics_json = *std::move(json)](SqlTx& tx) -> absl::Status {
        if (postgres) {
          // Deferred: the transaction's completions run as one statement.
          batch_->completes.push_back(
              {ref, outcome, metrics_json, snapshot, now_ms, batch_->op});
          return absl::OkStatus();
        }
        CountDelta& counts = batch_->counts;  // SQLite: one call at a time
        ASSIGN_OR_RETURN(Completion c, CompleteState(tx, counts, ref, outcome,
                                                     metrics_json, now_ms));
        if (c.done_before) return absl::OkStatus();  // A retried report.
        if (outcome.params > 0 || outcome.macs > 0) {
          RETURN_IF_ERROR(tx.QueryAtCommit(
              "UPDATE architectures SET "
              "params = CASE WHEN $2 > 0 THEN $2 ELSE params END, "
              "macs = CASE WHEN $3 > 0 THEN $3 ELSE macs END WHERE id = $1",
              {P(c.architecture_id), P(outcome.params), P(outcome.macs)}));
        }
        for (const auto& l : outcome.latencies) {
          RETURN_IF_ERROR(tx.QueryAtCommit(
              "INSERT INTO device_latency (architecture_id, device, "
              "batch_size, median_ms, p90_ms, threads, trial_id) VALUES ($1, "
              "$2, $3, $4, $5, $6, $7) ON CONFLICT (architecture_id, device, "
              "batch_size) DO UPDATE SET median_ms = excluded.median_ms, "
              "p90_ms = excluded.p90_ms, threads = excluded.threads, "
              "trial_id = excluded.trial_id",
              {P(c.architecture_id), l.device(), P(int64_t{l.batch_size()}),
               P(l.median_ms()), P(l.p90_ms()), P(int64_t{l.threads()}),
               P(ref.trial_id)}));
        }
        if (outcome.state == nas::v1::SUCCEEDED && c.a.has_value() &&
            c.b.has_value()) {
          ASSIGN_OR_RETURN(std::vector<Member> * members,
                           BatchMembers(tx, *batch_, c.job_id));
          RETURN_IF_ERROR(UpdateParetoMembers(tx, c.job_id, ref.trial_id,
                                              c.objectives, {*c.a, *c.b},
                                              *members));
        }
        return StageSnapshot(*batch_, c.job_id, snapshot, now_ms);
      },
      /*defers=*/postgres);
  return PendingWrite<absl::Status>([done] { return done.get(); });
}

absl::StatusOr<FailResult> SqlTrialStore::FailTrial(
    const TrialRef& ref, const std::string& reason, const std::string& message,
    int32_t max_attempts, const std::optional<StrategySnapshot>& snapshot,
    int64_t now_ms) {
  return IssueFailTrial(ref, reason, message, max_attempts, snapshot, now_ms)
      .Wait();
}

PendingWrite<absl::StatusOr<FailResult>> SqlTrialStore::IssueFailTrial(
    const TrialRef& ref, const std::string& reason, const std::string& message,
    int32_t max_attempts, const std::optional<StrategySnapshot>& snapshot,
    int64_t now_ms) {
  using Result = absl::StatusOr<FailResult>;
  if (max_attempts < 1) {
    return PendingWrite<Result>::Ready(absl::InvalidArgumentError(
        absl::StrCat("FailTrial: max_attempts must be >= 1, got ", max_attempts)));
  }
  auto result = std::make_shared<FailResult>();
  std::shared_future<absl::Status> done = Issue([=](SqlTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(LockedTrial t, LockTrial(tx, ref.trial_id));
    RETURN_IF_ERROR(CheckFence(ref, t.attempt, t.state));
    result->will_retry = t.attempt < max_attempts;
    result->next_attempt = result->will_retry ? t.attempt + 1 : 0;
    const TrialState to =
        result->will_retry ? nas::v1::PENDING : nas::v1::FAILED;
    RETURN_IF_ERROR(tx.Query(
        "UPDATE trials SET state = $2, attempt = $3, failure_reason = $4, "
        "failure_message = $5, lease_deadline_ms = NULL, end_time_ms = $6, "
        "worker_id = CASE WHEN $7 = 1 THEN NULL ELSE worker_id END "
        "WHERE id = $1",
        {P(ref.trial_id), P(int64_t{to}),
         P(int64_t{result->will_retry ? t.attempt + 1 : t.attempt}), reason,
         message,
         result->will_retry ? SqlParam(nullptr) : SqlParam(now_ms),
         P(int64_t{result->will_retry ? 1 : 0})}));
    RETURN_IF_ERROR(StageSnapshot(*batch_, t.job_id, snapshot, now_ms));
    batch_->counts.Move(t.job_id, ref.trial_id, t.state, to);
    return absl::OkStatus();
  });
  return PendingWrite<Result>([done, result]() -> Result {
    RETURN_IF_ERROR(done.get());
    return *result;
  });
}

absl::StatusOr<std::vector<ExpiredLease>> SqlTrialStore::RequeueExpiredLeases(
    int64_t now_ms, int32_t max_expirations) {
  if (max_expirations < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RequeueExpiredLeases: max_expirations must be >= 1, got ",
        max_expirations));
  }
  std::vector<ExpiredLease> expired;
  RETURN_IF_ERROR(Write([&](SqlTx& tx) -> absl::Status {
    expired.clear();
    ASSIGN_OR_RETURN(
        SqlRows rows,
        tx.Query("SELECT id, job_id, state, attempt, lease_expirations FROM "
                 "trials WHERE state IN (2, 3) AND lease_deadline_ms < $1 "
                 "ORDER BY id FOR UPDATE SKIP LOCKED",
                 {P(now_ms)}));
    CountDelta& counts = batch_->counts;
    for (const SqlRow& r : rows) {
      ExpiredLease e;
      e.trial_id = Int(r, 0);
      e.job_id = Str(r, 1);
      e.old_attempt = static_cast<int32_t>(Int(r, 3));
      const int64_t expirations = Int(r, 4) + 1;
      e.requeued = expirations < max_expirations;
      if (e.requeued) {
        RETURN_IF_ERROR(tx.Query(
            "UPDATE trials SET state = 1, attempt = attempt + 1, "
            "lease_expirations = $2, worker_id = NULL, lease_deadline_ms = "
            "NULL WHERE id = $1",
            {P(e.trial_id), P(expirations)}));
      } else {
        RETURN_IF_ERROR(tx.Query(
            "UPDATE trials SET state = 5, lease_expirations = $2, "
            "lease_deadline_ms = NULL, end_time_ms = $3, failure_reason = "
            "'lease_expired', failure_message = $4 WHERE id = $1",
            {P(e.trial_id), P(expirations), P(now_ms),
             absl::StrCat("the lease expired ", expirations, " times")}));
      }
      counts.Move(e.job_id, e.trial_id, static_cast<TrialState>(Int(r, 2)),
                  e.requeued ? nas::v1::PENDING : nas::v1::FAILED);
      expired.push_back(std::move(e));
    }
    return absl::OkStatus();
  }));
  return expired;
}

absl::StatusOr<int64_t> SqlTrialStore::CancelActiveTrials(
    const std::string& job_id, int64_t now_ms) {
  int64_t cancelled = 0;
  RETURN_IF_ERROR(Write([&](SqlTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(SqlRows job,
                     tx.Query("SELECT id FROM jobs WHERE id = $1", {job_id}));
    if (job.empty()) return JobNotFound(job_id);
    ASSIGN_OR_RETURN(SqlRows rows,
                     tx.Query("SELECT id, state FROM trials WHERE job_id = $1 "
                              "AND state IN (1, 2, 3) ORDER BY id FOR UPDATE",
                              {job_id}));
    CountDelta& counts = batch_->counts;
    for (const SqlRow& r : rows) {
      RETURN_IF_ERROR(tx.Query("UPDATE trials SET state = 7, end_time_ms = "
                               "$2, lease_deadline_ms = NULL WHERE id = $1",
                               {P(Int(r, 0)), P(now_ms)}));
      counts.Move(job_id, Int(r, 0), static_cast<TrialState>(Int(r, 1)),
                  nas::v1::CANCELLED);
    }
    cancelled = static_cast<int64_t>(rows.size());
    return absl::OkStatus();
  }));
  return cancelled;
}

absl::StatusOr<nas::v1::Trial> SqlTrialStore::GetTrial(int64_t trial_id,
                                                       bool with_measurements) {
  if (!with_measurements) {
    // One autocommit statement, unless the trial has latencies to read.
    ASSIGN_OR_RETURN(SqlRows rows,
                     backend_->Execute(absl::StrCat(TrialColumns(),
                                                    "WHERE t.id = $1"),
                                       {P(trial_id)}));
    if (rows.empty()) return TrialNotFound(trial_id);
    if (Int(rows[0], kHasLatenciesColumn) == 0) {
      ASSIGN_OR_RETURN(auto trials, TrialsFromRows(nullptr, rows, false));
      return std::move(trials[0]);
    }
  }
  nas::v1::Trial trial;
  RETURN_IF_ERROR(backend_->Transact([&](SqlTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(trial, ReadTrial(tx, trial_id, with_measurements));
    return absl::OkStatus();
  }));
  return trial;
}

absl::StatusOr<std::vector<nas::v1::Trial>> SqlTrialStore::ListTrials(
    const TrialQuery& query) {
  if (query.limit < 0 || query.offset < 0) {
    return absl::InvalidArgumentError(
        "ListTrials: limit and offset must be >= 0");
  }
  const int64_t mask = StateMask(query.states);
  const bool desc = query.direction != nas::v1::MINIMIZE;
  std::vector<nas::v1::Trial> trials;
  RETURN_IF_ERROR(backend_->Transact([&](SqlTx& tx) -> absl::Status {
    trials.clear();
    ASSIGN_OR_RETURN(JobObjectives o, ReadObjectives(tx, query.job_id));
    const std::string metric =
        query.metric.empty() ? o.primary_metric : query.metric;
    SqlRows rows;
    if (query.order != nas::v1::ORDER_BY_OBJECTIVE || metric.empty()) {
      ASSIGN_OR_RETURN(rows, tx.Query(absl::StrCat(TrialColumns(),
                                                   "WHERE t.job_id = $1 AND ",
                                                   kStateMask,
                                                   " ORDER BY t.id LIMIT $3 "
                                                   "OFFSET $4"),
                                      {query.job_id, P(mask),
                                       P(int64_t{query.limit}),
                                       P(query.offset)}));
    } else if (metric == o.primary_metric) {
      // Indexed: trials with the objective (trials_by_objective), then the
      // rest by id.
      ASSIGN_OR_RETURN(
          rows,
          tx.Query(absl::StrCat(TrialColumns(),
                                "WHERE t.job_id = $1 AND t.primary_objective "
                                "IS NOT NULL AND ",
                                kStateMask, " ORDER BY t.primary_objective ",
                                desc ? "DESC" : "ASC",
                                ", t.id LIMIT $3 OFFSET $4"),
                   {query.job_id, P(mask), P(int64_t{query.limit}),
                    P(query.offset)}));
      if (rows.size() < static_cast<size_t>(query.limit)) {
        int64_t with_metric = query.offset + static_cast<int64_t>(rows.size());
        if (rows.empty() && query.offset > 0) {
          ASSIGN_OR_RETURN(
              SqlRows n,
              tx.Query(absl::StrCat("SELECT COUNT(*) FROM trials t WHERE "
                                    "t.job_id = $1 AND t.primary_objective IS "
                                    "NOT NULL AND ",
                                    kStateMask),
                       {query.job_id, P(mask)}));
          with_metric = Int(n[0], 0);
        }
        ASSIGN_OR_RETURN(
            SqlRows rest,
            tx.Query(absl::StrCat(TrialColumns(),
                                  "WHERE t.job_id = $1 AND t.primary_objective "
                                  "IS NULL AND ",
                                  kStateMask,
                                  " ORDER BY t.id LIMIT $3 OFFSET $4"),
                     {query.job_id, P(mask),
                      P(int64_t{query.limit} - static_cast<int64_t>(rows.size())),
                      P(std::max<int64_t>(0, query.offset - with_metric))}));
        rows.insert(rows.end(), rest.begin(), rest.end());
      }
    } else {
      // Any other metric: read from the JSON metrics (not indexed).
      constexpr char kMetric[] =
          "CAST(t.metrics ->> CAST($5 AS TEXT) AS DOUBLE PRECISION)";
      ASSIGN_OR_RETURN(
          rows, tx.Query(absl::StrCat(TrialColumns(), "WHERE t.job_id = $1 AND ",
                                      kStateMask, " ORDER BY (", kMetric,
                                      " IS NULL), ", kMetric,
                                      desc ? " DESC" : " ASC",
                                      ", t.id LIMIT $3 OFFSET $4"),
                         {query.job_id, P(mask), P(int64_t{query.limit}),
                          P(query.offset), metric}));
    }
    ASSIGN_OR_RETURN(trials,
                     TrialsFromRows(&tx, rows, query.with_measurements));
    return absl::OkStatus();
  }));
  return trials;
}

absl::StatusOr<std::vector<nas::v1::Trial>> SqlTrialStore::ParetoFront(
    const std::string& job_id, const std::string& metric_a,
    nas::v1::Direction direction_a, const std::string& metric_b,
    nas::v1::Direction direction_b) {
  direction_a = DirectionOrMax(direction_a);
  direction_b = DirectionOrMax(direction_b);
  std::vector<nas::v1::Trial> trials;
  RETURN_IF_ERROR(backend_->Transact([&](SqlTx& tx) -> absl::Status {
    trials.clear();
    ASSIGN_OR_RETURN(JobObjectives o, ReadObjectives(tx, job_id));
    if (metric_a == o.primary_metric && direction_a == o.primary_direction &&
        metric_b == o.secondary_metric && direction_b == o.secondary_direction) {
      // The maintained candidates (a small superset of the front), read in
      // one statement.
      ASSIGN_OR_RETURN(
          SqlRows rows,
          tx.Query(absl::StrCat(TrialColumns(),
                                "WHERE t.id IN (SELECT trial_id FROM "
                                "pareto_members WHERE job_id = $1)"),
                   {job_id}));
      ASSIGN_OR_RETURN(std::vector<nas::v1::Trial> candidates,
                       TrialsFromRows(&tx, rows, false));
      std::vector<std::pair<double, double>> points;
      for (const auto& t : candidates) {
        auto a = t.metrics().find(metric_a), b = t.metrics().find(metric_b);
        points.push_back({a == t.metrics().end() ? 0 : a->second,
                          b == t.metrics().end() ? 0 : b->second});
      }
      for (size_t i : ParetoFrontIndices(points, direction_a, direction_b)) {
        trials.push_back(std::move(candidates[i]));
      }
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(
        SqlRows rows,
        tx.Query("SELECT t.id, CAST(t.metrics ->> CAST($2 AS TEXT) AS DOUBLE "
                 "PRECISION), CAST(t.metrics ->> CAST($3 AS TEXT) AS DOUBLE "
                 "PRECISION) FROM trials t WHERE t.job_id = $1 AND t.state = 4",
                 {job_id, metric_a, metric_b}));
    std::vector<std::pair<double, double>> points;
    std::vector<int64_t> ids;
    for (const SqlRow& r : rows) {
      if (IsNull(r, 1) || IsNull(r, 2)) continue;
      points.push_back({Dbl(r, 1), Dbl(r, 2)});
      ids.push_back(Int(r, 0));
    }
    for (size_t i : ParetoFrontIndices(points, direction_a, direction_b)) {
      ASSIGN_OR_RETURN(nas::v1::Trial t, ReadTrial(tx, ids[i], false));
      trials.push_back(std::move(t));
    }
    return absl::OkStatus();
  }));
  return trials;
}

absl::StatusOr<std::optional<CachedResult>> SqlTrialStore::LookupResult(
    const std::string& arch_hash, const std::string& eval_key) {
  std::optional<CachedResult> result;
  // Most lookups miss: one autocommit statement answers those.
  ASSIGN_OR_RETURN(SqlRows hit,
                   backend_->Execute("SELECT t.id FROM trials t JOIN "
                                     "architectures a ON a.id = "
                                     "t.architecture_id WHERE a.hash = $1 AND "
                                     "t.eval_key = $2 AND t.state = 4 ORDER BY "
                                     "t.id LIMIT 1",
                                     {arch_hash, eval_key}));
  if (hit.empty()) return result;
  RETURN_IF_ERROR(backend_->Transact([&](SqlTx& tx) -> absl::Status {
    result.reset();
    ASSIGN_OR_RETURN(SqlRows rows,
                     tx.Query("SELECT t.id FROM trials t JOIN architectures a "
                              "ON a.id = t.architecture_id WHERE a.hash = $1 "
                              "AND t.eval_key = $2 AND t.state = 4 "
                              "ORDER BY t.id LIMIT 1",
                              {arch_hash, eval_key}));
    if (rows.empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(nas::v1::Trial t, ReadTrial(tx, Int(rows[0], 0), false));
    CachedResult r;
    r.trial_id = t.id();
    r.job_id = t.job_id();
    r.outcome.state = t.state();
    r.outcome.metrics.insert(t.metrics().begin(), t.metrics().end());
    r.outcome.latencies.assign(t.latencies().begin(), t.latencies().end());
    r.outcome.params = t.params();
    r.outcome.macs = t.macs();
    r.outcome.cache_hit = t.cache_hit();
    result = std::move(r);
    return absl::OkStatus();
  }));
  return result;
}

// --------------------------------------------------------------- artifacts

namespace {

constexpr char kArtifactColumns[] =
    "SELECT trial_id, name, attempt, size_bytes, sha256, location, "
    "create_time_ms FROM trial_artifacts WHERE trial_id = $1 AND name = $2";

absl::StatusOr<std::optional<ArtifactRecord>> ReadArtifact(
    SqlTx& tx, int64_t trial_id, const std::string& name) {
  ASSIGN_OR_RETURN(SqlRows rows,
                   tx.Query(kArtifactColumns, {P(trial_id), name}));
  if (rows.empty()) return std::nullopt;
  const SqlRow& r = rows[0];
  ArtifactRecord a;
  a.trial_id = Int(r, 0);
  a.name = Str(r, 1);
  a.attempt = static_cast<int32_t>(Int(r, 2));
  a.size_bytes = Int(r, 3);
  a.sha256 = Str(r, 4);
  a.location = Str(r, 5);
  a.create_time_ms = Int(r, 6);
  return a;
}

}  // namespace

absl::StatusOr<std::optional<ArtifactRecord>> SqlTrialStore::PutArtifact(
    const TrialRef& ref, const ArtifactRecord& artifact, int64_t now_ms) {
  if (artifact.name.empty() || artifact.location.empty()) {
    return absl::InvalidArgumentError(
        "PutArtifact: artifact.name and artifact.location are required");
  }
  std::optional<ArtifactRecord> replaced;
  RETURN_IF_ERROR(Write([&](SqlTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(LockedTrial t, LockTrial(tx, ref.trial_id));
    RETURN_IF_ERROR(CheckFence(ref, t.attempt, t.state));
    ASSIGN_OR_RETURN(replaced, ReadArtifact(tx, ref.trial_id, artifact.name));
    return tx
        .Query(
            "INSERT INTO trial_artifacts (trial_id, name, attempt, size_bytes, "
            "sha256, location, create_time_ms) VALUES ($1, $2, $3, $4, $5, "
            "$6, $7) ON CONFLICT (trial_id, name) DO UPDATE SET attempt = "
            "excluded.attempt, size_bytes = excluded.size_bytes, sha256 = "
            "excluded.sha256, location = excluded.location, create_time_ms = "
            "excluded.create_time_ms",
            {P(ref.trial_id), artifact.name, P(int64_t{ref.attempt}),
             P(artifact.size_bytes), artifact.sha256, artifact.location,
             P(now_ms)})
        .status();
  }));
  return replaced;
}

absl::StatusOr<std::optional<ArtifactRecord>> SqlTrialStore::GetArtifact(
    int64_t trial_id, const std::string& name) {
  std::optional<ArtifactRecord> result;
  RETURN_IF_ERROR(backend_->Transact([&](SqlTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(result, ReadArtifact(tx, trial_id, name));
    if (result.has_value()) return absl::OkStatus();
    ASSIGN_OR_RETURN(SqlRows rows,
                     tx.Query("SELECT 1 FROM trials WHERE id = $1",
                              {P(trial_id)}));
    if (rows.empty()) return TrialNotFound(trial_id);
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<std::optional<StrategySnapshot>> SqlTrialStore::LatestSnapshot(
    const std::string& job_id) {
  std::optional<StrategySnapshot> result;
  RETURN_IF_ERROR(backend_->Transact([&](SqlTx& tx) -> absl::Status {
    result.reset();
    ASSIGN_OR_RETURN(SqlRows rows,
                     tx.Query("SELECT version, state FROM strategy_snapshots "
                              "WHERE job_id = $1 ORDER BY version DESC LIMIT 1",
                              {job_id}));
    if (!rows.empty()) result = StrategySnapshot{Int(rows[0], 0), Str(rows[0], 1)};
    return absl::OkStatus();
  }));
  return result;
}

// --------------------------------------------------------------- workers

absl::StatusOr<std::string> SqlTrialStore::RegisterWorker(
    const nas::v1::WorkerInfo& info, int64_t now_ms) {
  if (info.name().empty()) {
    return absl::InvalidArgumentError("RegisterWorker: info.name is empty");
  }
  std::string id;
  RETURN_IF_ERROR(Write([&](SqlTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(
        SqlRows rows,
        tx.Query("INSERT INTO workers (id, name, device, device_model, "
                 "threads, capabilities, registered_time_ms, last_seen_ms) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (name) "
                 "DO UPDATE SET device = excluded.device, device_model = "
                 "excluded.device_model, threads = excluded.threads, "
                 "capabilities = excluded.capabilities, last_seen_ms = "
                 "excluded.last_seen_ms RETURNING id",
                 {NewId("worker"), info.name(), info.device(),
                  info.device_model(), P(int64_t{info.threads()}),
                  absl::StrJoin(info.capabilities(), ","), P(now_ms)}));
    id = Str(rows[0], 0);
    return absl::OkStatus();
  }));
  return id;
}

absl::Status SqlTrialStore::TouchWorker(const std::string& worker_id,
                                        int64_t now_ms) {
  return Write([&](SqlTx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(SqlRows rows,
                     tx.Query("UPDATE workers SET last_seen_ms = $2 WHERE id "
                              "= $1 RETURNING id",
                              {worker_id, P(now_ms)}));
    if (rows.empty()) {
      return absl::NotFoundError(
          absl::StrCat("worker '", worker_id, "' not found"));
    }
    return absl::OkStatus();
  });
}

}  // namespace nas::storage::sql
