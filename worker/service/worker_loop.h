// WorkerLoop: the worker's conversation with the controller's WorkerService.
//
// Run() registers, then repeatedly leases a trial (sleeping retry_after_ms
// when there is none), evaluates it with the Evaluator for its evaluation
// kind while a background thread heartbeats at the controller's interval,
// reports every epoch with ReportProgress (stopping when answered STOP or
// when a heartbeat says stop), and ends the trial with CompleteTrial or
// FailTrial. When the controller is unreachable it retries with capped
// exponential backoff; when it forgets the worker it registers again. A
// finished result is never dropped because the controller is down:
// CompleteTrial is retried (backoff capped at max_backoff) until the
// controller accepts or refuses it (e.g. FAILED_PRECONDITION for a stale
// lease), or until Shutdown(). A result carrying trained weights
// (EvalResult.weights) first uploads them with UploadWeights, in chunks
// (retried a few times while the controller is unreachable; a failed upload
// never fails the trial; a controller answering UNIMPLEMENTED is not asked
// again). Optional WorkerMetrics count trial outcomes,
// busy/idle time and training throughput.
// Shutdown() (e.g. on SIGTERM) hands a trial in progress back with
// FailTrial(reason "preempted") unless it has already finished, and makes
// Run() return OK.
//
// Thread-safety: Run() is called once, from one thread; Shutdown() and
// trials_done() may be called from any thread. The stub is shared; the
// evaluators and the metrics are not owned and must outlive the loop (either
// evaluator may be null: that evaluation kind is then not offered and is
// failed as "unsupported").
#ifndef NAS_WORKER_SERVICE_WORKER_LOOP_H_
#define NAS_WORKER_SERVICE_WORKER_LOOP_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "proto/nas/v1/service.grpc.pb.h"
#include "worker/eval/evaluator.h"
#include "worker/service/worker_metrics.h"

namespace nas::worker {

struct WorkerLoopOptions {
  // name, device, device_model, threads. Capabilities are filled in from the
  // evaluators given to Create().
  nas::v1::WorkerInfo info;
  // Sent as "authorization: Bearer <token>" on every call (empty: none).
  std::string auth_token;
  absl::Duration rpc_timeout = absl::Seconds(30);
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
  // Used when the controller does not say (heartbeat_interval_ms == 0).
  absl::Duration default_heartbeat_interval = absl::Seconds(10);
  // Attempts of FailTrial while the controller is unreachable. CompleteTrial
  // is retried without limit (a finished result is worth waiting for) unless
  // the loop is shutting down.
  int max_report_attempts = 8;
  // Not owned; may be null (no metrics).
  WorkerMetrics* metrics = nullptr;
  // Return from Run() after this many trials (0: run until Shutdown()).
  int64_t max_trials = 0;
  // UploadWeights sends the weights in pieces of this size.
  int64_t weights_chunk_bytes = int64_t{1} << 20;
};

class WorkerLoop {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerLoop>> Create(
      const WorkerLoopOptions& options,
      std::shared_ptr<nas::v1::WorkerService::StubInterface> stub,
      Evaluator* train_evaluator, Evaluator* table_evaluator);

  WorkerLoop(const WorkerLoop&) = delete;
  WorkerLoop& operator=(const WorkerLoop&) = delete;

  // Serves trials until Shutdown() or max_trials. OK on a clean stop.
  absl::Status Run();
  // Asks Run() to hand back the current trial and return. Thread-safe.
  void Shutdown();
  // Trials ended (completed, failed or handed back) so far.
  int64_t trials_done() const { return trials_done_.load(); }

 private:
  struct TrialState;

  WorkerLoop(const WorkerLoopOptions& options,
             std::shared_ptr<nas::v1::WorkerService::StubInterface> stub,
             Evaluator* train_evaluator, Evaluator* table_evaluator);

  // One unary call with deadline and auth metadata; the status converted once.
  template <typename Request, typename Response>
  absl::Status Call(
      grpc::Status (nas::v1::WorkerService::StubInterface::*method)(
          grpc::ClientContext*, const Request&, Response*),
      const Request& request, Response* response);

  // How a CompleteTrial / FailTrial report ended.
  enum class Delivery { kAccepted, kRefused, kUndelivered };

  absl::Status Register();
  // Evaluates and reports one trial; returns its outcome (kOutcome*).
  const char* RunTrial(const nas::v1::TrialLease& lease);
  void HeartbeatUntilDone(const nas::v1::TrialLease& lease, TrialState& state);
  // Sends CompleteTrial or FailTrial, retrying while the controller is down:
  // at most `max_attempts` times (0: until accepted or refused; while
  // shutting down at most 3 times).
  template <typename Request, typename Response>
  Delivery Report(grpc::Status (nas::v1::WorkerService::StubInterface::*method)(
                      grpc::ClientContext*, const Request&, Response*),
                  const Request& request, int max_attempts);
  // Uploads `weights` for the lease; best effort (logs why it did not).
  void UploadWeights(const nas::v1::TrialLease& lease,
                     const std::string& weights);
  absl::Status UploadWeightsOnce(const nas::v1::TrialLease& lease,
                                 const std::string& weights);
  // Reports the failure; returns the trial's outcome (`outcome` if delivered).
  const char* Fail(const nas::v1::TrialLease& lease, const std::string& reason,
                   const std::string& message,
                   const char* outcome = kOutcomeFailed);

  // Sleeps `d` or until Shutdown(); returns false if shutting down.
  bool Sleep(absl::Duration d);
  // Sleeps the current backoff and doubles it (capped).
  void Backoff();
  bool shutting_down() const { return shutdown_.load(); }

  const WorkerLoopOptions options_;
  const std::shared_ptr<nas::v1::WorkerService::StubInterface> stub_;
  Evaluator* const train_evaluator_;
  Evaluator* const table_evaluator_;

  // Owned by the Run() thread.
  std::string worker_id_;
  absl::Duration heartbeat_interval_;
  absl::Duration backoff_;
  bool weights_unsupported_ = false;  // The controller keeps no weights.

  std::atomic<bool> shutdown_{false};
  std::atomic<int64_t> trials_done_{0};
  absl::Mutex mu_;  // Wakes Sleep() on Shutdown().
};

}  // namespace nas::worker

#endif  // NAS_WORKER_SERVICE_WORKER_LOOP_H_
