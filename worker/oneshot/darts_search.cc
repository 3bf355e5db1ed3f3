#include "worker/oneshot/darts_search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "torch/autograd.h"
#include "torch/nn/functional/loss.h"
#include "torch/nn/utils/clip_grad.h"
#include "torch/optim/adam.h"
#include "torch/optim/sgd.h"
#include "worker/eval/evaluator.h"
#include "worker/train/trainer.h"

namespace nas::worker {
namespace {

using Seconds = std::chrono::duration<double>;
using torch::Tensor;

Tensor CrossEntropy(DartsSupernet& net, const Batch& batch) {
  return torch::nn::functional::cross_entropy(net.forward(batch.images),
                                              batch.labels);
}

// The alpha-only terms: latency and skip decay.
Tensor ArchRegularizer(DartsSupernet& net, const DartsSearchOptions& o) {
  Tensor reg = torch::zeros({}, net.alpha_normal().options());
  if (o.latency_weight > 0 && o.latency_normal.defined()) {
    reg = reg + o.latency_weight * ExpectedLatency(net, o.latency_normal,
                                                   o.latency_reduce);
  }
  if (o.skip_decay > 0) {
    const auto& ops = net.ops();
    const auto it = std::find(ops.begin(), ops.end(), "skip_connect");
    if (it != ops.end()) {
      const int64_t skip = it - ops.begin();
      for (const Tensor& alpha : net.ArchParameters()) {
        reg = reg + o.skip_decay * alpha.select(1, skip).pow(2).sum();
      }
    }
  }
  return reg;
}

// In place, without recording: p += scale * d for every pair.
void AddScaled(std::vector<Tensor>& params, const std::vector<Tensor>& d,
               double scale) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    if (d[i].defined()) params[i].add_(d[i], scale);
  }
}

std::vector<Tensor> Grads(const Tensor& loss, const std::vector<Tensor>& wrt) {
  std::vector<Tensor> grads =
      torch::autograd::grad({loss}, wrt, /*grad_outputs=*/{},
                            /*retain_graph=*/false, /*create_graph=*/false,
                            /*allow_unused=*/true);
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) grads[i] = torch::zeros_like(wrt[i]);
  }
  return grads;
}

// Second-order alpha gradient (Liu et al. 2019, eq. 7-8) into alpha.grad().
void UnrolledArchGradient(DartsSupernet& net, const Batch& train,
                          const Batch& valid, double lr,
                          const DartsSearchOptions& o) {
  std::vector<Tensor> weights = net.WeightParameters();
  std::vector<Tensor> alphas = net.ArchParameters();
  // w' = w - lr * (grad_w L_train + wd * w): one virtual SGD step.
  std::vector<Tensor> step = Grads(CrossEntropy(net, train), weights);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < weights.size(); ++i) {
      step[i] = step[i] + o.weight_decay * weights[i];
    }
  }
  AddScaled(weights, step, -lr);
  std::vector<Tensor> wrt = alphas;
  wrt.insert(wrt.end(), weights.begin(), weights.end());
  std::vector<Tensor> grads =
      Grads(CrossEntropy(net, valid) + ArchRegularizer(net, o), wrt);
  AddScaled(weights, step, lr);  // back to w
  std::vector<Tensor> d_alpha(grads.begin(), grads.begin() + alphas.size());
  std::vector<Tensor> d_w(grads.begin() + alphas.size(), grads.end());
  double norm2 = 0;
  for (const Tensor& g : d_w) norm2 += g.pow(2).sum().item<double>();
  const double eps = 0.01 / std::max(1e-12, std::sqrt(norm2));
  AddScaled(weights, d_w, eps);
  std::vector<Tensor> g_plus = Grads(CrossEntropy(net, train), alphas);
  AddScaled(weights, d_w, -2 * eps);
  std::vector<Tensor> g_minus = Grads(CrossEntropy(net, train), alphas);
  AddScaled(weights, d_w, eps);  // back to w
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < alphas.size(); ++i) {
    alphas[i].mutable_grad() =
        d_alpha[i] - lr * (g_plus[i] - g_minus[i]) / (2 * eps);
  }
}

DartsEpoch Snapshot(DartsSupernet& net, const DartsSearchOptions& o) {
  DartsEpoch epoch;
  torch::NoGradGuard no_grad;
  epoch.normal_weights = ToRows(torch::softmax(net.alpha_normal(), -1));
  epoch.reduce_weights = ToRows(torch::softmax(net.alpha_reduce(), -1));
  *epoch.genotype.mutable_normal() = DeriveCell(
      epoch.normal_weights, net.ops(), net.nodes(), o.inputs_per_node);
  *epoch.genotype.mutable_reduce() = DeriveCell(
      epoch.reduce_weights, net.ops(), net.nodes(), o.inputs_per_node);
  if (o.latency_normal.defined()) {
    epoch.expected_latency_ms =
        ExpectedLatency(net, o.latency_normal, o.latency_reduce)
            .item<double>();
  }
  return epoch;
}

int MaxSkips(const nas::v1::CellGenotype& genotype) {
  return std::max(CountOp(genotype.normal(), "skip_connect"),
                  CountOp(genotype.reduce(), "skip_connect"));
}

}  // namespace

Tensor ExpectedLatency(DartsSupernet& net, const Tensor& latency_normal,
                       const Tensor& latency_reduce) {
  return (torch::softmax(net.alpha_normal(), -1) * latency_normal).sum() +
         (torch::softmax(net.alpha_reduce(), -1) * latency_reduce).sum();
}

absl::StatusOr<DartsSearchResult> RunDartsSearch(
    DartsSupernet& net, const Dataset& train, const Dataset& validation,
    const Normalization& norm, const DartsSearchOptions& options,
    const torch::Device& device, const DartsSearchCallbacks& callbacks) {
  if (train.size() == 0 || validation.size() == 0 || options.epochs < 1 ||
      options.batch_size < 1) {
    return absl::InvalidArgumentError(
        "a DARTS search needs training and validation examples, epochs >= 1 "
        "and batch_size >= 1");
  }
  if (options.latency_weight > 0 && !options.latency_normal.defined()) {
    return absl::InvalidArgumentError(
        "latency_weight > 0 needs the per-op latency table");
  }
  DartsSearchResult result;
  const auto start = std::chrono::steady_clock::now();
  try {
    std::vector<Tensor> weights = net.WeightParameters();
    torch::optim::SGD w_optimizer(
        weights, torch::optim::SGDOptions(options.learning_rate)
                     .momentum(options.momentum)
                     .weight_decay(options.weight_decay));
    torch::optim::Adam a_optimizer(
        net.ArchParameters(),
        torch::optim::AdamOptions(options.arch_learning_rate)
            .betas({0.5, 0.999})
            .weight_decay(options.arch_weight_decay));
    std::mt19937_64 rng(options.seed);
    std::vector<int64_t> order(train.size()), valid_order(validation.size());
    std::iota(order.begin(), order.end(), 0);
    std::iota(valid_order.begin(), valid_order.end(), 0);
    std::shuffle(valid_order.begin(), valid_order.end(), rng);
    size_t valid_next = 0;
    const int64_t steps_per_epoch =
        (train.size() + options.batch_size - 1) / options.batch_size;
    const double total_steps =
        static_cast<double>(steps_per_epoch) * options.epochs;
    int64_t step = 0, images = 0;
    double step_seconds = 0;
    nas::v1::CellGenotype previous;
    for (int epoch = 1; epoch <= options.epochs; ++epoch) {
      const auto epoch_start = std::chrono::steady_clock::now();
      double loss_sum = 0;
      int64_t correct = 0;
      std::shuffle(order.begin(), order.end(), rng);
      for (int64_t first = 0; first < train.size();
           first += options.batch_size) {
        if (callbacks.should_stop && callbacks.should_stop()) {
          result.stopped = true;
          result.seconds = Seconds(std::chrono::steady_clock::now() - start).count();
          return result;
        }
        const auto step_start = std::chrono::steady_clock::now();
        net.train();
        const double lr = 0.5 * options.learning_rate *
                          (1.0 + std::cos(M_PI * step / total_steps));
        for (auto& group : w_optimizer.param_groups()) {
          static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
        }
        const auto chunk =
            absl::MakeConstSpan(order).subspan(first, options.batch_size);
        Batch batch = MakeBatch(train, chunk, norm, {}, rng, device);
        if (valid_next + chunk.size() > valid_order.size()) {
          std::shuffle(valid_order.begin(), valid_order.end(), rng);
          valid_next = 0;
        }
        const auto valid_chunk = absl::MakeConstSpan(valid_order).subspan(
            valid_next, std::min(chunk.size(), valid_order.size()));
        valid_next += valid_chunk.size();
        Batch valid = MakeBatch(validation, valid_chunk, norm, {}, rng, device);

        // 1. Alphas on the validation batch.
        a_optimizer.zero_grad();
        if (options.unrolled) {
          UnrolledArchGradient(net, batch, valid, lr, options);
        } else {
          (CrossEntropy(net, valid) + ArchRegularizer(net, options))
              .backward();
        }
        a_optimizer.step();

        // 2. Weights on the training batch (alphas fixed).
        w_optimizer.zero_grad();
        Tensor logits = net.forward(batch.images);
        Tensor loss =
            torch::nn::functional::cross_entropy(logits, batch.labels);
        const double loss_value = loss.item<double>();
        if (!std::isfinite(loss_value)) {
          return FailureWithReason(
              absl::StatusCode::kAborted, kReasonDiverged,
              absl::StrCat("supernet loss is ", loss_value, " at epoch ",
                           epoch, ", step ", step));
        }
        loss.backward();
        for (Tensor& alpha : net.ArchParameters()) {
          if (alpha.grad().defined()) alpha.mutable_grad().zero_();
        }
        if (options.grad_clip_norm > 0) {
          torch::nn::utils::clip_grad_norm_(weights, options.grad_clip_norm);
        }
        w_optimizer.step();
        loss_sum += loss_value * chunk.size();
        correct += CountCorrect(logits.detach(), batch.labels);
        images += chunk.size();
        ++step;
        step_seconds +=
            Seconds(std::chrono::steady_clock::now() - step_start).count();
      }
      DartsEpoch stats = Snapshot(net, options);
      stats.epoch = epoch;
      stats.train_loss = loss_sum / train.size();
      stats.train_accuracy = static_cast<double>(correct) / train.size();
      ASSIGN_OR_RETURN(stats.validation_accuracy,
                       Accuracy(net, validation, norm, device,
                                options.eval_batch_size));
      stats.seconds =
          Seconds(std::chrono::steady_clock::now() - epoch_start).count();
      VLOG(1) << "darts epoch " << epoch << " loss " << stats.train_loss
              << " supernet val_acc " << stats.validation_accuracy;
      result.epochs_completed = epoch;
      result.images_per_second = step_seconds > 0 ? images / step_seconds : 0;
      result.genotype = stats.genotype;
      result.last = stats;
      const bool keep_going = !callbacks.on_epoch || callbacks.on_epoch(stats);
      if (options.max_skips > 0 && MaxSkips(stats.genotype) > options.max_skips) {
        result.skip_stop_epoch = epoch;
        if (epoch > 1) result.genotype = previous;
        break;
      }
      previous = stats.genotype;
      if (!keep_going && epoch < options.epochs) {
        result.stopped = true;
        break;
      }
    }
  } catch (const std::exception& e) {
    return StatusFromException(e, "DARTS search");
  }
  result.seconds = Seconds(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace nas::worker
