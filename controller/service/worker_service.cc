#include "controller/service/worker_service.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/service/serve.h"

namespace nas::service {
namespace {

// Bounds of the repeated fields of worker reports, far above what a worker
// sends (a DARTS search epoch reports under 1,000 metrics): a report beyond
// them is refused before it costs the store anything.
constexpr int kMaxMetrics = 4096;
constexpr int kMaxLatencies = 256;
constexpr int kMaxCapabilities = 256;

// INVALID_ARGUMENT naming `field` when it has more than `max` entries.
absl::Status CheckSize(const char* field, int size, int max) {
  if (size <= max) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": at most ", max, " entries, got ", size));
}

// Every report about a trial names the worker, the trial and the attempt.
absl::Status CheckReport(const std::string& worker_id, int64_t trial_id,
                         int32_t attempt) {
  if (worker_id.empty())
    return absl::InvalidArgumentError("worker_id is required");
  if (trial_id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("trial_id must be > 0, got ", trial_id));
  }
  if (attempt <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("attempt must be > 0, got ", attempt));
  }
  return absl::OkStatus();
}

// The shell of the RPCs about one attempt of a trial: `core` returns
// StatusOr<Response>.
template <typename Request, typename Response, typename Core>
grpc::Status ServeReport(const Authenticator& auth,
                         grpc::ServerContext* context, const Request& request,
                         Response* response, Core core) {
  return Serve(auth, Permission::kWork, context, [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckReport(request.worker_id(), request.trial_id(),
                                request.attempt()));
    ASSIGN_OR_RETURN(*response, core());
    return absl::OkStatus();
  });
}

}  // namespace

grpc::Status WorkerServiceImpl::RegisterWorker(
    grpc::ServerContext* context, const nas::v1::RegisterWorkerRequest* request,
    nas::v1::RegisterWorkerResponse* response) {
  return Serve(*auth_, Permission::kWork, context, [&]() -> absl::Status {
    if (request->info().name().empty()) {
      return absl::InvalidArgumentError("info.name is required");
    }
    RETURN_IF_ERROR(CheckSize("info.capabilities",
                              request->info().capabilities_size(),
                              kMaxCapabilities));
    ASSIGN_OR_RETURN(*response, scheduler_->RegisterWorker(request->info()));
    return absl::OkStatus();
  });
}

grpc::Status WorkerServiceImpl::AcquireTrial(
    grpc::ServerContext* context, const nas::v1::AcquireTrialRequest* request,
    nas::v1::AcquireTrialResponse* response) {
  return Serve(*auth_, Permission::kWork, context, [&]() -> absl::Status {
    if (request->worker_id().empty()) {
      return absl::InvalidArgumentError("worker_id is required");
    }
    ASSIGN_OR_RETURN(*response, scheduler_->AcquireTrial(request->worker_id()));
    return absl::OkStatus();
  });
}

grpc::Status WorkerServiceImpl::Heartbeat(
    grpc::ServerContext* context, const nas::v1::HeartbeatRequest* request,
    nas::v1::HeartbeatResponse* response) {
  return ServeReport(*auth_, context, *request, response,
                     [&] { return scheduler_->Heartbeat(*request); });
}

grpc::Status WorkerServiceImpl::ReportProgress(
    grpc::ServerContext* context, const nas::v1::ReportProgressRequest* request,
    nas::v1::ReportProgressResponse* response) {
  return ServeReport(
      *auth_, context, *request, response,
      [&]() -> absl::StatusOr<nas::v1::ReportProgressResponse> {
        if (request->measurement().step() < 0) {
          return absl::InvalidArgumentError("measurement.step must be >= 0");
        }
        RETURN_IF_ERROR(CheckSize("measurement.metrics",
                                  request->measurement().metrics_size(),
                                  kMaxMetrics));
        return scheduler_->ReportProgress(*request);
      });
}

grpc::Status WorkerServiceImpl::CompleteTrial(
    grpc::ServerContext* context, const nas::v1::CompleteTrialRequest* request,
    nas::v1::CompleteTrialResponse* response) {
  return ServeReport(*auth_, context, *request, response,
                     [&]() -> absl::StatusOr<nas::v1::CompleteTrialResponse> {
                       RETURN_IF_ERROR(CheckSize("metrics",
                                                 request->metrics_size(),
                                                 kMaxMetrics));
                       RETURN_IF_ERROR(CheckSize("latencies",
                                                 request->latencies_size(),
                                                 kMaxLatencies));
                       RETURN_IF_ERROR(scheduler_->CompleteTrial(*request));
                       return nas::v1::CompleteTrialResponse();
                     });
}

grpc::Status WorkerServiceImpl::FailTrial(
    grpc::ServerContext* context, const nas::v1::FailTrialRequest* request,
    nas::v1::FailTrialResponse* response) {
  return ServeReport(
      *auth_, context, *request, response,
      [&]() -> absl::StatusOr<nas::v1::FailTrialResponse> {
        if (request->reason().empty()) {
          return absl::InvalidArgumentError("reason is required");
        }
        return scheduler_->FailTrial(*request);
      });
}

grpc::Status WorkerServiceImpl::UploadWeights(
    grpc::ServerContext* context,
    grpc::ServerReader<nas::v1::UploadWeightsRequest>* reader,
    nas::v1::UploadWeightsResponse* response) {
  return Serve(*auth_, Permission::kWork, context, [&]() -> absl::Status {
    if (artifacts_ == nullptr) {
      return absl::UnimplementedError(
          "this controller keeps no weights (no artifact store)");
    }
    nas::v1::UploadWeightsRequest message;
    if (!reader->Read(&message) || !message.has_header()) {
      return absl::InvalidArgumentError(
          "header: required in the first message");
    }
    const nas::v1::UploadWeightsHeader& header = message.header();
    RETURN_IF_ERROR(
        CheckReport(header.worker_id(), header.trial_id(), header.attempt()));
    ASSIGN_OR_RETURN(std::unique_ptr<artifacts::ArtifactStore::Upload> upload,
                     artifacts_->BeginWeightsUpload(
                         header.worker_id(),
                         {header.trial_id(), header.attempt()},
                         header.size_bytes()));
    RETURN_IF_ERROR(upload->Append(message.chunk()));
    while (reader->Read(&message)) {
      if (message.has_header()) {
        return absl::InvalidArgumentError(
            "header: allowed in the first message only");
      }
      RETURN_IF_ERROR(upload->Append(message.chunk()));
    }
    if (context->IsCancelled()) {
      return absl::CancelledError("the worker cancelled the upload");
    }
    ASSIGN_OR_RETURN(storage::ArtifactRecord record, upload->Commit());
    response->set_sha256(record.sha256);
    return absl::OkStatus();
  });
}

}  // namespace nas::service
