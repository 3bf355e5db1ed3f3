// Trainer: mini-batch SGD (momentum, weight decay, per-step cosine learning
// rate, gradient-norm clipping) of a Network on a Dataset, with a callback
// after every epoch, and top-1 accuracy evaluation.
//
// The device is a parameter: the network must already be on it; batches are
// moved there. LibTorch errors never escape: a non-finite loss fails with
// reason "diverged", an out-of-memory error with reason "oom" (see
// worker/eval/evaluator.h). Free functions; a network must not be trained by
// two threads at once. torch::set_num_threads is the caller's business.
#ifndef NAS_WORKER_TRAIN_TRAINER_H_
#define NAS_WORKER_TRAIN_TRAINER_H_

#include <cstdint>
#include <exception>
#include <functional>
#include <random>

#include "absl/types/span.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "torch/types.h"
#include "worker/data/dataset.h"
#include "worker/model/network.h"

namespace nas::worker {

struct TrainOptions {
  int epochs = 1;
  int batch_size = 64;
  double learning_rate = 0.025;  // Initial; cosine-annealed to 0 per step.
  double momentum = 0.9;
  double weight_decay = 3e-4;
  double grad_clip_norm = 5.0;  // 0: no clipping.
  uint64_t seed = 0;            // Data order and augmentation.
  Augmentation augmentation;
  // At most 128: on this CPU build, batch-256 inference of a DARTS net
  // collapses to ~127 images/s (vs ~860 at 128); see bench/train_bench.
  int eval_batch_size = 128;
};

struct EpochStats {
  int epoch = 0;  // 1-based.
  double train_loss = 0;
  double train_accuracy = 0;
  double validation_accuracy = 0;
  double seconds = 0;  // Wall time of this epoch's training and validation.
};

struct TrainSummary {
  int epochs_completed = 0;
  // Stopped by should_stop or by the epoch callback before all epochs ran.
  bool stopped = false;
  EpochStats last;  // Of the last completed epoch (zeros if none).
  double train_seconds = 0;
  // Training images per second of wall time spent in training steps
  // (forward, backward, update; validation excluded). 0 if no step ran.
  double images_per_second = 0;
};

struct TrainCallbacks {
  // After each epoch; returning false stops training. May be empty.
  std::function<bool(const EpochStats&)> on_epoch;
  // Polled before every batch; true stops training. May be empty.
  std::function<bool()> should_stop;
};

absl::StatusOr<TrainSummary> Train(Network& net, const Dataset& train,
                                   const Dataset& validation,
                                   const Normalization& norm,
                                   const TrainOptions& options,
                                   const torch::Device& device,
                                   const TrainCallbacks& callbacks);

// A batch of examples as tensors on a device.
struct Batch {
  torch::Tensor images;
  torch::Tensor labels;
};
// Examples `indices` of `data`, normalized (and augmented), on `device`.
// May throw LibTorch errors (callers catch them at their boundary).
Batch MakeBatch(const Dataset& data, absl::Span<const int64_t> indices,
                const Normalization& norm, const Augmentation& augmentation,
                std::mt19937_64& rng, const torch::Device& device);
// Correct top-1 predictions of `logits` for `labels`.
int64_t CountCorrect(const torch::Tensor& logits, const torch::Tensor& labels);

// Top-1 accuracy in [0, 1] of `net` (switched to eval mode) on `data`.
absl::StatusOr<double> Accuracy(Network& net, const Dataset& data,
                                const Normalization& norm,
                                const torch::Device& device, int batch_size);

// Maps a caught LibTorch/standard exception to a status: messages mentioning
// "out of memory" (CUDA) or "can't allocate memory" (LibTorch's CPU
// allocator) and std::bad_alloc get reason "oom"; others "error".
absl::Status StatusFromException(const std::exception& e,
                                 absl::string_view context);

}  // namespace nas::worker

#endif  // NAS_WORKER_TRAIN_TRAINER_H_
