#include "controller/service/search_service.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/spec/field_error.h"
#include "common/status_macros.h"
#include "controller/service/serve.h"

namespace nas::service {
namespace {

// DownloadWeights sends the bytes in pieces of this size.
constexpr int64_t kWeightsChunkBytes = 1 << 20;

using nas::v1::Job;

constexpr int32_t kDefaultPageSize = 100;
constexpr int32_t kMaxPageSize = 10000;
// ListTrialsRequest.states: there are 6 trial states; more is a bad request.
constexpr int kMaxStates = 16;
// How long a watcher sleeps without a change before checking its client.
constexpr absl::Duration kWatchPoll = absl::Seconds(1);

absl::Status RequireJobId(const std::string& job_id) {
  if (job_id.empty()) return absl::InvalidArgumentError("job_id is required");
  return absl::OkStatus();
}

// A page: `limit` items from `offset` (page_token is the decimal offset).
struct Page {
  int32_t limit = kDefaultPageSize;
  int64_t offset = 0;
};

absl::StatusOr<Page> ParsePage(int32_t page_size,
                               const std::string& page_token) {
  Page page;
  if (page_size < 0 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size must be in [0, ", kMaxPageSize, "], got ", page_size));
  }
  if (page_size > 0) page.limit = page_size;
  if (!page_token.empty() &&
      (!absl::SimpleAtoi(page_token, &page.offset) || page.offset < 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad page_token ", spec::QuoteValue(page_token)));
  }
  return page;
}

// Moves at most page.limit items into `out`; returns the next page token
// ("" on the last page). `items` holds up to page.limit + 1 items.
template <typename T, typename Field>
std::string FillPage(const Page& page, std::vector<T> items, Field* out) {
  const bool more = static_cast<int64_t>(items.size()) > page.limit;
  if (more) items.resize(page.limit);
  for (T& item : items) *out->Add() = std::move(item);
  return more ? absl::StrCat(page.offset + page.limit) : "";
}

// Replaces compound_scaling.base_trial_id by that trial's elastic genotype.
absl::Status ResolveBaseTrial(const TrialLookup& get_trial,
                              nas::v1::JobSpec* spec) {
  if (!spec->strategy().compound_scaling().has_base_trial_id() ||
      get_trial == nullptr) {
    return absl::OkStatus();
  }
  nas::v1::CompoundScaling* scaling =
      spec->mutable_strategy()->mutable_compound_scaling();
  const int64_t id = scaling->base_trial_id();
  absl::StatusOr<nas::v1::Trial> trial = get_trial(id);
  if (absl::IsNotFound(trial.status())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "strategy.compound_scaling.base_trial_id: no trial ", id));
  }
  RETURN_IF_ERROR(trial.status());
  if (!trial->architecture().has_elastic()) {
    return absl::InvalidArgumentError(
        absl::StrCat("strategy.compound_scaling.base_trial_id: trial ", id,
                     " is not an elastic architecture"));
  }
  *scaling->mutable_base_architecture()->mutable_elastic() =
      trial->architecture().elastic();
  return absl::OkStatus();
}

bool IsEnded(nas::v1::JobState state) {
  return state == nas::v1::JOB_SUCCEEDED || state == nas::v1::JOB_CANCELLED ||
         state == nas::v1::JOB_FAILED;
}

}  // namespace

grpc::Status SearchServiceImpl::ServeJob(
    grpc::ServerContext* context, Permission needed, const std::string& job_id,
    Job* response,
    absl::StatusOr<Job> (scheduler::Scheduler::*method)(const std::string&)) {
  return Serve(*auth_, needed, context, [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireJobId(job_id));
    ASSIGN_OR_RETURN(*response, (scheduler_->*method)(job_id));
    return absl::OkStatus();
  });
}

grpc::Status SearchServiceImpl::CreateJob(
    grpc::ServerContext* context, const nas::v1::CreateJobRequest* request,
    Job* response) {
  return Serve(*auth_, Permission::kManage, context, [&]() -> absl::Status {
    if (!request->has_spec())
      return absl::InvalidArgumentError("spec is required");
    nas::v1::JobSpec spec = request->spec();
    RETURN_IF_ERROR(ResolveBaseTrial(get_trial_, &spec));
    ASSIGN_OR_RETURN(*response, scheduler_->CreateJob(std::move(spec),
                                                      request->request_id()));
    return absl::OkStatus();
  });
}

grpc::Status SearchServiceImpl::GetJob(grpc::ServerContext* context,
                                       const nas::v1::GetJobRequest* request,
                                       Job* response) {
  return ServeJob(context, Permission::kRead, request->job_id(), response,
                  &scheduler::Scheduler::GetJob);
}

grpc::Status SearchServiceImpl::ListJobs(
    grpc::ServerContext* context, const nas::v1::ListJobsRequest* request,
    nas::v1::ListJobsResponse* response) {
  return Serve(*auth_, Permission::kRead, context, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(Page page,
                     ParsePage(request->page_size(), request->page_token()));
    ASSIGN_OR_RETURN(
        std::vector<Job> jobs,
        scheduler_->ListJobs(request->state(), page.limit + 1, page.offset));
    response->set_next_page_token(
        FillPage(page, std::move(jobs), response->mutable_jobs()));
    return absl::OkStatus();
  });
}

grpc::Status SearchServiceImpl::CancelJob(grpc::ServerContext* context,
                                          const nas::v1::JobRequest* request,
                                          Job* response) {
  return ServeJob(context, Permission::kManage, request->job_id(), response,
                  &scheduler::Scheduler::CancelJob);
}

grpc::Status SearchServiceImpl::PauseJob(grpc::ServerContext* context,
                                         const nas::v1::JobRequest* request,
                                         Job* response) {
  return ServeJob(context, Permission::kManage, request->job_id(), response,
                  &scheduler::Scheduler::PauseJob);
}

grpc::Status SearchServiceImpl::ResumeJob(grpc::ServerContext* context,
                                          const nas::v1::JobRequest* request,
                                          Job* response) {
  return ServeJob(context, Permission::kManage, request->job_id(), response,
                  &scheduler::Scheduler::ResumeJob);
}

grpc::Status SearchServiceImpl::ExtendBudget(
    grpc::ServerContext* context, const nas::v1::ExtendBudgetRequest* request,
    Job* response) {
  return Serve(*auth_, Permission::kManage, context, [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireJobId(request->job_id()));
    ASSIGN_OR_RETURN(*response, scheduler_->ExtendBudget(
                                    request->job_id(), request->add_trials(),
                                    request->add_wall_seconds()));
    return absl::OkStatus();
  });
}

grpc::Status SearchServiceImpl::ListTrials(
    grpc::ServerContext* context, const nas::v1::ListTrialsRequest* request,
    nas::v1::ListTrialsResponse* response) {
  return Serve(*auth_, Permission::kRead, context, [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireJobId(request->job_id()));
    ASSIGN_OR_RETURN(Page page,
                     ParsePage(request->page_size(), request->page_token()));
    storage::TrialQuery query;
    query.job_id = request->job_id();
    if (request->states_size() > kMaxStates) {
      return absl::InvalidArgumentError(
          absl::StrCat("states: at most ", kMaxStates, " entries, got ",
                       request->states_size()));
    }
    for (int i = 0; i < request->states_size(); ++i) {
      const int state = request->states(i);
      if (!nas::v1::TrialState_IsValid(state) ||
          state == nas::v1::TRIAL_STATE_UNSPECIFIED) {
        return absl::InvalidArgumentError(
            absl::StrCat("states[", i, "]: unknown trial state ", state));
      }
      query.states.push_back(static_cast<nas::v1::TrialState>(state));
    }
    query.order = request->order();
    query.limit = page.limit + 1;
    query.offset = page.offset;
    query.with_measurements = request->with_measurements();
    ASSIGN_OR_RETURN(std::vector<nas::v1::Trial> trials,
                     scheduler_->ListTrials(std::move(query)));
    response->set_next_page_token(
        FillPage(page, std::move(trials), response->mutable_trials()));
    return absl::OkStatus();
  });
}

grpc::Status SearchServiceImpl::GetParetoFront(
    grpc::ServerContext* context, const nas::v1::GetParetoFrontRequest* request,
    nas::v1::ListTrialsResponse* response) {
  return Serve(*auth_, Permission::kRead, context, [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireJobId(request->job_id()));
    ASSIGN_OR_RETURN(std::vector<nas::v1::Trial> front,
                     scheduler_->ParetoFront(request->job_id()));
    for (nas::v1::Trial& trial : front)
      *response->add_trials() = std::move(trial);
    return absl::OkStatus();
  });
}

grpc::Status SearchServiceImpl::WatchJob(
    grpc::ServerContext* context, const nas::v1::WatchJobRequest* request,
    grpc::ServerWriter<nas::v1::JobEvent>* writer) {
  return Serve(*auth_, Permission::kRead, context, [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireJobId(request->job_id()));
    if (watchers_.fetch_add(1) >= max_watchers_) {
      watchers_.fetch_sub(1);
      return absl::ResourceExhaustedError(
          absl::StrCat("too many WatchJob streams (max ", max_watchers_, ")"));
    }
    absl::Status status = Watch(context, request->job_id(), writer);
    watchers_.fetch_sub(1);
    return status;
  });
}

absl::Status SearchServiceImpl::Watch(
    grpc::ServerContext* context, const std::string& job_id,
    grpc::ServerWriter<nas::v1::JobEvent>* writer) {
  // The current change count (returns at once: no count is -1).
  std::optional<int64_t> seen =
      scheduler_->WaitForJobChange(job_id, -1, absl::ZeroDuration());
  std::optional<int64_t> sent;
  while (!context->IsCancelled()) {
    if (!seen.has_value()) {
      return absl::UnavailableError("the controller is shutting down");
    }
    if (seen != sent) {
      nas::v1::JobEvent event;
      ASSIGN_OR_RETURN(*event.mutable_job(), scheduler_->GetJob(job_id));
      ASSIGN_OR_RETURN(std::optional<nas::v1::Trial> trial,
                       scheduler_->LastChangedTrial(job_id));
      if (trial.has_value()) *event.mutable_trial() = *std::move(trial);
      if (!writer->Write(event)) return absl::OkStatus();  // client gone
      if (IsEnded(event.job().state())) return absl::OkStatus();
      sent = seen;
    }
    seen = scheduler_->WaitForJobChange(job_id, *seen, kWatchPoll);
  }
  return absl::CancelledError("the client cancelled the stream");
}

grpc::Status SearchServiceImpl::DownloadWeights(
    grpc::ServerContext* context,
    const nas::v1::DownloadWeightsRequest* request,
    grpc::ServerWriter<nas::v1::DownloadWeightsResponse>* writer) {
  return Serve(*auth_, Permission::kRead, context, [&]() -> absl::Status {
    if (request->trial_id() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("trial_id must be > 0, got ", request->trial_id()));
    }
    if (artifacts_ == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          "trial ", request->trial_id(),
          " has no weights: this controller keeps none (no artifact store)"));
    }
    return artifacts_->ReadWeights(
        request->job_id(), request->trial_id(), kWeightsChunkBytes,
        [&](const nas::v1::WeightsInfo& info) {
          nas::v1::DownloadWeightsResponse response;
          *response.mutable_info() = info;
          return writer->Write(response);
        },
        [&](absl::string_view chunk) {
          nas::v1::DownloadWeightsResponse response;
          response.set_chunk(chunk.data(), chunk.size());
          return writer->Write(response);
        });
  });
}

}  // namespace nas::service
