#include "controller/service/server.h"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/grpc_health/health.h"
#include "common/testing/status_matchers.h"
#include "controller/artifacts/artifact_store.h"
#include "controller/scheduler/scheduler.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "proto/nas/v1/service.grpc.pb.h"
#include "storage/store_url.h"

namespace nas::service {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "s3cret";  // admin
constexpr char kReadToken[] = "r3ader";
constexpr char kWorkerToken[] = "w0rker";

nas::v1::JobSpec Spec(int64_t max_trials) {
  nas::v1::JobSpec spec;
  spec.set_name("server-test");
  spec.mutable_search_space()->mutable_nb201();
  spec.mutable_strategy()->mutable_random();
  nas::v1::Objective* objective = spec.add_objectives();
  objective->set_metric("cifar10_valid_12ep");
  objective->set_direction(nas::v1::MAXIMIZE);
  spec.mutable_evaluation()->mutable_table()->set_path(
      "data/nb201/nb201_cifar10.csv");
  spec.mutable_budget()->set_max_trials(max_trials);
  return spec;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenTrialStore("sqlite::memory:");
    ASSERT_OK(store);
    store_ = *std::move(store);
    scheduler::SchedulerOptions scheduler_options;
    scheduler_options.store = store_.get();
    scheduler_options.clock = &clock_;
    auto scheduler = scheduler::Scheduler::Create(scheduler_options);
    ASSERT_OK(scheduler);
    scheduler_ = *std::move(scheduler);
    artifacts::ArtifactStoreOptions artifact_options;
    artifact_options.dir = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    artifact_options.max_bytes = 4 << 20;
    artifact_options.store = store_.get();
    auto artifacts = artifacts::ArtifactStore::Create(artifact_options);
    ASSERT_OK(artifacts);
    artifacts_ = *std::move(artifacts);
    ServerOptions options;
    options.artifacts = artifacts_.get();
    options.listen = "127.0.0.1:0";
    options.scheduler = scheduler_.get();
    auto tokens = ParseTokenFile(
        absl::StrCat("# the test's tokens\n", kToken, "\n", kReadToken,
                     " read\n", kWorkerToken, "  worker  # fleet\n"));
    ASSERT_OK(tokens);
    ASSERT_EQ(tokens->size(), 3u);
    options.auth_tokens = *std::move(tokens);
    options.background = false;
    auto server = ControllerServer::Create(options);
    ASSERT_OK(server);
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    search_ = nas::v1::SearchService::NewStub(channel_);
    worker_ = nas::v1::WorkerService::NewStub(channel_);
  }

  // A context carrying `token` (empty: no authorization metadata).
  std::unique_ptr<grpc::ClientContext> Context(
      const std::string& token = kToken) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) {
      context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    return context;
  }

  nas::v1::Job CreateJob(int64_t max_trials) {
    nas::v1::CreateJobRequest request;
    *request.mutable_spec() = Spec(max_trials);
    nas::v1::Job job;
    grpc::Status status = search_->CreateJob(Context().get(), request, &job);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return job;
  }

  // Registers worker "w" with the worker token and leases one trial.
  void RegisterAndLease(nas::v1::RegisterWorkerResponse* registered,
                        nas::v1::AcquireTrialRequest* acquire,
                        nas::v1::AcquireTrialResponse* lease) {
    nas::v1::RegisterWorkerRequest hello;
    hello.mutable_info()->set_name("w");
    ASSERT_TRUE(
        worker_->RegisterWorker(Context(kWorkerToken).get(), hello, registered)
            .ok());
    acquire->set_worker_id(registered->worker_id());
    ASSERT_TRUE(
        worker_->AcquireTrial(Context(kWorkerToken).get(), *acquire, lease)
            .ok());
  }

  FakeClock clock_;
  std::unique_ptr<storage::TrialStore> store_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<artifacts::ArtifactStore> artifacts_;
  std::unique_ptr<ControllerServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<nas::v1::SearchService::Stub> search_;
  std::unique_ptr<nas::v1::WorkerService::Stub> worker_;
};

TEST_F(ServerTest, CallsWithoutTheRightTokenAreUnauthenticated) {
  nas::v1::GetJobRequest request;
  request.set_job_id("job-none");
  nas::v1::Job job;
  EXPECT_EQ(search_->GetJob(Context("").get(), request, &job).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(search_->GetJob(Context("wrong").get(), request, &job).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  nas::v1::AcquireTrialRequest acquire;
  acquire.set_worker_id("w");
  nas::v1::AcquireTrialResponse lease;
  EXPECT_EQ(
      worker_->AcquireTrial(Context("").get(), acquire, &lease).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(search_->GetJob(Context().get(), request, &job).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// Every RPC against every kind of caller (no token configured, none, wrong,
// read, worker, admin) is tests/security/token_matrix_test.

TEST_F(ServerTest, ReadTokenWatchesButCannotCancelAndWorkerTokenLeases) {
  const nas::v1::Job job = CreateJob(10);
  nas::v1::JobRequest cancel;
  cancel.set_job_id(job.id());
  nas::v1::Job response;
  EXPECT_EQ(search_->CancelJob(Context(kReadToken).get(), cancel, &response)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(search_->CancelJob(Context(kWorkerToken).get(), cancel, &response)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  nas::v1::GetJobRequest get;
  get.set_job_id(job.id());
  ASSERT_TRUE(search_->GetJob(Context(kReadToken).get(), get, &response).ok());
  EXPECT_EQ(response.state(), nas::v1::JOB_RUNNING);

  nas::v1::RegisterWorkerResponse registered;
  nas::v1::AcquireTrialRequest acquire;
  nas::v1::AcquireTrialResponse lease;
  ASSERT_NO_FATAL_FAILURE(RegisterAndLease(&registered, &acquire, &lease));
  EXPECT_TRUE(lease.has_lease());
  EXPECT_EQ(worker_->AcquireTrial(Context(kReadToken).get(), acquire, &lease)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// Uploads `bytes` in chunks of 3; returns the status.
grpc::Status Upload(nas::v1::WorkerService::Stub& worker,
                    grpc::ClientContext* context,
                    const nas::v1::UploadWeightsHeader& header,
                    const std::string& bytes, bool send_header = true) {
  nas::v1::UploadWeightsResponse response;
  auto stream = worker.UploadWeights(context, &response);
  if (send_header) {
    nas::v1::UploadWeightsRequest first;
    *first.mutable_header() = header;
    stream->Write(first);
  }
  for (size_t at = 0; at < bytes.size(); at += 3) {
    nas::v1::UploadWeightsRequest piece;
    piece.set_chunk(bytes.substr(at, 3));
    stream->Write(piece);
  }
  stream->WritesDone();
  return stream->Finish();
}

TEST_F(ServerTest, WeightsGoUpFencedAndComeDownWhole) {
  CreateJob(10);
  nas::v1::RegisterWorkerResponse registered;
  nas::v1::AcquireTrialRequest acquire;
  nas::v1::AcquireTrialResponse lease;
  ASSERT_NO_FATAL_FAILURE(RegisterAndLease(&registered, &acquire, &lease));
  ASSERT_TRUE(lease.has_lease());
  nas::v1::UploadWeightsHeader header;
  header.set_worker_id(registered.worker_id());
  header.set_trial_id(lease.lease().trial_id());
  header.set_attempt(lease.lease().attempt());
  const std::string bytes = "trained weights, 31 bytes long.";
  header.set_size_bytes(bytes.size());

  nas::v1::UploadWeightsHeader stale = header;
  stale.set_attempt(header.attempt() + 1);
  grpc::Status status =
      Upload(*worker_, Context(kWorkerToken).get(), stale, bytes);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << status.error_message();
  status = Upload(*worker_, Context(kWorkerToken).get(), header, bytes,
                  /*send_header=*/false);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("header"));
  status = Upload(*worker_, Context(kWorkerToken).get(), header,
                  bytes.substr(0, 10));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  nas::v1::UploadWeightsHeader huge = header;
  huge.set_size_bytes(5 << 20);
  EXPECT_EQ(Upload(*worker_, Context(kWorkerToken).get(), huge, "").error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  status = Upload(*worker_, Context(kWorkerToken).get(), header, bytes);
  ASSERT_TRUE(status.ok()) << status.error_message();

  nas::v1::CompleteTrialRequest complete;
  complete.set_worker_id(registered.worker_id());
  complete.set_trial_id(header.trial_id());
  complete.set_attempt(header.attempt());
  (*complete.mutable_metrics())["accuracy"] = 0.5;
  nas::v1::CompleteTrialResponse completed;
  ASSERT_TRUE(
      worker_->CompleteTrial(Context(kWorkerToken).get(), complete, &completed)
          .ok());

  nas::v1::DownloadWeightsRequest download;
  download.set_trial_id(header.trial_id());
  std::unique_ptr<grpc::ClientContext> context = Context(kReadToken);
  auto stream = search_->DownloadWeights(context.get(), download);
  nas::v1::DownloadWeightsResponse piece;
  std::string got;
  nas::v1::WeightsInfo info;
  while (stream->Read(&piece)) {
    if (piece.has_info()) info = piece.info();
    got += piece.chunk();
  }
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(got, bytes);
  EXPECT_EQ(info.size_bytes(), static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(info.source_trial_id(), header.trial_id());
  EXPECT_EQ(info.sha256().size(), 64u);
}

TEST_F(ServerTest, HealthServiceAnswersServingWithoutAToken) {
  using nas::grpc_health::CheckHealth;
  using nas::grpc_health::ServingStatus;
  for (const std::string service :
       {"", nas::v1::SearchService::service_full_name(),
        nas::v1::WorkerService::service_full_name()}) {
    absl::StatusOr<ServingStatus> status = CheckHealth(*channel_, service);
    ASSERT_OK(status.status()) << service;
    EXPECT_EQ(*status, ServingStatus::kServing) << service;
  }
}

TEST_F(ServerTest, InvalidRequestsAreRefusedNamingTheField) {
  nas::v1::CreateJobRequest create;
  *create.mutable_spec() = Spec(0);
  nas::v1::Job job;
  grpc::Status status = search_->CreateJob(Context().get(), create, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("budget.max_trials"));

  nas::v1::AcquireTrialRequest acquire;
  nas::v1::AcquireTrialResponse lease;
  status = worker_->AcquireTrial(Context().get(), acquire, &lease);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("worker_id"));

  nas::v1::ListTrialsRequest list;
  list.set_job_id("job-x");
  list.set_page_token("ten");
  nas::v1::ListTrialsResponse trials;
  status = search_->ListTrials(Context().get(), list, &trials);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_token"));
}

TEST_F(ServerTest, ListTrialsPagesByOffset) {
  const nas::v1::Job job = CreateJob(100);  // queues 8 suggestions
  nas::v1::ListTrialsRequest list;
  list.set_job_id(job.id());
  list.set_page_size(3);
  std::vector<int> sizes;
  std::vector<std::string> tokens;
  for (int i = 0; i < 5; ++i) {
    nas::v1::ListTrialsResponse page;
    ASSERT_TRUE(search_->ListTrials(Context().get(), list, &page).ok());
    sizes.push_back(page.trials_size());
    tokens.push_back(page.next_page_token());
    if (page.next_page_token().empty()) break;
    list.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(sizes, (std::vector<int>{3, 3, 2}));
  EXPECT_EQ(tokens, (std::vector<std::string>{"3", "6", ""}));
}

TEST_F(ServerTest, WatchJobStreamsUntilTheJobEnds) {
  const nas::v1::Job job = CreateJob(10);
  nas::v1::WatchJobRequest watch;
  watch.set_job_id(job.id());
  auto context = Context();
  auto stream = search_->WatchJob(context.get(), watch);
  nas::v1::JobEvent event;
  ASSERT_TRUE(stream->Read(&event));
  EXPECT_EQ(event.job().state(), nas::v1::JOB_RUNNING);

  nas::v1::JobRequest cancel;
  cancel.set_job_id(job.id());
  nas::v1::Job cancelled;
  ASSERT_TRUE(search_->CancelJob(Context().get(), cancel, &cancelled).ok());
  nas::v1::JobState last = event.job().state();
  while (stream->Read(&event)) last = event.job().state();
  EXPECT_EQ(last, nas::v1::JOB_CANCELLED);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ServerTest, WatchJobEventsCarryTheLatestChangedTrial) {
  const nas::v1::Job job = CreateJob(10);
  nas::v1::WatchJobRequest watch;
  watch.set_job_id(job.id());
  auto context = Context();
  auto stream = search_->WatchJob(context.get(), watch);
  nas::v1::JobEvent event;
  ASSERT_TRUE(stream->Read(&event));
  EXPECT_FALSE(event.has_trial());  // no trial changed yet

  nas::v1::RegisterWorkerResponse registered;
  nas::v1::AcquireTrialRequest acquire;
  nas::v1::AcquireTrialResponse lease;
  ASSERT_NO_FATAL_FAILURE(RegisterAndLease(&registered, &acquire, &lease));
  ASSERT_TRUE(lease.has_lease());
  nas::v1::CompleteTrialRequest complete;
  complete.set_worker_id(registered.worker_id());
  complete.set_trial_id(lease.lease().trial_id());
  complete.set_attempt(lease.lease().attempt());
  (*complete.mutable_metrics())["accuracy"] = 0.75;
  nas::v1::CompleteTrialResponse completed;
  ASSERT_TRUE(
      worker_->CompleteTrial(Context(kWorkerToken).get(), complete, &completed)
          .ok());
  // Events coalesce: read until one shows the completed trial.
  bool seen = false;
  while (!seen && stream->Read(&event)) {
    seen = event.has_trial() &&
           event.trial().id() == lease.lease().trial_id() &&
           event.trial().state() == nas::v1::SUCCEEDED;
    if (!seen) {
      EXPECT_TRUE(!event.has_trial() ||
                  event.trial().id() == lease.lease().trial_id());
    }
  }
  EXPECT_TRUE(seen);
  EXPECT_DOUBLE_EQ(event.trial().metrics().at("accuracy"), 0.75);
  context->TryCancel();
  stream->Finish();
}

std::string ReadTestFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// A self-signed certificate for 127.0.0.1/localhost, made for this test only.
TEST_F(ServerTest, ServesTlsWithTheGivenCertificate) {
  const std::string cert =
      ReadTestFile("controller/service/testdata/localhost_cert.pem");
  ASSERT_FALSE(cert.empty());
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.scheduler = scheduler_.get();
  options.tls_cert_pem = cert;
  options.tls_key_pem =
      ReadTestFile("controller/service/testdata/localhost_key.pem");
  options.background = false;
  auto server = ControllerServer::Create(options);
  ASSERT_OK(server);
  const std::string target = absl::StrCat("127.0.0.1:", (*server)->port());

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = cert;
  auto tls = nas::v1::SearchService::NewStub(
      grpc::CreateChannel(target, grpc::SslCredentials(ssl)));
  nas::v1::GetJobRequest request;
  request.set_job_id("job-none");
  nas::v1::Job job;
  grpc::ClientContext tls_context;
  EXPECT_EQ(tls->GetJob(&tls_context, request, &job).error_code(),
            grpc::StatusCode::NOT_FOUND);  // the call got through

  auto plaintext = nas::v1::SearchService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext plain_context;
  EXPECT_EQ(plaintext->GetJob(&plain_context, request, &job).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ServerTest, TlsNeedsBothCertificateAndKey) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.scheduler = scheduler_.get();
  options.tls_cert_pem = "cert";
  EXPECT_THAT(ControllerServer::Create(options),
              ::nas::testing::StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace nas::service
