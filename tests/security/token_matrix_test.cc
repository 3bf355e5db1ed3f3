// The token matrix: every RPC of SearchService and WorkerService, called by
// every kind of caller, against the status code the table below expects.
//
// Columns: a controller with no token configured (anyone may call), then a
// controller with an admin, a read and a worker token, called with no token,
// a wrong token, and each of the three. Requests name no existing job, worker
// or trial (or are empty), so a call that passes the token check gets a
// deterministic answer from the handler (its validation or NOT_FOUND) and
// changes nothing; an OK in the table is a read of an empty list or the
// registration of a worker.
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/testing/status_matchers.h"
#include "controller/artifacts/artifact_store.h"
#include "controller/scheduler/scheduler.h"
#include "controller/service/auth.h"
#include "controller/service/server.h"
#include "grpcpp/create_channel.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "proto/nas/v1/service.grpc.pb.h"
#include "storage/store_url.h"

namespace nas::security {
namespace {

using Code = grpc::StatusCode;
constexpr Code OK = Code::OK;
constexpr Code ARG = Code::INVALID_ARGUMENT;
constexpr Code NOTFOUND = Code::NOT_FOUND;
constexpr Code UNAUTH = Code::UNAUTHENTICATED;
constexpr Code DENIED = Code::PERMISSION_DENIED;

constexpr char kAdmin[] = "admin-7f3a";
constexpr char kRead[] = "read-91bc";
constexpr char kWorker[] = "worker-c2d4";

// One RPC on one stub pair; returns the status code.
using Call = std::function<Code(nas::v1::SearchService::Stub*,
                                nas::v1::WorkerService::Stub*,
                                grpc::ClientContext*)>;

template <typename Request, typename Response, typename Stub, typename Method>
Call Unary(Method method, Request request) {
  return [method, request](nas::v1::SearchService::Stub* search,
                           nas::v1::WorkerService::Stub* worker,
                           grpc::ClientContext* context) {
    Response response;
    Stub* stub;
    if constexpr (std::is_same_v<Stub, nas::v1::SearchService::Stub>) {
      stub = search;
    } else {
      stub = worker;
    }
    return (stub->*method)(context, request, &response).error_code();
  };
}

template <typename Request>
Request Report() {
  Request request;
  request.set_worker_id("worker-none");
  request.set_trial_id(424242);
  request.set_attempt(1);
  return request;
}

struct Row {
  const char* rpc;
  Call call;
  // unconfigured: no token file; then, with tokens configured, the caller
  // presents: no token, a wrong one, read, worker, admin.
  Code unconfigured, none, wrong, read, worker, admin;
};

std::vector<Row> Matrix() {
  using S = nas::v1::SearchService::Stub;
  using W = nas::v1::WorkerService::Stub;
  nas::v1::GetJobRequest get;
  get.set_job_id("job-none");
  nas::v1::JobRequest job;
  job.set_job_id("job-none");
  nas::v1::ExtendBudgetRequest extend;
  extend.set_job_id("job-none");
  extend.set_add_trials(1);
  nas::v1::ListTrialsRequest trials;
  trials.set_job_id("job-none");
  nas::v1::GetParetoFrontRequest front;
  front.set_job_id("job-none");
  nas::v1::RegisterWorkerRequest hello;
  hello.mutable_info()->set_name("matrix-worker");
  nas::v1::AcquireTrialRequest acquire;
  acquire.set_worker_id("worker-none");
  nas::v1::FailTrialRequest fail = Report<nas::v1::FailTrialRequest>();
  fail.set_reason("test");
  Call watch = [](S* search, W*, grpc::ClientContext* context) {
    nas::v1::WatchJobRequest request;
    request.set_job_id("job-none");
    auto stream = search->WatchJob(context, request);
    nas::v1::JobEvent event;
    while (stream->Read(&event)) {
    }
    return stream->Finish().error_code();
  };
  Call upload = [](S*, W* worker, grpc::ClientContext* context) {
    nas::v1::UploadWeightsResponse response;
    auto stream = worker->UploadWeights(context, &response);
    nas::v1::UploadWeightsRequest first;
    first.mutable_header()->set_worker_id("worker-none");
    first.mutable_header()->set_trial_id(424242);
    first.mutable_header()->set_attempt(1);
    first.mutable_header()->set_size_bytes(3);
    first.set_chunk("abc");
    stream->Write(first);
    stream->WritesDone();
    return stream->Finish().error_code();
  };
  Call download = [](S* search, W*, grpc::ClientContext* context) {
    nas::v1::DownloadWeightsRequest request;
    request.set_trial_id(424242);
    auto stream = search->DownloadWeights(context, request);
    nas::v1::DownloadWeightsResponse piece;
    while (stream->Read(&piece)) {
    }
    return stream->Finish().error_code();
  };
  // clang-format off
  return {
   // rpc              call                                                                     unconf.   none    wrong   read      worker    admin
   {"CreateJob",      Unary<nas::v1::CreateJobRequest, nas::v1::Job, S>(&S::CreateJob, {}),                          ARG,      UNAUTH, UNAUTH, DENIED,   DENIED,   ARG},
   {"GetJob",         Unary<nas::v1::GetJobRequest, nas::v1::Job, S>(&S::GetJob, get),                               NOTFOUND, UNAUTH, UNAUTH, NOTFOUND, DENIED,   NOTFOUND},
   {"ListJobs",       Unary<nas::v1::ListJobsRequest, nas::v1::ListJobsResponse, S>(&S::ListJobs, {}),               OK,       UNAUTH, UNAUTH, OK,       DENIED,   OK},
   {"CancelJob",      Unary<nas::v1::JobRequest, nas::v1::Job, S>(&S::CancelJob, job),                               NOTFOUND, UNAUTH, UNAUTH, DENIED,   DENIED,   NOTFOUND},
   {"PauseJob",       Unary<nas::v1::JobRequest, nas::v1::Job, S>(&S::PauseJob, job),                                NOTFOUND, UNAUTH, UNAUTH, DENIED,   DENIED,   NOTFOUND},
   {"ResumeJob",      Unary<nas::v1::JobRequest, nas::v1::Job, S>(&S::ResumeJob, job),                               NOTFOUND, UNAUTH, UNAUTH, DENIED,   DENIED,   NOTFOUND},
   {"ExtendBudget",   Unary<nas::v1::ExtendBudgetRequest, nas::v1::Job, S>(&S::ExtendBudget, extend),                NOTFOUND, UNAUTH, UNAUTH, DENIED,   DENIED,   NOTFOUND},
   {"ListTrials",     Unary<nas::v1::ListTrialsRequest, nas::v1::ListTrialsResponse, S>(&S::ListTrials, trials),     NOTFOUND, UNAUTH, UNAUTH, NOTFOUND, DENIED,   NOTFOUND},
   {"GetParetoFront", Unary<nas::v1::GetParetoFrontRequest, nas::v1::ListTrialsResponse, S>(&S::GetParetoFront, front), NOTFOUND, UNAUTH, UNAUTH, NOTFOUND, DENIED, NOTFOUND},
   {"WatchJob",       watch,                                                                                         NOTFOUND, UNAUTH, UNAUTH, NOTFOUND, DENIED,   NOTFOUND},
   {"RegisterWorker", Unary<nas::v1::RegisterWorkerRequest, nas::v1::RegisterWorkerResponse, W>(&W::RegisterWorker, hello), OK, UNAUTH, UNAUTH, DENIED, OK,     OK},
   {"AcquireTrial",   Unary<nas::v1::AcquireTrialRequest, nas::v1::AcquireTrialResponse, W>(&W::AcquireTrial, acquire), NOTFOUND, UNAUTH, UNAUTH, DENIED, NOTFOUND, NOTFOUND},
   {"Heartbeat",      Unary<nas::v1::HeartbeatRequest, nas::v1::HeartbeatResponse, W>(&W::Heartbeat, Report<nas::v1::HeartbeatRequest>()), NOTFOUND, UNAUTH, UNAUTH, DENIED, NOTFOUND, NOTFOUND},
   {"ReportProgress", Unary<nas::v1::ReportProgressRequest, nas::v1::ReportProgressResponse, W>(&W::ReportProgress, Report<nas::v1::ReportProgressRequest>()), NOTFOUND, UNAUTH, UNAUTH, DENIED, NOTFOUND, NOTFOUND},
   {"CompleteTrial",  Unary<nas::v1::CompleteTrialRequest, nas::v1::CompleteTrialResponse, W>(&W::CompleteTrial, Report<nas::v1::CompleteTrialRequest>()), NOTFOUND, UNAUTH, UNAUTH, DENIED, NOTFOUND, NOTFOUND},
   {"FailTrial",      Unary<nas::v1::FailTrialRequest, nas::v1::FailTrialResponse, W>(&W::FailTrial, fail),          NOTFOUND, UNAUTH, UNAUTH, DENIED,   NOTFOUND, NOTFOUND},
   {"UploadWeights",  upload,                                                                                        NOTFOUND, UNAUTH, UNAUTH, DENIED,   NOTFOUND, NOTFOUND},
   {"DownloadWeights", download,                                                                                     NOTFOUND, UNAUTH, UNAUTH, NOTFOUND, DENIED,   NOTFOUND},
  };
  // clang-format on
}

// A controller (SQLite in memory, no background loops) and stubs to it.
class Controller {
 public:
  explicit Controller(std::vector<service::TokenGrant> tokens) {
    store_ = *storage::OpenTrialStore("sqlite::memory:");
    scheduler::SchedulerOptions scheduler_options;
    scheduler_options.store = store_.get();
    scheduler_options.clock = &clock_;
    scheduler_ = *scheduler::Scheduler::Create(scheduler_options);
    service::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.scheduler = scheduler_.get();
    options.auth_tokens = std::move(tokens);
    options.background = false;
    // Weights go to a directory of the test's own (TEST_TMPDIR is per test).
    artifacts::ArtifactStoreOptions artifact_options;
    artifact_options.dir = absl::StrCat(std::getenv("TEST_TMPDIR"),
                                        "/artifacts-", ++instances_);
    artifact_options.store = store_.get();
    artifacts_ = *artifacts::ArtifactStore::Create(artifact_options);
    options.artifacts = artifacts_.get();
    server_ = *service::ControllerServer::Create(options);
    auto channel =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials());
    search_ = nas::v1::SearchService::NewStub(channel);
    worker_ = nas::v1::WorkerService::NewStub(channel);
  }

  Code Run(const Call& call, const std::string& token) {
    grpc::ClientContext context;
    if (!token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    return call(search_.get(), worker_.get(), &context);
  }

 private:
  FakeClock clock_;
  std::unique_ptr<storage::TrialStore> store_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<artifacts::ArtifactStore> artifacts_;
  std::unique_ptr<service::ControllerServer> server_;
  static inline int instances_ = 0;
  std::unique_ptr<nas::v1::SearchService::Stub> search_;
  std::unique_ptr<nas::v1::WorkerService::Stub> worker_;
};

TEST(TokenMatrixTest, EveryRpcAnswersEveryCallerAsTheTableSays) {
  Controller open({});
  Controller guarded({{kAdmin, service::Role::kAdmin},
                      {kRead, service::Role::kRead},
                      {kWorker, service::Role::kWorker}});
  const std::vector<Row> matrix = Matrix();
  // Both services, every method, each once: the table follows the API.
  std::set<std::string> methods;
  for (const char* name : {"nas.v1.SearchService", "nas.v1.WorkerService"}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      methods.insert(service->method(i)->name());
    }
  }
  std::set<std::string> rows;
  for (const Row& row : matrix) rows.insert(row.rpc);
  EXPECT_EQ(rows, methods);
  EXPECT_EQ(rows.size(), matrix.size());
  for (const Row& row : matrix) {
    SCOPED_TRACE(row.rpc);
    EXPECT_EQ(open.Run(row.call, ""), row.unconfigured) << "unconfigured";
    EXPECT_EQ(open.Run(row.call, "anything"), row.unconfigured)
        << "unconfigured, any token";
    EXPECT_EQ(guarded.Run(row.call, ""), row.none) << "no token";
    EXPECT_EQ(guarded.Run(row.call, "wrong"), row.wrong) << "wrong token";
    EXPECT_EQ(guarded.Run(row.call, absl::StrCat(kAdmin, "x")), row.wrong)
        << "admin token with a suffix";
    EXPECT_EQ(guarded.Run(row.call, kRead), row.read) << "read token";
    EXPECT_EQ(guarded.Run(row.call, kWorker), row.worker) << "worker token";
    EXPECT_EQ(guarded.Run(row.call, kAdmin), row.admin) << "admin token";
  }
}

}  // namespace
}  // namespace nas::security
