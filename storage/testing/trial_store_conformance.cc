#include "storage/testing/trial_store_conformance.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "storage/store_url.h"

namespace nas::storage::testing {

using ::nas::testing::StatusIs;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using nas::v1::TrialState;

std::string StoreEnvName(
    const ::testing::TestParamInfo<StoreEnvFactory>& info) {
  return info.param.name;
}

StoreOptions TestStoreOptions() {
  StoreOptions options;
  options.connect_attempts = 2;
  options.connect_backoff = absl::Milliseconds(50);
  return options;
}

void TrialStoreConformanceTest::SetUp() {
  auto env = GetParam().create();
  ASSERT_TRUE(env.ok()) << env.status();
  if (*env == nullptr) GTEST_SKIP() << GetParam().name << " not configured";
  env_ = std::move(env).value();
  auto store = Reopen();
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(store).value();
}

void TrialStoreConformanceTest::TearDown() {
  store_.reset();
  env_.reset();
}

absl::StatusOr<std::unique_ptr<TrialStore>>
TrialStoreConformanceTest::Reopen() {
  return OpenTrialStore(env_->url(), TestStoreOptions());
}

namespace {

constexpr int64_t kNow = 1'700'000'000'000;

nas::v1::JobSpec Spec(const std::string& name,
                      nas::v1::Direction a = nas::v1::MAXIMIZE,
                      nas::v1::Direction b = nas::v1::MINIMIZE) {
  nas::v1::JobSpec spec;
  spec.set_name(name);
  spec.mutable_search_space()->mutable_nb201();
  spec.mutable_budget()->set_max_trials(100);
  auto* o1 = spec.add_objectives();
  o1->set_metric("accuracy");
  o1->set_direction(a);
  auto* o2 = spec.add_objectives();
  o2->set_metric("latency_ms");
  o2->set_direction(b);
  return spec;
}

NewTrial Suggestion(int i, const std::string& eval_key = "eval-1") {
  NewTrial t;
  auto* edge = t.architecture.mutable_cell()->mutable_normal()->add_nodes()
                   ->add_edges();
  edge->set_input(0);
  edge->set_op(absl::StrCat("op", i));
  t.architecture.set_canonical(absl::StrCat("canon-", i));
  t.architecture.set_hash(absl::StrCat("hash-", i));
  t.eval_key = eval_key;
  t.params = 1000 + i;
  return t;
}

std::vector<NewTrial> Suggestions(int n, int first = 0) {
  std::vector<NewTrial> out;
  for (int i = 0; i < n; ++i) out.push_back(Suggestion(first + i));
  return out;
}

TrialOutcome Outcome(double accuracy, double latency) {
  TrialOutcome o;
  o.metrics = {{"accuracy", accuracy}, {"latency_ms", latency}};
  return o;
}

class Fixture {
 public:
  explicit Fixture(TrialStore* store) : store_(store) {}
  std::string Job(const std::string& name = "job",
                  nas::v1::Direction a = nas::v1::MAXIMIZE,
                  nas::v1::Direction b = nas::v1::MINIMIZE) {
    auto job = store_->CreateJob(Spec(name, a, b), "", kNow);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? job->id() : "";
  }
  TrialRef Acquire(const std::string& job_id, int64_t deadline = kNow + 60000) {
    auto t = store_->AcquireTrial(job_id, "worker-a", deadline, kNow);
    EXPECT_TRUE(t.ok() && t->has_value()) << t.status();
    if (!t.ok() || !t->has_value()) return {};
    return {(*t)->id(), (*t)->attempt()};
  }

 private:
  TrialStore* store_;
};

TEST_P(TrialStoreConformanceTest, CreatesAndReadsJobs) {
  ASSERT_OK_AND_ASSIGN(nas::v1::Job job,
                       store_->CreateJob(Spec("first"), "", kNow));
  EXPECT_FALSE(job.id().empty());
  EXPECT_EQ(job.state(), nas::v1::JOB_RUNNING);
  EXPECT_EQ(job.spec().name(), "first");
  EXPECT_EQ(job.create_time_ms(), kNow);
  EXPECT_EQ(job.counts().pending(), 0);
  ASSERT_OK_AND_ASSIGN(nas::v1::Job got, store_->GetJob(job.id()));
  EXPECT_EQ(got.SerializeAsString(), job.SerializeAsString());
  EXPECT_THAT(store_->GetJob("job-missing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("job-missing")));

  ASSERT_OK_AND_ASSIGN(nas::v1::Job second,
                       store_->CreateJob(Spec("second"), "req-1", kNow + 1));
  ASSERT_OK_AND_ASSIGN(nas::v1::Job again,
                       store_->CreateJob(Spec("other"), "req-1", kNow + 2));
  EXPECT_EQ(again.id(), second.id());
  EXPECT_EQ(again.spec().name(), "second");

  ASSERT_OK(store_->SetJobState(second.id(), nas::v1::JOB_PAUSED, "", kNow + 3));
  ASSERT_OK_AND_ASSIGN(auto all, store_->ListJobs(
                                     nas::v1::JOB_STATE_UNSPECIFIED, 10, 0));
  ASSERT_THAT(all, SizeIs(2));
  EXPECT_EQ(all[0].id(), job.id());
  ASSERT_OK_AND_ASSIGN(auto paused,
                       store_->ListJobs(nas::v1::JOB_PAUSED, 10, 0));
  ASSERT_THAT(paused, SizeIs(1));
  EXPECT_EQ(paused[0].id(), second.id());
  EXPECT_EQ(paused[0].update_time_ms(), kNow + 3);
  EXPECT_THAT(store_->SetJobState("nope", nas::v1::JOB_PAUSED, "", kNow),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(TrialStoreConformanceTest, UpdatesSpecButNotObjectives) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  nas::v1::JobSpec spec = Spec("job");
  spec.mutable_budget()->set_max_trials(500);
  ASSERT_OK(store_->UpdateJobSpec(job, spec, kNow + 5));
  ASSERT_OK_AND_ASSIGN(nas::v1::Job got, store_->GetJob(job));
  EXPECT_EQ(got.spec().budget().max_trials(), 500);
  spec.mutable_objectives(0)->set_metric("loss");
  EXPECT_THAT(store_->UpdateJobSpec(job, spec, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(TrialStoreConformanceTest, InsertsTrialsInOrderAsPending) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  ASSERT_OK_AND_ASSIGN(auto ids,
                       store_->InsertTrials(job, Suggestions(5), std::nullopt, kNow));
  ASSERT_THAT(ids, SizeIs(5));
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  ASSERT_OK_AND_ASSIGN(nas::v1::Trial t, store_->GetTrial(ids[2], false));
  EXPECT_EQ(t.state(), nas::v1::PENDING);
  EXPECT_EQ(t.attempt(), 1);
  EXPECT_EQ(t.job_id(), job);
  EXPECT_EQ(t.architecture().hash(), "hash-2");
  EXPECT_EQ(t.architecture().cell().normal().nodes(0).edges(0).op(), "op2");
  EXPECT_EQ(t.params(), 1002);
  ASSERT_OK_AND_ASSIGN(nas::v1::Job got, store_->GetJob(job));
  EXPECT_EQ(got.counts().pending(), 5);
  EXPECT_THAT(store_->InsertTrials("missing", Suggestions(1), std::nullopt, kNow),
              StatusIs(absl::StatusCode::kNotFound));
  std::vector<NewTrial> bad = Suggestions(1);
  bad[0].architecture.clear_hash();
  EXPECT_THAT(store_->InsertTrials(job, bad, std::nullopt, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->GetTrial(ids.back() + 1000, false),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr(absl::StrCat(ids.back() + 1000))));
}

TEST_P(TrialStoreConformanceTest, InsertsOddStringsAndRepeatedArchitectures) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  // Characters that array literals, JSON and SQL treat specially.
  const std::vector<std::string> odd = {"a\"b", "back\\slash", "{x,y}",
                                        "NULL", "", "caf\xc3\xa9 ' ;--"};
  std::vector<NewTrial> batch;
  for (size_t i = 0; i < odd.size(); ++i) {
    NewTrial t = Suggestion(static_cast<int>(i), "key " + odd[i]);
    t.architecture.set_hash("h" + odd[i]);
    t.architecture.set_canonical(odd[i]);
    batch.push_back(std::move(t));
  }
  batch.push_back(batch[1]);  // the same architecture twice in one batch
  ASSERT_OK_AND_ASSIGN(auto ids,
                       store_->InsertTrials(job, batch, std::nullopt, kNow));
  ASSERT_THAT(ids, SizeIs(batch.size()));
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(nas::v1::Trial t, store_->GetTrial(ids[i], false));
    EXPECT_EQ(t.architecture().hash(), batch[i].architecture.hash()) << i;
    EXPECT_EQ(t.architecture().canonical(), batch[i].architecture.canonical());
  }
  ASSERT_OK_AND_ASSIGN(auto cached,
                       store_->LookupResult("h" + odd[2], "key " + odd[2]));
  EXPECT_FALSE(cached.has_value());
  ASSERT_OK_AND_ASSIGN(nas::v1::Job got, store_->GetJob(job));
  EXPECT_EQ(got.counts().pending(), static_cast<int64_t>(batch.size()));
}

TEST_P(TrialStoreConformanceTest, AcquiresOldestPendingTrial) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  const std::string other = f.Job("other");
  ASSERT_OK_AND_ASSIGN(auto ids,
                       store_->InsertTrials(job, Suggestions(2), std::nullopt, kNow));
  ASSERT_OK(store_->InsertTrials(other, Suggestions(1, 10), std::nullopt, kNow));
  ASSERT_OK_AND_ASSIGN(auto t, store_->AcquireTrial(job, "w1", kNow + 100, kNow));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->id(), ids[0]);
  EXPECT_EQ(t->state(), nas::v1::LEASED);
  EXPECT_EQ(t->worker_id(), "w1");
  EXPECT_EQ(t->lease_deadline_ms(), kNow + 100);
  EXPECT_EQ(t->start_time_ms(), kNow);
  ASSERT_OK_AND_ASSIGN(t, store_->AcquireTrial(job, "w2", kNow + 100, kNow));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->id(), ids[1]);
  ASSERT_OK_AND_ASSIGN(t, store_->AcquireTrial(job, "w3", kNow + 100, kNow));
  EXPECT_FALSE(t.has_value());
  ASSERT_OK_AND_ASSIGN(nas::v1::Job got, store_->GetJob(job));
  EXPECT_EQ(got.counts().pending(), 0);
  EXPECT_EQ(got.counts().leased(), 2);
}

TEST_P(TrialStoreConformanceTest, ConcurrentAcquiresGetDistinctTrials) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  constexpr int kTrials = 64;
  constexpr int kThreads = 16;
  ASSERT_OK(store_->InsertTrials(job, Suggestions(kTrials), std::nullopt, kNow));
  std::vector<std::vector<int64_t>> got(kThreads);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (;;) {
        auto t = store_->AcquireTrial(job, absl::StrCat("w", i), kNow + 1000, kNow);
        if (!t.ok()) {
          ++errors;
          ADD_FAILURE() << t.status();
          return;
        }
        if (!t->has_value()) return;
        got[i].push_back((*t)->id());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  std::set<int64_t> distinct;
  size_t total = 0;
  for (const auto& v : got) {
    total += v.size();
    distinct.insert(v.begin(), v.end());
  }
  EXPECT_EQ(total, kTrials);
  EXPECT_EQ(distinct.size(), kTrials);
  ASSERT_OK_AND_ASSIGN(nas::v1::Job j, store_->GetJob(job));
  EXPECT_EQ(j.counts().leased(), kTrials);
  EXPECT_EQ(j.counts().pending(), 0);
}

TEST_P(TrialStoreConformanceTest, RefusesWritesOfAStaleAttempt) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  ASSERT_OK(store_->InsertTrials(job, Suggestions(1), std::nullopt, kNow));
  const TrialRef first = f.Acquire(job);
  ASSERT_OK_AND_ASSIGN(FailResult r, store_->FailTrial(first, "oom", "boom", 3,
                                                       std::nullopt, kNow));
  EXPECT_TRUE(r.will_retry);
  EXPECT_EQ(r.next_attempt, 2);
  const TrialRef second = f.Acquire(job);
  EXPECT_EQ(second.trial_id, first.trial_id);
  EXPECT_EQ(second.attempt, 2);

  const auto stale = StatusIs(
      absl::StatusCode::kFailedPrecondition,
      ::testing::AllOf(HasSubstr(absl::StrCat("trial ", first.trial_id)),
                       HasSubstr("attempt 1"), HasSubstr("attempt 2")));
  EXPECT_THAT(store_->CompleteTrial(first, Outcome(0.9, 1), std::nullopt, kNow),
              stale);
  EXPECT_THAT(store_->ExtendLease(first, kNow + 5), stale);
  nas::v1::Measurement m;
  m.set_step(1);
  (*m.mutable_metrics())["accuracy"] = 0.5;
  EXPECT_THAT(store_->AddMeasurement(first, m), stale);
  EXPECT_THAT(store_->FailTrial(first, "x", "", 3, std::nullopt, kNow), stale);

  ASSERT_OK_AND_ASSIGN(nas::v1::Trial t, store_->GetTrial(first.trial_id, true));
  EXPECT_EQ(t.state(), nas::v1::LEASED);
  EXPECT_EQ(t.attempt(), 2);
  EXPECT_EQ(t.measurements_size(), 0);
  EXPECT_EQ(t.failure_reason(), "oom");

  // The live attempt works; after it ends, its own writes are refused too.
  ASSERT_OK(store_->CompleteTrial(second, Outcome(0.9, 1), std::nullopt, kNow));
  EXPECT_THAT(store_->ExtendLease(second, kNow + 5),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("has ended (SUCCEEDED)")));
  EXPECT_THAT(store_->ExtendLease({first.trial_id + 999, 1}, kNow),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(TrialStoreConformanceTest, SnapshotIsWrittenOnlyWithItsTransition) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  ASSERT_OK_AND_ASSIGN(auto none, store_->LatestSnapshot(job));
  EXPECT_FALSE(none.has_value());
  ASSERT_OK(store_->InsertTrials(job, Suggestions(2),
                                 StrategySnapshot{1, std::string("s1\0x", 4)},
                                 kNow));
  ASSERT_OK_AND_ASSIGN(auto s, store_->LatestSnapshot(job));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->version, 1);
  EXPECT_EQ(s->state, std::string("s1\0x", 4));

  const TrialRef ref = f.Acquire(job);
  // A refused transition (stale attempt) writes no snapshot.
  EXPECT_THAT(store_->CompleteTrial({ref.trial_id, ref.attempt + 1},
                                    Outcome(0.5, 1), StrategySnapshot{2, "s2"},
                                    kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(s, store_->LatestSnapshot(job));
  EXPECT_EQ(s->version, 1);
  // A refused snapshot (not newer) refuses the transition with it.
  EXPECT_THAT(store_->CompleteTrial(ref, Outcome(0.5, 1),
                                    StrategySnapshot{1, "again"}, kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not newer")));
  ASSERT_OK_AND_ASSIGN(nas::v1::Trial t, store_->GetTrial(ref.trial_id, false));
  EXPECT_EQ(t.state(), nas::v1::LEASED);
  // The accepted transition writes it.
  ASSERT_OK(store_->CompleteTrial(ref, Outcome(0.5, 1),
                                  StrategySnapshot{2, "s2"}, kNow));
  ASSERT_OK_AND_ASSIGN(s, store_->LatestSnapshot(job));
  EXPECT_EQ(s->version, 2);
  EXPECT_EQ(s->state, "s2");
  // A failure that ends the trial carries its snapshot as well.
  const TrialRef other = f.Acquire(job);
  ASSERT_OK(store_->FailTrial(other, "diverged", "", 1,
                              StrategySnapshot{3, "s3"}, kNow));
  ASSERT_OK_AND_ASSIGN(s, store_->LatestSnapshot(job));
  EXPECT_EQ(s->version, 3);
}

TEST_P(TrialStoreConformanceTest, CompleteIsIdempotent) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  ASSERT_OK(store_->InsertTrials(job, Suggestions(1), std::nullopt, kNow));
  const TrialRef ref = f.Acquire(job);
  TrialOutcome outcome = Outcome(0.8, 3);
  outcome.params = 4242;
  nas::v1::DeviceLatency lat;
  lat.set_device("cpu");
  lat.set_batch_size(1);
  lat.set_median_ms(3);
  lat.set_p90_ms(4);
  lat.set_threads(2);
  outcome.latencies.push_back(lat);
  ASSERT_OK(store_->CompleteTrial(ref, outcome, std::nullopt, kNow + 10));
  ASSERT_OK(store_->CompleteTrial(ref, Outcome(0.1, 9), StrategySnapshot{5, "x"},
                                  kNow + 20));
  ASSERT_OK_AND_ASSIGN(nas::v1::Trial t, store_->GetTrial(ref.trial_id, false));
  EXPECT_EQ(t.state(), nas::v1::SUCCEEDED);
  EXPECT_DOUBLE_EQ(t.metrics().at("accuracy"), 0.8);
  EXPECT_EQ(t.end_time_ms(), kNow + 10);
  EXPECT_EQ(t.params(), 4242);
  ASSERT_EQ(t.latencies_size(), 1);
  EXPECT_DOUBLE_EQ(t.latencies(0).p90_ms(), 4);
  ASSERT_OK_AND_ASSIGN(auto snap, store_->LatestSnapshot(job));
  EXPECT_FALSE(snap.has_value());
  ASSERT_OK_AND_ASSIGN(nas::v1::Job j, store_->GetJob(job));
  EXPECT_EQ(j.counts().succeeded(), 1);
  EXPECT_EQ(j.counts().leased(), 0);
  EXPECT_EQ(j.best_trial_id(), ref.trial_id);
  EXPECT_DOUBLE_EQ(j.best_objective(), 0.8);
  TrialOutcome failed_state;
  failed_state.state = nas::v1::FAILED;
  EXPECT_THAT(store_->CompleteTrial(ref, failed_state, std::nullopt, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(TrialStoreConformanceTest, FailRetriesThenFails) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  ASSERT_OK(store_->InsertTrials(job, Suggestions(1), std::nullopt, kNow));
  TrialRef ref = f.Acquire(job);
  ASSERT_OK_AND_ASSIGN(FailResult r,
                       store_->FailTrial(ref, "oom", "one", 2, std::nullopt, kNow));
  EXPECT_TRUE(r.will_retry);
  ASSERT_OK_AND_ASSIGN(nas::v1::Trial t, store_->GetTrial(ref.trial_id, false));
  EXPECT_EQ(t.state(), nas::v1::PENDING);
  EXPECT_EQ(t.worker_id(), "");
  ref = f.Acquire(job);
  EXPECT_EQ(ref.attempt, 2);
  ASSERT_OK_AND_ASSIGN(r, store_->FailTrial(ref, "diverged", "two", 2,
                                            std::nullopt, kNow + 7));
  EXPECT_FALSE(r.will_retry);
  ASSERT_OK_AND_ASSIGN(t, store_->GetTrial(ref.trial_id, false));
  EXPECT_EQ(t.state(), nas::v1::FAILED);
  EXPECT_EQ(t.failure_reason(), "diverged");
  EXPECT_EQ(t.failure_message(), "two");
  EXPECT_EQ(t.end_time_ms(), kNow + 7);
  ASSERT_OK_AND_ASSIGN(nas::v1::Job j, store_->GetJob(job));
  EXPECT_EQ(j.counts().failed(), 1);
  EXPECT_EQ(j.counts().pending() + j.counts().leased(), 0);
  EXPECT_THAT(store_->FailTrial(ref, "x", "", 0, std::nullopt, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(TrialStoreConformanceTest, RequeuesExpiredLeases) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  ASSERT_OK(store_->InsertTrials(job, Suggestions(2), std::nullopt, kNow));
  const TrialRef a = f.Acquire(job, kNow + 1000);
  const TrialRef b = f.Acquire(job, kNow + 1000);
  ASSERT_OK(store_->ExtendLease(b, kNow + 5000));
  ASSERT_OK_AND_ASSIGN(auto expired, store_->RequeueExpiredLeases(kNow + 1000, 3));
  EXPECT_TRUE(expired.empty());
  ASSERT_OK_AND_ASSIGN(expired, store_->RequeueExpiredLeases(kNow + 1001, 3));
  ASSERT_THAT(expired, SizeIs(1));
  EXPECT_EQ(expired[0].trial_id, a.trial_id);
  EXPECT_EQ(expired[0].job_id, job);
  EXPECT_EQ(expired[0].old_attempt, 1);
  EXPECT_TRUE(expired[0].requeued);
  ASSERT_OK_AND_ASSIGN(nas::v1::Trial t, store_->GetTrial(a.trial_id, false));
  EXPECT_EQ(t.state(), nas::v1::PENDING);
  EXPECT_EQ(t.attempt(), 2);
  EXPECT_THAT(store_->CompleteTrial(a, Outcome(0.9, 1), std::nullopt, kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  // Re-leased and expired again with max_expirations 2: FAILED.
  const TrialRef a2 = f.Acquire(job, kNow + 2000);
  EXPECT_EQ(a2.trial_id, a.trial_id);
  ASSERT_OK_AND_ASSIGN(expired, store_->RequeueExpiredLeases(kNow + 2001, 2));
  ASSERT_THAT(expired, SizeIs(1));
  EXPECT_FALSE(expired[0].requeued);
  ASSERT_OK_AND_ASSIGN(t, store_->GetTrial(a.trial_id, false));
  EXPECT_EQ(t.state(), nas::v1::FAILED);
  EXPECT_EQ(t.failure_reason(), "lease_expired");
  ASSERT_OK_AND_ASSIGN(nas::v1::Job j, store_->GetJob(job));
  EXPECT_EQ(j.counts().failed(), 1);
  EXPECT_EQ(j.counts().leased(), 1);
  EXPECT_EQ(j.counts().pending(), 0);
}

TEST_P(TrialStoreConformanceTest, MeasurementsMarkTrialRunning) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  ASSERT_OK(store_->InsertTrials(job, Suggestions(1), std::nullopt, kNow));
  const TrialRef ref = f.Acquire(job);
  for (int step = 1; step <= 3; ++step) {
    nas::v1::Measurement m;
    m.set_step(step);
    m.set_time_ms(kNow + step);
    (*m.mutable_metrics())["accuracy"] = 0.1 * step;
    (*m.mutable_metrics())["loss"] = 1.0 / step;
    ASSERT_OK(store_->AddMeasurement(ref, m));
  }
  ASSERT_OK_AND_ASSIGN(nas::v1::Trial t, store_->GetTrial(ref.trial_id, true));
  EXPECT_EQ(t.state(), nas::v1::RUNNING);
  ASSERT_EQ(t.measurements_size(), 3);
  EXPECT_EQ(t.measurements(2).step(), 3);
  EXPECT_DOUBLE_EQ(t.measurements(2).metrics().at("loss"), 1.0 / 3);
  EXPECT_EQ(t.measurements(1).time_ms(), kNow + 2);
  ASSERT_OK_AND_ASSIGN(nas::v1::Job j, store_->GetJob(job));
  EXPECT_EQ(j.counts().running(), 1);
  EXPECT_EQ(j.counts().leased(), 0);
  ASSERT_OK_AND_ASSIGN(t, store_->GetTrial(ref.trial_id, false));
  EXPECT_EQ(t.measurements_size(), 0);
}

TEST_P(TrialStoreConformanceTest, CancelsActiveTrials) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  ASSERT_OK(store_->InsertTrials(job, Suggestions(4), std::nullopt, kNow));
  const TrialRef done = f.Acquire(job);
  ASSERT_OK(store_->CompleteTrial(done, Outcome(0.5, 1), std::nullopt, kNow));
  const TrialRef leased = f.Acquire(job);
  ASSERT_OK_AND_ASSIGN(int64_t n, store_->CancelActiveTrials(job, kNow + 1));
  EXPECT_EQ(n, 3);
  ASSERT_OK_AND_ASSIGN(nas::v1::Job j, store_->GetJob(job));
  EXPECT_EQ(j.counts().cancelled(), 3);
  EXPECT_EQ(j.counts().succeeded(), 1);
  EXPECT_EQ(j.counts().pending() + j.counts().leased(), 0);
  EXPECT_THAT(store_->CompleteTrial(leased, Outcome(0.5, 1), std::nullopt, kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("CANCELLED")));
  EXPECT_THAT(store_->CancelActiveTrials("missing", kNow),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(TrialStoreConformanceTest, LooksUpResultsAcrossJobs) {
  Fixture f(store_.get());
  const std::string job1 = f.Job("one");
  const std::string job2 = f.Job("two");
  ASSERT_OK(store_->InsertTrials(job1, {Suggestion(7, "eval-A")}, std::nullopt,
                                 kNow));
  ASSERT_OK_AND_ASSIGN(auto miss, store_->LookupResult("hash-7", "eval-A"));
  EXPECT_FALSE(miss.has_value());  // Not finished yet.
  const TrialRef ref = f.Acquire(job1);
  TrialOutcome outcome = Outcome(0.93, 2.5);
  outcome.macs = 77;
  ASSERT_OK(store_->CompleteTrial(ref, outcome, std::nullopt, kNow));

  ASSERT_OK_AND_ASSIGN(auto hit, store_->LookupResult("hash-7", "eval-A"));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->trial_id, ref.trial_id);
  EXPECT_EQ(hit->job_id, job1);
  EXPECT_DOUBLE_EQ(hit->outcome.metrics.at("accuracy"), 0.93);
  EXPECT_EQ(hit->outcome.macs, 77);
  EXPECT_EQ(hit->outcome.params, 1007);
  ASSERT_OK_AND_ASSIGN(miss, store_->LookupResult("hash-7", "eval-B"));
  EXPECT_FALSE(miss.has_value());
  ASSERT_OK_AND_ASSIGN(miss, store_->LookupResult("hash-8", "eval-A"));
  EXPECT_FALSE(miss.has_value());

  // The second job answers from the cache and counts the hit.
  ASSERT_OK(store_->InsertTrials(job2, {Suggestion(7, "eval-A")}, std::nullopt,
                                 kNow));
  const TrialRef ref2 = f.Acquire(job2);
  TrialOutcome cached = hit->outcome;
  cached.cache_hit = true;
  ASSERT_OK(store_->CompleteTrial(ref2, cached, std::nullopt, kNow));
  ASSERT_OK_AND_ASSIGN(nas::v1::Job j2, store_->GetJob(job2));
  EXPECT_EQ(j2.counts().cache_hits(), 1);
  EXPECT_EQ(j2.counts().succeeded(), 1);
  ASSERT_OK_AND_ASSIGN(nas::v1::Trial t2, store_->GetTrial(ref2.trial_id, false));
  EXPECT_TRUE(t2.cache_hit());
}

// Completes `n` trials with seeded random metrics (some missing, some failed)
// and returns trial id -> (accuracy, latency) of the SUCCEEDED ones.
std::map<int64_t, std::pair<double, double>> FillRandom(TrialStore* store,
                                                        const std::string& job,
                                                        int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> q(0, 40);  // coarse values make ties
  std::map<int64_t, std::pair<double, double>> done;
  auto ids = store->InsertTrials(job, Suggestions(n), std::nullopt, kNow);
  EXPECT_TRUE(ids.ok()) << ids.status();
  for (int i = 0; i < n; ++i) {
    auto t = store->AcquireTrial(job, "w", kNow + 1000, kNow);
    EXPECT_TRUE(t.ok() && t->has_value());
    if (!t.ok() || !t->has_value()) break;
    const TrialRef ref{(*t)->id(), (*t)->attempt()};
    const int kind = i % 10;
    if (kind == 0) {  // leave running
      continue;
    } else if (kind == 1) {
      EXPECT_OK(store->FailTrial(ref, "oom", "", 1, std::nullopt, kNow));
    } else if (kind == 2) {  // succeeded without the metrics
      EXPECT_OK(store->CompleteTrial(ref, TrialOutcome{}, std::nullopt, kNow));
    } else {
      const double acc = q(rng) / 40.0, lat = q(rng) / 4.0;
      TrialOutcome o = Outcome(acc, lat);
      o.metrics["loss"] = 1 - acc + q(rng) / 100.0;
      if (kind == 3) o.state = nas::v1::STOPPED_EARLY;
      EXPECT_OK(store->CompleteTrial(ref, o, std::nullopt, kNow));
      if (kind != 3) done[ref.trial_id] = {acc, lat};
    }
  }
  return done;
}

TEST_P(TrialStoreConformanceTest, TopKMatchesBruteForce) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  FillRandom(store_.get(), job, 150, 7);
  ASSERT_OK_AND_ASSIGN(auto everything,
                       store_->ListTrials({job, {}, nas::v1::ORDER_BY_ID, "",
                                           nas::v1::MAXIMIZE, 1000, 0}));
  ASSERT_THAT(everything, SizeIs(150));
  for (auto metric : {std::string(""), std::string("accuracy"),
                      std::string("loss")}) {
    for (auto dir : {nas::v1::MAXIMIZE, nas::v1::MINIMIZE}) {
      for (auto states : {std::vector<TrialState>{},
                          std::vector<TrialState>{nas::v1::SUCCEEDED}}) {
        // Brute force: filter, then by metric (missing last), then id.
        const std::string m = metric.empty() ? "accuracy" : metric;
        std::vector<nas::v1::Trial> expected;
        for (const auto& t : everything) {
          if (states.empty() || t.state() == states[0]) expected.push_back(t);
        }
        std::stable_sort(expected.begin(), expected.end(),
                         [&](const nas::v1::Trial& x, const nas::v1::Trial& y) {
                           const bool hx = x.metrics().count(m) > 0;
                           const bool hy = y.metrics().count(m) > 0;
                           if (hx != hy) return hx;
                           if (!hx) return x.id() < y.id();
                           const double vx = x.metrics().at(m),
                                        vy = y.metrics().at(m);
                           if (vx != vy) {
                             return dir == nas::v1::MAXIMIZE ? vx > vy : vx < vy;
                           }
                           return x.id() < y.id();
                         });
        std::vector<int64_t> want;
        for (const auto& t : expected) want.push_back(t.id());
        for (auto [limit, offset] : std::vector<std::pair<int, int>>{
                 {10, 0}, {7, 5}, {50, 100}, {30, 140}, {5, 1000}}) {
          ASSERT_OK_AND_ASSIGN(
              auto got, store_->ListTrials({job, states,
                                            nas::v1::ORDER_BY_OBJECTIVE, metric,
                                            dir, limit, offset}));
          std::vector<int64_t> ids;
          for (const auto& t : got) ids.push_back(t.id());
          std::vector<int64_t> slice(
              want.begin() + std::min<size_t>(offset, want.size()),
              want.begin() + std::min<size_t>(offset + limit, want.size()));
          EXPECT_THAT(ids, ElementsAreArray(slice))
              << "metric=" << metric << " dir=" << dir << " states="
              << states.size() << " limit=" << limit << " offset=" << offset;
        }
      }
    }
  }
  ASSERT_OK_AND_ASSIGN(auto failed,
                       store_->ListTrials({job, {nas::v1::FAILED},
                                           nas::v1::ORDER_BY_ID, "",
                                           nas::v1::MAXIMIZE, 1000, 0}));
  EXPECT_THAT(failed, SizeIs(15));
  for (const auto& t : failed) EXPECT_EQ(t.state(), nas::v1::FAILED);
}

std::set<int64_t> BruteForceFront(
    const std::map<int64_t, std::pair<double, double>>& points,
    nas::v1::Direction da, nas::v1::Direction db) {
  auto better_eq = [](double x, double y, nas::v1::Direction d) {
    return d == nas::v1::MAXIMIZE ? x >= y : x <= y;
  };
  std::set<int64_t> front;
  for (const auto& [id, p] : points) {
    bool dominated = false;
    for (const auto& [oid, o] : points) {
      if (better_eq(o.first, p.first, da) && better_eq(o.second, p.second, db) &&
          (o.first != p.first || o.second != p.second)) {
        dominated = true;
        break;
      }
    }
    if (!dominated) front.insert(id);
  }
  return front;
}

TEST_P(TrialStoreConformanceTest, ParetoFrontMatchesBruteForce) {
  for (auto da : {nas::v1::MAXIMIZE, nas::v1::MINIMIZE}) {
    for (auto db : {nas::v1::MAXIMIZE, nas::v1::MINIMIZE}) {
      Fixture f(store_.get());
      const std::string job = f.Job("pareto", da, db);
      const auto points = FillRandom(store_.get(), job, 200, 11 + da * 3 + db);
      ASSERT_OK_AND_ASSIGN(
          auto front, store_->ParetoFront(job, "accuracy", da, "latency_ms", db));
      std::set<int64_t> got;
      for (const auto& t : front) {
        got.insert(t.id());
        EXPECT_EQ(t.state(), nas::v1::SUCCEEDED);
      }
      const std::set<int64_t> want = BruteForceFront(points, da, db);
      EXPECT_EQ(got, want) << "directions " << da << "," << db;
      EXPECT_GE(want.size(), 2u);
      // Best accuracy first.
      for (size_t i = 1; i < front.size(); ++i) {
        const double prev = front[i - 1].metrics().at("accuracy");
        const double cur = front[i].metrics().at("accuracy");
        EXPECT_TRUE(da == nas::v1::MAXIMIZE ? prev >= cur : prev <= cur);
      }
      // Other metrics or directions than the job's (the unindexed path).
      ASSERT_OK_AND_ASSIGN(
          auto swapped, store_->ParetoFront(job, "latency_ms", db, "accuracy", da));
      std::set<int64_t> got_swapped;
      for (const auto& t : swapped) got_swapped.insert(t.id());
      EXPECT_EQ(got_swapped, want);
    }
  }
}

// Writes issued together (the group commit may put them in one transaction):
// each is still decided on its own.
TEST_P(TrialStoreConformanceTest, IssuedWritesAreDecidedOneByOne) {
  Fixture f(store_.get());
  const std::string job = f.Job("issued", nas::v1::MAXIMIZE, nas::v1::MINIMIZE);
  constexpr int kTrials = 40;
  ASSERT_OK(store_->InsertTrials(job, Suggestions(kTrials), std::nullopt, kNow)
                .status());
  std::vector<PendingWrite<absl::StatusOr<std::optional<nas::v1::Trial>>>>
      leases;
  for (int i = 0; i < kTrials; ++i) {
    leases.push_back(store_->IssueAcquireTrial(job, "w", kNow + 1000, kNow));
  }
  std::vector<TrialRef> refs;
  for (auto& l : leases) {
    ASSERT_OK_AND_ASSIGN(std::optional<nas::v1::Trial> t, l.Wait());
    ASSERT_TRUE(t.has_value());
    refs.push_back({t->id(), t->attempt()});
  }
  std::set<int64_t> distinct;
  for (const TrialRef& r : refs) distinct.insert(r.trial_id);
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kTrials));
  std::vector<std::pair<double, double>> points;
  std::vector<PendingWrite<absl::Status>> writes;
  for (int i = 0; i < kTrials; ++i) {
    points.push_back({(i * 37 % 41) / 41.0, (i * 53 % 43) / 43.0});
    writes.push_back(store_->IssueCompleteTrial(
        refs[i], Outcome(points[i].first, points[i].second),
        StrategySnapshot{i + 1, absl::StrCat("s", i + 1)}, kNow));
  }
  auto stale = store_->IssueCompleteTrial({refs[3].trial_id, 2},
                                          Outcome(0.5, 1), std::nullopt, kNow);
  auto repeated = store_->IssueCompleteTrial(refs[5], Outcome(0.5, 1),
                                             std::nullopt, kNow);
  auto old_snapshot = store_->IssueFailTrial(
      refs[6], "oom", "", 3, StrategySnapshot{2, "old"}, kNow);
  for (auto& w : writes) EXPECT_OK(w.Wait());
  EXPECT_THAT(stale.Wait(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_OK(repeated.Wait());
  EXPECT_THAT(old_snapshot.Wait().status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(nas::v1::Job got, store_->GetJob(job));
  EXPECT_EQ(got.counts().succeeded(), kTrials);
  EXPECT_EQ(got.counts().leased(), 0);
  EXPECT_EQ(got.counts().failed(), 0);
  ASSERT_OK_AND_ASSIGN(auto snapshot, store_->LatestSnapshot(job));
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->version, kTrials);
  EXPECT_EQ(snapshot->state, absl::StrCat("s", kTrials));
  ASSERT_OK_AND_ASSIGN(nas::v1::Trial fifth, store_->GetTrial(refs[5].trial_id, false));
  EXPECT_DOUBLE_EQ(fifth.metrics().at("accuracy"), points[5].first);
  ASSERT_OK_AND_ASSIGN(auto front, store_->ParetoFront(job, "accuracy",
                                                       nas::v1::MAXIMIZE,
                                                       "latency_ms",
                                                       nas::v1::MINIMIZE));
  std::set<int64_t> got_front, want_front;
  for (const auto& t : front) got_front.insert(t.id());
  for (int i = 0; i < kTrials; ++i) {
    bool dominated = false;
    for (int j = 0; j < kTrials; ++j) {
      dominated |= points[j].first >= points[i].first &&
                   points[j].second <= points[i].second &&
                   points[j] != points[i];
    }
    if (!dominated) want_front.insert(refs[i].trial_id);
  }
  EXPECT_EQ(got_front, want_front);
}

ArtifactRecord Weights(const std::string& location, int64_t size) {
  ArtifactRecord a;
  a.name = "weights";
  a.size_bytes = size;
  a.sha256 = absl::StrCat("sha-", location);
  a.location = location;
  return a;
}

TEST_P(TrialStoreConformanceTest, RecordsArtifactsOfTheActiveAttemptOnly) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  ASSERT_OK(store_->InsertTrials(job, Suggestions(1), std::nullopt, kNow));
  const TrialRef first = f.Acquire(job, kNow + 1000);
  ASSERT_OK_AND_ASSIGN(auto none, store_->GetArtifact(first.trial_id, "weights"));
  EXPECT_FALSE(none.has_value());
  ASSERT_OK_AND_ASSIGN(auto replaced,
                       store_->PutArtifact(first, Weights("a1.pt", 10), kNow));
  EXPECT_FALSE(replaced.has_value());
  EXPECT_THAT(store_->PutArtifact(first, Weights("", 1), kNow),
              StatusIs(absl::StatusCode::kInvalidArgument));

  // The lease expires: attempt 1 may no longer record anything.
  ASSERT_OK(store_->RequeueExpiredLeases(kNow + 1001, 3).status());
  EXPECT_THAT(store_->PutArtifact(first, Weights("stale.pt", 5), kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("stale")));
  const TrialRef second = f.Acquire(job);
  ASSERT_EQ(second.attempt, 2);
  ASSERT_OK_AND_ASSIGN(replaced,
                       store_->PutArtifact(second, Weights("a2.pt", 20), kNow + 7));
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(replaced->location, "a1.pt");
  EXPECT_EQ(replaced->attempt, 1);
  ASSERT_OK(store_->CompleteTrial(second, Outcome(0.5, 1), std::nullopt, kNow));
  // Ended: refused, and the record stays the one of attempt 2.
  EXPECT_THAT(store_->PutArtifact(second, Weights("late.pt", 1), kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("ended")));
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, Reopen());
  ASSERT_OK_AND_ASSIGN(auto got, store_->GetArtifact(second.trial_id, "weights"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->trial_id, second.trial_id);
  EXPECT_EQ(got->name, "weights");
  EXPECT_EQ(got->attempt, 2);
  EXPECT_EQ(got->size_bytes, 20);
  EXPECT_EQ(got->sha256, "sha-a2.pt");
  EXPECT_EQ(got->location, "a2.pt");
  EXPECT_EQ(got->create_time_ms, kNow + 7);
  ASSERT_OK_AND_ASSIGN(none, store_->GetArtifact(second.trial_id, "other"));
  EXPECT_FALSE(none.has_value());
  EXPECT_THAT(store_->GetArtifact(second.trial_id + 1000, "weights"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->PutArtifact({second.trial_id + 1000, 1},
                                  Weights("x.pt", 1), kNow),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(TrialStoreConformanceTest, RegistersWorkersByName) {
  nas::v1::WorkerInfo info;
  info.set_name("host:gpu0");
  info.set_device("cpu");
  info.add_capabilities("train");
  ASSERT_OK_AND_ASSIGN(std::string id, store_->RegisterWorker(info, kNow));
  EXPECT_FALSE(id.empty());
  info.set_threads(8);
  ASSERT_OK_AND_ASSIGN(std::string again, store_->RegisterWorker(info, kNow + 1));
  EXPECT_EQ(again, id);
  info.set_name("host:gpu1");
  ASSERT_OK_AND_ASSIGN(std::string other, store_->RegisterWorker(info, kNow));
  EXPECT_NE(other, id);
  EXPECT_OK(store_->TouchWorker(id, kNow + 2));
  EXPECT_THAT(store_->TouchWorker("worker-missing", kNow),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("worker-missing")));
  info.set_name("");
  EXPECT_THAT(store_->RegisterWorker(info, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(TrialStoreConformanceTest, KeepsDataAcrossReopen) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  ASSERT_OK(store_->InsertTrials(job, Suggestions(3), StrategySnapshot{4, "st"},
                                 kNow));
  const TrialRef ref = f.Acquire(job);
  ASSERT_OK(store_->CompleteTrial(ref, Outcome(0.7, 2), std::nullopt, kNow));
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, Reopen());
  ASSERT_OK_AND_ASSIGN(nas::v1::Job j, store_->GetJob(job));
  EXPECT_EQ(j.counts().pending(), 2);
  EXPECT_EQ(j.counts().succeeded(), 1);
  ASSERT_OK_AND_ASSIGN(auto snap, store_->LatestSnapshot(job));
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snap->state, "st");
}

TEST_P(TrialStoreConformanceTest, RefusesANewerSchema) {
  store_.reset();
  ASSERT_OK(env_->ExecRaw(
      "INSERT INTO schema_migrations (version, name, applied_time_ms) "
      "VALUES (999, '0999_future.sql', 0)"));
  EXPECT_THAT(Reopen(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                 ::testing::AllOf(HasSubstr("999"),
                                                  HasSubstr("newer"))));
}

TEST_P(TrialStoreConformanceTest, CountsMatchTrialStatesUnderConcurrency) {
  Fixture f(store_.get());
  const std::string job = f.Job();
  constexpr int kThreads = 8, kPerThread = 12;
  ASSERT_OK(store_->InsertTrials(job, Suggestions(kThreads * kPerThread),
                                 std::nullopt, kNow));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < kPerThread; ++k) {
        auto t = store_->AcquireTrial(job, "w", kNow + 1000, kNow);
        if (!t.ok() || !t->has_value()) {
          ADD_FAILURE() << t.status();
          return;
        }
        const TrialRef ref{(*t)->id(), (*t)->attempt()};
        absl::Status s;
        if (k % 3 == 0) {
          s = store_->FailTrial(ref, "x", "", 1, std::nullopt, kNow).status();
        } else if (k % 3 == 1) {
          s = store_->CompleteTrial(ref, Outcome(0.01 * k + i, 1), std::nullopt,
                                    kNow);
        }
        EXPECT_OK(s);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_OK_AND_ASSIGN(nas::v1::Job j, store_->GetJob(job));
  ASSERT_OK_AND_ASSIGN(auto all,
                       store_->ListTrials({job, {}, nas::v1::ORDER_BY_ID, "",
                                           nas::v1::MAXIMIZE, 1000, 0}));
  std::map<TrialState, int64_t> by_state;
  for (const auto& t : all) ++by_state[t.state()];
  EXPECT_EQ(j.counts().failed(), by_state[nas::v1::FAILED]);
  EXPECT_EQ(j.counts().succeeded(), by_state[nas::v1::SUCCEEDED]);
  EXPECT_EQ(j.counts().leased(), by_state[nas::v1::LEASED]);
  EXPECT_EQ(j.counts().pending(), 0);
  EXPECT_EQ(by_state[nas::v1::SUCCEEDED], kThreads * kPerThread / 3);
}

}  // namespace
}  // namespace nas::storage::testing
