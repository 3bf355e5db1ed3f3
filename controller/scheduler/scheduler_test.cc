#include "controller/scheduler/scheduler.h"

#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "storage/store_url.h"
#include "storage/testing/forwarding_trial_store.h"

namespace nas::scheduler {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kMetric[] = "cifar10_valid_12ep";

nas::v1::JobSpec Nb201Spec(int64_t max_trials, uint64_t seed = 1) {
  nas::v1::JobSpec spec;
  spec.set_name("scheduler-test");
  spec.mutable_search_space()->mutable_nb201();
  spec.mutable_strategy()->mutable_random();
  spec.mutable_strategy()->set_seed(seed);
  nas::v1::Objective* objective = spec.add_objectives();
  objective->set_metric(kMetric);
  objective->set_direction(nas::v1::MAXIMIZE);
  spec.mutable_evaluation()->mutable_table()->set_path(
      "data/nb201/nb201_cifar10.csv");
  spec.mutable_budget()->set_max_trials(max_trials);
  return spec;
}

// A deterministic stand-in for a measured accuracy.
double FakeAccuracy(const nas::v1::Architecture& arch) {
  unsigned sum = 0;
  for (char c : arch.canonical())
    sum = sum * 31 + static_cast<unsigned char>(c);
  return 50.0 + sum % 4000 / 100.0;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override { Open("sqlite::memory:"); }

  void Open(const std::string& url) {
    scheduler_.reset();
    flaky_.reset();
    auto store = storage::OpenTrialStore(url);
    ASSERT_OK(store);
    store_ = *std::move(store);
    Restart();
  }

  // Like Open(), but the scheduler's store fails the completion writes
  // whose 1-based numbers are in `fail` with UNAVAILABLE (nothing written).
  void OpenFlaky(const std::string& url, std::set<int> fail) {
    Open(url);
    flaky_ = std::make_unique<FlakyCompletions>(store_.get(), std::move(fail));
    Restart(flaky_.get());
  }

  // Fails chosen completion writes, as a lost database connection would.
  class FlakyCompletions : public storage::testing::ForwardingTrialStore {
   public:
    FlakyCompletions(storage::TrialStore* base, std::set<int> fail)
        : ForwardingTrialStore(base), fail_(std::move(fail)) {}
    storage::PendingWrite<absl::Status> IssueCompleteTrial(
        const storage::TrialRef& ref, const storage::TrialOutcome& outcome,
        const std::optional<storage::StrategySnapshot>& snapshot,
        int64_t now_ms) override {
      if (fail_.count(++calls_) > 0) {
        return storage::PendingWrite<absl::Status>::Ready(
            absl::UnavailableError("connection lost (injected)"));
      }
      return ForwardingTrialStore::IssueCompleteTrial(ref, outcome, snapshot,
                                                      now_ms);
    }

   private:
    const std::set<int> fail_;
    int calls_ = 0;
  };

  // A new scheduler on the same store (what a controller restart does).
  void Restart(storage::TrialStore* store = nullptr) {
    scheduler_.reset();
    SchedulerOptions options;
    options.store = store != nullptr ? store : store_.get();
    options.clock = &clock_;
    options.lease = absl::Seconds(60);
    options.pending_per_job = 4;
    options.max_lease_expirations = 3;
    registry_ = std::make_unique<prometheus::Registry>();
    options.registry = registry_.get();
    auto scheduler = Scheduler::Create(options);
    ASSERT_OK(scheduler);
    scheduler_ = *std::move(scheduler);
  }

  std::string Worker(const std::string& name) {
    nas::v1::WorkerInfo info;
    info.set_name(name);
    auto response = scheduler_->RegisterWorker(info);
    EXPECT_OK(response);
    return response.ok() ? response->worker_id() : "";
  }

  std::string NewJob(const nas::v1::JobSpec& spec) {
    auto job = scheduler_->CreateJob(spec, "");
    EXPECT_OK(job);
    return job.ok() ? job->id() : "";
  }

  // A lease for `worker`, or an empty lease when there is no work.
  nas::v1::TrialLease Acquire(const std::string& worker) {
    auto response = scheduler_->AcquireTrial(worker);
    EXPECT_OK(response);
    return response.ok() ? response->lease() : nas::v1::TrialLease();
  }

  // A report of type R about `lease` from `worker`.
  template <typename R>
  static R About(const std::string& worker, const nas::v1::TrialLease& lease) {
    R request;
    request.set_worker_id(worker);
    request.set_trial_id(lease.trial_id());
    request.set_attempt(lease.attempt());
    return request;
  }

  nas::v1::CompleteTrialRequest Completion(const std::string& worker,
                                           const nas::v1::TrialLease& lease) {
    auto request = About<nas::v1::CompleteTrialRequest>(worker, lease);
    (*request.mutable_metrics())[kMetric] = FakeAccuracy(lease.architecture());
    return request;
  }

  nas::v1::FailTrialRequest Failure(const std::string& worker,
                                    const nas::v1::TrialLease& lease) {
    auto request = About<nas::v1::FailTrialRequest>(worker, lease);
    request.set_reason("oom");
    request.set_message("out of memory");
    return request;
  }

  nas::v1::HeartbeatRequest Beat(const std::string& worker,
                                 const nas::v1::TrialLease& lease) {
    return About<nas::v1::HeartbeatRequest>(worker, lease);
  }

  nas::v1::ReportProgressRequest Progress(const std::string& worker,
                                          const nas::v1::TrialLease& lease,
                                          int64_t step, double value) {
    auto request = About<nas::v1::ReportProgressRequest>(worker, lease);
    request.mutable_measurement()->set_step(step);
    (*request.mutable_measurement()->mutable_metrics())[kMetric] = value;
    return request;
  }

  nas::v1::Job Job(const std::string& job_id) {
    auto job = scheduler_->GetJob(job_id);
    EXPECT_OK(job);
    return job.ok() ? *job : nas::v1::Job();
  }

  nas::v1::Trial Trial(int64_t trial_id) {
    auto trial = store_->GetTrial(trial_id, false);
    EXPECT_OK(trial);
    return trial.ok() ? *trial : nas::v1::Trial();
  }

  // Runs one worker until the job has no work; returns the canonical strings
  // of the architectures it completed, in order.
  std::vector<std::string> RunToEnd(const std::string& worker, int max_steps) {
    std::vector<std::string> done;
    for (int i = 0; i < max_steps; ++i) {
      nas::v1::TrialLease lease = Acquire(worker);
      if (lease.trial_id() == 0) break;
      absl::Status completed = scheduler_->CompleteTrial(Completion(worker, lease));
      for (int retry = 0; retry < 5 && absl::IsUnavailable(completed);
           ++retry) {
        // The worker sends the same report again, as nas-worker does.
        completed = scheduler_->CompleteTrial(Completion(worker, lease));
      }
      EXPECT_OK(completed);
      done.push_back(lease.architecture().canonical());
    }
    return done;
  }

  // The value of metric `name` with label `label`="`value`" (any labels when
  // `label` is empty), or -1 when absent.
  double Metric(const std::string& name, const std::string& label = "",
                const std::string& value = "") {
    for (const prometheus::MetricFamily& family : registry_->Collect()) {
      if (family.name != name) continue;
      for (const prometheus::ClientMetric& m : family.metric) {
        bool match = label.empty();
        for (const prometheus::ClientMetric::Label& l : m.label) {
          match |= l.name == label && l.value == value;
        }
        if (!match) continue;
        switch (family.type) {
          case prometheus::MetricType::Counter:
            return m.counter.value;
          case prometheus::MetricType::Gauge:
            return m.gauge.value;
          case prometheus::MetricType::Histogram:
            return static_cast<double>(m.histogram.sample_count);
          default:
            return -1;
        }
      }
    }
    return -1;
  }

  FakeClock clock_;
  std::unique_ptr<prometheus::Registry> registry_;
  std::unique_ptr<storage::TrialStore> store_;
  std::unique_ptr<FlakyCompletions> flaky_;  // wraps store_ when set
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, CreateJobRejectsInvalidSpec) {
  nas::v1::JobSpec spec = Nb201Spec(10);
  spec.mutable_budget()->set_max_trials(0);
  EXPECT_THAT(scheduler_->CreateJob(spec, ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("budget.max_trials")));
}

TEST_F(SchedulerTest, CreateJobQueuesSuggestionsAhead) {
  const std::string job_id = NewJob(Nb201Spec(10));
  EXPECT_EQ(Job(job_id).counts().pending(), 4);
  EXPECT_EQ(Job(job_id).state(), nas::v1::JOB_RUNNING);
}

TEST_F(SchedulerTest, ExpiredLeaseRequeuesTrialWithNextAttempt) {
  const std::string w1 = Worker("w1");
  const std::string w2 = Worker("w2");
  NewJob(Nb201Spec(10));
  const nas::v1::TrialLease first = Acquire(w1);
  ASSERT_GT(first.trial_id(), 0);
  EXPECT_EQ(first.attempt(), 1);

  clock_.Advance(absl::Seconds(59));
  ASSERT_OK(scheduler_->Maintain());
  EXPECT_EQ(Trial(first.trial_id()).state(), nas::v1::LEASED);

  clock_.Advance(absl::Seconds(2));
  ASSERT_OK(scheduler_->Maintain());
  const nas::v1::Trial requeued = Trial(first.trial_id());
  EXPECT_EQ(requeued.state(), nas::v1::PENDING);
  EXPECT_EQ(requeued.attempt(), 2);

  const nas::v1::TrialLease again = Acquire(w2);
  EXPECT_EQ(again.trial_id(), first.trial_id());
  EXPECT_EQ(again.attempt(), 2);
}

TEST_F(SchedulerTest, HeartbeatExtendsTheLease) {
  const std::string w1 = Worker("w1");
  NewJob(Nb201Spec(10));
  const nas::v1::TrialLease lease = Acquire(w1);
  clock_.Advance(absl::Seconds(50));
  auto beat = scheduler_->Heartbeat(Beat(w1, lease));
  ASSERT_OK(beat);
  EXPECT_FALSE(beat->stop());
  EXPECT_EQ(beat->lease_deadline_ms(), clock_.NowMs() + 60000);
  clock_.Advance(absl::Seconds(50));
  ASSERT_OK(scheduler_->Maintain());
  EXPECT_EQ(Trial(lease.trial_id()).state(), nas::v1::LEASED);
}

TEST_F(SchedulerTest, StaleReportIsRefusedAndChangesNothing) {
  const std::string w1 = Worker("w1");
  const std::string w2 = Worker("w2");
  const std::string job_id = NewJob(Nb201Spec(10));
  const nas::v1::TrialLease stale = Acquire(w1);
  clock_.Advance(absl::Seconds(61));
  ASSERT_OK(scheduler_->Maintain());
  const nas::v1::TrialLease fresh = Acquire(w2);
  ASSERT_EQ(fresh.trial_id(), stale.trial_id());
  const nas::v1::Trial before = Trial(stale.trial_id());

  EXPECT_THAT(scheduler_->CompleteTrial(Completion(w1, stale)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(scheduler_->Heartbeat(Beat(w1, stale)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(scheduler_->ReportProgress(Progress(w1, stale, 1, 10)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(scheduler_->FailTrial(Failure(w1, stale)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // The right attempt from the wrong worker is refused too.
  nas::v1::TrialLease impostor = fresh;
  EXPECT_THAT(scheduler_->CompleteTrial(Completion(w1, impostor)),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  const nas::v1::Trial after = Trial(stale.trial_id());
  EXPECT_EQ(after.DebugString(), before.DebugString());
  EXPECT_EQ(Job(job_id).counts().succeeded(), 0);
  EXPECT_OK(scheduler_->CompleteTrial(Completion(w2, fresh)));
  EXPECT_EQ(Job(job_id).counts().succeeded(), 1);
}

TEST_F(SchedulerTest, CompleteTrialIsIdempotent) {
  const std::string w1 = Worker("w1");
  const std::string job_id = NewJob(Nb201Spec(10));
  const nas::v1::TrialLease lease = Acquire(w1);
  ASSERT_OK(scheduler_->CompleteTrial(Completion(w1, lease)));
  auto snapshot = store_->LatestSnapshot(job_id);
  ASSERT_OK(snapshot);
  ASSERT_TRUE(snapshot->has_value());

  ASSERT_OK(scheduler_->CompleteTrial(Completion(w1, lease)));
  EXPECT_EQ(Job(job_id).counts().succeeded(), 1);
  auto again = store_->LatestSnapshot(job_id);
  ASSERT_OK(again);
  EXPECT_EQ((*again)->version, (*snapshot)->version);
  EXPECT_EQ(Trial(lease.trial_id()).state(), nas::v1::SUCCEEDED);
}

TEST_F(SchedulerTest, FailedTrialIsRetriedUpToTheLimitThenFailed) {
  const std::string w1 = Worker("w1");
  nas::v1::JobSpec spec = Nb201Spec(10);
  spec.mutable_retry()->set_max_attempts(2);
  const std::string job_id = NewJob(spec);
  const nas::v1::TrialLease first = Acquire(w1);
  auto retry = scheduler_->FailTrial(Failure(w1, first));
  ASSERT_OK(retry);
  EXPECT_TRUE(retry->will_retry());
  EXPECT_EQ(Trial(first.trial_id()).state(), nas::v1::PENDING);

  const nas::v1::TrialLease second = Acquire(w1);
  ASSERT_EQ(second.trial_id(), first.trial_id());
  EXPECT_EQ(second.attempt(), 2);
  auto final_failure = scheduler_->FailTrial(Failure(w1, second));
  ASSERT_OK(final_failure);
  EXPECT_FALSE(final_failure->will_retry());
  const nas::v1::Trial failed = Trial(first.trial_id());
  EXPECT_EQ(failed.state(), nas::v1::FAILED);
  EXPECT_EQ(failed.failure_reason(), "oom");
  EXPECT_EQ(Job(job_id).counts().failed(), 1);
}

TEST_F(SchedulerTest, BudgetIsRespectedExactly) {
  const std::string w1 = Worker("w1");
  const std::string w2 = Worker("w2");
  const std::string w3 = Worker("w3");
  nas::v1::JobSpec spec = Nb201Spec(5);
  spec.mutable_retry()->set_max_attempts(1);
  const std::string job_id = NewJob(spec);
  auto outstanding_and_completed = [&] {
    const nas::v1::TrialCounts c = Job(job_id).counts();
    return c.pending() + c.leased() + c.running() + c.succeeded() +
           c.stopped_early();
  };
  EXPECT_EQ(Job(job_id).counts().pending(), 4);

  // One trial fails for good: it does not count, another one replaces it.
  const nas::v1::TrialLease failing = Acquire(w1);
  ASSERT_OK(scheduler_->FailTrial(Failure(w1, failing)));
  std::vector<std::pair<std::string, nas::v1::TrialLease>> leases;
  for (const std::string& w : {w1, w2, w3}) leases.push_back({w, Acquire(w)});
  EXPECT_LE(outstanding_and_completed(), 5);
  int completed = 0;
  while (!leases.empty()) {
    auto [worker, lease] = leases.back();
    leases.pop_back();
    ASSERT_GT(lease.trial_id(), 0);
    ASSERT_OK(scheduler_->CompleteTrial(Completion(worker, lease)));
    ++completed;
    EXPECT_LE(outstanding_and_completed(), 5);
    nas::v1::TrialLease next = Acquire(worker);
    if (next.trial_id() != 0) leases.push_back({worker, next});
  }
  EXPECT_EQ(completed, 5);
  const nas::v1::Job job = Job(job_id);
  EXPECT_EQ(job.state(), nas::v1::JOB_SUCCEEDED);
  EXPECT_EQ(job.counts().succeeded(), 5);
  EXPECT_EQ(job.counts().failed(), 1);
  EXPECT_EQ(job.counts().pending() + job.counts().cancelled(), 0);
  auto response = scheduler_->AcquireTrial(w1);
  ASSERT_OK(response);
  EXPECT_FALSE(response->has_lease());
  EXPECT_GT(response->retry_after_ms(), 0);
}

TEST_F(SchedulerTest, PauseStopsLeasingButRunningTrialsFinish) {
  const std::string w1 = Worker("w1");
  const std::string job_id = NewJob(Nb201Spec(10));
  const nas::v1::TrialLease running = Acquire(w1);
  ASSERT_OK(scheduler_->PauseJob(job_id));
  EXPECT_EQ(Acquire(w1).trial_id(), 0);
  EXPECT_OK(scheduler_->CompleteTrial(Completion(w1, running)));
  EXPECT_EQ(Job(job_id).state(), nas::v1::JOB_PAUSED);
  ASSERT_OK(scheduler_->ResumeJob(job_id));
  EXPECT_GT(Acquire(w1).trial_id(), 0);
}

TEST_F(SchedulerTest, CancelTellsRunningTrialsToStop) {
  const std::string w1 = Worker("w1");
  const std::string w2 = Worker("w2");
  const std::string job_id = NewJob(Nb201Spec(10));
  const nas::v1::TrialLease a = Acquire(w1);
  const nas::v1::TrialLease b = Acquire(w2);
  ASSERT_OK(scheduler_->ReportProgress(Progress(w2, b, 1, 40)));
  auto cancelled = scheduler_->CancelJob(job_id);
  ASSERT_OK(cancelled);
  EXPECT_EQ(cancelled->state(), nas::v1::JOB_CANCELLED);

  auto beat = scheduler_->Heartbeat(Beat(w1, a));
  ASSERT_OK(beat);
  EXPECT_TRUE(beat->stop());
  auto progress = scheduler_->ReportProgress(Progress(w2, b, 2, 41));
  ASSERT_OK(progress);
  EXPECT_EQ(progress->decision(), nas::v1::STOP);
  EXPECT_EQ(Acquire(w1).trial_id(), 0);
  EXPECT_EQ(Job(job_id).counts().pending(), 0);
  EXPECT_OK(scheduler_->CancelJob(job_id));  // idempotent
}

TEST_F(SchedulerTest, ExtendBudgetRunsAnEndedJobAgain) {
  const std::string w1 = Worker("w1");
  const std::string job_id = NewJob(Nb201Spec(2));
  EXPECT_EQ(RunToEnd(w1, 10).size(), 2u);
  EXPECT_EQ(Job(job_id).state(), nas::v1::JOB_SUCCEEDED);
  auto extended = scheduler_->ExtendBudget(job_id, 3, 0);
  ASSERT_OK(extended);
  EXPECT_EQ(extended->state(), nas::v1::JOB_RUNNING);
  EXPECT_EQ(RunToEnd(w1, 10).size(), 3u);
  EXPECT_EQ(Job(job_id).counts().succeeded(), 5);
}

TEST_F(SchedulerTest, EvaluatedArchitectureIsACacheHitInALaterJob) {
  const std::string w1 = Worker("w1");
  // The same seed suggests the same architectures.
  const std::string first = NewJob(Nb201Spec(3, 7));
  ASSERT_EQ(RunToEnd(w1, 10).size(), 3u);
  auto trials = scheduler_->ListTrials({.job_id = first});
  ASSERT_OK(trials);

  const std::string second = NewJob(Nb201Spec(3, 7));
  // Every suggestion is answered from the store: no lease, the job is done.
  EXPECT_EQ(Acquire(w1).trial_id(), 0);
  const nas::v1::Job job = Job(second);
  EXPECT_EQ(job.state(), nas::v1::JOB_SUCCEEDED);
  EXPECT_EQ(job.counts().succeeded(), 3);
  EXPECT_EQ(job.counts().cache_hits(), 3);
  auto cached = scheduler_->ListTrials({.job_id = second});
  ASSERT_OK(cached);
  ASSERT_EQ(cached->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE((*cached)[i].cache_hit());
    EXPECT_EQ((*cached)[i].architecture().hash(),
              (*trials)[i].architecture().hash());
    EXPECT_EQ((*cached)[i].metrics().at(kMetric),
              (*trials)[i].metrics().at(kMetric));
  }
}

TEST_F(SchedulerTest, HigherPriorityFirstThenRoundRobin) {
  const std::string w1 = Worker("w1");
  nas::v1::JobSpec low = Nb201Spec(10, 1);
  nas::v1::JobSpec high = Nb201Spec(2, 2);
  high.set_priority(5);
  const std::string a = NewJob(low);
  const std::string b = NewJob(Nb201Spec(10, 3));
  const std::string urgent = NewJob(high);
  EXPECT_EQ(Acquire(w1).job_id(), urgent);
  EXPECT_EQ(Acquire(w1).job_id(), urgent);
  // The urgent job has nothing left to lease (its budget is out).
  std::set<std::string> served;
  std::string previous;
  for (int i = 0; i < 6; ++i) {
    const std::string job_id = Acquire(w1).job_id();
    EXPECT_NE(job_id, previous);
    served.insert(job_id);
    previous = job_id;
  }
  EXPECT_EQ(served, (std::set<std::string>{a, b}));
}

TEST_F(SchedulerTest, AshaStopsALaggingTrialAndItCountsAsCompleted) {
  nas::v1::JobSpec spec = Nb201Spec(4);
  spec.mutable_early_stopping()->mutable_asha()->set_min_resource(1);
  spec.mutable_early_stopping()->mutable_asha()->set_reduction_factor(2);
  const std::string job_id = NewJob(spec);
  std::vector<std::string> workers = {Worker("w1"), Worker("w2")};
  const nas::v1::TrialLease good = Acquire(workers[0]);
  const nas::v1::TrialLease bad = Acquire(workers[1]);
  auto first = scheduler_->ReportProgress(Progress(workers[0], good, 1, 90));
  ASSERT_OK(first);
  EXPECT_EQ(first->decision(), nas::v1::CONTINUE);
  auto second = scheduler_->ReportProgress(Progress(workers[1], bad, 1, 10));
  ASSERT_OK(second);
  EXPECT_EQ(second->decision(), nas::v1::STOP);
  auto beat = scheduler_->Heartbeat(Beat(workers[1], bad));
  ASSERT_OK(beat);
  EXPECT_TRUE(beat->stop());
  nas::v1::CompleteTrialRequest stopped = Completion(workers[1], bad);
  stopped.set_stopped_early(true);
  ASSERT_OK(scheduler_->CompleteTrial(stopped));
  EXPECT_EQ(Trial(bad.trial_id()).state(), nas::v1::STOPPED_EARLY);
  EXPECT_EQ(Job(job_id).counts().stopped_early(), 1);
}

TEST_F(SchedulerTest, MetricsFollowTrialsLeasesAndStaleReports) {
  const std::string w1 = Worker("w1");
  const std::string job_id = NewJob(Nb201Spec(10));
  EXPECT_EQ(Metric("nas_pending_trials"), 4);
  const nas::v1::TrialLease lease = Acquire(w1);
  clock_.Advance(absl::Seconds(61));
  ASSERT_OK(scheduler_->Maintain());
  EXPECT_EQ(Metric("nas_lease_expirations_total"), 1);
  EXPECT_EQ(Metric("nas_workers"), 1);  // seen within three lease periods
  EXPECT_FALSE(scheduler_->CompleteTrial(Completion(w1, lease)).ok());
  EXPECT_EQ(Metric("nas_stale_reports_total"), 1);
  const nas::v1::TrialLease again = Acquire(w1);
  clock_.Advance(absl::Seconds(42));
  ASSERT_OK(scheduler_->CompleteTrial(Completion(w1, again)));
  EXPECT_EQ(Metric("nas_trials_total", "state", "SUCCEEDED"), 1);
  EXPECT_EQ(Metric("nas_trial_duration_seconds", "state", "SUCCEEDED"), 1);
  for (const prometheus::MetricFamily& family : registry_->Collect()) {
    if (family.name != "nas_trial_duration_seconds") continue;
    ASSERT_EQ(family.metric.size(), 1u);
    EXPECT_DOUBLE_EQ(family.metric[0].histogram.sample_sum, 42);
  }
  EXPECT_EQ(Metric("nas_best_objective", "job", job_id),
            FakeAccuracy(again.architecture()));
  EXPECT_GT(Metric("nas_suggest_latency_seconds"), 0);
  EXPECT_EQ(Metric("nas_acquire_latency_seconds"), 2);
  EXPECT_GT(Metric("nas_store_latency_seconds", "op", "complete"), 0);
}

TEST_F(SchedulerTest, HypervolumeOfATwoObjectiveJobWithLimits) {
  const std::string w1 = Worker("w1");
  nas::v1::JobSpec spec = Nb201Spec(3);
  spec.mutable_objectives(0)->set_limit(0);
  nas::v1::Objective* latency = spec.add_objectives();
  latency->set_metric("latency_1080ti_1");
  latency->set_direction(nas::v1::MINIMIZE);
  latency->set_limit(10);
  const std::string job_id = NewJob(spec);
  // (accuracy, latency) = (50, 4) and (40, 2): area 50*6 + 40*2 = 380 above
  // the reference point (0, 10).
  for (const auto& [accuracy, ms] : {std::pair{50.0, 4.0}, {40.0, 2.0}}) {
    const nas::v1::TrialLease lease = Acquire(w1);
    auto request = About<nas::v1::CompleteTrialRequest>(w1, lease);
    (*request.mutable_metrics())[kMetric] = accuracy;
    (*request.mutable_metrics())["latency_1080ti_1"] = ms;
    ASSERT_OK(scheduler_->CompleteTrial(request));
    ASSERT_OK(scheduler_->Maintain());
  }
  EXPECT_DOUBLE_EQ(Metric("nas_hypervolume", "job", job_id), 380);
}

class SchedulerRestartTest : public SchedulerTest {
 protected:
  std::string DbUrl(const std::string& name) {
    const char* dir = std::getenv("TEST_TMPDIR");
    return absl::StrCat("sqlite://", dir != nullptr ? dir : "/tmp", "/", name);
  }

  // Completes `total` trials of an evolution job with one worker, restarting
  // the scheduler after `restart_after` completions (0: never) while a
  // lease is outstanding. Returns the completed architectures in order.
  std::vector<std::string> Run(const std::string& db, int total,
                               int restart_after,
                               const std::set<int>& failed_writes = {}) {
    if (failed_writes.empty()) {
      Open(DbUrl(db));
    } else {
      OpenFlaky(DbUrl(db), failed_writes);
    }
    nas::v1::JobSpec spec = Nb201Spec(total, 11);
    spec.mutable_strategy()->mutable_regularized_evolution()->set_population(6);
    spec.mutable_strategy()->mutable_regularized_evolution()->set_sample_size(
        3);
    const std::string job_id = NewJob(spec);
    std::string worker = Worker("w1");
    std::vector<std::string> done;
    while (static_cast<int>(done.size()) < total) {
      nas::v1::TrialLease lease = Acquire(worker);
      if (lease.trial_id() == 0) break;
      if (static_cast<int>(done.size()) == restart_after) {
        Open(DbUrl(db));  // the controller dies and comes back
        worker = Worker("w1");
      }
      absl::Status completed = scheduler_->CompleteTrial(Completion(worker, lease));
      for (int retry = 0; retry < 5 && absl::IsUnavailable(completed);
           ++retry) {
        // The worker sends the same report again, as nas-worker does.
        completed = scheduler_->CompleteTrial(Completion(worker, lease));
      }
      EXPECT_OK(completed);
      done.push_back(lease.architecture().canonical());
    }
    const nas::v1::Job job = Job(job_id);
    EXPECT_EQ(job.state(), nas::v1::JOB_SUCCEEDED);
    EXPECT_EQ(job.counts().succeeded(), total);
    return done;
  }
};

TEST_F(SchedulerRestartTest, EarlyStoppingHistorySurvivesARestart) {
  Open(DbUrl("asha.db"));
  nas::v1::JobSpec spec = Nb201Spec(10);
  spec.mutable_early_stopping()->mutable_asha()->set_min_resource(1);
  spec.mutable_early_stopping()->mutable_asha()->set_reduction_factor(3);
  NewJob(spec);
  const std::string w1 = Worker("w1");
  const nas::v1::TrialLease a = Acquire(w1);
  const nas::v1::TrialLease b = Acquire(w1);
  const nas::v1::TrialLease c = Acquire(w1);
  ASSERT_OK(scheduler_->ReportProgress(Progress(w1, a, 1, 90)));
  ASSERT_OK(scheduler_->ReportProgress(Progress(w1, b, 1, 80)));
  Open(DbUrl("asha.db"));
  // The rung still holds 90 and 80: the third record, 10, is cut.
  auto decision = scheduler_->ReportProgress(Progress(w1, c, 1, 10));
  ASSERT_OK(decision);
  EXPECT_EQ(decision->decision(), nas::v1::STOP);
}

// A completion whose write failed (the worker retries it) is observed by
// the strategy once: the search goes on exactly as without the failures.
TEST_F(SchedulerRestartTest, FailedCompletionWritesAreObservedOnce) {
  const std::vector<std::string> uninterrupted = Run("clean.db", 30, -1);
  ASSERT_EQ(uninterrupted.size(), 30u);
  const std::vector<std::string> flaky =
      Run("flaky.db", 30, -1, {2, 5, 6, 9, 14, 21});
  EXPECT_EQ(flaky, uninterrupted);
}

TEST_F(SchedulerRestartTest, RestartedSchedulerContinuesExactly) {
  const std::vector<std::string> uninterrupted = Run("straight.db", 30, -1);
  ASSERT_EQ(uninterrupted.size(), 30u);
  const std::vector<std::string> restarted = Run("restarted.db", 30, 13);
  EXPECT_EQ(restarted, uninterrupted);
  EXPECT_EQ(std::set<std::string>(restarted.begin(), restarted.end()).size(),
            30u);
}

}  // namespace
}  // namespace nas::scheduler
