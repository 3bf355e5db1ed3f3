// TrainEvaluator's Once-for-All tasks (common/task/ofa_task.h):
// "ofa_train" trains the elastic supernet of the lease's space by
// progressive shrinking (worker/oneshot/ofa_train.h) and saves it under
// --supernet_dir; "ofa_subnet" loads that checkpoint (kept in memory for the
// next subnet), slices the lease's genotype out of it, recalibrates its
// batch norms on training images and measures it like a trained network:
// validation accuracy, params, MACs, latency, and returns that standalone
// subnet as the trial's weights. Nothing is trained.
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/task/ofa_task.h"
#include "glog/logging.h"
#include "worker/eval/measure.h"
#include "worker/eval/train_evaluator.h"
#include "worker/model/network.h"
#include "worker/model/plan.h"
#include "worker/model/weights.h"
#include "worker/oneshot/ofa_supernet.h"
#include "worker/oneshot/ofa_train.h"
#include "worker/train/trainer.h"

namespace nas::worker {
namespace {

// Training images that re-estimate a subnet's batch-norm statistics.
constexpr int64_t kCalibrationImages = 1024;
constexpr int kCalibrationBatch = 128;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start)
      .count();
}

}  // namespace

absl::StatusOr<std::string> TrainEvaluator::SupernetPath(
    const nas::v1::TrialLease& lease, const std::string& relative) const {
  if (!lease.search_space().has_elastic()) {
    return FailureWithReason(
        absl::StatusCode::kInvalidArgument, kReasonInvalid,
        absl::StrCat("search_space: task ", lease.task(), " needs elastic"));
  }
  if (options_.supernet_dir.empty()) {
    return FailureWithReason(
        absl::StatusCode::kFailedPrecondition, kReasonUnsupported,
        absl::StrCat("--supernet_dir: not set; task ", lease.task(),
                     " keeps the OFA supernet in a directory every worker "
                     "of the job shares"));
  }
  RETURN_IF_ERROR(nas::task::CheckCheckpointPath(relative));
  return (std::filesystem::path(options_.supernet_dir) / relative).string();
}

NetworkOptions TrainEvaluator::OfaNetworkOptions(const TrialData& data) {
  NetworkOptions options;
  options.in_channels = data.full->channels;
  options.image_size = data.full->height;
  return options;
}

absl::StatusOr<EvalResult> TrainEvaluator::EvaluateOfaTrain(
    const nas::v1::TrialLease& lease, const nas::v1::TrainEvaluation& config,
    const EvalCallbacks& callbacks) {
  ASSIGN_OR_RETURN(nas::task::OfaTrainConfig task,
                   nas::task::ParseOfaTrainConfig(lease.task_config()));
  ASSIGN_OR_RETURN(const std::string path, SupernetPath(lease, task.checkpoint));
  if (config.channels() != 0 || config.cells() != 0) {
    return FailureWithReason(
        absl::StatusCode::kInvalidArgument, kReasonInvalid,
        "evaluation.train.channels/cells: proxy sizes do not apply to an OFA "
        "supernet");
  }
  ASSIGN_OR_RETURN(TrialData data, LoadTrialData(config));
  const nas::v1::ElasticSpace& space = lease.search_space().elastic();
  const NetworkOptions net_options = OfaNetworkOptions(data);
  torch::manual_seed(config.seed());
  ASSIGN_OR_RETURN(std::shared_ptr<OfaSupernet> net,
                   OfaSupernet::Create(space, net_options));
  try {
    net->to(options_.device);
  } catch (const std::exception& e) {
    return StatusFromException(e, "moving the OFA supernet to the device");
  }
  OfaTrainOptions options;
  options.epochs_per_phase = task.epochs_per_phase;
  options.batch_size = config.batch_size();
  options.learning_rate = config.learning_rate();
  options.momentum = config.momentum();
  options.weight_decay = config.weight_decay();
  options.seed = config.seed();
  if (config.dataset() == "cifar10") options.augmentation = {4, true};
  OfaTrainCallbacks train_callbacks;
  train_callbacks.should_stop = callbacks.should_stop;
  train_callbacks.on_epoch = [&](const OfaEpoch& e) {
    if (!callbacks.on_progress) return true;
    return callbacks.on_progress(
        e.epoch, {{"phase", e.phase},
                  {"largest_accuracy", e.largest_accuracy},
                  {"train_loss", e.train_loss},
                  {"train_accuracy", e.train_accuracy},
                  {"epoch_seconds", e.seconds}});
  };
  ASSIGN_OR_RETURN(
      OfaTrainSummary summary,
      TrainProgressiveShrinking(*net, space, data.train, data.validation,
                                data.norm, options, options_.device,
                                train_callbacks));
  EvalResult result;
  result.stopped_early = summary.stopped;
  result.params = CountParameters(*net);
  auto& m = result.metrics;
  m["train_loss"] = summary.last.train_loss;
  m["train_accuracy"] = summary.last.train_accuracy;
  m["train_seconds"] = summary.seconds;
  m[kMetricImagesPerSecond] = summary.images_per_second;
  m["epochs"] = summary.epochs_completed;
  m["supernet_params"] = static_cast<double>(result.params);
  if (summary.stopped) return result;  // no checkpoint of a partial supernet

  RETURN_IF_ERROR(SaveOfaSupernet(*net, path));
  // The two ends of the space, recalibrated like every searched subnet.
  for (const auto& [name, genotype] :
       {std::pair<std::string, nas::v1::ElasticGenotype>{
            "largest", nas::task::LargestSubnet(space)},
        {"smallest", nas::task::SmallestSubnet(space)}}) {
    ASSIGN_OR_RETURN(std::shared_ptr<Network> subnet,
                     CalibratedSubnet(*net, genotype, data.train, data.norm,
                                      options_.device, kCalibrationImages,
                                      kCalibrationBatch));
    ASSIGN_OR_RETURN(m[name + "_accuracy"],
                     Accuracy(*subnet, data.validation, data.norm,
                              options_.device,
                              TrainOptions().eval_batch_size));
  }
  return result;
}

absl::StatusOr<std::shared_ptr<OfaSupernet>> TrainEvaluator::CachedSupernet(
    const nas::v1::ElasticSpace& space, const NetworkOptions& net_options,
    const std::string& path) {
  std::error_code error;
  const auto mtime = std::filesystem::last_write_time(path, error);
  const std::string key =
      error ? "" : absl::StrCat(path, "|", mtime.time_since_epoch().count());
  absl::MutexLock lock(&ofa_mu_);
  if (!key.empty() && key == ofa_key_) return ofa_net_;
  ASSIGN_OR_RETURN(std::shared_ptr<OfaSupernet> net,
                   LoadOfaSupernet(space, net_options, path));
  try {
    net->to(options_.device);
  } catch (const std::exception& e) {
    return StatusFromException(e, "moving the OFA supernet to the device");
  }
  ofa_key_ = key;
  ofa_net_ = net;
  return net;
}

absl::StatusOr<EvalResult> TrainEvaluator::EvaluateOfaSubnet(
    const nas::v1::TrialLease& lease, const nas::v1::TrainEvaluation& config,
    const EvalCallbacks& callbacks) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(nas::task::OfaSubnetConfig task,
                   nas::task::ParseOfaSubnetConfig(lease.task_config()));
  ASSIGN_OR_RETURN(const std::string path, SupernetPath(lease, task.checkpoint));
  if (!lease.architecture().has_elastic()) {
    return FailureWithReason(absl::StatusCode::kInvalidArgument, kReasonInvalid,
                             "architecture: task ofa_subnet needs an elastic "
                             "genotype");
  }
  ASSIGN_OR_RETURN(TrialData data, LoadTrialData(config));
  const NetworkOptions net_options = OfaNetworkOptions(data);
  ASSIGN_OR_RETURN(NetworkPlan plan, MakePlan(lease.architecture(),
                                              lease.search_space(),
                                              net_options));
  const NetworkCost cost = AnalyticCost(plan);
  ASSIGN_OR_RETURN(std::shared_ptr<OfaSupernet> net,
                   CachedSupernet(lease.search_space().elastic(), net_options,
                                  path));
  ASSIGN_OR_RETURN(
      std::shared_ptr<Network> subnet,
      CalibratedSubnet(*net, lease.architecture().elastic(), data.train,
                       data.norm, options_.device, kCalibrationImages,
                       kCalibrationBatch));
  EvalResult result;
  result.params = cost.params;
  result.macs = cost.macs;
  auto& m = result.metrics;
  ASSIGN_OR_RETURN(m["accuracy"],
                   Accuracy(*subnet, data.validation, data.norm,
                            options_.device, TrainOptions().eval_batch_size));
  m["params"] = static_cast<double>(cost.params);
  m["macs"] = static_cast<double>(cost.macs);
  m["calibration_images"] =
      static_cast<double>(std::min(kCalibrationImages, data.train.size()));
  if (callbacks.ShouldStop()) return result;
  if (config.report_test()) {
    ASSIGN_OR_RETURN(std::shared_ptr<const Dataset> test,
                     GetDataset(config, false));
    ASSIGN_OR_RETURN(m["test_accuracy"],
                     Accuracy(*subnet, *test, data.norm, options_.device,
                              TrainOptions().eval_batch_size));
  }
  for (int batch : {1, options_.latency_batch_size}) {
    if (batch <= 0) continue;
    ASSIGN_OR_RETURN(nas::v1::DeviceLatency latency,
                     MeasureLatency(*subnet, options_.device, batch,
                                    data.full->channels, data.full->height,
                                    options_.latency));
    if (batch == 1) m["latency_ms"] = latency.median_ms();
    result.latencies.push_back(std::move(latency));
  }
  m["eval_seconds"] = SecondsSince(start);
  // The standalone subnet as measured (sliced weights, recalibrated batch
  // norms) is the trial's weights file: `nasctl export` gives a network
  // that runs without the supernet.
  if (options_.save_weights) {
    absl::StatusOr<std::string> weights = SerializeWeights(
        *subnet, InputSpec{data.full->channels, data.full->height,
                           data.norm.mean, data.norm.stddev});
    if (weights.ok()) {
      result.weights = *std::move(weights);
    } else {
      LOG(WARNING) << "trial " << lease.trial_id()
                   << ": subnet weights not saved: " << weights.status();
    }
  }
  return result;
}

}  // namespace nas::worker
