#include "worker/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <new>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "c10/util/Exception.h"
#include "glog/logging.h"
#include "torch/nn/functional/loss.h"
#include "torch/nn/utils/clip_grad.h"
#include "torch/optim/sgd.h"
#include "worker/eval/evaluator.h"

namespace nas::worker {
namespace {

using Seconds = std::chrono::duration<double>;

// How LibTorch's CUDA and CPU allocators word an allocation failure.
constexpr const char* kOomMessages[] = {"out of memory", "not enough memory",
                                        "can't allocate memory",
                                        "cannot allocate memory"};

}  // namespace

Batch MakeBatch(const Dataset& data, absl::Span<const int64_t> indices,
                const Normalization& norm, const Augmentation& augmentation,
                std::mt19937_64& rng, const torch::Device& device) {
  const int64_t n = static_cast<int64_t>(indices.size());
  torch::Tensor images = torch::empty(
      {n, data.channels, data.height, data.width}, torch::kFloat32);
  torch::Tensor labels = torch::empty({n}, torch::kInt64);
  AssembleBatch(data, indices, norm, augmentation, rng,
                images.data_ptr<float>(), labels.data_ptr<int64_t>());
  return {images.to(device), labels.to(device)};
}

int64_t CountCorrect(const torch::Tensor& logits, const torch::Tensor& labels) {
  return logits.argmax(1).eq(labels).sum().item<int64_t>();
}

absl::Status StatusFromException(const std::exception& e,
                                 absl::string_view context) {
  const std::string what = e.what();
  // Only the first line: LibTorch appends a long C++ backtrace.
  const std::string message =
      absl::StrCat(context, ": ", what.substr(0, what.find('\n')));
  const std::string lower = absl::AsciiStrToLower(what);
  const bool oom_message = absl::c_any_of(
      kOomMessages, [&](const char* m) { return absl::StrContains(lower, m); });
  if (oom_message || dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return FailureWithReason(absl::StatusCode::kResourceExhausted, kReasonOom,
                             message);
  }
  return FailureWithReason(absl::StatusCode::kInternal, kReasonError, message);
}

absl::StatusOr<double> Accuracy(Network& net, const Dataset& data,
                                const Normalization& norm,
                                const torch::Device& device, int batch_size) {
  if (data.size() == 0 || batch_size < 1) {
    return absl::InvalidArgumentError(
        "accuracy needs examples and batch_size >= 1");
  }
  try {
    net.eval();
    torch::NoGradGuard no_grad;
    std::mt19937_64 unused_rng(0);
    std::vector<int64_t> indices(data.size());
    std::iota(indices.begin(), indices.end(), 0);
    int64_t correct = 0;
    for (int64_t start = 0; start < data.size(); start += batch_size) {
      const auto chunk =
          absl::MakeConstSpan(indices).subspan(start, batch_size);
      Batch batch = MakeBatch(data, chunk, norm, {}, unused_rng, device);
      correct += CountCorrect(net.forward(batch.images), batch.labels);
    }
    return static_cast<double>(correct) / data.size();
  } catch (const std::exception& e) {
    return StatusFromException(e, "evaluating accuracy");
  }
}

absl::StatusOr<TrainSummary> Train(Network& net, const Dataset& train,
                                   const Dataset& validation,
                                   const Normalization& norm,
                                   const TrainOptions& options,
                                   const torch::Device& device,
                                   const TrainCallbacks& callbacks) {
  if (train.size() == 0 || options.batch_size < 1 || options.epochs < 1 ||
      options.eval_batch_size < 1) {
    return absl::InvalidArgumentError(
        "training needs examples, batch sizes >= 1 and epochs >= 1");
  }
  TrainSummary summary;
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
    const double total_steps =
        static_cast<double>(steps_per_epoch) * options.epochs;
    int64_t step = 0;
    int64_t images_trained = 0;
    double step_seconds = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int epoch = 1; epoch <= options.epochs; ++epoch) {
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
          summary.train_seconds =
              Seconds(std::chrono::steady_clock::now() - start).count();
          return summary;
        }
        const double lr = 0.5 * options.learning_rate *
                          (1.0 + std::cos(M_PI * step / total_steps));
        for (auto& group : optimizer.param_groups()) {
          static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
        }
        const auto chunk =
            absl::MakeConstSpan(order).subspan(first, options.batch_size);
        Batch batch =
            MakeBatch(train, chunk, norm, options.augmentation, rng, device);
        optimizer.zero_grad();
        torch::Tensor logits = net.forward(batch.images);
        torch::Tensor loss =
            torch::nn::functional::cross_entropy(logits, batch.labels);
        const double loss_value = loss.item<double>();
        if (!std::isfinite(loss_value)) {
          return FailureWithReason(
              absl::StatusCode::kAborted, kReasonDiverged,
              absl::StrCat("loss is ", loss_value, " at epoch ", epoch,
                           ", step ", step));
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
      step_seconds +=
          Seconds(std::chrono::steady_clock::now() - steps_start).count();
      summary.images_per_second =
          step_seconds > 0 ? images_trained / step_seconds : 0;
      EpochStats stats;
      stats.epoch = epoch;
      stats.train_loss = loss_sum / train.size();
      stats.train_accuracy = static_cast<double>(correct) / train.size();
      if (validation.size() > 0) {
        auto accuracy =
            Accuracy(net, validation, norm, device, options.eval_batch_size);
        if (!accuracy.ok()) return accuracy.status();
        stats.validation_accuracy = *accuracy;
      }
      stats.seconds =
          Seconds(std::chrono::steady_clock::now() - epoch_start).count();
      VLOG(1) << "epoch " << epoch << " loss " << stats.train_loss
              << " val_acc " << stats.validation_accuracy;
      summary.epochs_completed = epoch;
      summary.last = stats;
      summary.train_seconds =
          Seconds(std::chrono::steady_clock::now() - start).count();
      if (callbacks.on_epoch && !callbacks.on_epoch(stats) &&
          epoch < options.epochs) {
        summary.stopped = true;
        return summary;
      }
    }
  } catch (
      const std::exception& e) {  // c10::Error derives from std::exception.
    return StatusFromException(e, "training");
  }
  return summary;
}

}  // namespace nas::worker
