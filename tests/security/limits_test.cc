// Requests too big to handle are refused, never half-served: a message over
// gRPC's 4 MiB receive limit gets RESOURCE_EXHAUSTED before any handler
// runs; repeated fields that fit in a message but have no business being
// that long get INVALID_ARGUMENT naming the field; WatchJob streams beyond
// the server's max_watchers get RESOURCE_EXHAUSTED until one ends.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/spec/job_spec.h"
#include "common/testing/status_matchers.h"
#include "controller/scheduler/scheduler.h"
#include "controller/service/server.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "proto/nas/v1/service.grpc.pb.h"
#include "storage/store_url.h"

namespace nas::security {
namespace {

using ::testing::HasSubstr;

nas::v1::JobSpec TableSpec() {
  absl::StatusOr<nas::v1::JobSpec> spec = spec::ParseJobSpec(R"(
    name: limits
    search_space: {nb201: {}}
    strategy: {random: {}}
    objectives: [{metric: cifar10_valid_12ep, direction: maximize}]
    evaluation: {table: {path: data/nb201/nb201_cifar10.csv}}
    budget: {max_trials: 10}
  )", "");
  EXPECT_OK(spec.status());
  return spec.value_or(nas::v1::JobSpec());
}

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, storage::OpenTrialStore("sqlite::memory:"));
    scheduler::SchedulerOptions scheduler_options;
    scheduler_options.store = store_.get();
    scheduler_options.clock = &clock_;
    ASSERT_OK_AND_ASSIGN(scheduler_,
                         scheduler::Scheduler::Create(scheduler_options));
    service::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.scheduler = scheduler_.get();
    options.background = false;
    options.max_watchers = 2;
    ASSERT_OK_AND_ASSIGN(server_, service::ControllerServer::Create(options));
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    search_ = nas::v1::SearchService::NewStub(channel_);
    worker_ = nas::v1::WorkerService::NewStub(channel_);
  }

  std::string CreateJob() {
    nas::v1::CreateJobRequest request;
    *request.mutable_spec() = TableSpec();
    nas::v1::Job job;
    grpc::ClientContext context;
    const grpc::Status status = search_->CreateJob(&context, request, &job);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return job.id();
  }

  // A job, a registered worker and its lease on the job's first trial.
  nas::v1::TrialLease Lease() {
    CreateJob();
    nas::v1::RegisterWorkerRequest hello;
    hello.mutable_info()->set_name("limits-worker");
    nas::v1::RegisterWorkerResponse registered;
    grpc::ClientContext context;
    EXPECT_TRUE(worker_->RegisterWorker(&context, hello, &registered).ok());
    worker_id_ = registered.worker_id();
    nas::v1::AcquireTrialRequest acquire;
    acquire.set_worker_id(worker_id_);
    nas::v1::AcquireTrialResponse response;
    grpc::ClientContext acquire_context;
    EXPECT_TRUE(
        worker_->AcquireTrial(&acquire_context, acquire, &response).ok());
    EXPECT_TRUE(response.has_lease());
    return response.lease();
  }

  FakeClock clock_;
  std::unique_ptr<storage::TrialStore> store_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<service::ControllerServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<nas::v1::SearchService::Stub> search_;
  std::unique_ptr<nas::v1::WorkerService::Stub> worker_;
  std::string worker_id_;
};

TEST_F(LimitsTest, RequestOverTheMessageLimitIsResourceExhausted) {
  nas::v1::CreateJobRequest request;
  *request.mutable_spec() = TableSpec();
  request.mutable_spec()->set_name(std::string(5 << 20, 'a'));  // 5 MiB
  nas::v1::Job job;
  grpc::ClientContext context;
  const grpc::Status status = search_->CreateJob(&context, request, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  // Under the limit the handler refuses it, naming the field.
  request.mutable_spec()->set_name(std::string(3 << 20, 'a'));
  grpc::ClientContext again;
  const grpc::Status under = search_->CreateJob(&again, request, &job);
  EXPECT_EQ(under.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(under.error_message(), HasSubstr("name"));

  nas::v1::ListJobsRequest list;
  nas::v1::ListJobsResponse jobs;
  grpc::ClientContext list_context;
  ASSERT_TRUE(search_->ListJobs(&list_context, list, &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), 0);  // nothing was created
}

TEST_F(LimitsTest, HugeMetadataIsRefused) {
  nas::v1::ListJobsRequest list;
  nas::v1::ListJobsResponse jobs;
  grpc::ClientContext context;
  context.AddMetadata("authorization",
                      absl::StrCat("Bearer ", std::string(64 << 10, 't')));
  const grpc::Status status = search_->ListJobs(&context, list, &jobs);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
}

TEST_F(LimitsTest, PagingValuesAreBounded) {
  nas::v1::ListTrialsRequest list;
  list.set_job_id(CreateJob());
  list.set_page_size(10001);
  nas::v1::ListTrialsResponse trials;
  grpc::ClientContext context;
  grpc::Status status = search_->ListTrials(&context, list, &trials);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_size"));
  list.set_page_size(10);
  list.set_page_token(std::string(1 << 20, '9'));
  grpc::ClientContext token_context;
  status = search_->ListTrials(&token_context, list, &trials);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_token"));
}

TEST_F(LimitsTest, TooManyOrUnknownTrialStatesAreInvalid) {
  nas::v1::ListTrialsRequest list;
  list.set_job_id(CreateJob());
  for (int i = 0; i < 200000; ++i) list.add_states(nas::v1::SUCCEEDED);
  nas::v1::ListTrialsResponse trials;
  grpc::ClientContext context;
  grpc::Status status = search_->ListTrials(&context, list, &trials);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("states"));

  list.clear_states();
  list.add_states(static_cast<nas::v1::TrialState>(999));
  grpc::ClientContext unknown;
  status = search_->ListTrials(&unknown, list, &trials);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("states[0]"));

  list.clear_states();
  list.add_states(nas::v1::PENDING);
  list.add_states(nas::v1::SUCCEEDED);
  grpc::ClientContext fine;
  EXPECT_TRUE(search_->ListTrials(&fine, list, &trials).ok());
  EXPECT_GT(trials.trials_size(), 0);  // the queued suggestions
}

TEST_F(LimitsTest, ReportsWithHugeMetricMapsAreInvalid) {
  const nas::v1::TrialLease lease = Lease();
  nas::v1::ReportProgressRequest progress;
  progress.set_worker_id(worker_id_);
  progress.set_trial_id(lease.trial_id());
  progress.set_attempt(lease.attempt());
  progress.mutable_measurement()->set_step(1);
  for (int i = 0; i < 100000; ++i) {
    (*progress.mutable_measurement()->mutable_metrics())[absl::StrCat("m", i)] =
        i;
  }
  nas::v1::ReportProgressResponse decision;
  grpc::ClientContext context;
  grpc::Status status = worker_->ReportProgress(&context, progress, &decision);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("measurement.metrics"));

  nas::v1::CompleteTrialRequest complete;
  complete.set_worker_id(worker_id_);
  complete.set_trial_id(lease.trial_id());
  complete.set_attempt(lease.attempt());
  *complete.mutable_metrics() = progress.measurement().metrics();
  nas::v1::CompleteTrialResponse done;
  grpc::ClientContext complete_context;
  status = worker_->CompleteTrial(&complete_context, complete, &done);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("metrics"));

  complete.clear_metrics();
  for (int i = 0; i < 100000; ++i) complete.add_latencies()->set_device("d");
  grpc::ClientContext latency_context;
  status = worker_->CompleteTrial(&latency_context, complete, &done);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("latencies"));

  // The lease is intact: a sane completion is accepted.
  complete.clear_latencies();
  (*complete.mutable_metrics())["cifar10_valid_12ep"] = 90.0;
  grpc::ClientContext ok_context;
  status = worker_->CompleteTrial(&ok_context, complete, &done);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(LimitsTest, WorkerInfoWithHugeListsIsInvalid) {
  nas::v1::RegisterWorkerRequest hello;
  hello.mutable_info()->set_name("w");
  for (int i = 0; i < 100000; ++i) hello.mutable_info()->add_capabilities("c");
  nas::v1::RegisterWorkerResponse registered;
  grpc::ClientContext context;
  const grpc::Status status =
      worker_->RegisterWorker(&context, hello, &registered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("info.capabilities"));
}

TEST_F(LimitsTest, WatchersBeyondTheLimitAreResourceExhausted) {
  nas::v1::WatchJobRequest watch;
  watch.set_job_id(CreateJob());
  grpc::ClientContext first_context, second_context;
  auto first = search_->WatchJob(&first_context, watch);
  auto second = search_->WatchJob(&second_context, watch);
  nas::v1::JobEvent event;
  ASSERT_TRUE(first->Read(&event));  // both streams are being served
  ASSERT_TRUE(second->Read(&event));

  grpc::ClientContext third_context;
  auto third = search_->WatchJob(&third_context, watch);
  EXPECT_FALSE(third->Read(&event));
  const grpc::Status refused = third->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("max 2"));

  // When a stream ends, its place is free again.
  first_context.TryCancel();
  while (first->Read(&event)) {
  }
  first->Finish();
  // (The server notices the cancellation at its next poll, within 1 s.)
  bool served = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!served && absl::Now() < give_up) {
    grpc::ClientContext context;
    auto again = search_->WatchJob(&context, watch);
    served = again->Read(&event);
    context.TryCancel();
    while (again->Read(&event)) {
    }
    again->Finish();
    if (!served) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(served);
  second_context.TryCancel();
  while (second->Read(&event)) {
  }
  second->Finish();
}

}  // namespace
}  // namespace nas::security
