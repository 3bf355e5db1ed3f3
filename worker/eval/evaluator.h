// Evaluator: the seam between the worker's gRPC loop and whatever evaluates a
// trial (training with LibTorch, or a tabular-benchmark lookup), plus the
// failure-reason convention every evaluator uses.
//
// An evaluator's failure is an absl::Status carrying a short machine-readable
// reason ("diverged", "oom", ...) as a payload; the loop sends it in
// FailTrialRequest.reason. Implementations say whether they are thread-safe;
// the loop calls one Evaluate at a time. Callbacks are owned by the caller and
// must outlive the Evaluate call.
#ifndef NAS_WORKER_EVAL_EVALUATOR_H_
#define NAS_WORKER_EVAL_EVALUATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/nas/v1/job.pb.h"
#include "proto/nas/v1/service.pb.h"

namespace nas::worker {

// Failure reasons (FailTrialRequest.reason).
inline constexpr char kReasonDiverged[] = "diverged";
inline constexpr char kReasonOom[] = "oom";
inline constexpr char kReasonInvalid[] = "invalid_argument";
inline constexpr char kReasonUnsupported[] = "unsupported";
inline constexpr char kReasonPreempted[] = "preempted";
inline constexpr char kReasonError[] = "error";

// A status with `reason` attached.
absl::Status FailureWithReason(absl::StatusCode code, absl::string_view reason,
                               absl::string_view message);
// The attached reason; without one: "oom" for RESOURCE_EXHAUSTED,
// "invalid_argument" for INVALID_ARGUMENT, otherwise "error".
std::string FailureReason(const absl::Status& status);

// Metric (EvalResult.metrics) with the training throughput in images/s; the
// loop exports it as nas_worker_images_per_second.
inline constexpr char kMetricImagesPerSecond[] = "images_per_second";

// Everything a finished evaluation reports (CompleteTrialRequest).
struct EvalResult {
  std::map<std::string, double> metrics;
  std::vector<nas::v1::DeviceLatency> latencies;
  int64_t params = 0;
  int64_t macs = 0;
  // The evaluation ended early because should_stop() or on_progress said so.
  bool stopped_early = false;
  // The trained network's weights file (worker/model/weights.h), uploaded
  // before CompleteTrial; empty when there are none.
  std::string weights;
};

struct EvalCallbacks {
  // Called after every step (epoch, 1-based) with that step's metrics.
  // Returns false to stop the evaluation. May be empty.
  std::function<bool(int64_t step, const std::map<std::string, double>&)>
      on_progress;
  // Polled often (e.g. every batch); true stops the evaluation. May be empty.
  std::function<bool()> should_stop;

  bool ShouldStop() const { return should_stop && should_stop(); }
};

class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // Evaluates the leased trial. Never throws.
  virtual absl::StatusOr<EvalResult> Evaluate(
      const nas::v1::TrialLease& lease, const EvalCallbacks& callbacks) = 0;
};

}  // namespace nas::worker

#endif  // NAS_WORKER_EVAL_EVALUATOR_H_
