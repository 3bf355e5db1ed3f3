// SqlTrialStore: the one TrialStore implementation over SQL, shared by the
// SQLite and PostgreSQL backends (sql_backend.h), so both have the same
// semantics by construction.
//
// Reads are one SqlBackend::Transact() each. Writes go through one
// GroupCommitter (group_commit.h): writes that callers issue concurrently
// share one transaction and one commit, in submission order, each still
// succeeding or failing on its own. Count changes and strategy snapshots are
// written once per job at the end of that transaction.
//
// Create() applies the embedded migrations (schema_migrations table) and
// refuses a database whose schema is newer than the binary knows.
//
// Thread-safety: thread-safe (the backend serializes or pools connections).
// Ownership: owns its backend.
#ifndef NAS_STORAGE_SQL_SQL_TRIAL_STORE_H_
#define NAS_STORAGE_SQL_SQL_TRIAL_STORE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/sql/embedded_sql.h"
#include "storage/sql/group_commit.h"
#include "storage/sql/sql_backend.h"
#include "storage/store_options.h"
#include "storage/trial_store.h"

namespace nas::storage::sql {

// Trial counts are kept in this many rows per job (job_trial_counts).
inline constexpr int kCountShards = 32;
// Snapshots kept per job besides the newest.
inline constexpr int64_t kKeptSnapshots = 8;

struct WriteBatch;

class SqlTrialStore : public TrialStore {
 public:
  // Applies `migrations` (sorted, named NNNN_*.sql) and returns the store.
  static absl::StatusOr<std::unique_ptr<SqlTrialStore>> Create(
      std::unique_ptr<SqlBackend> backend,
      const std::vector<EmbeddedFile>& migrations);

  absl::StatusOr<nas::v1::Job> CreateJob(const nas::v1::JobSpec& spec,
                                         const std::string& request_id,
                                         int64_t now_ms) override;
  absl::StatusOr<nas::v1::Job> GetJob(const std::string& job_id) override;
  absl::StatusOr<std::vector<nas::v1::Job>> ListJobs(nas::v1::JobState state,
                                                     int32_t limit,
                                                     int64_t offset) override;
  absl::Status SetJobState(const std::string& job_id, nas::v1::JobState state,
                           const std::string& message, int64_t now_ms) override;
  absl::Status UpdateJobSpec(const std::string& job_id,
                             const nas::v1::JobSpec& spec,
                             int64_t now_ms) override;
  absl::StatusOr<std::vector<int64_t>> InsertTrials(
      const std::string& job_id, const std::vector<NewTrial>& trials,
      const std::optional<StrategySnapshot>& snapshot, int64_t now_ms) override;
  absl::StatusOr<std::optional<nas::v1::Trial>> AcquireTrial(
      const std::string& job_id, const std::string& worker_id,
      int64_t lease_deadline_ms, int64_t now_ms) override;
  absl::Status ExtendLease(const TrialRef& ref,
                           int64_t lease_deadline_ms) override;
  absl::Status AddMeasurement(const TrialRef& ref,
                              const nas::v1::Measurement& m) override;
  absl::Status CompleteTrial(const TrialRef& ref, const TrialOutcome& outcome,
                             const std::optional<StrategySnapshot>& snapshot,
                             int64_t now_ms) override;
  absl::StatusOr<FailResult> FailTrial(
      const TrialRef& ref, const std::string& reason,
      const std::string& message, int32_t max_attempts,
      const std::optional<StrategySnapshot>& snapshot, int64_t now_ms) override;
  PendingWrite<absl::StatusOr<std::optional<nas::v1::Trial>>>
  IssueAcquireTrial(const std::string& job_id, const std::string& worker_id,
                    int64_t lease_deadline_ms, int64_t now_ms) override;
  PendingWrite<absl::Status> IssueCompleteTrial(
      const TrialRef& ref, const TrialOutcome& outcome,
      const std::optional<StrategySnapshot>& snapshot,
      int64_t now_ms) override;
  PendingWrite<absl::StatusOr<FailResult>> IssueFailTrial(
      const TrialRef& ref, const std::string& reason,
      const std::string& message, int32_t max_attempts,
      const std::optional<StrategySnapshot>& snapshot, int64_t now_ms) override;
  PendingWrite<absl::Status> IssueAddMeasurement(
      const TrialRef& ref, const nas::v1::Measurement& m,
      int64_t lease_deadline_ms) override;
  absl::StatusOr<std::vector<ExpiredLease>> RequeueExpiredLeases(
      int64_t now_ms, int32_t max_expirations) override;
  absl::StatusOr<int64_t> CancelActiveTrials(const std::string& job_id,
                                             int64_t now_ms) override;
  absl::StatusOr<nas::v1::Trial> GetTrial(int64_t trial_id,
                                          bool with_measurements) override;
  absl::StatusOr<std::vector<nas::v1::Trial>> ListTrials(
      const TrialQuery& query) override;
  absl::StatusOr<std::vector<nas::v1::Trial>> ParetoFront(
      const std::string& job_id, const std::string& metric_a,
      nas::v1::Direction direction_a, const std::string& metric_b,
      nas::v1::Direction direction_b) override;
  absl::StatusOr<std::optional<CachedResult>> LookupResult(
      const std::string& arch_hash, const std::string& eval_key) override;
  absl::StatusOr<std::optional<ArtifactRecord>> PutArtifact(
      const TrialRef& ref, const ArtifactRecord& artifact,
      int64_t now_ms) override;
  absl::StatusOr<std::optional<ArtifactRecord>> GetArtifact(
      int64_t trial_id, const std::string& name) override;
  absl::StatusOr<std::optional<StrategySnapshot>> LatestSnapshot(
      const std::string& job_id) override;
  absl::StatusOr<std::string> RegisterWorker(const nas::v1::WorkerInfo& info,
                                             int64_t now_ms) override;
  absl::Status TouchWorker(const std::string& worker_id,
                           int64_t now_ms) override;

 ~SqlTrialStore() override;

  // Transactions and operations the group committer ran so far.
  GroupCommitter::Stats write_stats() const { return committer_->stats(); }

 private:
  explicit SqlTrialStore(std::unique_ptr<SqlBackend> backend);

  // Runs `fn` as one write operation through the group committer and waits.
  absl::Status Write(const std::function<absl::Status(SqlTx&)>& fn);
  // Issues `fn` as one write operation; ready once it committed or failed.
  // `defers`: fn only defers its work to the end of the transaction (see
  // WriteBatch); other operations first run the work deferred before them.
  std::shared_future<absl::Status> Issue(std::function<absl::Status(SqlTx&)> fn,
                                         bool defers = false);
  absl::Status RunDeferred(SqlTx& tx);

  std::unique_ptr<SqlBackend> backend_;
  // Touched only by the committer thread (inside its operations).
  std::unique_ptr<WriteBatch> batch_;
  std::unique_ptr<GroupCommitter> committer_;  // last: stops first
};

// Applies the migrations newer than the database's schema_migrations version
// in one transaction. FAILED_PRECONDITION if the database is newer.
absl::Status ApplyMigrations(SqlBackend& backend,
                             const std::vector<EmbeddedFile>& migrations);

}  // namespace nas::storage::sql

#endif  // NAS_STORAGE_SQL_SQL_TRIAL_STORE_H_
