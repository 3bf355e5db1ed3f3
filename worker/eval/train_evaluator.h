// TrainEvaluator: evaluates `evaluation.train` trials by building the
// architecture (worker/model), training it with LibTorch on the worker's
// device (worker/train), and measuring validation/test accuracy, latency at
// batch 1 and batch N, peak memory, parameters and MACs.
//
// Datasets are loaded once per (dataset, directory) and shared by later
// trials. Create() fixes the intra-op thread count when options.threads > 0.
// Evaluate is thread-compatible (the loop calls it from one thread); the
// dataset cache is internally synchronized. Metrics reported:
//   accuracy (validation top-1 in [0, 1]), train_loss, train_accuracy,
//   train_seconds, images_per_second (training throughput), epochs,
//   peak_memory_mb, latency_ms (batch-1 median),
//   params, macs, and test_accuracy when report_test is set.
// With options.save_weights, a training trial that ran every epoch also
// returns its trained weights (EvalResult.weights, worker/model/weights.h)
// for the loop to upload (scaled_train: of the network in the widened space,
// which LoadExportedNetwork rebuilds); darts_search returns none.
// A lease with task "darts_search" (common/task/darts_task.h) instead trains
// the DARTS supernet of the lease's space (worker/oneshot) and reports the
// search (EvaluateDartsSearch in darts_search_evaluator.cc); a lease with
// task "scaled_train" (common/task/compound_scaling_task.h) trains its
// elastic genotype in the space widened to admit it and adds alpha, beta,
// gamma, phi, scale_phase, resolution, width_multiplier and blocks to the
// metrics (scaled_train_evaluator.cc); tasks "ofa_train" and "ofa_subnet"
// (common/task/ofa_task.h) train the Once-for-All supernet into
// options.supernet_dir and measure subnets with its sliced weights
// (ofa_evaluator.cc; the last checkpoint loaded stays in memory); any other
// non-empty task fails with reason "unsupported".
#ifndef NAS_WORKER_EVAL_TRAIN_EVALUATOR_H_
#define NAS_WORKER_EVAL_TRAIN_EVALUATOR_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "torch/types.h"
#include "worker/data/dataset.h"
#include "worker/eval/evaluator.h"
#include "worker/eval/load_once_cache.h"
#include "worker/eval/measure.h"
#include "worker/model/network.h"
#include "worker/model/plan.h"
#include "worker/model/weights.h"
#include "worker/oneshot/ofa_supernet.h"

namespace nas::worker {

// Parses "cpu", "cuda" or "cuda:N". FAILED_PRECONDITION when CUDA is asked
// for but torch::cuda::is_available() is false (or N is out of range).
absl::StatusOr<torch::Device> ParseDevice(const std::string& spec);

class TrainEvaluator : public Evaluator {
 public:
  struct Options {
    torch::Device device = torch::kCPU;
    int threads = 0;              // > 0: torch::set_num_threads(threads).
    int latency_batch_size = 32;  // N of the batch-N latency (0: skip it).
    LatencyOptions latency;
    std::string fashion_mnist_dir = kFashionMnistDir;  // Default data_dir.
    // Return the trained weights of plain training trials.
    bool save_weights = true;
    // Root of the OFA checkpoints, shared by a job's workers (empty: the
    // OFA tasks fail with reason "unsupported").
    std::string supernet_dir;
  };

  static absl::StatusOr<std::unique_ptr<TrainEvaluator>> Create(
      const Options& options);

  absl::StatusOr<EvalResult> Evaluate(const nas::v1::TrialLease& lease,
                                      const EvalCallbacks& callbacks) override;

  // Top-1 accuracy of `net` on the validation split a trial with `config`
  // measures (same data, seed and size), its input normalized as `input`
  // says: for checking a network loaded from exported weights.
  absl::StatusOr<double> ValidationAccuracy(
      const nas::v1::TrainEvaluation& config, Network& net,
      const InputSpec& input);

 private:
  explicit TrainEvaluator(const Options& options) : options_(options) {}
  // The training or test set of `config`, loaded on first use.
  absl::StatusOr<std::shared_ptr<const Dataset>> GetDataset(
      const nas::v1::TrainEvaluation& config, bool train);

  // The seeded train/validation split of a trial and its normalization.
  struct TrialData {
    std::shared_ptr<const Dataset> full;
    Dataset train;
    Dataset validation;
    Normalization norm;
  };
  absl::StatusOr<TrialData> LoadTrialData(
      const nas::v1::TrainEvaluation& config);
  // task "darts_search"; `config` has its defaults applied.
  absl::StatusOr<EvalResult> EvaluateDartsSearch(
      const nas::v1::TrialLease& lease, const nas::v1::TrainEvaluation& config,
      const EvalCallbacks& callbacks);
  // task "scaled_train".
  absl::StatusOr<EvalResult> EvaluateScaledTrain(
      const nas::v1::TrialLease& lease, const EvalCallbacks& callbacks);
  // tasks "ofa_train" and "ofa_subnet"; `config` has its defaults applied.
  absl::StatusOr<EvalResult> EvaluateOfaTrain(
      const nas::v1::TrialLease& lease, const nas::v1::TrainEvaluation& config,
      const EvalCallbacks& callbacks);
  absl::StatusOr<EvalResult> EvaluateOfaSubnet(
      const nas::v1::TrialLease& lease, const nas::v1::TrainEvaluation& config,
      const EvalCallbacks& callbacks);
  // options_.supernet_dir / `relative`, after checking both and the space.
  absl::StatusOr<std::string> SupernetPath(const nas::v1::TrialLease& lease,
                                           const std::string& relative) const;
  static NetworkOptions OfaNetworkOptions(const TrialData& data);
  // The supernet at `path`, loaded again only when the file changed.
  absl::StatusOr<std::shared_ptr<OfaSupernet>> CachedSupernet(
      const nas::v1::ElasticSpace& space, const NetworkOptions& net_options,
      const std::string& path);

  const Options options_;
  LoadOnceCache<Dataset> datasets_;  // By dataset, directory and split.
  absl::Mutex ofa_mu_;
  std::string ofa_key_ ABSL_GUARDED_BY(ofa_mu_);  // path and mtime
  std::shared_ptr<OfaSupernet> ofa_net_ ABSL_GUARDED_BY(ofa_mu_);
};

}  // namespace nas::worker

#endif  // NAS_WORKER_EVAL_TRAIN_EVALUATOR_H_
