// Fuzz target: every gRPC request handler of SearchService and WorkerService
// (controller/service/), called in-process on a fresh Scheduler over an
// in-memory SQLite store for each input, without authentication (none
// configured) and without a network: the handlers' own validation and
// everything behind it.
//
// An input is a sequence of at most 16 calls, each
//   u8 method (mod 16), u16 little-endian n, n bytes of the binary request;
// methods 0-8 are CreateJob, GetJob, ListJobs, CancelJob, PauseJob,
// ResumeJob, ExtendBudget, ListTrials, GetParetoFront (WatchJob needs a
// stream writer and is left out; its validation is RequireJobId's, as for
// GetJob), 9-14 RegisterWorker, AcquireTrial, Heartbeat, ReportProgress,
// CompleteTrial, FailTrial, and 15 advances the fake clock by
// (first byte of the request) x 10 s and runs Scheduler::Maintain().
// So that a sequence can reach a real job, trial and lease, a job_id or
// worker_id of "$" means the last created job / registered worker, and a
// trial_id of -1 (with attempt -1) the last leased trial.
//
// NAS_FUZZ_VERBOSE=1 prints each call's status (to check what a seed
// reaches). Besides sanitizer reports, the target aborts when a handler returns
// INTERNAL, UNKNOWN or DATA_LOSS: bad requests must be refused with a
// client error, never break the controller.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <type_traits>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "controller/scheduler/scheduler.h"
#include "controller/service/auth.h"
#include "controller/service/search_service.h"
#include "controller/service/worker_service.h"
#include "glog/logging.h"
#include "grpcpp/server_context.h"
#include "proto/nas/v1/service.pb.h"
#include "storage/store_url.h"

namespace {

using grpc::StatusCode;

constexpr int kMaxCalls = 16;

void CheckStatus(const grpc::Status& status, int method) {
  const StatusCode code = status.error_code();
  static const bool verbose = std::getenv("NAS_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "method %d -> %d %s\n", method,
                 static_cast<int>(code), status.error_message().c_str());
  }
  if (code == StatusCode::INTERNAL || code == StatusCode::UNKNOWN ||
      code == StatusCode::DATA_LOSS) {
    std::fprintf(stderr, "method %d returned %d: %s\n", method,
                 static_cast<int>(code), status.error_message().c_str());
    std::abort();
  }
}

class Controller {
 public:
  bool Start() {
    auto store = nas::storage::OpenTrialStore("sqlite::memory:");
    if (!store.ok()) return false;
    store_ = *std::move(store);
    nas::scheduler::SchedulerOptions options;
    options.store = store_.get();
    options.clock = &clock_;
    auto scheduler = nas::scheduler::Scheduler::Create(options);
    if (!scheduler.ok()) return false;
    scheduler_ = *std::move(scheduler);
    search_ = std::make_unique<nas::service::SearchServiceImpl>(
        scheduler_.get(), &auth_, /*max_watchers=*/4);
    worker_ = std::make_unique<nas::service::WorkerServiceImpl>(
        scheduler_.get(), &auth_);
    return true;
  }

  // Runs one call; false when `bytes` is not a request of that method.
  bool Call(int method, absl::string_view bytes) {
    switch (method) {
      case 0:
        return Run<nas::v1::CreateJobRequest, nas::v1::Job>(
            method, bytes, &nas::service::SearchServiceImpl::CreateJob,
            search_.get(), [this](const nas::v1::Job& job) { job_ = job.id(); });
      case 1:
        return Run<nas::v1::GetJobRequest, nas::v1::Job>(
            method, bytes, &nas::service::SearchServiceImpl::GetJob,
            search_.get());
      case 2:
        return Run<nas::v1::ListJobsRequest, nas::v1::ListJobsResponse>(
            method, bytes, &nas::service::SearchServiceImpl::ListJobs,
            search_.get());
      case 3:
        return Run<nas::v1::JobRequest, nas::v1::Job>(
            method, bytes, &nas::service::SearchServiceImpl::CancelJob,
            search_.get());
      case 4:
        return Run<nas::v1::JobRequest, nas::v1::Job>(
            method, bytes, &nas::service::SearchServiceImpl::PauseJob,
            search_.get());
      case 5:
        return Run<nas::v1::JobRequest, nas::v1::Job>(
            method, bytes, &nas::service::SearchServiceImpl::ResumeJob,
            search_.get());
      case 6:
        return Run<nas::v1::ExtendBudgetRequest, nas::v1::Job>(
            method, bytes, &nas::service::SearchServiceImpl::ExtendBudget,
            search_.get());
      case 7:
        return Run<nas::v1::ListTrialsRequest, nas::v1::ListTrialsResponse>(
            method, bytes, &nas::service::SearchServiceImpl::ListTrials,
            search_.get());
      case 8:
        return Run<nas::v1::GetParetoFrontRequest,
                   nas::v1::ListTrialsResponse>(
            method, bytes, &nas::service::SearchServiceImpl::GetParetoFront,
            search_.get());
      case 9:
        return Run<nas::v1::RegisterWorkerRequest,
                   nas::v1::RegisterWorkerResponse>(
            method, bytes, &nas::service::WorkerServiceImpl::RegisterWorker,
            worker_.get(), [this](const nas::v1::RegisterWorkerResponse& r) {
              worker_id_ = r.worker_id();
            });
      case 10:
        return Run<nas::v1::AcquireTrialRequest,
                   nas::v1::AcquireTrialResponse>(
            method, bytes, &nas::service::WorkerServiceImpl::AcquireTrial,
            worker_.get(), [this](const nas::v1::AcquireTrialResponse& r) {
              if (r.has_lease()) {
                trial_id_ = r.lease().trial_id();
                attempt_ = r.lease().attempt();
              }
            });
      case 11:
        return Run<nas::v1::HeartbeatRequest, nas::v1::HeartbeatResponse>(
            method, bytes, &nas::service::WorkerServiceImpl::Heartbeat,
            worker_.get());
      case 12:
        return Run<nas::v1::ReportProgressRequest,
                   nas::v1::ReportProgressResponse>(
            method, bytes, &nas::service::WorkerServiceImpl::ReportProgress,
            worker_.get());
      case 13:
        return Run<nas::v1::CompleteTrialRequest,
                   nas::v1::CompleteTrialResponse>(
            method, bytes, &nas::service::WorkerServiceImpl::CompleteTrial,
            worker_.get());
      case 14:
        return Run<nas::v1::FailTrialRequest, nas::v1::FailTrialResponse>(
            method, bytes, &nas::service::WorkerServiceImpl::FailTrial,
            worker_.get());
      default: {
        const int steps = bytes.empty() ? 1 : static_cast<uint8_t>(bytes[0]);
        clock_.Advance(absl::Seconds(10 * steps));
        // Maintain reports store trouble; nothing a client sent may cause it.
        const absl::Status status = scheduler_->Maintain();
        if (!status.ok() && (absl::IsInternal(status) ||
                             absl::IsUnknown(status) ||
                             absl::IsDataLoss(status))) {
          std::fprintf(stderr, "Maintain: %s\n", status.ToString().c_str());
          std::abort();
        }
        return true;
      }
    }
  }

 private:
  // "$" / -1 name the last job, worker and leased trial (file comment).
  template <typename Request>
  void Substitute(Request* request) {
    if constexpr (std::is_same_v<Request, nas::v1::RegisterWorkerRequest> ||
                  std::is_same_v<Request, nas::v1::CreateJobRequest> ||
                  std::is_same_v<Request, nas::v1::ListJobsRequest>) {
      return;
    } else if constexpr (std::is_same_v<Request,
                                        nas::v1::AcquireTrialRequest>) {
      if (request->worker_id() == "$") request->set_worker_id(worker_id_);
    } else if constexpr (std::is_same_v<Request, nas::v1::HeartbeatRequest> ||
                         std::is_same_v<Request,
                                        nas::v1::ReportProgressRequest> ||
                         std::is_same_v<Request,
                                        nas::v1::CompleteTrialRequest> ||
                         std::is_same_v<Request, nas::v1::FailTrialRequest>) {
      if (request->worker_id() == "$") request->set_worker_id(worker_id_);
      if (request->trial_id() == -1) request->set_trial_id(trial_id_);
      if (request->attempt() == -1) request->set_attempt(attempt_);
    } else {
      if (request->job_id() == "$") request->set_job_id(job_);
    }
  }

  template <typename Request, typename Response, typename Service,
            typename Method, typename OnOk>
  bool Run(int method, absl::string_view bytes, Method handler,
           Service* service, OnOk on_ok) {
    Request request;
    if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return false;
    }
    Substitute(&request);
    grpc::ServerContext context;
    Response response;
    const grpc::Status status =
        (service->*handler)(&context, &request, &response);
    CheckStatus(status, method);
    if (status.ok()) on_ok(response);
    return true;
  }

  template <typename Request, typename Response, typename Service,
            typename Method>
  bool Run(int method, absl::string_view bytes, Method handler,
           Service* service) {
    return Run<Request, Response>(method, bytes, handler, service,
                                  [](const Response&) {});
  }

  nas::FakeClock clock_;
  nas::service::Authenticator auth_{{}};
  std::unique_ptr<nas::storage::TrialStore> store_;
  std::unique_ptr<nas::scheduler::Scheduler> scheduler_;
  std::unique_ptr<nas::service::SearchServiceImpl> search_;
  std::unique_ptr<nas::service::WorkerServiceImpl> worker_;
  std::string job_;
  std::string worker_id_;
  int64_t trial_id_ = 0;
  int32_t attempt_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  FLAGS_minloglevel = google::GLOG_ERROR;  // jobs log their lifecycle
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Controller controller;
  if (!controller.Start()) std::abort();
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  for (int call = 0; call < kMaxCalls && input.size() >= 3; ++call) {
    const int method = static_cast<uint8_t>(input[0]) % 16;
    const size_t n = static_cast<uint8_t>(input[1]) |
                     (static_cast<uint8_t>(input[2]) << 8);
    input.remove_prefix(3);
    if (n > input.size()) return 0;
    controller.Call(method, input.substr(0, n));
    input.remove_prefix(n);
  }
  return 0;
}
