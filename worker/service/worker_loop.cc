#include "worker/service/worker_loop.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "glog/logging.h"

namespace nas::worker {

using nas::v1::WorkerService;

// Per-trial flags shared by the evaluation, the heartbeat thread and the
// progress callback.
struct WorkerLoop::TrialState {
  std::atomic<bool> stop_requested{false};  // Controller said stop.
  std::atomic<bool> lease_lost{false};      // Our attempt is stale.
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;  // Ends the heartbeat thread.
};

absl::StatusOr<std::unique_ptr<WorkerLoop>> WorkerLoop::Create(
    const WorkerLoopOptions& options,
    std::shared_ptr<WorkerService::StubInterface> stub,
    Evaluator* train_evaluator, Evaluator* table_evaluator) {
  if (stub == nullptr)
    return absl::InvalidArgumentError("no WorkerService stub");
  if (options.info.name().empty()) {
    return absl::InvalidArgumentError("worker name is empty");
  }
  if (train_evaluator == nullptr && table_evaluator == nullptr) {
    return absl::InvalidArgumentError("the worker has no evaluator");
  }
  return std::unique_ptr<WorkerLoop>(new WorkerLoop(
      options, std::move(stub), train_evaluator, table_evaluator));
}

WorkerLoop::WorkerLoop(const WorkerLoopOptions& options,
                       std::shared_ptr<WorkerService::StubInterface> stub,
                       Evaluator* train_evaluator, Evaluator* table_evaluator)
    : options_(options),
      stub_(std::move(stub)),
      train_evaluator_(train_evaluator),
      table_evaluator_(table_evaluator),
      heartbeat_interval_(options.default_heartbeat_interval),
      backoff_(options.initial_backoff) {}

template <typename Request, typename Response>
absl::Status WorkerLoop::Call(
    grpc::Status (WorkerService::StubInterface::*method)(grpc::ClientContext*,
                                                         const Request&,
                                                         Response*),
    const Request& request, Response* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(options_.rpc_timeout));
  if (!options_.auth_token.empty()) {
    context.AddMetadata("authorization", "Bearer " + options_.auth_token);
  }
  return FromGrpcStatus(((*stub_).*method)(&context, request, response));
}

void WorkerLoop::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_.store(true);
}

bool WorkerLoop::Sleep(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto stopping = [this] { return shutdown_.load(); };
  mu_.AwaitWithTimeout(absl::Condition(&stopping), d);
  return !shutdown_.load();
}

void WorkerLoop::Backoff() {
  Sleep(backoff_);
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
}

absl::Status WorkerLoop::Register() {
  nas::v1::RegisterWorkerRequest request;
  *request.mutable_info() = options_.info;
  request.mutable_info()->clear_capabilities();
  if (train_evaluator_ != nullptr)
    request.mutable_info()->add_capabilities("train");
  if (table_evaluator_ != nullptr)
    request.mutable_info()->add_capabilities("table");
  nas::v1::RegisterWorkerResponse response;
  absl::Status status =
      Call(&WorkerService::StubInterface::RegisterWorker, request, &response);
  if (!status.ok()) return status;
  worker_id_ = response.worker_id();
  heartbeat_interval_ =
      response.heartbeat_interval_ms() > 0
          ? absl::Milliseconds(response.heartbeat_interval_ms())
          : options_.default_heartbeat_interval;
  LOG(INFO) << "registered as worker " << worker_id_ << " (heartbeat every "
            << heartbeat_interval_ << ")";
  return absl::OkStatus();
}

absl::Status WorkerLoop::Run() {
  absl::Time idle_since = absl::Now();
  while (!shutting_down()) {
    if (worker_id_.empty()) {
      if (absl::Status s = Register(); !s.ok()) {
        LOG(WARNING) << "RegisterWorker failed, retrying in " << backoff_
                     << ": " << s;
        Backoff();
        continue;
      }
    }
    nas::v1::AcquireTrialRequest request;
    request.set_worker_id(worker_id_);
    nas::v1::AcquireTrialResponse response;
    absl::Status status =
        Call(&WorkerService::StubInterface::AcquireTrial, request, &response);
    if (!status.ok()) {
      LOG(WARNING) << "AcquireTrial failed, retrying in " << backoff_ << ": "
                   << status;
      // A controller that forgot us (restart without our registration).
      if (absl::IsNotFound(status) || absl::IsFailedPrecondition(status)) {
        worker_id_.clear();
      }
      Backoff();
      continue;
    }
    backoff_ = options_.initial_backoff;
    if (!response.has_lease()) {
      Sleep(
          absl::Milliseconds(std::max<int64_t>(1, response.retry_after_ms())));
      continue;
    }
    const absl::Time trial_start = absl::Now();
    if (options_.metrics != nullptr) {
      options_.metrics->AddIdle(trial_start - idle_since);
    }
    const char* outcome = RunTrial(response.lease());
    idle_since = absl::Now();
    if (options_.metrics != nullptr) {
      options_.metrics->AddBusy(idle_since - trial_start);
      options_.metrics->TrialEnded(outcome);
    }
    const int64_t done = trials_done_.fetch_add(1) + 1;
    if (options_.max_trials > 0 && done >= options_.max_trials) break;
  }
  if (options_.metrics != nullptr) {
    options_.metrics->AddIdle(absl::Now() - idle_since);
  }
  LOG(INFO) << "worker loop stopped after " << trials_done() << " trials";
  return absl::OkStatus();
}

void WorkerLoop::HeartbeatUntilDone(const nas::v1::TrialLease& lease,
                                    TrialState& state) {
  nas::v1::HeartbeatRequest request;
  request.set_worker_id(worker_id_);
  request.set_trial_id(lease.trial_id());
  request.set_attempt(lease.attempt());
  while (true) {
    {
      absl::MutexLock lock(&state.mu);
      if (state.mu.AwaitWithTimeout(absl::Condition(&state.done),
                                    heartbeat_interval_)) {
        return;
      }
    }
    nas::v1::HeartbeatResponse response;
    absl::Status status =
        Call(&WorkerService::StubInterface::Heartbeat, request, &response);
    if (status.ok()) {
      if (response.stop()) state.stop_requested.store(true);
    } else if (absl::IsFailedPrecondition(status) || absl::IsNotFound(status)) {
      LOG(WARNING) << "trial " << lease.trial_id() << " lease lost: " << status;
      state.lease_lost.store(true);
    } else {
      VLOG(1) << "heartbeat failed (will retry): " << status;
    }
  }
}

template <typename Request, typename Response>
WorkerLoop::Delivery WorkerLoop::Report(
    grpc::Status (WorkerService::StubInterface::*method)(grpc::ClientContext*,
                                                         const Request&,
                                                         Response*),
    const Request& request, int max_attempts) {
  absl::Duration backoff = options_.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    Response response;
    absl::Status status = Call(method, request, &response);
    if (status.ok()) return Delivery::kAccepted;
    const bool retriable = absl::IsUnavailable(status) ||
                           absl::IsDeadlineExceeded(status) ||
                           absl::IsAborted(status);
    if (!retriable) {
      LOG(WARNING) << "the controller refused the report of trial "
                   << request.trial_id() << ": " << status;
      return Delivery::kRefused;
    }
    // While shutting down, give up sooner: the lease will expire anyway.
    const int limit = shutting_down()
                          ? (max_attempts > 0 ? std::min(3, max_attempts) : 3)
                          : max_attempts;
    if (limit > 0 && attempt >= limit) {
      LOG(WARNING) << "reporting trial " << request.trial_id()
                   << " failed for good after " << attempt
                   << " attempts: " << status;
      return Delivery::kUndelivered;
    }
    LOG_EVERY_N(WARNING, 10) << "reporting trial " << request.trial_id()
                             << " failed (attempt " << attempt
                             << "), retrying: " << status;
    Sleep(backoff);  // Cut short by Shutdown(); the attempts then run out.
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::Status WorkerLoop::UploadWeightsOnce(const nas::v1::TrialLease& lease,
                                           const std::string& weights) {
  grpc::ClientContext context;
  // The usual deadline, plus a second per MiB.
  context.set_deadline(
      std::chrono::system_clock::now() +
      absl::ToChronoMilliseconds(options_.rpc_timeout +
                                 absl::Seconds(weights.size() >> 20)));
  if (!options_.auth_token.empty()) {
    context.AddMetadata("authorization", "Bearer " + options_.auth_token);
  }
  nas::v1::UploadWeightsResponse response;
  std::unique_ptr<grpc::ClientWriterInterface<nas::v1::UploadWeightsRequest>>
      writer = stub_->UploadWeights(&context, &response);
  nas::v1::UploadWeightsRequest header;
  header.mutable_header()->set_worker_id(worker_id_);
  header.mutable_header()->set_trial_id(lease.trial_id());
  header.mutable_header()->set_attempt(lease.attempt());
  header.mutable_header()->set_size_bytes(static_cast<int64_t>(weights.size()));
  bool sent = writer->Write(header);
  const size_t chunk = static_cast<size_t>(options_.weights_chunk_bytes);
  for (size_t at = 0; sent && at < weights.size(); at += chunk) {
    nas::v1::UploadWeightsRequest piece;
    piece.set_chunk(weights.substr(at, chunk));
    sent = writer->Write(piece);
  }
  if (sent) writer->WritesDone();
  return FromGrpcStatus(writer->Finish());
}

void WorkerLoop::UploadWeights(const nas::v1::TrialLease& lease,
                               const std::string& weights) {
  if (weights_unsupported_) return;
  absl::Duration backoff = options_.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    absl::Status status = UploadWeightsOnce(lease, weights);
    if (status.ok()) {
      VLOG(1) << "uploaded " << weights.size() << " bytes of weights of trial "
              << lease.trial_id();
      return;
    }
    if (absl::IsUnimplemented(status)) {
      LOG(WARNING) << "the controller keeps no weights; not uploading any "
                      "more: "
                   << status;
      weights_unsupported_ = true;
      return;
    }
    const bool retriable =
        absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
    if (!retriable || attempt >= 3 || shutting_down()) {
      LOG(WARNING) << "weights of trial " << lease.trial_id()
                   << " not uploaded: " << status;
      return;
    }
    Sleep(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

const char* WorkerLoop::Fail(const nas::v1::TrialLease& lease,
                             const std::string& reason,
                             const std::string& message, const char* outcome) {
  nas::v1::FailTrialRequest request;
  request.set_worker_id(worker_id_);
  request.set_trial_id(lease.trial_id());
  request.set_attempt(lease.attempt());
  request.set_reason(reason);
  request.set_message(message);
  LOG(INFO) << "trial " << lease.trial_id() << " failed (" << reason
            << "): " << message;
  return Report(&WorkerService::StubInterface::FailTrial, request,
                options_.max_report_attempts) == Delivery::kAccepted
             ? outcome
             : kOutcomeLost;
}

const char* WorkerLoop::RunTrial(const nas::v1::TrialLease& lease) {
  VLOG(1) << "leased trial " << lease.trial_id() << " attempt "
          << lease.attempt();
  Evaluator* evaluator = lease.evaluation().has_train()   ? train_evaluator_
                         : lease.evaluation().has_table() ? table_evaluator_
                                                          : nullptr;
  if (evaluator == nullptr) {
    return Fail(lease, kReasonUnsupported,
                "this worker cannot run the trial's evaluation kind");
  }
  TrialState state;
  std::thread heartbeat([&] { HeartbeatUntilDone(lease, state); });

  EvalCallbacks callbacks;
  callbacks.should_stop = [&] {
    return shutting_down() || state.stop_requested.load() ||
           state.lease_lost.load();
  };
  callbacks.on_progress = [&](int64_t step,
                              const std::map<std::string, double>& metrics) {
    nas::v1::ReportProgressRequest request;
    request.set_worker_id(worker_id_);
    request.set_trial_id(lease.trial_id());
    request.set_attempt(lease.attempt());
    request.mutable_measurement()->set_step(step);
    request.mutable_measurement()->set_time_ms(absl::ToUnixMillis(absl::Now()));
    request.mutable_measurement()->mutable_metrics()->insert(metrics.begin(),
                                                             metrics.end());
    nas::v1::ReportProgressResponse response;
    absl::Status status =
        Call(&WorkerService::StubInterface::ReportProgress, request, &response);
    if (status.ok() && response.decision() == nas::v1::STOP) {
      state.stop_requested.store(true);
    } else if (absl::IsFailedPrecondition(status) || absl::IsNotFound(status)) {
      state.lease_lost.store(true);
    } else if (!status.ok()) {
      VLOG(1) << "ReportProgress failed (continuing): " << status;
    }
    return !callbacks.should_stop();
  };
  absl::StatusOr<EvalResult> result = evaluator->Evaluate(lease, callbacks);
  {
    absl::MutexLock lock(&state.mu);
    state.done = true;
  }
  heartbeat.join();

  if (state.lease_lost.load()) {
    LOG(WARNING) << "dropping trial " << lease.trial_id() << ": lease lost";
    return kOutcomeLost;
  }
  const bool interrupted = !result.ok() || result->stopped_early;
  if (shutting_down() && interrupted && !state.stop_requested.load()) {
    return Fail(lease, kReasonPreempted, "the worker is shutting down",
                kOutcomePreempted);
  }
  if (!result.ok()) {
    return Fail(lease, FailureReason(result.status()),
                std::string(result.status().message()));
  }
  if (options_.metrics != nullptr) {
    if (auto it = result->metrics.find(kMetricImagesPerSecond);
        it != result->metrics.end()) {
      options_.metrics->SetImagesPerSecond(it->second);
    }
  }
  if (!result->weights.empty()) UploadWeights(lease, result->weights);
  nas::v1::CompleteTrialRequest request;
  request.set_worker_id(worker_id_);
  request.set_trial_id(lease.trial_id());
  request.set_attempt(lease.attempt());
  request.mutable_metrics()->insert(result->metrics.begin(),
                                    result->metrics.end());
  for (const auto& latency : result->latencies)
    *request.add_latencies() = latency;
  request.set_params(result->params);
  request.set_macs(result->macs);
  request.set_stopped_early(result->stopped_early);
  return Report(&WorkerService::StubInterface::CompleteTrial, request,
                /*max_attempts=*/0) == Delivery::kAccepted
             ? kOutcomeCompleted
             : kOutcomeLost;
}

}  // namespace nas::worker
