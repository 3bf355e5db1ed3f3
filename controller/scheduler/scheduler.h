// Scheduler: the controller's core. It owns every job's search strategy and
// turns them into trials, leases, retries, early stops and job transitions on
// top of a TrialStore. The gRPC services in controller/service are thin shells
// over its methods, which take and return API messages and absl::Status.
//
// Design (see controller/README.md):
// - The store is the truth. Per job, the in-memory strategy never diverges
//   from it: every strategy change (Suggest batch, Observe) and the store
//   write carrying its snapshot happen under the job's mutex, and a failed
//   write restores the strategy from the last snapshot written. A new
//   Scheduler on the same store (after kill -9) continues every job exactly.
// - Per job, PENDING trials are kept ahead of the workers (suggested in
//   batches) so AcquireTrial rarely waits on a strategy, and never beyond the
//   budget: pending + leased + running + completed <= budget.max_trials.
// - AcquireTrial serves RUNNING jobs by priority, round-robin within one
//   priority. A lease has a deadline and an attempt number (the fencing
//   token); Maintain() requeues expired leases with attempt + 1.
// - Architectures already evaluated under the same EvalKey (any job) are
//   answered from the store without training (Trial.cache_hit).
//
// Thread-safety: all public methods are thread-safe. Lock order: a job's
// mutex, then `mu_` (the job table, workers, round-robin; never held while
// taking a job mutex); `watch_mu_` is a leaf.
// Ownership: the store, clock and registry passed in Options are not owned
// and must outlive the Scheduler.
#ifndef NAS_CONTROLLER_SCHEDULER_SCHEDULER_H_
#define NAS_CONTROLLER_SCHEDULER_SCHEDULER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "controller/scheduler/early_stopping.h"
#include "controller/scheduler/job_strategy.h"
#include "controller/scheduler/metrics.h"
#include "prometheus/registry.h"
#include "proto/nas/v1/job.pb.h"
#include "proto/nas/v1/service.pb.h"
#include "storage/trial_store.h"

namespace nas::scheduler {

struct SchedulerOptions {
  // Required; not owned.
  storage::TrialStore* store = nullptr;
  // Not owned; default Clock::Real().
  Clock* clock = nullptr;
  // Default: DefaultStrategyFactory() (controller/strategy).
  StrategyFactory strategy_factory;
  // Metrics are registered here (not owned); default: a private registry.
  prometheus::Registry* registry = nullptr;
  // Lease length; a heartbeat or progress report extends it by this much.
  absl::Duration lease = absl::Seconds(60);
  // PENDING trials kept ahead per RUNNING job (at least; more when more
  // workers are active). The queue is topped up once half of it is leased.
  int32_t pending_per_job = 8;
  // Lease expirations of a trial before it is FAILED (the store takes one
  // limit for all jobs).
  int32_t max_lease_expirations = 10;
  // AcquireTrial's retry_after_ms when there is no work.
  int64_t retry_after_ms = 1000;
  // true: a lease that leaves the queue short only asks for a refill, which
  // RefillWanted() (the server's refill thread) or Maintain() does, so the
  // worker does not wait on the strategy. false: refill inline, before the
  // lease is returned (deterministic tests).
  bool deferred_refill = false;
};

class Scheduler {
 public:
  // Loads every RUNNING or PAUSED job of the store and restores its strategy
  // from the latest snapshot.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(
      SchedulerOptions options);
  ~Scheduler();

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // ------------------------------------------------------------ jobs
  // Applies defaults, validates (INVALID_ARGUMENT names the field), creates
  // the job and its first suggestions.
  absl::StatusOr<nas::v1::Job> CreateJob(nas::v1::JobSpec spec,
                                         const std::string& request_id);
  absl::StatusOr<nas::v1::Job> GetJob(const std::string& job_id);
  absl::StatusOr<std::vector<nas::v1::Job>> ListJobs(nas::v1::JobState state,
                                                     int32_t limit,
                                                     int64_t offset);
  // No new leases; running trials finish. Idempotent.
  absl::StatusOr<nas::v1::Job> PauseJob(const std::string& job_id);
  absl::StatusOr<nas::v1::Job> ResumeJob(const std::string& job_id);
  // Cancels the job and its active trials; their workers are told to stop
  // at the next Heartbeat/ReportProgress. Idempotent.
  absl::StatusOr<nas::v1::Job> CancelJob(const std::string& job_id);
  // Adds trials and/or wall seconds; an ended job runs again.
  absl::StatusOr<nas::v1::Job> ExtendBudget(const std::string& job_id,
                                            int64_t add_trials,
                                            int64_t add_wall_seconds);
  // Trials of a job; ORDER_BY_OBJECTIVE uses the job's primary objective.
  absl::StatusOr<std::vector<nas::v1::Trial>> ListTrials(
      storage::TrialQuery query);
  // Non-dominated SUCCEEDED trials over the first two objectives (one
  // objective: the best trials).
  absl::StatusOr<std::vector<nas::v1::Trial>> ParetoFront(
      const std::string& job_id);
  // Blocks until the job's change counter differs from `seen` or `timeout`
  // passes; returns the counter, or nullopt once Shutdown() was called.
  std::optional<int64_t> WaitForJobChange(const std::string& job_id,
                                          int64_t seen, absl::Duration timeout);
  // Wakes every WaitForJobChange; later calls return at once.
  void Shutdown();
  // The trial whose change was the job's latest trial change (a lease,
  // progress, completion, failure or lease expiry), as stored now; nullopt
  // if none happened since this controller started.
  absl::StatusOr<std::optional<nas::v1::Trial>> LastChangedTrial(
      const std::string& job_id);

  // ------------------------------------------------------------ workers
  absl::StatusOr<nas::v1::RegisterWorkerResponse> RegisterWorker(
      const nas::v1::WorkerInfo& info);
  absl::StatusOr<nas::v1::AcquireTrialResponse> AcquireTrial(
      const std::string& worker_id);
  // FAILED_PRECONDITION for a stale attempt (nothing changes).
  absl::StatusOr<nas::v1::HeartbeatResponse> Heartbeat(
      const nas::v1::HeartbeatRequest& request);
  absl::StatusOr<nas::v1::ReportProgressResponse> ReportProgress(
      const nas::v1::ReportProgressRequest& request);
  // Idempotent for the attempt that completed; FAILED_PRECONDITION for a
  // stale one.
  absl::Status CompleteTrial(const nas::v1::CompleteTrialRequest& request);
  absl::StatusOr<nas::v1::FailTrialResponse> FailTrial(
      const nas::v1::FailTrialRequest& request);

  // ------------------------------------------------------------ upkeep
  // Requeues expired leases, ends jobs past their wall-clock budget, refills
  // queues, updates gauges. Call periodically (the server does).
  absl::Status Maintain();
  // With deferred_refill: waits up to `wait` for leases that left a queue
  // short, then refills those jobs. The server loops on it.
  absl::Status RefillWanted(absl::Duration wait) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // The counts scheduling decisions need.
  struct LiveCounts {
    int64_t pending = 0;
    int64_t active = 0;     // LEASED + RUNNING
    int64_t completed = 0;  // SUCCEEDED + STOPPED_EARLY
  };

  // Everything the scheduler keeps about one job.
  struct JobRuntime {
    absl::Mutex mu;
    // The job as last written (its counts are not maintained).
    nas::v1::Job job ABSL_GUARDED_BY(mu);
    std::string eval_key;  // const after load
    std::unique_ptr<JobStrategy> strategy ABSL_GUARDED_BY(mu);
    // The last snapshot written (what a failed write rolls back to).
    storage::StrategySnapshot snapshot ABSL_GUARDED_BY(mu);
    // Suggest() said RESOURCE_EXHAUSTED.
    bool exhausted ABSL_GUARDED_BY(mu) = false;
    std::unique_ptr<EarlyStopper> stopper ABSL_GUARDED_BY(mu);
    // Trials told to stop (early stopping).
    absl::flat_hash_set<int64_t> stop_requested ABSL_GUARDED_BY(mu);
    std::optional<double> best ABSL_GUARDED_BY(mu);
    // Trial counts kept here as transitions are issued (the store's are
    // read at load and re-read by Maintain() when no write is in flight),
    // so deciding a lease costs no store round trip.
    LiveCounts counts ABSL_GUARDED_BY(mu);
    // Writes issued for this job and not yet committed (or failed).
    int64_t in_flight ABSL_GUARDED_BY(mu) = 0;
    // Set to a fresh Scheduler::sequence_ value whenever trials change state
    // other than by a worker's report (lease expiry, cancel): a trial read
    // before then must be read again under `mu`.
    int64_t changed_at ABSL_GUARDED_BY(mu) = 0;
    // (trial, attempt) -> completed (true) or failed (false): reports whose
    // write was issued, so a repeated report is not observed twice.
    absl::flat_hash_map<std::pair<int64_t, int32_t>, bool> reported
        ABSL_GUARDED_BY(mu);
    // (trial, attempt) completions the strategy observed whose write then
    // failed: a retried report is written without observing it again.
    absl::flat_hash_set<std::pair<int64_t, int32_t>> observed_unstored
        ABSL_GUARDED_BY(mu);
    // Trials this controller leased whose lease is current, as the store
    // returned them: a report of one needs no store read. Any change to a
    // trial other than a progress report removes it.
    absl::flat_hash_map<int64_t, nas::v1::Trial> leased ABSL_GUARDED_BY(mu);
  };

  explicit Scheduler(SchedulerOptions options,
                     std::unique_ptr<prometheus::Registry> own_registry);

  // The job's runtime, loading it from the store on first use.
  absl::StatusOr<std::shared_ptr<JobRuntime>> Runtime(const std::string& job_id)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::shared_ptr<JobRuntime>> LoadRuntime(
      const nas::v1::Job& job);
  std::vector<std::shared_ptr<JobRuntime>> AllRuntimes()
      ABSL_LOCKS_EXCLUDED(mu_);

  // Under the job's mutex: returns the job unchanged if it is in
  // `already_done`, FAILED_PRECONDITION if it has ended, else runs `change`.
  // Returns the job afterwards.
  absl::StatusOr<nas::v1::Job> ChangeLiveJob(
      const std::string& job_id, nas::v1::JobState already_done,
      absl::FunctionRef<absl::Status(JobRuntime&)> change);

  // A trial read under its job's mutex, which stays held while this lives.
  struct LockedTrial {
    std::shared_ptr<JobRuntime> runtime;
    std::unique_ptr<absl::MutexLock> lock;  // destroyed before `runtime`
    nas::v1::Trial trial;
  };
  absl::StatusOr<LockedTrial> LockTrial(int64_t trial_id);
  // FAILED_PRECONDITION (counted as stale) unless `trial` is the active
  // attempt `attempt` of `worker_id`.
  absl::Status CheckActive(const nas::v1::Trial& trial, int32_t attempt,
                           const std::string& worker_id);

  static LiveCounts ToLive(const nas::v1::TrialCounts& c);
  // Issues the lease of the job's next PENDING trial (refilling first if
  // needed); nullopt when the job should not lease now.
  absl::StatusOr<std::optional<
      storage::PendingWrite<absl::StatusOr<std::optional<nas::v1::Trial>>>>>
  IssueLeaseLocked(JobRuntime& rt, const std::string& worker_id,
                   int64_t* deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu);
  // After a lease of `rt` committed: answers a cache hit (then returns
  // nullopt) or builds the lease.
  // `issued_at`: sequence_ before the lease was issued.
  absl::StatusOr<std::optional<nas::v1::TrialLease>> FinishLease(
      const std::shared_ptr<JobRuntime>& runtime, nas::v1::Trial trial,
      int64_t deadline, int64_t issued_at);
  // Marks that trials of `rt` changed state outside a report.
  void MarkChangedLocked(JobRuntime& rt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu) {
    rt.changed_at = ++sequence_;
  }
  // Forgets in-memory leases: one trial, or all of the job's.
  void ForgetLeaseLocked(JobRuntime& rt, int64_t trial_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu) ABSL_LOCKS_EXCLUDED(mu_);
  void ForgetLeasesLocked(JobRuntime& rt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Suggests up to the queue target within the budget and inserts the batch
  // with the snapshot.
  absl::Status RefillLocked(JobRuntime& rt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu);
  // Observe + SaveState + issue the store's CompleteTrial as one unit; wait
  // on the result outside `rt.mu`, then call CompletedLocked().
  storage::PendingWrite<absl::Status> IssueCompleteLocked(
      JobRuntime& rt, const nas::v1::Trial& trial,
      const storage::TrialOutcome& outcome)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu);
  absl::Status CompletedLocked(JobRuntime& rt, const nas::v1::Trial& trial,
                               const storage::TrialOutcome& outcome,
                               const absl::Status& stored)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu);
  // Ends the job when its budget is spent or its strategy exhausted.
  absl::Status MaybeFinishLocked(JobRuntime& rt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu);
  absl::Status SetStateLocked(JobRuntime& rt, nas::v1::JobState state,
                              const std::string& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu);
  // Rolls the strategy back to the last snapshot written and forgets the
  // suggestions in `unsaved` (the seen set is not in the snapshot).
  void RollbackLocked(JobRuntime& rt,
                      const std::vector<storage::NewTrial>& unsaved = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu);
  void NoteResultLocked(JobRuntime& rt, const storage::TrialOutcome& outcome)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu);
  void ObserveProgressLocked(JobRuntime& rt, const nas::v1::Trial& trial,
                             const nas::v1::Measurement& m, bool* stop)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu);

  // nas_hypervolume{job} (two objectives with limits only).
  void UpdateHypervolumeLocked(JobRuntime& rt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rt.mu);

  // Counts a change of the job (waking its watchers); `trial_id` > 0 names
  // the trial whose change it is (see LastChangedTrial).
  void BumpVersion(const std::string& job_id, int64_t trial_id = 0)
      ABSL_LOCKS_EXCLUDED(watch_mu_);
  void NoteWorker(const std::string& worker_id) ABSL_LOCKS_EXCLUDED(mu_);
  // Workers seen within the last three lease periods.
  int64_t ActiveWorkers() ABSL_LOCKS_EXCLUDED(mu_);
  int64_t NowMs() { return clock_->NowMs(); }

  const SchedulerOptions options_;
  storage::TrialStore* const store_;
  Clock* const clock_;
  const std::unique_ptr<prometheus::Registry> own_registry_;
  SchedulerMetrics metrics_;

  // Source of JobRuntime::changed_at values.
  std::atomic<int64_t> sequence_{0};

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<JobRuntime>> jobs_ ABSL_GUARDED_BY(mu_);
  // Per priority: index (in job-id order) of the next job to serve.
  absl::flat_hash_map<int32_t, size_t> round_robin_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> worker_seen_ms_
      ABSL_GUARDED_BY(mu_);
  // When each worker's last_seen was last written to the store.
  absl::flat_hash_map<std::string, int64_t> worker_touched_ms_
      ABSL_GUARDED_BY(mu_);
  // The job of each trial in some JobRuntime::leased.
  absl::flat_hash_map<int64_t, std::shared_ptr<JobRuntime>> lease_jobs_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> refill_wanted_ ABSL_GUARDED_BY(mu_);

  absl::Mutex watch_mu_;
  absl::flat_hash_map<std::string, int64_t> versions_
      ABSL_GUARDED_BY(watch_mu_);
  absl::flat_hash_map<std::string, int64_t> last_trial_
      ABSL_GUARDED_BY(watch_mu_);
  bool shutdown_ ABSL_GUARDED_BY(watch_mu_) = false;
};

}  // namespace nas::scheduler

#endif  // NAS_CONTROLLER_SCHEDULER_SCHEDULER_H_
