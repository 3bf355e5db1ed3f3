#include "worker/eval/train_evaluator.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ATen/Parallel.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "common/task/compound_scaling_task.h"
#include "common/task/darts_task.h"
#include "common/task/ofa_task.h"
#include "glog/logging.h"
#include "torch/cuda.h"
#include "torch/utils.h"
#include "worker/model/network.h"
#include "worker/model/plan.h"
#include "worker/train/trainer.h"

namespace nas::worker {
namespace {

constexpr double kBytesPerMb = 1024.0 * 1024.0;

// TrainEvaluation with the documented defaults filled in.
nas::v1::TrainEvaluation WithDefaults(nas::v1::TrainEvaluation c) {
  if (c.epochs() <= 0) c.set_epochs(1);
  if (c.batch_size() <= 0) c.set_batch_size(64);
  if (c.learning_rate() <= 0) c.set_learning_rate(0.025);
  if (c.momentum() <= 0) c.set_momentum(0.9);
  if (c.weight_decay() <= 0) c.set_weight_decay(3e-4);
  return c;
}

// Default validation size, shrunk for small (e.g. synthetic) training sets.
int64_t ValidationSize(const nas::v1::TrainEvaluation& c, int64_t train_size) {
  if (c.validation_size() > 0) return c.validation_size();
  const int64_t dflt = c.dataset() == "cifar10" ? 5000 : 10000;
  return std::min(dflt, std::max<int64_t>(1, train_size / 6));
}

}  // namespace

absl::StatusOr<torch::Device> ParseDevice(const std::string& spec) {
  if (spec == "cpu") return torch::Device(torch::kCPU);
  int index = 0;
  if (spec != "cuda") {
    absl::string_view rest = spec;
    if (!absl::ConsumePrefix(&rest, "cuda:") ||
        !absl::SimpleAtoi(rest, &index) || index < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--device: '", spec, "' is not cpu, cuda or cuda:N"));
    }
  }
  if (!torch::cuda::is_available()) {
    return absl::FailedPreconditionError(
        absl::StrCat("--device=", spec,
                     ": CUDA is not available in this LibTorch build or "
                     "on this machine; use --device=cpu"));
  }
  if (index >= static_cast<int>(torch::cuda::device_count())) {
    return absl::FailedPreconditionError(
        absl::StrCat("--device=", spec, ": only ", torch::cuda::device_count(),
                     " CUDA devices"));
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

absl::StatusOr<std::unique_ptr<TrainEvaluator>> TrainEvaluator::Create(
    const Options& options) {
  if (options.threads > 0) at::set_num_threads(options.threads);
  return std::unique_ptr<TrainEvaluator>(new TrainEvaluator(options));
}

absl::StatusOr<std::shared_ptr<const Dataset>> TrainEvaluator::GetDataset(
    const nas::v1::TrainEvaluation& config, bool train) {
  std::string dir = config.data_dir();
  if (config.dataset() == "fashion_mnist") {
    if (dir.empty()) dir = options_.fashion_mnist_dir;
  } else if (config.dataset() == "cifar10") {
    if (dir.empty()) {
      return absl::InvalidArgumentError(
          "evaluation.train.data_dir: required for cifar10");
    }
  } else {
    return FailureWithReason(
        absl::StatusCode::kInvalidArgument, kReasonUnsupported,
        absl::StrCat("evaluation.train.dataset: unknown dataset '",
                     config.dataset(), "'"));
  }
  const std::string key =
      absl::StrCat(config.dataset(), "|", dir, "|", train ? "train" : "test");
  return datasets_.Get(
      key, [&]() -> absl::StatusOr<std::shared_ptr<const Dataset>> {
        absl::StatusOr<Dataset> loaded = config.dataset() == "cifar10"
                                             ? LoadCifar10(dir, train)
                                             : LoadFashionMnist(dir, train);
        if (!loaded.ok()) return loaded.status();
        return std::make_shared<const Dataset>(*std::move(loaded));
      });
}

absl::StatusOr<TrainEvaluator::TrialData> TrainEvaluator::LoadTrialData(
    const nas::v1::TrainEvaluation& config) {
  TrialData data;
  ASSIGN_OR_RETURN(data.full, GetDataset(config, true));
  ASSIGN_OR_RETURN(SplitIndices indices,
                   SplitTrainValidationIndices(
                       data.full->size(),
                       ValidationSize(config, data.full->size()), config.seed()));
  if (config.train_subset() > 0 &&
      config.train_subset() < indices.train.size()) {
    indices.train.resize(config.train_subset());
  }
  data.train = data.full->Select(indices.train);
  data.validation = data.full->Select(indices.validation);
  data.norm = ComputeNormalization(data.train);
  return data;
}

absl::StatusOr<double> TrainEvaluator::ValidationAccuracy(
    const nas::v1::TrainEvaluation& config, Network& net,
    const InputSpec& input) {
  ASSIGN_OR_RETURN(TrialData data, LoadTrialData(WithDefaults(config)));
  if (input.channels != data.full->channels ||
      input.image_size != data.full->height) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the network takes ", input.channels, "x", input.image_size, "x",
        input.image_size, " images but ", config.dataset(), " has ",
        data.full->channels, "x", data.full->height, "x", data.full->width));
  }
  try {
    net.to(options_.device);
  } catch (const std::exception& e) {
    return StatusFromException(e, "moving the network to the device");
  }
  return Accuracy(net, data.validation, Normalization{input.mean, input.stddev},
                  options_.device, TrainOptions().eval_batch_size);
}

absl::StatusOr<EvalResult> TrainEvaluator::Evaluate(
    const nas::v1::TrialLease& lease, const EvalCallbacks& callbacks) {
  if (!lease.evaluation().has_train()) {
    return absl::InvalidArgumentError("evaluation: not a train evaluation");
  }
  const nas::v1::TrainEvaluation config =
      WithDefaults(lease.evaluation().train());
  if (lease.task() == nas::task::kDartsSearch) {
    return EvaluateDartsSearch(lease, config, callbacks);
  }
  if (lease.task() == nas::task::kScaledTrain) {
    return EvaluateScaledTrain(lease, callbacks);
  }
  if (lease.task() == nas::task::kOfaTrain) {
    return EvaluateOfaTrain(lease, config, callbacks);
  }
  if (lease.task() == nas::task::kOfaSubnet) {
    return EvaluateOfaSubnet(lease, config, callbacks);
  }
  if (!lease.task().empty()) {
    return FailureWithReason(
        absl::StatusCode::kInvalidArgument, kReasonUnsupported,
        absl::StrCat("task: this worker cannot run task '", lease.task(), "'"));
  }
  ASSIGN_OR_RETURN(TrialData data, LoadTrialData(config));
  const std::shared_ptr<const Dataset>& full = data.full;
  const Dataset& train = data.train;
  const Dataset& validation = data.validation;
  const Normalization& norm = data.norm;

  NetworkOptions net_options;
  net_options.in_channels = full->channels;
  net_options.image_size = full->height;
  net_options.channels_override = config.channels();
  net_options.cells_override = config.cells();
  ASSIGN_OR_RETURN(
      NetworkPlan plan,
      MakePlan(lease.architecture(), lease.search_space(), net_options));
  const NetworkCost cost = AnalyticCost(plan);
  torch::manual_seed(config.seed());
  ASSIGN_OR_RETURN(std::shared_ptr<Network> net, BuildNetwork(plan));
  try {
    net->to(options_.device);
  } catch (const std::exception& e) {
    return StatusFromException(e, "moving the network to the device");
  }

  TrainOptions train_options;
  train_options.epochs = config.epochs();
  train_options.batch_size = config.batch_size();
  train_options.learning_rate = config.learning_rate();
  train_options.momentum = config.momentum();
  train_options.weight_decay = config.weight_decay();
  train_options.seed = config.seed();
  if (config.dataset() == "cifar10") train_options.augmentation = {4, true};
  TrainCallbacks train_callbacks;
  train_callbacks.should_stop = callbacks.should_stop;
  train_callbacks.on_epoch = [&](const EpochStats& s) {
    if (!callbacks.on_progress) return true;
    return callbacks.on_progress(s.epoch, {{"accuracy", s.validation_accuracy},
                                           {"train_loss", s.train_loss},
                                           {"train_accuracy", s.train_accuracy},
                                           {"epoch_seconds", s.seconds}});
  };

  ResetPeakResident();
  const int64_t rss_before = ResidentBytes();
  ASSIGN_OR_RETURN(TrainSummary summary,
                   Train(*net, train, validation, norm, train_options,
                         options_.device, train_callbacks));
  EvalResult result;
  result.params = cost.params;
  result.macs = cost.macs;
  result.stopped_early = summary.stopped;
  auto& m = result.metrics;
  m["accuracy"] = summary.last.validation_accuracy;
  m["train_loss"] = summary.last.train_loss;
  m["train_accuracy"] = summary.last.train_accuracy;
  m["train_seconds"] = summary.train_seconds;
  m[kMetricImagesPerSecond] = summary.images_per_second;
  m["epochs"] = summary.epochs_completed;
  m["params"] = static_cast<double>(cost.params);
  m["macs"] = static_cast<double>(cost.macs);
  if (callbacks.ShouldStop()) return result;  // Preempted or told to stop.
  if (options_.save_weights && !summary.stopped) {
    absl::StatusOr<std::string> weights = SerializeWeights(
        *net, InputSpec{full->channels, full->height, norm.mean, norm.stddev});
    if (weights.ok()) {
      result.weights = *std::move(weights);
    } else {
      LOG(WARNING) << "trial " << lease.trial_id()
                   << ": weights not saved: " << weights.status();
    }
  }

  if (config.report_test()) {
    ASSIGN_OR_RETURN(std::shared_ptr<const Dataset> test,
                     GetDataset(config, false));
    ASSIGN_OR_RETURN(m["test_accuracy"],
                     Accuracy(*net, *test, norm, options_.device,
                                     TrainOptions().eval_batch_size));
  }
  for (int batch : {1, options_.latency_batch_size}) {
    if (batch <= 0) continue;
    ASSIGN_OR_RETURN(
        nas::v1::DeviceLatency latency,
        MeasureLatency(*net, options_.device, batch, full->channels,
                       full->height, options_.latency));
    if (batch == 1) m["latency_ms"] = latency.median_ms();
    result.latencies.push_back(std::move(latency));
  }
  m["peak_memory_mb"] =
      std::max<int64_t>(0, PeakResidentBytes() - rss_before) / kBytesPerMb;
  return result;
}

}  // namespace nas::worker
