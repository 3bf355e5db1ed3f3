#include "controller/scheduler/scheduler.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "common/spec/job_spec.h"
#include "common/status_macros.h"
#include "controller/scheduler/eval_key.h"
#include "controller/scheduler/strategy_adapter.h"
#include "controller/strategy/pareto.h"
#include "glog/logging.h"

namespace nas::scheduler {
namespace {

using nas::v1::Job;
using nas::v1::JobSpec;
using nas::v1::Trial;

constexpr int32_t kPageSize = 1000;
// Cache hits answered within one AcquireTrial before giving up for now.
constexpr int kMaxCacheHitsPerAcquire = 1000;

bool IsEnded(nas::v1::JobState state) {
  return state == nas::v1::JOB_SUCCEEDED || state == nas::v1::JOB_CANCELLED ||
         state == nas::v1::JOB_FAILED;
}

bool IsActive(nas::v1::TrialState state) {
  return state == nas::v1::LEASED || state == nas::v1::RUNNING;
}

int64_t Completed(const nas::v1::TrialCounts& c) {
  return c.succeeded() + c.stopped_early();
}

// Runs one store call and records its latency under `op`.
template <typename F>
auto Timed(SchedulerMetrics& metrics, const char* op, F&& call) {
  const absl::Time start = Clock::Real()->Now();
  auto result = call();
  metrics.ObserveStore(op, Clock::Real()->Now() - start);
  return result;
}

absl::Status PrepareSpec(JobSpec* spec) {
  nas::spec::ApplyDefaults(spec);
  return nas::spec::FieldErrorsToStatus(nas::spec::ValidateJobSpec(*spec));
}

std::map<std::string, double> ToMap(
    const google::protobuf::Map<std::string, double>& metrics) {
  return std::map<std::string, double>(metrics.begin(), metrics.end());
}

}  // namespace

// ---------------------------------------------------------------- creation

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(
    SchedulerOptions options) {
  if (options.store == nullptr) {
    return absl::InvalidArgumentError("SchedulerOptions.store is required");
  }
  if (options.lease <= absl::ZeroDuration() || options.pending_per_job < 1) {
    return absl::InvalidArgumentError(
        "SchedulerOptions: lease and pending_per_job must be positive");
  }
  if (options.clock == nullptr) options.clock = Clock::Real();
  if (!options.strategy_factory) {
    options.strategy_factory = DefaultStrategyFactory();
  }
  std::unique_ptr<prometheus::Registry> own_registry;
  if (options.registry == nullptr) {
    own_registry = std::make_unique<prometheus::Registry>();
  }
  std::unique_ptr<Scheduler> scheduler(
      new Scheduler(std::move(options), std::move(own_registry)));
  // Resume every job that was running or paused.
  for (int64_t offset = 0;; offset += kPageSize) {
    ASSIGN_OR_RETURN(std::vector<Job> jobs,
                     scheduler->store_->ListJobs(nas::v1::JOB_STATE_UNSPECIFIED,
                                                 kPageSize, offset));
    for (const Job& job : jobs) {
      if (IsEnded(job.state())) continue;
      ASSIGN_OR_RETURN(std::shared_ptr<JobRuntime> rt,
                       scheduler->LoadRuntime(job));
      absl::MutexLock lock(&scheduler->mu_);
      scheduler->jobs_.emplace(job.id(), std::move(rt));
    }
    if (static_cast<int32_t>(jobs.size()) < kPageSize) break;
  }
  LOG(INFO) << "Scheduler resumed " << scheduler->AllRuntimes().size()
            << " active job(s)";
  return scheduler;
}

Scheduler::Scheduler(SchedulerOptions options,
                     std::unique_ptr<prometheus::Registry> own_registry)
    : options_(std::move(options)),
      store_(options_.store),
      clock_(options_.clock),
      own_registry_(std::move(own_registry)),
      metrics_(own_registry_ ? *own_registry_ : *options_.registry) {}

Scheduler::~Scheduler() { Shutdown(); }

absl::StatusOr<std::shared_ptr<Scheduler::JobRuntime>> Scheduler::LoadRuntime(
    const Job& job) {
  auto rt = std::make_shared<JobRuntime>();
  absl::MutexLock lock(&rt->mu);
  rt->job = job;
  rt->counts = ToLive(job.counts());
  rt->eval_key = EvalKey(job.spec());
  ASSIGN_OR_RETURN(rt->strategy, options_.strategy_factory(job.spec()));
  ASSIGN_OR_RETURN(std::optional<storage::StrategySnapshot> snapshot,
                   store_->LatestSnapshot(job.id()));
  if (snapshot.has_value()) {
    RETURN_IF_ERROR(rt->strategy->RestoreState(snapshot->state));
    rt->snapshot = *std::move(snapshot);
  } else {
    rt->snapshot.state = rt->strategy->SaveState();
  }
  // Replay the dedup set (not in the snapshot), the learning curves (early
  // stopping) and the best result.
  rt->stopper = EarlyStopper::Create(job.spec().early_stopping());
  storage::TrialQuery query;
  query.job_id = job.id();
  query.limit = kPageSize;
  query.with_measurements = rt->stopper != nullptr;
  for (;; query.offset += kPageSize) {
    ASSIGN_OR_RETURN(std::vector<Trial> trials, store_->ListTrials(query));
    for (const Trial& trial : trials) {
      const bool completed = trial.state() == nas::v1::SUCCEEDED ||
                             trial.state() == nas::v1::STOPPED_EARLY;
      absl::Status marked = rt->strategy->MarkSeen(trial.architecture());
      if (!marked.ok()) {
        LOG(WARNING) << "Job " << job.id() << ": strategy refused trial "
                     << trial.id() << " as seen: " << marked;
      }
      if (rt->stopper != nullptr) {
        for (const nas::v1::Measurement& m : trial.measurements()) {
          std::optional<Score> score =
              ScoreOf(job.spec().objectives(), ToMap(m.metrics()));
          if (score) rt->stopper->Report(trial.id(), m.step(), *score);
        }
        if (completed) rt->stopper->MarkCompleted(trial.id());
      }
      if (completed) {
        storage::TrialOutcome outcome;
        outcome.metrics = ToMap(trial.metrics());
        NoteResultLocked(*rt, outcome);
      }
    }
    if (static_cast<int32_t>(trials.size()) < kPageSize) break;
  }
  return rt;
}

absl::StatusOr<std::shared_ptr<Scheduler::JobRuntime>> Scheduler::Runtime(
    const std::string& job_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) return it->second;
  }
  ASSIGN_OR_RETURN(Job job, store_->GetJob(job_id));
  ASSIGN_OR_RETURN(std::shared_ptr<JobRuntime> rt, LoadRuntime(job));
  absl::MutexLock lock(&mu_);
  // Another thread may have loaded it meanwhile: keep the first.
  return jobs_.emplace(job_id, std::move(rt)).first->second;
}

std::vector<std::shared_ptr<Scheduler::JobRuntime>> Scheduler::AllRuntimes() {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<JobRuntime>> all;
  all.reserve(jobs_.size());
  for (const auto& [id, rt] : jobs_) all.push_back(rt);
  return all;
}

// ---------------------------------------------------------------- jobs

absl::StatusOr<Job> Scheduler::CreateJob(JobSpec spec,
                                         const std::string& request_id) {
  RETURN_IF_ERROR(PrepareSpec(&spec));
  // A spec the strategy cannot run is refused before anything is stored.
  RETURN_IF_ERROR(options_.strategy_factory(spec).status());
  ASSIGN_OR_RETURN(Job job, Timed(metrics_, "create_job", [&] {
                     return store_->CreateJob(spec, request_id, NowMs());
                   }));
  ASSIGN_OR_RETURN(std::shared_ptr<JobRuntime> rt, Runtime(job.id()));
  {
    absl::MutexLock lock(&rt->mu);
    absl::Status refill = RefillLocked(*rt);
    if (!refill.ok()) LOG(WARNING) << "Job " << job.id() << ": " << refill;
  }
  LOG(INFO) << "Created job " << job.id() << " (" << spec.name() << ")";
  return GetJob(job.id());
}

absl::StatusOr<Job> Scheduler::GetJob(const std::string& job_id) {
  return Timed(metrics_, "get_job", [&] { return store_->GetJob(job_id); });
}

absl::StatusOr<std::vector<Job>> Scheduler::ListJobs(nas::v1::JobState state,
                                                     int32_t limit,
                                                     int64_t offset) {
  return store_->ListJobs(state, limit, offset);
}

absl::StatusOr<Job> Scheduler::ChangeLiveJob(
    const std::string& job_id, nas::v1::JobState already_done,
    absl::FunctionRef<absl::Status(JobRuntime&)> change) {
  ASSIGN_OR_RETURN(std::shared_ptr<JobRuntime> rt, Runtime(job_id));
  {
    absl::MutexLock lock(&rt->mu);
    const nas::v1::JobState state = rt->job.state();
    if (state == already_done) return GetJob(job_id);
    if (IsEnded(state)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", job_id, " has ended (", nas::v1::JobState_Name(state), ")"));
    }
    RETURN_IF_ERROR(change(*rt));
  }
  return GetJob(job_id);
}

absl::StatusOr<Job> Scheduler::PauseJob(const std::string& job_id) {
  return ChangeLiveJob(job_id, nas::v1::JOB_PAUSED, [&](JobRuntime& rt) {
    return SetStateLocked(rt, nas::v1::JOB_PAUSED, "");
  });
}

absl::StatusOr<Job> Scheduler::ResumeJob(const std::string& job_id) {
  return ChangeLiveJob(job_id, nas::v1::JOB_RUNNING, [&](JobRuntime& rt) {
    RETURN_IF_ERROR(SetStateLocked(rt, nas::v1::JOB_RUNNING, ""));
    return RefillLocked(rt);
  });
}

absl::StatusOr<Job> Scheduler::CancelJob(const std::string& job_id) {
  return ChangeLiveJob(
      job_id, nas::v1::JOB_CANCELLED, [&](JobRuntime& rt) -> absl::Status {
        RETURN_IF_ERROR(
            SetStateLocked(rt, nas::v1::JOB_CANCELLED, "cancelled"));
        ASSIGN_OR_RETURN(int64_t cancelled,
                         store_->CancelActiveTrials(job_id, NowMs()));
        MarkChangedLocked(rt);
        ForgetLeasesLocked(rt);
        rt.counts.pending = rt.counts.active = 0;
        metrics_.CountTrials(nas::v1::CANCELLED,
                             static_cast<double>(cancelled));
        metrics_.SetPending(job_id, 0);
        LOG(INFO) << "Cancelled job " << job_id << " and " << cancelled
                  << " active trial(s)";
        return absl::OkStatus();
      });
}

absl::StatusOr<Job> Scheduler::ExtendBudget(const std::string& job_id,
                                            int64_t add_trials,
                                            int64_t add_wall_seconds) {
  if (add_trials < 0 || add_wall_seconds < 0) {
    return absl::InvalidArgumentError(
        "add_trials and add_wall_seconds must be >= 0");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<JobRuntime> rt, Runtime(job_id));
  {
    absl::MutexLock lock(&rt->mu);
    JobSpec spec = rt->job.spec();
    spec.mutable_budget()->set_max_trials(spec.budget().max_trials() +
                                          add_trials);
    if (spec.budget().max_wall_seconds() > 0) {
      spec.mutable_budget()->set_max_wall_seconds(
          spec.budget().max_wall_seconds() + add_wall_seconds);
    }
    RETURN_IF_ERROR(store_->UpdateJobSpec(job_id, spec, NowMs()));
    *rt->job.mutable_spec() = spec;
    if (IsEnded(rt->job.state())) {
      rt->exhausted = false;
      RETURN_IF_ERROR(SetStateLocked(*rt, nas::v1::JOB_RUNNING, ""));
    }
    RETURN_IF_ERROR(RefillLocked(*rt));
    BumpVersion(job_id);
  }
  return GetJob(job_id);
}

absl::StatusOr<std::vector<Trial>> Scheduler::ListTrials(
    storage::TrialQuery query) {
  if (query.order == nas::v1::ORDER_BY_OBJECTIVE) {
    ASSIGN_OR_RETURN(Job job, GetJob(query.job_id));
    if (job.spec().objectives_size() > 0) {
      query.metric = job.spec().objectives(0).metric();
      query.direction = job.spec().objectives(0).direction();
    }
  }
  return Timed(metrics_, "list_trials",
               [&] { return store_->ListTrials(query); });
}

absl::StatusOr<std::vector<Trial>> Scheduler::ParetoFront(
    const std::string& job_id) {
  ASSIGN_OR_RETURN(Job job, GetJob(job_id));
  const auto& objectives = job.spec().objectives();
  if (objectives.empty()) return std::vector<Trial>{};
  const nas::v1::Objective& a = objectives[0];
  const nas::v1::Objective& b = objectives.size() > 1 ? objectives[1] : a;
  return store_->ParetoFront(job_id, a.metric(), a.direction(), b.metric(),
                             b.direction());
}

std::optional<int64_t> Scheduler::WaitForJobChange(const std::string& job_id,
                                                   int64_t seen,
                                                   absl::Duration timeout) {
  absl::MutexLock lock(&watch_mu_);
  auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(watch_mu_) {
    return shutdown_ || versions_[job_id] != seen;
  };
  watch_mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  if (shutdown_) return std::nullopt;
  return versions_[job_id];
}

void Scheduler::Shutdown() {
  absl::MutexLock lock(&watch_mu_);
  shutdown_ = true;
}

void Scheduler::BumpVersion(const std::string& job_id, int64_t trial_id) {
  absl::MutexLock lock(&watch_mu_);
  ++versions_[job_id];
  if (trial_id > 0) last_trial_[job_id] = trial_id;
}

absl::StatusOr<std::optional<nas::v1::Trial>> Scheduler::LastChangedTrial(
    const std::string& job_id) {
  int64_t trial_id = 0;
  {
    absl::MutexLock lock(&watch_mu_);
    auto it = last_trial_.find(job_id);
    if (it == last_trial_.end()) return std::nullopt;
    trial_id = it->second;
  }
  ASSIGN_OR_RETURN(Trial trial, store_->GetTrial(trial_id, false));
  return trial;
}

// ---------------------------------------------------------------- workers

absl::StatusOr<nas::v1::RegisterWorkerResponse> Scheduler::RegisterWorker(
    const nas::v1::WorkerInfo& info) {
  nas::v1::RegisterWorkerResponse response;
  ASSIGN_OR_RETURN(*response.mutable_worker_id(),
                   store_->RegisterWorker(info, NowMs()));
  response.set_heartbeat_interval_ms(absl::ToInt64Milliseconds(options_.lease) /
                                     3);
  NoteWorker(response.worker_id());
  LOG(INFO) << "Worker " << response.worker_id() << " (" << info.name()
            << ") registered";
  return response;
}

int64_t Scheduler::ActiveWorkers() {
  const int64_t recent =
      NowMs() - 3 * absl::ToInt64Milliseconds(options_.lease);
  absl::MutexLock lock(&mu_);
  int64_t workers = 0;
  for (const auto& [id, seen_ms] : worker_seen_ms_) {
    if (seen_ms >= recent) ++workers;
  }
  return workers;
}

void Scheduler::NoteWorker(const std::string& worker_id) {
  absl::MutexLock lock(&mu_);
  worker_seen_ms_[worker_id] = NowMs();
}

absl::StatusOr<nas::v1::AcquireTrialResponse> Scheduler::AcquireTrial(
    const std::string& worker_id) {
  const absl::Time start = Clock::Real()->Now();
  bool touch;
  {
    // last_seen is written at most every few seconds per worker.
    absl::MutexLock lock(&mu_);
    auto it = worker_touched_ms_.find(worker_id);
    touch = it == worker_touched_ms_.end() || NowMs() - it->second >= 5000;
  }
  if (touch) {
    RETURN_IF_ERROR(store_->TouchWorker(worker_id, NowMs()));
    absl::MutexLock lock(&mu_);
    worker_touched_ms_[worker_id] = NowMs();
  }
  NoteWorker(worker_id);

  // Candidates: RUNNING jobs, higher priority first; within a priority,
  // round-robin from the job after the one served last.
  struct Candidate {
    int32_t priority;
    size_t index;  // position within its priority, in job-id order
    std::shared_ptr<JobRuntime> rt;
  };
  std::vector<Candidate> candidates;
  absl::flat_hash_map<int32_t, size_t> group_size;
  for (std::shared_ptr<JobRuntime>& rt : AllRuntimes()) {
    int32_t priority;
    {
      absl::MutexLock lock(&rt->mu);
      if (rt->job.state() != nas::v1::JOB_RUNNING) continue;
      priority = rt->job.spec().priority();
    }
    candidates.push_back({priority, group_size[priority]++, std::move(rt)});
  }
  {
    absl::MutexLock lock(&mu_);
    for (Candidate& c : candidates) {
      const size_t n = group_size[c.priority];
      c.index = (c.index + n - round_robin_[c.priority] % n) % n;
    }
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) {
              if (a.priority != b.priority) return a.priority > b.priority;
              return a.index < b.index;
            });

  nas::v1::AcquireTrialResponse response;
  for (const Candidate& c : candidates) {
    std::optional<nas::v1::TrialLease> lease;
    std::string job_id;
    // Each round leases one trial; a cache hit is answered and the next
    // trial leased.
    for (int round = 0; round < kMaxCacheHitsPerAcquire && !lease; ++round) {
      int64_t deadline = 0;
      const int64_t issued_at = sequence_.load();
      std::optional<storage::PendingWrite<absl::StatusOr<std::optional<Trial>>>>
          pending;
      {
        absl::MutexLock lock(&c.rt->mu);
        job_id = c.rt->job.id();
        ASSIGN_OR_RETURN(pending, IssueLeaseLocked(*c.rt, worker_id, &deadline));
      }
      if (!pending.has_value()) break;
      absl::StatusOr<std::optional<Trial>> trial =
          Timed(metrics_, "acquire", [&] { return pending->Wait(); });
      {
        absl::MutexLock lock(&c.rt->mu);
        --c.rt->in_flight;
        if (!trial.ok() || !trial->has_value()) {
          ++c.rt->counts.pending;  // the queue was shorter than counted
          --c.rt->counts.active;
        }
      }
      RETURN_IF_ERROR(trial.status());
      if (!trial->has_value()) break;
      ASSIGN_OR_RETURN(lease, FinishLease(c.rt, **std::move(trial), deadline,
                                          issued_at));
    }
    if (!lease.has_value()) continue;
    {
      absl::MutexLock lock(&mu_);
      round_robin_[c.priority] += c.index + 1;
    }
    const int64_t leased_id = lease->trial_id();
    *response.mutable_lease() = *std::move(lease);
    BumpVersion(job_id, leased_id);
    break;
  }
  if (!response.has_lease())
    response.set_retry_after_ms(options_.retry_after_ms);
  metrics_.ObserveAcquire(Clock::Real()->Now() - start);
  return response;
}

Scheduler::LiveCounts Scheduler::ToLive(const nas::v1::TrialCounts& c) {
  LiveCounts live;
  live.pending = c.pending();
  live.active = c.leased() + c.running();
  live.completed = Completed(c);
  return live;
}

absl::StatusOr<std::optional<
    storage::PendingWrite<absl::StatusOr<std::optional<Trial>>>>>
Scheduler::IssueLeaseLocked(JobRuntime& rt, const std::string& worker_id,
                            int64_t* deadline) {
  using Pending = storage::PendingWrite<absl::StatusOr<std::optional<Trial>>>;
  const std::string& job_id = rt.job.id();
  const nas::v1::Budget& budget = rt.job.spec().budget();
  if (rt.job.state() != nas::v1::JOB_RUNNING) return std::nullopt;
  if (budget.max_parallel() > 0 && rt.counts.active >= budget.max_parallel()) {
    return std::nullopt;
  }
  if (rt.counts.pending <= 0) {
    RETURN_IF_ERROR(RefillLocked(rt));
    if (rt.job.state() != nas::v1::JOB_RUNNING || rt.counts.pending <= 0) {
      return std::nullopt;
    }
  }
  const int64_t now = NowMs();
  *deadline = now + absl::ToInt64Milliseconds(options_.lease);
  std::optional<Pending> pending =
      store_->IssueAcquireTrial(job_id, worker_id, *deadline, now);
  --rt.counts.pending;
  ++rt.counts.active;
  ++rt.in_flight;
  metrics_.SetPending(job_id, std::max<int64_t>(0, rt.counts.pending));
  // Refill in batches: once the queue is down to half its target.
  if (rt.counts.pending <= options_.pending_per_job / 2) {
    if (options_.deferred_refill) {
      absl::MutexLock lock(&mu_);
      refill_wanted_.insert(job_id);
    } else {
      absl::Status refill = RefillLocked(rt);
      if (!refill.ok()) LOG(WARNING) << "Job " << job_id << ": " << refill;
    }
  }
  return pending;
}

void Scheduler::ForgetLeaseLocked(JobRuntime& rt, int64_t trial_id) {
  if (rt.leased.erase(trial_id) == 0) return;
  absl::MutexLock lock(&mu_);
  lease_jobs_.erase(trial_id);
}

void Scheduler::ForgetLeasesLocked(JobRuntime& rt) {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, trial] : rt.leased) lease_jobs_.erase(id);
  rt.leased.clear();
}

absl::StatusOr<std::optional<nas::v1::TrialLease>> Scheduler::FinishLease(
    const std::shared_ptr<JobRuntime>& runtime, Trial trial, int64_t deadline,
    int64_t issued_at) {
  JobRuntime& rt = *runtime;
  metrics_.CountTrials(nas::v1::LEASED);
  const std::string eval_key = rt.eval_key;  // const after load
  ASSIGN_OR_RETURN(std::optional<storage::CachedResult> cached,
                   Timed(metrics_, "lookup_result", [&] {
                     return store_->LookupResult(trial.architecture().hash(),
                                                 eval_key);
                   }));
  absl::MutexLock lock(&rt.mu);
  if (cached.has_value()) {
    storage::TrialOutcome outcome = cached->outcome;
    outcome.state = nas::v1::SUCCEEDED;
    outcome.cache_hit = true;
    VLOG(1) << "Trial " << trial.id() << " answered from trial "
            << cached->trial_id;
    storage::PendingWrite<absl::Status> write =
        IssueCompleteLocked(rt, trial, outcome);
    rt.mu.Unlock();
    absl::Status stored = Timed(metrics_, "complete", [&] { return write.Wait(); });
    rt.mu.Lock();
    RETURN_IF_ERROR(CompletedLocked(rt, trial, outcome, stored));
    return std::nullopt;
  }
  nas::v1::TrialLease lease;
  lease.set_trial_id(trial.id());
  lease.set_job_id(rt.job.id());
  lease.set_attempt(trial.attempt());
  lease.set_lease_deadline_ms(
      trial.lease_deadline_ms() > 0 ? trial.lease_deadline_ms() : deadline);
  *lease.mutable_architecture() = trial.architecture();
  if (rt.changed_at <= issued_at) {
    // Nothing (a lease expiry, a cancel) changed the job's trials since the
    // lease was issued: remember it for the worker's report.
    trial.set_state(nas::v1::LEASED);
    rt.leased[trial.id()] = std::move(trial);
    absl::MutexLock lock(&mu_);
    lease_jobs_[lease.trial_id()] = runtime;
  }
  *lease.mutable_search_space() = rt.job.spec().search_space();
  *lease.mutable_evaluation() = rt.job.spec().evaluation();
  TrialTask task = rt.strategy->Task(lease.architecture());
  lease.set_task(std::move(task.task));
  lease.set_task_config(std::move(task.config));
  VLOG(1) << "Leased trial " << lease.trial_id() << " attempt "
          << lease.attempt();
  return lease;
}

absl::StatusOr<Scheduler::LockedTrial> Scheduler::LockTrial(int64_t trial_id) {
  LockedTrial locked;
  ASSIGN_OR_RETURN(Trial trial, store_->GetTrial(trial_id, false));
  ASSIGN_OR_RETURN(locked.runtime, Runtime(trial.job_id()));
  locked.lock = std::make_unique<absl::MutexLock>(&locked.runtime->mu);
  // Read again: it may have changed before the lock was taken.
  ASSIGN_OR_RETURN(locked.trial, store_->GetTrial(trial_id, false));
  return locked;
}

absl::Status Scheduler::CheckActive(const Trial& trial, int32_t attempt,
                                    const std::string& worker_id) {
  if (trial.attempt() == attempt && IsActive(trial.state()) &&
      (worker_id.empty() || trial.worker_id() == worker_id)) {
    return absl::OkStatus();
  }
  metrics_.IncStaleReports();
  return absl::FailedPreconditionError(absl::StrCat(
      "trial ", trial.id(), " attempt ", attempt, " is not active (trial is ",
      nas::v1::TrialState_Name(trial.state()), " at attempt ", trial.attempt(),
      trial.worker_id().empty() ? "" : " of worker ", trial.worker_id(), ")"));
}

absl::StatusOr<nas::v1::HeartbeatResponse> Scheduler::Heartbeat(
    const nas::v1::HeartbeatRequest& request) {
  ASSIGN_OR_RETURN(LockedTrial locked, LockTrial(request.trial_id()));
  JobRuntime& rt = *locked.runtime;
  const Trial& trial = locked.trial;
  nas::v1::HeartbeatResponse response;
  if (trial.state() == nas::v1::CANCELLED &&
      trial.attempt() == request.attempt()) {
    response.set_stop(true);
    return response;
  }
  RETURN_IF_ERROR(CheckActive(trial, request.attempt(), request.worker_id()));
  const int64_t deadline = NowMs() + absl::ToInt64Milliseconds(options_.lease);
  absl::Status extended = Timed(metrics_, "extend_lease", [&] {
    return store_->ExtendLease({trial.id(), trial.attempt()}, deadline);
  });
  if (absl::IsFailedPrecondition(extended)) metrics_.IncStaleReports();
  RETURN_IF_ERROR(extended);
  NoteWorker(request.worker_id());
  response.set_lease_deadline_ms(deadline);
  response.set_stop(rt.stop_requested.contains(trial.id()) ||
                    rt.job.state() == nas::v1::JOB_CANCELLED);
  return response;
}

absl::StatusOr<nas::v1::ReportProgressResponse> Scheduler::ReportProgress(
    const nas::v1::ReportProgressRequest& request) {
  ASSIGN_OR_RETURN(LockedTrial locked, LockTrial(request.trial_id()));
  JobRuntime& rt = *locked.runtime;
  const Trial& trial = locked.trial;
  nas::v1::ReportProgressResponse response;
  if (trial.state() == nas::v1::CANCELLED &&
      trial.attempt() == request.attempt()) {
    response.set_decision(nas::v1::STOP);
    return response;
  }
  RETURN_IF_ERROR(CheckActive(trial, request.attempt(), request.worker_id()));
  const storage::TrialRef ref{trial.id(), trial.attempt()};
  const int64_t now = NowMs();
  nas::v1::Measurement m = request.measurement();
  if (m.time_ms() == 0) m.set_time_ms(now);
  const int64_t deadline = now + absl::ToInt64Milliseconds(options_.lease);
  absl::Status added = Timed(metrics_, "add_measurement", [&] {
    return store_->IssueAddMeasurement(ref, m, deadline).Wait();
  });
  if (absl::IsFailedPrecondition(added)) metrics_.IncStaleReports();
  RETURN_IF_ERROR(added);
  NoteWorker(request.worker_id());
  bool stop = rt.stop_requested.contains(trial.id());
  if (!stop) ObserveProgressLocked(rt, trial, m, &stop);
  response.set_decision(stop ? nas::v1::STOP : nas::v1::CONTINUE);
  response.set_lease_deadline_ms(deadline);
  if (trial.state() == nas::v1::LEASED) BumpVersion(rt.job.id(), trial.id());
  return response;
}

void Scheduler::ObserveProgressLocked(JobRuntime& rt, const Trial& trial,
                                      const nas::v1::Measurement& m,
                                      bool* stop) {
  if (rt.stopper == nullptr) return;
  std::optional<Score> score =
      ScoreOf(rt.job.spec().objectives(), ToMap(m.metrics()));
  if (!score.has_value()) return;
  if (rt.stopper->Report(trial.id(), m.step(), *score)) {
    rt.stop_requested.insert(trial.id());
    *stop = true;
    VLOG(1) << "Trial " << trial.id() << " told to stop at step " << m.step();
  }
}

absl::Status Scheduler::CompleteTrial(
    const nas::v1::CompleteTrialRequest& request) {
  // Read without the job's lock; read again under it only if trials of the
  // job changed state meanwhile other than by reports (lease expiry, cancel).
  std::shared_ptr<JobRuntime> runtime;
  {
    absl::MutexLock lock(&mu_);
    auto it = lease_jobs_.find(request.trial_id());
    if (it != lease_jobs_.end()) runtime = it->second;
  }
  Trial trial;
  bool known = false;
  if (runtime != nullptr) {
    // Leased by this controller and unchanged since: no store read.
    absl::MutexLock lock(&runtime->mu);
    auto it = runtime->leased.find(request.trial_id());
    if (it != runtime->leased.end()) {
      trial = it->second;
      known = true;
    }
  }
  const int64_t read_at = sequence_.load();
  if (!known) {
    ASSIGN_OR_RETURN(trial, store_->GetTrial(request.trial_id(), false));
    ASSIGN_OR_RETURN(runtime, Runtime(trial.job_id()));
  }
  JobRuntime& rt = *runtime;
  absl::MutexLock lock(&rt.mu);
  if (known ? !rt.leased.contains(trial.id()) : rt.changed_at > read_at) {
    ASSIGN_OR_RETURN(trial, store_->GetTrial(request.trial_id(), false));
  }
  if (trial.attempt() == request.attempt() &&
      (trial.state() == nas::v1::SUCCEEDED ||
       trial.state() == nas::v1::STOPPED_EARLY)) {
    return absl::OkStatus();  // a retried report of the same attempt
  }
  const auto reported = rt.reported.find({trial.id(), request.attempt()});
  if (reported != rt.reported.end()) {
    // A repeated report while the first one's write is in flight.
    if (reported->second) return absl::OkStatus();
    metrics_.IncStaleReports();
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", trial.id(), " attempt ", request.attempt(),
                     " was reported failed"));
  }
  RETURN_IF_ERROR(CheckActive(trial, request.attempt(), request.worker_id()));
  storage::TrialOutcome outcome;
  outcome.state =
      request.stopped_early() ? nas::v1::STOPPED_EARLY : nas::v1::SUCCEEDED;
  outcome.metrics = ToMap(request.metrics());
  outcome.latencies.assign(request.latencies().begin(),
                           request.latencies().end());
  outcome.params = request.params();
  outcome.macs = request.macs();
  storage::PendingWrite<absl::Status> write =
      IssueCompleteLocked(rt, trial, outcome);
  // Wait outside the lock: the store commits this job's concurrent reports
  // together.
  rt.mu.Unlock();
  absl::Status stored = Timed(metrics_, "complete", [&] { return write.Wait(); });
  rt.mu.Lock();
  return CompletedLocked(rt, trial, outcome, stored);
}

storage::PendingWrite<absl::Status> Scheduler::IssueCompleteLocked(
    JobRuntime& rt, const Trial& trial, const storage::TrialOutcome& outcome) {
  // Observed already if an earlier write of this report failed.
  if (rt.observed_unstored.erase({trial.id(), trial.attempt()}) == 0) {
    Observation observation;
    observation.metrics = outcome.metrics;
    absl::Status observed =
        rt.strategy->Observe(trial.architecture(), observation);
    if (!observed.ok()) {
      // The result is still recorded; the strategy just learns nothing.
      LOG(WARNING) << "Job " << rt.job.id() << ": strategy refused trial "
                   << trial.id() << ": " << observed;
    }
  }
  storage::StrategySnapshot snapshot{rt.snapshot.version + 1,
                                     rt.strategy->SaveState()};
  storage::PendingWrite<absl::Status> write = store_->IssueCompleteTrial(
      {trial.id(), trial.attempt()}, outcome, snapshot, NowMs());
  ForgetLeaseLocked(rt, trial.id());
  rt.snapshot = std::move(snapshot);
  rt.reported[{trial.id(), trial.attempt()}] = true;
  ++rt.in_flight;
  --rt.counts.active;
  ++rt.counts.completed;
  return write;
}

absl::Status Scheduler::CompletedLocked(JobRuntime& rt, const Trial& trial,
                                        const storage::TrialOutcome& outcome,
                                        const absl::Status& stored) {
  --rt.in_flight;
  if (!stored.ok()) {
    // The strategy has observed it already (later snapshots include it);
    // the store, which refused it, stays the truth for the trial. A retry
    // of this report must not be observed a second time.
    LOG(WARNING) << "Job " << rt.job.id() << ": completion of trial "
                 << trial.id() << " attempt " << trial.attempt()
                 << " was not stored: " << stored;
    rt.reported.erase({trial.id(), trial.attempt()});
    rt.observed_unstored.insert({trial.id(), trial.attempt()});
    ++rt.counts.active;
    --rt.counts.completed;
    if (absl::IsFailedPrecondition(stored)) metrics_.IncStaleReports();
    return stored;
  }
  rt.stop_requested.erase(trial.id());
  if (rt.stopper != nullptr) rt.stopper->MarkCompleted(trial.id());
  metrics_.CountTrials(outcome.state);
  if (trial.start_time_ms() > 0) {
    metrics_.ObserveTrialDuration(
        outcome.state, absl::Milliseconds(NowMs() - trial.start_time_ms()));
  }
  NoteResultLocked(rt, outcome);
  RETURN_IF_ERROR(MaybeFinishLocked(rt));
  BumpVersion(rt.job.id(), trial.id());
  return absl::OkStatus();
}

void Scheduler::NoteResultLocked(JobRuntime& rt,
                                 const storage::TrialOutcome& outcome) {
  const JobSpec& spec = rt.job.spec();
  if (spec.objectives_size() == 0) return;
  const nas::v1::Objective& primary = spec.objectives(0);
  const auto it = outcome.metrics.find(primary.metric());
  if (it == outcome.metrics.end()) return;
  const bool minimize = primary.direction() == nas::v1::MINIMIZE;
  if (!rt.best.has_value() ||
      (minimize ? it->second < *rt.best : it->second > *rt.best)) {
    rt.best = it->second;
    metrics_.SetBestObjective(rt.job.id(), it->second);
  }
}

absl::StatusOr<nas::v1::FailTrialResponse> Scheduler::FailTrial(
    const nas::v1::FailTrialRequest& request) {
  ASSIGN_OR_RETURN(LockedTrial locked, LockTrial(request.trial_id()));
  JobRuntime& rt = *locked.runtime;
  const Trial& trial = locked.trial;
  if (rt.reported.contains({trial.id(), request.attempt()})) {
    metrics_.IncStaleReports();
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", trial.id(), " attempt ", request.attempt(),
                     " was already reported"));
  }
  RETURN_IF_ERROR(CheckActive(trial, request.attempt(), request.worker_id()));
  const int32_t max_attempts = rt.job.spec().retry().max_attempts() > 0
                                   ? rt.job.spec().retry().max_attempts()
                                   : 3;
  // The strategy hears of the failure only when it is final (the store's
  // rule: attempt >= max_attempts); then the snapshot goes with it.
  const bool final_failure = trial.attempt() >= max_attempts;
  std::optional<storage::StrategySnapshot> snapshot;
  if (final_failure) {
    Observation observation;
    observation.failed = true;
    absl::Status observed =
        rt.strategy->Observe(trial.architecture(), observation);
    if (!observed.ok()) {
      LOG(WARNING) << "Job " << rt.job.id() << ": strategy refused failure of "
                   << trial.id() << ": " << observed;
    }
    snapshot = storage::StrategySnapshot{rt.snapshot.version + 1,
                                         rt.strategy->SaveState()};
  }
  absl::StatusOr<storage::FailResult> result = Timed(metrics_, "fail", [&] {
    return store_->FailTrial({trial.id(), trial.attempt()}, request.reason(),
                             request.message(), max_attempts, snapshot,
                             NowMs());
  });
  if (!result.ok()) {
    if (snapshot.has_value()) RollbackLocked(rt);
    if (absl::IsFailedPrecondition(result.status())) {
      metrics_.IncStaleReports();
    }
    return result.status();
  }
  if (snapshot.has_value()) rt.snapshot = *std::move(snapshot);
  rt.reported[{trial.id(), trial.attempt()}] = false;
  ForgetLeaseLocked(rt, trial.id());
  --rt.counts.active;
  if (result->will_retry) ++rt.counts.pending;
  metrics_.CountTrials(result->will_retry ? nas::v1::PENDING : nas::v1::FAILED);
  if (trial.start_time_ms() > 0) {
    metrics_.ObserveTrialDuration(
        nas::v1::FAILED, absl::Milliseconds(NowMs() - trial.start_time_ms()));
  }
  rt.stop_requested.erase(trial.id());
  if (rt.stopper != nullptr) rt.stopper->ResetCurve(trial.id());
  LOG(INFO) << "Trial " << trial.id() << " attempt " << trial.attempt()
            << " failed (" << request.reason() << ")"
            << (result->will_retry ? ", will retry" : ", for good");
  RETURN_IF_ERROR(MaybeFinishLocked(rt));
  BumpVersion(rt.job.id(), trial.id());
  nas::v1::FailTrialResponse response;
  response.set_will_retry(result->will_retry);
  return response;
}

// ---------------------------------------------------------------- internals

absl::Status Scheduler::RefillLocked(JobRuntime& rt) {
  if (rt.job.state() != nas::v1::JOB_RUNNING || rt.exhausted) {
    return absl::OkStatus();
  }
  const LiveCounts& counts = rt.counts;
  const int64_t room = rt.job.spec().budget().max_trials() - counts.completed -
                       counts.pending - counts.active;
  // Enough for every worker seen lately to find one waiting.
  const int64_t target =
      std::max<int64_t>(options_.pending_per_job, ActiveWorkers());
  const int64_t wanted = std::min<int64_t>(room, target - counts.pending);
  std::vector<storage::NewTrial> batch;
  absl::Status suggest_error;
  for (int64_t i = 0; i < wanted; ++i) {
    const absl::Time start = Clock::Real()->Now();
    absl::StatusOr<nas::v1::Architecture> arch = rt.strategy->Suggest();
    metrics_.ObserveSuggest(Clock::Real()->Now() - start);
    if (absl::IsResourceExhausted(arch.status())) {
      rt.exhausted = true;
      break;
    }
    if (absl::IsUnavailable(arch.status())) break;
    if (!arch.ok()) {
      suggest_error = arch.status();
      break;
    }
    storage::NewTrial& t = batch.emplace_back();
    t.architecture = *std::move(arch);
    t.eval_key = rt.eval_key;
  }
  if (!suggest_error.ok()) {
    RollbackLocked(rt, batch);
    LOG(ERROR) << "Job " << rt.job.id()
               << ": Suggest failed: " << suggest_error;
    return SetStateLocked(
        rt, nas::v1::JOB_FAILED,
        absl::StrCat("strategy error: ", suggest_error.message()));
  }
  if (!batch.empty()) {
    storage::StrategySnapshot snapshot{rt.snapshot.version + 1,
                                       rt.strategy->SaveState()};
    absl::StatusOr<std::vector<int64_t>> ids =
        Timed(metrics_, "insert_trials", [&] {
          return store_->InsertTrials(rt.job.id(), batch, snapshot, NowMs());
        });
    if (!ids.ok()) {
      RollbackLocked(rt, batch);
      rt.exhausted = false;
      return ids.status();
    }
    rt.snapshot = std::move(snapshot);
    metrics_.CountTrials(nas::v1::PENDING, static_cast<double>(batch.size()));
    BumpVersion(rt.job.id());
  }
  rt.counts.pending += static_cast<int64_t>(batch.size());
  metrics_.SetPending(rt.job.id(), rt.counts.pending);
  if (rt.exhausted) return MaybeFinishLocked(rt);
  return absl::OkStatus();
}

absl::Status Scheduler::MaybeFinishLocked(JobRuntime& rt) {
  if (IsEnded(rt.job.state())) return absl::OkStatus();
  const LiveCounts& counts = rt.counts;
  const int64_t max_trials = rt.job.spec().budget().max_trials();
  if (counts.completed >= max_trials) {
    RETURN_IF_ERROR(SetStateLocked(rt, nas::v1::JOB_SUCCEEDED, ""));
    // Nothing should be outstanding (the budget caps it); be sure anyway.
    RETURN_IF_ERROR(store_->CancelActiveTrials(rt.job.id(), NowMs()).status());
    MarkChangedLocked(rt);
    ForgetLeasesLocked(rt);
    rt.counts.pending = rt.counts.active = 0;
    metrics_.SetPending(rt.job.id(), 0);
    LOG(INFO) << "Job " << rt.job.id() << " succeeded with "
              << counts.completed << " trial(s)";
  } else if (rt.exhausted && counts.pending + counts.active == 0) {
    RETURN_IF_ERROR(SetStateLocked(
        rt, nas::v1::JOB_FAILED,
        absl::StrCat("the search space has no new architecture after ",
                     counts.completed, " of ", max_trials, " trials")));
    LOG(INFO) << "Job " << rt.job.id() << " failed: space exhausted";
  }
  return absl::OkStatus();
}

absl::Status Scheduler::SetStateLocked(JobRuntime& rt, nas::v1::JobState state,
                                       const std::string& message) {
  RETURN_IF_ERROR(Timed(metrics_, "set_job_state", [&] {
    return store_->SetJobState(rt.job.id(), state, message, NowMs());
  }));
  rt.job.set_state(state);
  rt.job.set_message(message);
  BumpVersion(rt.job.id());
  return absl::OkStatus();
}

void Scheduler::RollbackLocked(JobRuntime& rt,
                               const std::vector<storage::NewTrial>& unsaved) {
  absl::Status restored = rt.strategy->RestoreState(rt.snapshot.state);
  // The seen set is not in the snapshot: forget the suggestions not stored.
  for (const storage::NewTrial& trial : unsaved) {
    if (!restored.ok()) break;
    restored = rt.strategy->ForgetSeen(trial.architecture);
  }
  if (!restored.ok()) {
    // Cannot happen for bytes the strategy itself saved; never continue
    // with a strategy that diverged from the store.
    LOG(FATAL) << "Job " << rt.job.id()
               << ": strategy rollback failed: " << restored;
  }
}

// ---------------------------------------------------------------- upkeep

absl::Status Scheduler::RefillWanted(absl::Duration wait) {
  absl::flat_hash_set<std::string> wanted;
  {
    absl::MutexLock lock(&mu_);
    auto requested = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !refill_wanted_.empty();
    };
    mu_.AwaitWithTimeout(absl::Condition(&requested), wait);
    wanted.swap(refill_wanted_);
  }
  for (const std::string& job_id : wanted) {
    ASSIGN_OR_RETURN(std::shared_ptr<JobRuntime> rt, Runtime(job_id));
    absl::MutexLock lock(&rt->mu);
    RETURN_IF_ERROR(RefillLocked(*rt));
  }
  return absl::OkStatus();
}

absl::Status Scheduler::Maintain() {
  const int64_t now = NowMs();
  absl::StatusOr<std::vector<storage::ExpiredLease>> expired;
  {
    // Every job's lock is held (in job-id order) while leases are requeued,
    // so the requeue is ordered against the reports each job issues, and a
    // report that read its trial before sees changed_at move.
    std::vector<std::shared_ptr<JobRuntime>> all = AllRuntimes();
    std::vector<std::unique_ptr<absl::MutexLock>> locks;
    for (const auto& rt : all) {
      locks.push_back(std::make_unique<absl::MutexLock>(&rt->mu));
    }
    expired = Timed(metrics_, "requeue_expired", [&] {
      return store_->RequeueExpiredLeases(now, options_.max_lease_expirations);
    });
    if (expired.ok()) {
      absl::flat_hash_map<std::string, JobRuntime*> by_id;
      for (const auto& rt : all) by_id[rt->job.id()] = rt.get();
      for (const storage::ExpiredLease& e : *expired) {
        auto it = by_id.find(e.job_id);
        if (it == by_id.end()) continue;
        JobRuntime& rt = *it->second;
        MarkChangedLocked(rt);
        ForgetLeaseLocked(rt, e.trial_id);
        --rt.counts.active;
        if (e.requeued) ++rt.counts.pending;
        rt.stop_requested.erase(e.trial_id);
        if (rt.stopper != nullptr) rt.stopper->ResetCurve(e.trial_id);
      }
    }
  }
  RETURN_IF_ERROR(expired.status());
  if (!expired->empty()) {
    metrics_.IncLeaseExpirations(static_cast<double>(expired->size()));
  }
  for (const storage::ExpiredLease& e : *expired) {
    LOG(INFO) << "Lease of trial " << e.trial_id << " attempt " << e.old_attempt
              << " expired; " << (e.requeued ? "requeued" : "failed");
    metrics_.CountTrials(e.requeued ? nas::v1::PENDING : nas::v1::FAILED);
    ASSIGN_OR_RETURN(std::shared_ptr<JobRuntime> rt, Runtime(e.job_id));
    absl::MutexLock lock(&rt->mu);
    RETURN_IF_ERROR(MaybeFinishLocked(*rt));
    BumpVersion(e.job_id, e.trial_id);
  }

  {
    absl::MutexLock lock(&mu_);
    refill_wanted_.clear();  // every RUNNING job is refilled below
  }
  metrics_.SetWorkers(ActiveWorkers());
  for (const std::shared_ptr<JobRuntime>& rt : AllRuntimes()) {
    absl::MutexLock lock(&rt->mu);
    if (rt->job.state() != nas::v1::JOB_RUNNING) continue;
    const int64_t wall_ms = rt->job.spec().budget().max_wall_seconds() * 1000;
    if (wall_ms > 0 && now - rt->job.create_time_ms() > wall_ms) {
      RETURN_IF_ERROR(SetStateLocked(*rt, nas::v1::JOB_SUCCEEDED,
                                     "wall-clock budget spent"));
      RETURN_IF_ERROR(store_->CancelActiveTrials(rt->job.id(), now).status());
      MarkChangedLocked(*rt);
      ForgetLeasesLocked(*rt);
      rt->counts.pending = rt->counts.active = 0;
      metrics_.SetPending(rt->job.id(), 0);
      continue;
    }
    if (rt->in_flight == 0) {
      // Re-read the counts (they drift only if a write failed).
      absl::StatusOr<Job> stored = store_->GetJob(rt->job.id());
      if (stored.ok()) rt->counts = ToLive(stored->counts());
    }
    absl::Status refill = RefillLocked(*rt);
    if (!refill.ok()) LOG(WARNING) << "Job " << rt->job.id() << ": " << refill;
    UpdateHypervolumeLocked(*rt);
  }
  return absl::OkStatus();
}

void Scheduler::UpdateHypervolumeLocked(JobRuntime& rt) {
  // Published for two-objective jobs whose objectives both have a `limit`:
  // the limits are the reference point.
  const auto& objectives = rt.job.spec().objectives();
  if (objectives.size() < 2 || !objectives[0].has_limit() ||
      !objectives[1].has_limit()) {
    return;
  }
  absl::StatusOr<std::vector<Trial>> front = store_->ParetoFront(
      rt.job.id(), objectives[0].metric(), objectives[0].direction(),
      objectives[1].metric(), objectives[1].direction());
  if (!front.ok()) return;
  auto oriented = [&](int i, double value) {
    return objectives[i].direction() == nas::v1::MINIMIZE ? -value : value;
  };
  std::vector<std::array<double, 2>> points;
  for (const Trial& trial : *front) {
    const auto a = trial.metrics().find(objectives[0].metric());
    const auto b = trial.metrics().find(objectives[1].metric());
    if (a == trial.metrics().end() || b == trial.metrics().end()) continue;
    points.push_back({oriented(0, a->second), oriented(1, b->second)});
  }
  metrics_.SetHypervolume(
      rt.job.id(),
      nas::strategy::Hypervolume2D(std::move(points),
                                   {oriented(0, objectives[0].limit()),
                                    oriented(1, objectives[1].limit())}));
}

}  // namespace nas::scheduler
