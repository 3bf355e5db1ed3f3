#include "worker/oneshot/ofa_train.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/status_macros.h"
#include "common/task/ofa_task.h"
#include "glog/logging.h"
#include "torch/nn/functional.h"
#include "torch/nn/utils/clip_grad.h"
#include "torch/optim/sgd.h"
#include "torch/serialize.h"
#include "torch/torch.h"
#include "worker/eval/evaluator.h"
#include "worker/model/plan.h"
#include "worker/train/trainer.h"

namespace nas::worker {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start)
      .count();
}

}  // namespace

absl::StatusOr<double> SupernetAccuracy(
    OfaSupernet& net, const nas::v1::ElasticGenotype& genotype,
    const Dataset& data, const Normalization& norm,
    const torch::Device& device, int batch_size) {
  if (data.size() == 0) return 0.0;
  try {
    torch::NoGradGuard no_grad;
    net.eval();
    std::mt19937_64 unused_rng(0);
    std::vector<int64_t> indices(data.size());
    std::iota(indices.begin(), indices.end(), 0);
    int64_t correct = 0;
    for (int64_t start = 0; start < data.size(); start += batch_size) {
      const auto chunk = absl::MakeConstSpan(indices).subspan(start, batch_size);
      Batch batch = MakeBatch(data, chunk, norm, {}, unused_rng, device);
      ASSIGN_OR_RETURN(torch::Tensor logits, net.Forward(genotype, batch.images));
      correct += CountCorrect(logits, batch.labels);
    }
    return static_cast<double>(correct) / data.size();
  } catch (const std::exception& e) {
    return StatusFromException(e, "evaluating an OFA subnet");
  }
}

absl::StatusOr<OfaTrainSummary> TrainProgressiveShrinking(
    OfaSupernet& net, const nas::v1::ElasticSpace& space, const Dataset& train,
    const Dataset& validation, const Normalization& norm,
    const OfaTrainOptions& options, const torch::Device& device,
    const OfaTrainCallbacks& callbacks) {
  if (train.size() == 0 || options.batch_size < 1 ||
      options.epochs_per_phase < 1 || options.eval_batch_size < 1) {
    return absl::InvalidArgumentError(
        "OFA training needs examples, batch sizes >= 1 and epochs_per_phase "
        ">= 1");
  }
  const nas::v1::ElasticGenotype largest = nas::task::LargestSubnet(space);
  OfaTrainSummary summary;
  try {
    torch::optim::SGD optimizer(net.parameters(),
                                torch::optim::SGDOptions(options.learning_rate)
                                    .momentum(options.momentum)
                                    .weight_decay(options.weight_decay));
    std::mt19937_64 rng(options.seed);
    std::vector<int64_t> order(train.size());
    std::iota(order.begin(), order.end(), 0);
    const int64_t steps_per_epoch =
        (train.size() + options.batch_size - 1) / options.batch_size;
    const double phase_steps =
        static_cast<double>(steps_per_epoch) * options.epochs_per_phase;
    int64_t images_trained = 0;
    double step_seconds = 0;
    const auto start = std::chrono::steady_clock::now();
    int epoch = 0;
    for (int phase = 0; phase < nas::task::kOfaPhases; ++phase) {
      const nas::v1::ElasticSpace phase_space =
          nas::task::OfaPhaseSpace(space, phase);
      int64_t step = 0;  // within the phase
      for (int e = 0; e < options.epochs_per_phase; ++e) {
        ++epoch;
        const auto epoch_start = std::chrono::steady_clock::now();
        net.train();
        std::shuffle(order.begin(), order.end(), rng);
        double loss_sum = 0;
        int64_t correct = 0;
        const auto steps_start = std::chrono::steady_clock::now();
        for (int64_t first = 0; first < train.size();
             first += options.batch_size) {
          if (callbacks.should_stop && callbacks.should_stop()) {
            summary.stopped = true;
            summary.seconds = SecondsSince(start);
            return summary;
          }
          const double lr = 0.5 * options.learning_rate *
                            (1.0 + std::cos(M_PI * step / phase_steps));
          for (auto& group : optimizer.param_groups()) {
            static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
          }
          const nas::v1::ElasticGenotype subnet =
              phase == 0 ? largest : nas::task::SampleSubnet(phase_space, rng);
          if (callbacks.on_subnet) callbacks.on_subnet(phase, subnet);
          const auto chunk =
              absl::MakeConstSpan(order).subspan(first, options.batch_size);
          Batch batch =
              MakeBatch(train, chunk, norm, options.augmentation, rng, device);
          optimizer.zero_grad();
          ASSIGN_OR_RETURN(torch::Tensor logits,
                           net.Forward(subnet, batch.images));
          torch::Tensor loss =
              torch::nn::functional::cross_entropy(logits, batch.labels);
          const double loss_value = loss.item<double>();
          if (!std::isfinite(loss_value)) {
            return FailureWithReason(
                absl::StatusCode::kAborted, kReasonDiverged,
                absl::StrCat("OFA loss is ", loss_value, " in phase ",
                             nas::task::OfaPhaseName(phase), ", epoch ",
                             epoch));
          }
          loss.backward();
          if (options.grad_clip_norm > 0) {
            torch::nn::utils::clip_grad_norm_(net.parameters(),
                                              options.grad_clip_norm);
          }
          optimizer.step();
          loss_sum += loss_value * chunk.size();
          correct += CountCorrect(logits.detach(), batch.labels);
          images_trained += chunk.size();
          ++step;
        }
        step_seconds += SecondsSince(steps_start);
        summary.images_per_second =
            step_seconds > 0 ? images_trained / step_seconds : 0;
        OfaEpoch stats;
        stats.phase = phase;
        stats.epoch = epoch;
        stats.train_loss = loss_sum / train.size();
        stats.train_accuracy = static_cast<double>(correct) / train.size();
        ASSIGN_OR_RETURN(stats.largest_accuracy,
                         SupernetAccuracy(net, largest, validation, norm,
                                          device, options.eval_batch_size));
        stats.seconds = SecondsSince(epoch_start);
        VLOG(1) << "OFA phase " << nas::task::OfaPhaseName(phase) << " epoch "
                << epoch << " loss " << stats.train_loss << " largest val_acc "
                << stats.largest_accuracy;
        summary.epochs_completed = epoch;
        summary.last = stats;
        summary.seconds = SecondsSince(start);
        const bool last = phase == nas::task::kOfaPhases - 1 &&
                          e == options.epochs_per_phase - 1;
        if (callbacks.on_epoch && !callbacks.on_epoch(stats) && !last) {
          summary.stopped = true;
          return summary;
        }
      }
    }
  } catch (const std::exception& e) {
    return StatusFromException(e, "OFA progressive shrinking");
  }
  return summary;
}

absl::StatusOr<std::shared_ptr<Network>> CalibratedSubnet(
    OfaSupernet& net, const nas::v1::ElasticGenotype& genotype,
    const Dataset& calibration, const Normalization& norm,
    const torch::Device& device, int64_t images, int batch_size) {
  ASSIGN_OR_RETURN(std::shared_ptr<Network> subnet,
                   net.ExtractSubnet(genotype));
  try {
    subnet->to(device);
    // Fresh statistics, averaged over every calibration batch.
    for (const auto& module : subnet->modules(/*include_self=*/false)) {
      if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
        bn->options.momentum(c10::nullopt);
        bn->reset_running_stats();
      }
    }
    torch::NoGradGuard no_grad;
    subnet->train();
    std::mt19937_64 unused_rng(0);
    std::vector<int64_t> indices(std::min(images, calibration.size()));
    std::iota(indices.begin(), indices.end(), 0);
    for (size_t start = 0; start < indices.size(); start += batch_size) {
      const auto chunk = absl::MakeConstSpan(indices).subspan(start, batch_size);
      Batch batch = MakeBatch(calibration, chunk, norm, {}, unused_rng, device);
      subnet->forward(batch.images);
    }
    subnet->eval();
  } catch (const std::exception& e) {
    return StatusFromException(e, "recalibrating an OFA subnet");
  }
  return subnet;
}

namespace {

// torch::save of `module` to `path` through a temporary file and a rename,
// creating parent directories.
absl::Status SaveAtomically(torch::nn::Module& module, const std::string& path,
                            absl::string_view what) {
  const std::filesystem::path target(path);
  std::error_code error;
  if (target.has_parent_path()) {
    std::filesystem::create_directories(target.parent_path(), error);
    if (error) {
      return absl::InternalError(absl::StrCat("creating the directory of ",
                                              path, ": ", error.message()));
    }
  }
  const std::string temp = absl::StrCat(path, ".tmp.", getpid());
  try {
    torch::serialize::OutputArchive archive;
    module.save(archive);
    archive.save_to(temp);
  } catch (const std::exception& e) {
    std::filesystem::remove(temp, error);
    return absl::InternalError(
        absl::StrCat("saving ", what, " to ", path, ": ", e.what()));
  }
  std::filesystem::rename(temp, target, error);
  if (error) {
    return absl::InternalError(absl::StrCat("renaming ", temp, " to ", path,
                                            ": ", error.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SaveOfaSupernet(OfaSupernet& net, const std::string& path) {
  return SaveAtomically(net, path, "the OFA supernet");
}

absl::StatusOr<std::shared_ptr<OfaSupernet>> LoadOfaSupernet(
    const nas::v1::ElasticSpace& space, const NetworkOptions& options,
    const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::NotFoundError(absl::StrCat(
        "OFA supernet checkpoint ", path,
        " not found (was the ofa_train trial run by a worker with the same "
        "--supernet_dir?)"));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<OfaSupernet> net,
                   OfaSupernet::Create(space, options));
  // torch's loader takes the saved tensors as they are: check the shapes.
  auto shapes = [&net] {
    std::vector<std::pair<std::string, std::vector<int64_t>>> out;
    for (const auto& t : net->named_parameters()) {
      out.emplace_back(t.key(), t.value().sizes().vec());
    }
    for (const auto& t : net->named_buffers()) {
      out.emplace_back(t.key(), t.value().sizes().vec());
    }
    return out;
  };
  const auto expected = shapes();
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    net->load(archive);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "loading the OFA supernet ", path, ": ", e.what()));
  }
  const auto got = shapes();
  for (size_t i = 0; i < expected.size(); ++i) {
    if (got[i] != expected[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("OFA supernet checkpoint ", path, ": ", got[i].first,
                       " does not fit this search space"));
    }
  }
  return net;
}

absl::Status ExportOfaSubnet(const nas::v1::ElasticSpace& space,
                             const NetworkOptions& options,
                             const std::string& checkpoint,
                             const nas::v1::ElasticGenotype& genotype,
                             const Dataset* calibration,
                             const Normalization* norm, int64_t images,
                             const std::string& out) {
  ASSIGN_OR_RETURN(std::shared_ptr<OfaSupernet> net,
                   LoadOfaSupernet(space, options, checkpoint));
  std::shared_ptr<Network> subnet;
  if (calibration != nullptr && norm != nullptr) {
    ASSIGN_OR_RETURN(subnet, CalibratedSubnet(*net, genotype, *calibration,
                                              *norm, torch::kCPU, images, 128));
  } else {
    ASSIGN_OR_RETURN(subnet, net->ExtractSubnet(genotype));
  }
  return SaveAtomically(*subnet, out, "the OFA subnet");
}

absl::StatusOr<std::shared_ptr<Network>> LoadOfaSubnet(
    const nas::v1::ElasticSpace& space, const NetworkOptions& options,
    const nas::v1::ElasticGenotype& genotype, const std::string& path) {
  nas::v1::Architecture arch;
  *arch.mutable_elastic() = genotype;
  nas::v1::SearchSpace search_space;
  *search_space.mutable_elastic() = space;
  ASSIGN_OR_RETURN(NetworkPlan plan, MakePlan(arch, search_space, options));
  ASSIGN_OR_RETURN(std::shared_ptr<Network> net, BuildNetwork(plan));
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    net->load(archive);
    net->eval();
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("loading the OFA subnet ", path, ": ", e.what()));
  }
  return net;
}

}  // namespace nas::worker
