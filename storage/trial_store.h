// TrialStore: the durable state of every job, trial, measurement, strategy
// snapshot and worker. Only the controller talks to it; workers never do.
//
// Implementations: storage/sqlite (embedded default) and storage/postgres
// (production). Both pass the one conformance suite in storage/testing/.
// OpenTrialStore() in store_url.h picks one from a URL.
//
// Semantics every implementation guarantees:
// - Every method is one transaction: it happens completely or not at all.
// - Fencing: every write about a trial carries (trial_id, attempt). If the
//   trial's current attempt differs, or the attempt is no longer active, the
//   write is refused with FAILED_PRECONDITION and changes nothing.
// - A strategy snapshot passed to a trial transition is written in the same
//   transaction as that transition, so after a crash the latest snapshot
//   always matches the trials the store holds.
// - Completed trials are never lost or counted twice: CompleteTrial for an
//   attempt that already completed returns OK and changes nothing.
// - Snapshot versions must grow: a snapshot whose version is not greater
//   than the job's newest is refused with FAILED_PRECONDITION, and so is the
//   transition it came with. The newest few snapshots of a job are kept.
// - A job's first two objectives (metric and direction) are fixed at
//   creation: they are copied to indexed columns for top-k and the Pareto
//   front. Non-finite metric values (NaN, inf) are not stored.
// - Job.counts are maintained in the same transactions as the trial
//   transitions, so GetJob is cheap for any number of trials.
//
// Thread-safety: implementations are safe to call from many threads.
#ifndef NAS_STORAGE_TRIAL_STORE_H_
#define NAS_STORAGE_TRIAL_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/nas/v1/job.pb.h"
#include "proto/nas/v1/service.pb.h"

namespace nas::storage {

// Opaque, versioned strategy state. `version` increases with every snapshot
// of a job; `state` is the strategy's SaveState() bytes.
struct StrategySnapshot {
  int64_t version = 0;
  std::string state;
};

// Identifies one attempt of a trial: the fencing token of every trial write.
struct TrialRef {
  int64_t trial_id = 0;
  int32_t attempt = 0;
};

// A suggestion to insert as a PENDING trial (attempt 1).
struct NewTrial {
  // Genotype with `canonical` and `hash` filled in.
  nas::v1::Architecture architecture;
  // Hash of the evaluation config (the result cache key with the arch hash).
  std::string eval_key;
  // Analytic size, if known at suggestion time (0: unknown).
  int64_t params = 0;
  int64_t macs = 0;
};

// The final result of an attempt.
struct TrialOutcome {
  // SUCCEEDED or STOPPED_EARLY.
  nas::v1::TrialState state = nas::v1::SUCCEEDED;
  std::map<std::string, double> metrics;
  std::vector<nas::v1::DeviceLatency> latencies;
  int64_t params = 0;
  int64_t macs = 0;
  // Answered from an earlier identical evaluation.
  bool cache_hit = false;
};

// What FailTrial did.
struct FailResult {
  // true: requeued as PENDING with attempt + 1; false: now FAILED.
  bool will_retry = false;
  int32_t next_attempt = 0;
};

// A trial whose lease ran out (see RequeueExpiredLeases).
struct ExpiredLease {
  int64_t trial_id = 0;
  std::string job_id;
  int32_t old_attempt = 0;
  // true: PENDING again with attempt + 1; false: FAILED (too many expiries).
  bool requeued = false;
};

// A write issued now whose outcome is learnt later: Wait() blocks until it
// committed (or failed) and returns the result; call it once.
template <typename T>
class PendingWrite {
 public:
  explicit PendingWrite(std::function<T()> wait) : wait_(std::move(wait)) {}
  static PendingWrite Ready(T value) {
    return PendingWrite([v = std::move(value)]() mutable { return std::move(v); });
  }
  T Wait() { return wait_(); }

 private:
  std::function<T()> wait_;
};

struct TrialQuery {
  std::string job_id;
  // Only these states (empty: all).
  std::vector<nas::v1::TrialState> states;
  // ORDER_BY_ID or ORDER_BY_OBJECTIVE (by `metric` in `direction`; trials
  // without the metric last).
  nas::v1::TrialOrder order = nas::v1::ORDER_BY_ID;
  std::string metric;
  nas::v1::Direction direction = nas::v1::MAXIMIZE;
  int32_t limit = 100;
  int64_t offset = 0;
  bool with_measurements = false;
};

// A file a trial produced (e.g. its trained weights), kept by the
// controller outside the store; the store records where and which attempt.
struct ArtifactRecord {
  int64_t trial_id = 0;
  // What it is, e.g. "weights"; one artifact per trial and name.
  std::string name;
  // The attempt that produced it.
  int32_t attempt = 0;
  int64_t size_bytes = 0;
  // Lowercase hex SHA-256 of the bytes.
  std::string sha256;
  // Where the bytes are, relative to the artifact directory.
  std::string location;
  int64_t create_time_ms = 0;
};

// A result from an earlier identical evaluation (any job).
struct CachedResult {
  int64_t trial_id = 0;
  std::string job_id;
  TrialOutcome outcome;
};

class TrialStore {
 public:
  virtual ~TrialStore() = default;

  // ---------------------------------------------------------------- jobs

  // Creates a JOB_RUNNING job with a new id. If `request_id` is non-empty and
  // a job was already created with it, returns that job instead.
  virtual absl::StatusOr<nas::v1::Job> CreateJob(const nas::v1::JobSpec& spec,
                                                 const std::string& request_id,
                                                 int64_t now_ms) = 0;
  // The job with its trial counts and best SUCCEEDED trial by the first
  // objective. NOT_FOUND names the id.
  virtual absl::StatusOr<nas::v1::Job> GetJob(const std::string& job_id) = 0;
  // Jobs by creation time; `state` JOB_STATE_UNSPECIFIED means all.
  virtual absl::StatusOr<std::vector<nas::v1::Job>> ListJobs(
      nas::v1::JobState state, int32_t limit, int64_t offset) = 0;
  virtual absl::Status SetJobState(const std::string& job_id,
                                   nas::v1::JobState state,
                                   const std::string& message,
                                   int64_t now_ms) = 0;
  // Replaces the job's spec (e.g. an extended budget). INVALID_ARGUMENT if
  // the first two objectives differ from the job's.
  virtual absl::Status UpdateJobSpec(const std::string& job_id,
                                     const nas::v1::JobSpec& spec,
                                     int64_t now_ms) = 0;

  // ---------------------------------------------------------------- trials

  // Inserts suggestions as PENDING trials (attempt 1) and, if given, the
  // strategy snapshot taken after suggesting them, in one transaction.
  // Returns the new trial ids in order.
  virtual absl::StatusOr<std::vector<int64_t>> InsertTrials(
      const std::string& job_id, const std::vector<NewTrial>& trials,
      const std::optional<StrategySnapshot>& snapshot, int64_t now_ms) = 0;

  // Leases the oldest PENDING trial of the job to `worker_id` until
  // `lease_deadline_ms` (PENDING -> LEASED). Concurrent callers get distinct
  // trials. Returns nullopt when the job has no PENDING trial.
  virtual absl::StatusOr<std::optional<nas::v1::Trial>> AcquireTrial(
      const std::string& job_id, const std::string& worker_id,
      int64_t lease_deadline_ms, int64_t now_ms) = 0;

  // ------------------------------------------------ asynchronous writes
  // The hot trial transitions, issued without waiting: a write issued after
  // another (by any thread) commits after it, so a caller may issue under
  // its own lock (fixing the order) and wait outside it, letting the store
  // commit many callers' writes together. Same semantics as the synchronous
  // methods, which are Issue...().Wait(). The default runs the synchronous
  // method at once.
  virtual PendingWrite<absl::StatusOr<std::optional<nas::v1::Trial>>>
  IssueAcquireTrial(const std::string& job_id, const std::string& worker_id,
                    int64_t lease_deadline_ms, int64_t now_ms) {
    return PendingWrite<absl::StatusOr<std::optional<nas::v1::Trial>>>::Ready(
        AcquireTrial(job_id, worker_id, lease_deadline_ms, now_ms));
  }
  virtual PendingWrite<absl::Status> IssueCompleteTrial(
      const TrialRef& ref, const TrialOutcome& outcome,
      const std::optional<StrategySnapshot>& snapshot, int64_t now_ms) {
    return PendingWrite<absl::Status>::Ready(
        CompleteTrial(ref, outcome, snapshot, now_ms));
  }
  virtual PendingWrite<absl::StatusOr<FailResult>> IssueFailTrial(
      const TrialRef& ref, const std::string& reason,
      const std::string& message, int32_t max_attempts,
      const std::optional<StrategySnapshot>& snapshot, int64_t now_ms) {
    return PendingWrite<absl::StatusOr<FailResult>>::Ready(FailTrial(
        ref, reason, message, max_attempts, snapshot, now_ms));
  }
  virtual PendingWrite<absl::Status> IssueAddMeasurement(
      const TrialRef& ref, const nas::v1::Measurement& m,
      int64_t lease_deadline_ms) {
    absl::Status s = AddMeasurement(ref, m);
    if (s.ok() && lease_deadline_ms > 0) s = ExtendLease(ref, lease_deadline_ms);
    return PendingWrite<absl::Status>::Ready(s);
  }

  // Moves the lease deadline of an active (LEASED/RUNNING) attempt.
  virtual absl::Status ExtendLease(const TrialRef& ref,
                                   int64_t lease_deadline_ms) = 0;

  // Records a measurement of an active attempt (LEASED -> RUNNING). A second
  // report of the same step overwrites its metrics. Trials return the
  // measurements of their current attempt only.
  virtual absl::Status AddMeasurement(const TrialRef& ref,
                                      const nas::v1::Measurement& m) = 0;

  // Ends an active attempt with its outcome, and writes `snapshot` (taken
  // after the strategy observed the outcome) in the same transaction.
  // Idempotent: the same attempt already completed -> OK, nothing changes.
  // INVALID_ARGUMENT if outcome.state is not SUCCEEDED/STOPPED_EARLY.
  // Non-zero outcome params/macs and latencies are stored on the
  // architecture (shared by every trial and job that evaluates it).
  virtual absl::Status CompleteTrial(
      const TrialRef& ref, const TrialOutcome& outcome,
      const std::optional<StrategySnapshot>& snapshot, int64_t now_ms) = 0;

  // Records a failed attempt. If the trial has had fewer than `max_attempts`
  // attempts it returns to PENDING with attempt + 1 (no worker), else it is
  // FAILED. `snapshot`, if given, is written in the same transaction either
  // way. The reason/message are kept on the trial (also when retried).
  // INVALID_ARGUMENT if max_attempts < 1.
  virtual absl::StatusOr<FailResult> FailTrial(
      const TrialRef& ref, const std::string& reason,
      const std::string& message, int32_t max_attempts,
      const std::optional<StrategySnapshot>& snapshot, int64_t now_ms) = 0;

  // Every LEASED/RUNNING trial (of any job) whose deadline is < now_ms goes
  // back to PENDING with attempt + 1 and no worker; a trial that has expired
  // `max_expirations` times is FAILED with reason "lease_expired" instead
  // (max_expirations >= 1). Trials locked by a concurrent transition are
  // skipped until the next call.
  virtual absl::StatusOr<std::vector<ExpiredLease>> RequeueExpiredLeases(
      int64_t now_ms, int32_t max_expirations) = 0;

  // Cancels the job's PENDING, LEASED and RUNNING trials (state CANCELLED).
  // Returns how many.
  virtual absl::StatusOr<int64_t> CancelActiveTrials(const std::string& job_id,
                                                     int64_t now_ms) = 0;

  // One trial; NOT_FOUND names the id.
  virtual absl::StatusOr<nas::v1::Trial> GetTrial(int64_t trial_id,
                                                  bool with_measurements) = 0;
  // ORDER_BY_OBJECTIVE with an empty `metric` (or the job's first
  // objective) uses an index; other metrics are read from the JSON metrics.
  // NOT_FOUND for an unknown job.
  virtual absl::StatusOr<std::vector<nas::v1::Trial>> ListTrials(
      const TrialQuery& query) = 0;
  // Non-dominated SUCCEEDED trials over two metrics (trials missing either
  // are ignored; identical points are all kept), best `metric_a` first. Fast
  // (maintained at completion) when the metrics and directions are the
  // job's first two objectives; any other pair scans the job's trials.
  virtual absl::StatusOr<std::vector<nas::v1::Trial>> ParetoFront(
      const std::string& job_id, const std::string& metric_a,
      nas::v1::Direction direction_a, const std::string& metric_b,
      nas::v1::Direction direction_b) = 0;

  // The result cache: the oldest SUCCEEDED trial (any job) of the
  // architecture with this canonical hash under this evaluation key, if any.
  virtual absl::StatusOr<std::optional<CachedResult>> LookupResult(
      const std::string& arch_hash, const std::string& eval_key) = 0;

  // ---------------------------------------------------------------- artifacts

  // Records an artifact of an active attempt (`artifact.trial_id` and
  // `.attempt` are taken from `ref`), fenced like every trial write: a stale
  // or ended attempt gets FAILED_PRECONDITION and nothing changes. Replaces
  // the trial's earlier artifact of the same name and returns it (its bytes
  // may then be deleted). INVALID_ARGUMENT for an empty name or location.
  virtual absl::StatusOr<std::optional<ArtifactRecord>> PutArtifact(
      const TrialRef& ref, const ArtifactRecord& artifact, int64_t now_ms) = 0;
  // The trial's artifact of that name, if any. NOT_FOUND for an unknown trial.
  virtual absl::StatusOr<std::optional<ArtifactRecord>> GetArtifact(
      int64_t trial_id, const std::string& name) = 0;

  // ---------------------------------------------------------------- strategy

  // The newest snapshot of the job, if any.
  virtual absl::StatusOr<std::optional<StrategySnapshot>> LatestSnapshot(
      const std::string& job_id) = 0;

  // ---------------------------------------------------------------- workers

  // Registers (or re-registers) a worker by name; returns its id (the same
  // id for the same name). INVALID_ARGUMENT for an empty name.
  virtual absl::StatusOr<std::string> RegisterWorker(
      const nas::v1::WorkerInfo& info, int64_t now_ms) = 0;
  // Records that the worker was seen.
  virtual absl::Status TouchWorker(const std::string& worker_id,
                                   int64_t now_ms) = 0;
};

}  // namespace nas::storage

#endif  // NAS_STORAGE_TRIAL_STORE_H_
