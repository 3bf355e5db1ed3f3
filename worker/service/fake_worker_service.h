// FakeWorkerService: an in-process nas.v1.WorkerService for worker tests.
//
// It hands out queued leases (or retry_after_ms = 5 when none are left),
// registers every worker as "w-1", and records every request and the
// "authorization" metadata of every call. Thread-safe: all state is guarded
// by `mu`, which tests lock to read it. Header-only, testonly.
#ifndef NAS_WORKER_SERVICE_FAKE_WORKER_SERVICE_H_
#define NAS_WORKER_SERVICE_FAKE_WORKER_SERVICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/server_context.h"
#include "proto/nas/v1/service.grpc.pb.h"

namespace nas::worker::testing {

// An in-process WorkerService that hands out queued leases and records
// everything the worker says.
class FakeWorkerService final : public nas::v1::WorkerService::Service {
 public:
  void AddLease(const nas::v1::TrialLease& lease) {
    absl::MutexLock lock(&mu);
    pending.push_back(lease);
  }

  grpc::Status RegisterWorker(
      grpc::ServerContext* context,
      const nas::v1::RegisterWorkerRequest* request,
      nas::v1::RegisterWorkerResponse* response) override {
    absl::MutexLock lock(&mu);
    Record(context, *request, registrations);
    response->set_worker_id("w-1");
    response->set_heartbeat_interval_ms(heartbeat_interval_ms);
    return grpc::Status::OK;
  }
  grpc::Status AcquireTrial(grpc::ServerContext* context,
                            const nas::v1::AcquireTrialRequest* request,
                            nas::v1::AcquireTrialResponse* response) override {
    absl::MutexLock lock(&mu);
    Record(context, *request, acquires);
    if (request->worker_id() != "w-1") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown worker");
    }
    if (pending.empty()) {
      response->set_retry_after_ms(5);
    } else {
      *response->mutable_lease() = pending.front();
      pending.erase(pending.begin());
      if (!leased.HasBeenNotified()) leased.Notify();
    }
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext* context,
                         const nas::v1::HeartbeatRequest* request,
                         nas::v1::HeartbeatResponse* response) override {
    absl::MutexLock lock(&mu);
    Record(context, *request, heartbeats);
    response->set_stop(stop_on_heartbeat);
    return grpc::Status::OK;
  }
  grpc::Status ReportProgress(
      grpc::ServerContext* context,
      const nas::v1::ReportProgressRequest* request,
      nas::v1::ReportProgressResponse* response) override {
    absl::MutexLock lock(&mu);
    Record(context, *request, progress);
    response->set_decision(stop_on_progress ? nas::v1::STOP
                                            : nas::v1::CONTINUE);
    return grpc::Status::OK;
  }
  grpc::Status CompleteTrial(grpc::ServerContext* context,
                             const nas::v1::CompleteTrialRequest* request,
                             nas::v1::CompleteTrialResponse*) override {
    absl::MutexLock lock(&mu);
    Record(context, *request, completed);
    return complete_code == grpc::StatusCode::OK
               ? grpc::Status::OK
               : grpc::Status(complete_code, "refused by the fake");
  }
  grpc::Status FailTrial(grpc::ServerContext* context,
                         const nas::v1::FailTrialRequest* request,
                         nas::v1::FailTrialResponse*) override {
    absl::MutexLock lock(&mu);
    Record(context, *request, failed);
    return grpc::Status::OK;
  }

  grpc::Status UploadWeights(
      grpc::ServerContext* context,
      grpc::ServerReader<nas::v1::UploadWeightsRequest>* reader,
      nas::v1::UploadWeightsResponse*) override {
    nas::v1::UploadWeightsRequest message;
    nas::v1::UploadWeightsHeader header;
    std::string bytes;
    int chunks = 0;
    while (reader->Read(&message)) {
      if (message.has_header()) header = message.header();
      if (!message.chunk().empty()) ++chunks;
      bytes += message.chunk();
    }
    absl::MutexLock lock(&mu);
    Record(context, header, weight_headers);
    weights.push_back(bytes);
    weight_chunks.push_back(chunks);
    // Recorded before CompleteTrial, as the controller needs.
    weights_before_complete.push_back(completed.size());
    return upload_code == grpc::StatusCode::OK
               ? grpc::Status::OK
               : grpc::Status(upload_code, "refused by the fake");
  }

  absl::Mutex mu;
  std::vector<nas::v1::TrialLease> pending ABSL_GUARDED_BY(mu);
  // UploadWeights answers with this code (recording the upload anyway).
  grpc::StatusCode upload_code ABSL_GUARDED_BY(mu) = grpc::StatusCode::OK;
  std::vector<nas::v1::UploadWeightsHeader> weight_headers ABSL_GUARDED_BY(mu);
  std::vector<std::string> weights ABSL_GUARDED_BY(mu);
  std::vector<int> weight_chunks ABSL_GUARDED_BY(mu);
  // completed.size() when each upload arrived.
  std::vector<size_t> weights_before_complete ABSL_GUARDED_BY(mu);
  int64_t heartbeat_interval_ms ABSL_GUARDED_BY(mu) = 10;
  bool stop_on_progress ABSL_GUARDED_BY(mu) = false;
  bool stop_on_heartbeat ABSL_GUARDED_BY(mu) = false;
  // CompleteTrial answers with this code (recording the request anyway).
  grpc::StatusCode complete_code ABSL_GUARDED_BY(mu) = grpc::StatusCode::OK;
  std::vector<std::string> auth ABSL_GUARDED_BY(mu);
  std::vector<nas::v1::RegisterWorkerRequest> registrations ABSL_GUARDED_BY(mu);
  std::vector<nas::v1::AcquireTrialRequest> acquires ABSL_GUARDED_BY(mu);
  std::vector<nas::v1::HeartbeatRequest> heartbeats ABSL_GUARDED_BY(mu);
  std::vector<nas::v1::ReportProgressRequest> progress ABSL_GUARDED_BY(mu);
  std::vector<nas::v1::CompleteTrialRequest> completed ABSL_GUARDED_BY(mu);
  std::vector<nas::v1::FailTrialRequest> failed ABSL_GUARDED_BY(mu);
  absl::Notification leased;

 private:
  // Logs `request` and the call's authorization metadata.
  template <typename Request>
  void Record(grpc::ServerContext* context, const Request& request,
              std::vector<Request>& log) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = context->client_metadata().find("authorization");
    auth.push_back(it == context->client_metadata().end()
                       ? ""
                       : std::string(it->second.data(), it->second.size()));
    log.push_back(request);
  }
};

}  // namespace nas::worker::testing

#endif  // NAS_WORKER_SERVICE_FAKE_WORKER_SERVICE_H_
