// End to end: the real controller (gRPC server, scheduler, SQLite store) in
// this process on 127.0.0.1:0, driven by client threads acting as table
// workers that look every architecture up in the NAS-Bench-201 CSV.
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/testing/status_matchers.h"
#include "controller/scheduler/scheduler.h"
#include "controller/service/server.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "proto/nas/v1/service.grpc.pb.h"
#include "storage/store_url.h"
#include "tests/nb201_table.h"

namespace nas {
namespace {

constexpr char kAccuracy[] = "cifar10_valid_12ep";
constexpr char kLatency[] = "latency_1080ti_1";
constexpr int kBudget = 200;
constexpr int kWorkers = 4;

using ::nas::testing::kNb201Table;
using ::nas::testing::Nb201String;
using Table = ::nas::testing::Nb201Table;

nas::v1::JobSpec Nb201TableJob() {
  nas::v1::JobSpec spec;
  spec.set_name("e2e-nb201");
  spec.mutable_search_space()->mutable_nb201();
  spec.mutable_strategy()->mutable_random();
  spec.mutable_strategy()->set_seed(42);
  nas::v1::Objective* accuracy = spec.add_objectives();
  accuracy->set_metric(kAccuracy);
  accuracy->set_direction(nas::v1::MAXIMIZE);
  nas::v1::Objective* latency = spec.add_objectives();
  latency->set_metric(kLatency);
  latency->set_direction(nas::v1::MINIMIZE);
  spec.mutable_evaluation()->mutable_table()->set_path(kNb201Table);
  spec.mutable_budget()->set_max_trials(kBudget);
  spec.mutable_retry()->set_max_attempts(3);
  return spec;
}

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("TEST_TMPDIR");
    storage::StoreOptions store_options;
    store_options.sqlite_full_sync = false;
    auto store = storage::OpenTrialStore(
        absl::StrCat("sqlite://", dir != nullptr ? dir : "/tmp", "/e2e.db"),
        store_options);
    ASSERT_OK(store);
    store_ = *std::move(store);

    scheduler::SchedulerOptions scheduler_options;
    scheduler_options.store = store_.get();
    scheduler_options.deferred_refill = true;
    scheduler_options.retry_after_ms = 5;
    auto scheduler = scheduler::Scheduler::Create(scheduler_options);
    ASSERT_OK(scheduler);
    scheduler_ = *std::move(scheduler);

    service::ServerOptions server_options;
    server_options.listen = "127.0.0.1:0";
    server_options.scheduler = scheduler_.get();
    server_options.maintenance_interval = absl::Milliseconds(50);
    auto server = service::ControllerServer::Create(server_options);
    ASSERT_OK(server);
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  std::unique_ptr<storage::TrialStore> store_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<service::ControllerServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Calls a unary RPC; on error appends "who: method: message" to `errors`.
template <typename Stub, typename Request, typename Response>
bool Call(Stub& stub,
          grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                       Response*),
          const Request& request, Response* response, const std::string& who,
          std::vector<std::string>* errors) {
  grpc::ClientContext context;
  const grpc::Status status = (stub.*method)(&context, request, response);
  if (!status.ok()) {
    errors->push_back(absl::StrCat(who, ": ", request.GetDescriptor()->name(),
                                   ": ", status.error_message()));
  }
  return status.ok();
}

// A report of type R about `lease` from `worker_id`.
template <typename R>
R About(const std::string& worker_id, const nas::v1::TrialLease& lease) {
  R request;
  request.set_worker_id(worker_id);
  request.set_trial_id(lease.trial_id());
  request.set_attempt(lease.attempt());
  return request;
}

// One table worker: leases until the job ends; fails the first attempt of
// every 25th trial to exercise retries.
void RunTableWorker(std::shared_ptr<grpc::Channel> channel, const Table& table,
                    const std::string& name, const std::string& job_id,
                    std::vector<std::string>* errors) {
  using nas::v1::SearchService;
  using nas::v1::WorkerService;
  auto stub = WorkerService::NewStub(channel);
  auto search = SearchService::NewStub(channel);
  nas::v1::RegisterWorkerRequest reg;
  reg.mutable_info()->set_name(name);
  reg.mutable_info()->add_capabilities("table");
  nas::v1::RegisterWorkerResponse registered;
  if (!Call(*stub, &WorkerService::Stub::RegisterWorker, reg, &registered, name,
            errors)) {
    return;
  }
  const std::string& worker_id = registered.worker_id();
  for (int polls = 0; polls < 100000; ++polls) {
    nas::v1::AcquireTrialRequest acquire;
    acquire.set_worker_id(worker_id);
    nas::v1::AcquireTrialResponse response;
    if (!Call(*stub, &WorkerService::Stub::AcquireTrial, acquire, &response,
              name, errors)) {
      return;
    }
    if (!response.has_lease()) {
      nas::v1::GetJobRequest get;
      get.set_job_id(job_id);
      nas::v1::Job job;
      if (!Call(*search, &SearchService::Stub::GetJob, get, &job, name,
                errors) ||
          job.state() != nas::v1::JOB_RUNNING) {
        return;
      }
      std::this_thread::sleep_for(
          std::chrono::milliseconds(response.retry_after_ms()));
      continue;
    }
    const nas::v1::TrialLease& lease = response.lease();
    const auto row = table.find(Nb201String(lease.architecture()));
    if (row == table.end()) {
      return errors->push_back("not in the table: " +
                               Nb201String(lease.architecture()));
    }
    if (lease.trial_id() % 25 == 0 && lease.attempt() == 1) {
      auto failure = About<nas::v1::FailTrialRequest>(worker_id, lease);
      failure.set_reason("error");
      nas::v1::FailTrialResponse failed;
      if (!Call(*stub, &WorkerService::Stub::FailTrial, failure, &failed, name,
                errors)) {
        return;
      }
      continue;
    }
    auto progress = About<nas::v1::ReportProgressRequest>(worker_id, lease);
    progress.mutable_measurement()->set_step(1);
    (*progress.mutable_measurement()->mutable_metrics())[kAccuracy] =
        row->second.at(kAccuracy);
    nas::v1::ReportProgressResponse decision;
    auto complete = About<nas::v1::CompleteTrialRequest>(worker_id, lease);
    complete.mutable_metrics()->insert(row->second.begin(), row->second.end());
    nas::v1::CompleteTrialResponse completed;
    if (!Call(*stub, &WorkerService::Stub::ReportProgress, progress, &decision,
              name, errors) ||
        !Call(*stub, &WorkerService::Stub::CompleteTrial, complete, &completed,
              name, errors)) {
      return;
    }
  }
  errors->push_back(name + ": gave up polling");
}

TEST_F(EndToEndTest, Nb201TableJobCompletesExactlyItsBudget) {
  const Table table = ::nas::testing::LoadNb201Table();
  ASSERT_EQ(table.size(), 15625u);
  auto search = nas::v1::SearchService::NewStub(channel_);

  nas::v1::CreateJobRequest create;
  *create.mutable_spec() = Nb201TableJob();
  create.set_request_id("e2e-1");
  nas::v1::Job job;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(search->CreateJob(&ctx, create, &job).ok());
  }
  ASSERT_EQ(job.state(), nas::v1::JOB_RUNNING);

  // A watcher follows the job until it ends.
  std::vector<nas::v1::JobState> watched;
  std::thread watcher([&] {
    nas::v1::WatchJobRequest watch;
    watch.set_job_id(job.id());
    grpc::ClientContext ctx;
    auto stream = search->WatchJob(&ctx, watch);
    nas::v1::JobEvent event;
    while (stream->Read(&event)) watched.push_back(event.job().state());
    EXPECT_TRUE(stream->Finish().ok());
  });

  std::vector<std::vector<std::string>> errors(kWorkers);
  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.emplace_back(RunTableWorker, channel_, std::cref(table),
                         absl::StrCat("table-worker-", i), job.id(),
                         &errors[i]);
  }
  for (std::thread& t : workers) t.join();
  watcher.join();
  for (const auto& e : errors) EXPECT_THAT(e, ::testing::IsEmpty());

  nas::v1::GetJobRequest get;
  get.set_job_id(job.id());
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(search->GetJob(&ctx, get, &job).ok());
  }
  EXPECT_EQ(job.state(), nas::v1::JOB_SUCCEEDED);
  EXPECT_EQ(job.counts().succeeded(), kBudget);
  EXPECT_EQ(
      job.counts().pending() + job.counts().leased() + job.counts().running(),
      0);
  ASSERT_FALSE(watched.empty());
  EXPECT_EQ(watched.back(), nas::v1::JOB_SUCCEEDED);

  // Every trial, page by page: exactly the budget, distinct architectures,
  // the table's values.
  std::set<std::string> hashes;
  std::map<int64_t, std::pair<double, double>> points;  // id -> (acc, -lat)
  int succeeded = 0;
  nas::v1::ListTrialsRequest list;
  list.set_job_id(job.id());
  list.set_page_size(64);
  for (int pages = 0; pages < 100; ++pages) {
    nas::v1::ListTrialsResponse page;
    grpc::ClientContext ctx;
    ASSERT_TRUE(search->ListTrials(&ctx, list, &page).ok());
    for (const nas::v1::Trial& trial : page.trials()) {
      ASSERT_EQ(trial.state(), nas::v1::SUCCEEDED) << trial.DebugString();
      ++succeeded;
      hashes.insert(trial.architecture().hash());
      points[trial.id()] = {trial.metrics().at(kAccuracy),
                            -trial.metrics().at(kLatency)};
      EXPECT_EQ(trial.metrics().at(kAccuracy),
                table.at(Nb201String(trial.architecture())).at(kAccuracy));
    }
    if (page.next_page_token().empty()) break;
    list.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(succeeded, kBudget);
  EXPECT_EQ(hashes.size(), static_cast<size_t>(kBudget));

  // The front is exactly the non-dominated trials (accuracy up, latency down).
  std::set<int64_t> expected_front;
  for (const auto& [id, p] : points) {
    bool dominated = false;
    for (const auto& [other, q] : points) {
      dominated |= q.first >= p.first && q.second >= p.second && q != p;
    }
    if (!dominated) expected_front.insert(id);
  }
  nas::v1::GetParetoFrontRequest front_request;
  front_request.set_job_id(job.id());
  nas::v1::ListTrialsResponse front;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(search->GetParetoFront(&ctx, front_request, &front).ok());
  }
  std::set<int64_t> front_ids;
  for (const nas::v1::Trial& trial : front.trials())
    front_ids.insert(trial.id());
  EXPECT_FALSE(expected_front.empty());
  EXPECT_EQ(front_ids, expected_front);

  // A retried CreateJob with the same request id is the same job.
  nas::v1::Job again;
  grpc::ClientContext ctx;
  ASSERT_TRUE(search->CreateJob(&ctx, create, &again).ok());
  EXPECT_EQ(again.id(), job.id());
}

}  // namespace
}  // namespace nas
