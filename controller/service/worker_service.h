// WorkerServiceImpl: nas.v1.WorkerService (workers: register, lease, report)
// as a thin shell over scheduler::Scheduler. Each handler validates the
// request, calls one core method and converts its status once (serve.h).
// UploadWeights hands the streamed bytes to the artifact store
// (controller/artifacts), which fences them by trial and attempt; without
// one it answers UNIMPLEMENTED (workers then stop uploading).
//
// Thread-safety: thread-safe. Ownership: the scheduler and authenticator are
// not owned and must outlive the service.
#ifndef NAS_CONTROLLER_SERVICE_WORKER_SERVICE_H_
#define NAS_CONTROLLER_SERVICE_WORKER_SERVICE_H_

#include "controller/artifacts/artifact_store.h"
#include "controller/scheduler/scheduler.h"
#include "controller/service/auth.h"
#include "proto/nas/v1/service.grpc.pb.h"

namespace nas::service {

class WorkerServiceImpl final : public nas::v1::WorkerService::Service {
 public:
  WorkerServiceImpl(scheduler::Scheduler* scheduler, const Authenticator* auth,
                    artifacts::ArtifactStore* artifacts = nullptr)
      : scheduler_(scheduler), auth_(auth), artifacts_(artifacts) {}

  grpc::Status RegisterWorker(
      grpc::ServerContext* context,
      const nas::v1::RegisterWorkerRequest* request,
      nas::v1::RegisterWorkerResponse* response) override;
  grpc::Status AcquireTrial(grpc::ServerContext* context,
                            const nas::v1::AcquireTrialRequest* request,
                            nas::v1::AcquireTrialResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context,
                         const nas::v1::HeartbeatRequest* request,
                         nas::v1::HeartbeatResponse* response) override;
  grpc::Status ReportProgress(
      grpc::ServerContext* context,
      const nas::v1::ReportProgressRequest* request,
      nas::v1::ReportProgressResponse* response) override;
  grpc::Status CompleteTrial(grpc::ServerContext* context,
                             const nas::v1::CompleteTrialRequest* request,
                             nas::v1::CompleteTrialResponse* response) override;
  grpc::Status FailTrial(grpc::ServerContext* context,
                         const nas::v1::FailTrialRequest* request,
                         nas::v1::FailTrialResponse* response) override;
  grpc::Status UploadWeights(
      grpc::ServerContext* context,
      grpc::ServerReader<nas::v1::UploadWeightsRequest>* reader,
      nas::v1::UploadWeightsResponse* response) override;

 private:
  scheduler::Scheduler* const scheduler_;
  const Authenticator* const auth_;
  artifacts::ArtifactStore* const artifacts_;  // may be null
};

}  // namespace nas::service

#endif  // NAS_CONTROLLER_SERVICE_WORKER_SERVICE_H_
