// SearchServiceImpl: nas.v1.SearchService (users: jobs and results) as a thin
// shell over scheduler::Scheduler. Each handler validates the request, calls
// one core method and converts its status once (serve.h).
//
// WatchJob streams the job's state after every change (changes in between
// are coalesced) until the job ends or the client goes away; at most
// `max_watchers` streams run at once (RESOURCE_EXHAUSTED beyond).
//
// CreateJob replaces strategy.compound_scaling.base_trial_id by the elastic
// genotype of that trial (found with `get_trial`; INVALID_ARGUMENT naming the
// field when it is unknown or not elastic) before the scheduler sees the
// spec, so the stored spec is self-contained.
//
// DownloadWeights streams a trial's stored weights from the artifact store
// (controller/artifacts); without one every trial has none (NOT_FOUND).
//
// Thread-safety: thread-safe. Ownership: the scheduler and authenticator are
// not owned and must outlive the service.
#ifndef NAS_CONTROLLER_SERVICE_SEARCH_SERVICE_H_
#define NAS_CONTROLLER_SERVICE_SEARCH_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "controller/artifacts/artifact_store.h"
#include "controller/scheduler/scheduler.h"
#include "controller/service/auth.h"
#include "proto/nas/v1/service.grpc.pb.h"

namespace nas::service {

// A trial by id (TrialStore::GetTrial without measurements).
using TrialLookup =
    std::function<absl::StatusOr<nas::v1::Trial>(int64_t trial_id)>;

class SearchServiceImpl final : public nas::v1::SearchService::Service {
 public:
  SearchServiceImpl(scheduler::Scheduler* scheduler, const Authenticator* auth,
                    int max_watchers, TrialLookup get_trial = nullptr,
                    artifacts::ArtifactStore* artifacts = nullptr)
      : scheduler_(scheduler),
        auth_(auth),
        max_watchers_(max_watchers),
        get_trial_(std::move(get_trial)),
        artifacts_(artifacts) {}

  grpc::Status CreateJob(grpc::ServerContext* context,
                         const nas::v1::CreateJobRequest* request,
                         nas::v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context,
                      const nas::v1::GetJobRequest* request,
                      nas::v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context,
                        const nas::v1::ListJobsRequest* request,
                        nas::v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context,
                         const nas::v1::JobRequest* request,
                         nas::v1::Job* response) override;
  grpc::Status PauseJob(grpc::ServerContext* context,
                        const nas::v1::JobRequest* request,
                        nas::v1::Job* response) override;
  grpc::Status ResumeJob(grpc::ServerContext* context,
                         const nas::v1::JobRequest* request,
                         nas::v1::Job* response) override;
  grpc::Status ExtendBudget(grpc::ServerContext* context,
                            const nas::v1::ExtendBudgetRequest* request,
                            nas::v1::Job* response) override;
  grpc::Status ListTrials(grpc::ServerContext* context,
                          const nas::v1::ListTrialsRequest* request,
                          nas::v1::ListTrialsResponse* response) override;
  grpc::Status GetParetoFront(grpc::ServerContext* context,
                              const nas::v1::GetParetoFrontRequest* request,
                              nas::v1::ListTrialsResponse* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context,
                        const nas::v1::WatchJobRequest* request,
                        grpc::ServerWriter<nas::v1::JobEvent>* writer) override;
  grpc::Status DownloadWeights(
      grpc::ServerContext* context,
      const nas::v1::DownloadWeightsRequest* request,
      grpc::ServerWriter<nas::v1::DownloadWeightsResponse>* writer) override;

 private:
  // The shell of the RPCs that take a job id and return the job.
  grpc::Status ServeJob(grpc::ServerContext* context, Permission needed,
                        const std::string& job_id, nas::v1::Job* response,
                        absl::StatusOr<nas::v1::Job> (
                            scheduler::Scheduler::*method)(const std::string&));
  absl::Status Watch(grpc::ServerContext* context, const std::string& job_id,
                     grpc::ServerWriter<nas::v1::JobEvent>* writer);

  scheduler::Scheduler* const scheduler_;
  const Authenticator* const auth_;
  const int max_watchers_;
  const TrialLookup get_trial_;
  artifacts::ArtifactStore* const artifacts_;  // may be null
  std::atomic<int> watchers_{0};
};

}  // namespace nas::service

#endif  // NAS_CONTROLLER_SERVICE_SEARCH_SERVICE_H_
