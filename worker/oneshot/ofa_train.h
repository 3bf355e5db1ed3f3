// Once-for-All on the worker: progressive-shrinking training of an
// OfaSupernet, checkpoints, and the measurement of a subnet with inherited
// (sliced) weights.
//
// TrainProgressiveShrinking runs the phases of common/task/ofa_task.h in
// order (full, kernel, depth, width), epochs_per_phase epochs each. Every
// step samples one subnet uniformly from the phase's space
// (OfaPhaseSpace; in the "full" phase always the largest network) and takes
// an SGD step (momentum, weight decay, gradient clipping) on its loss; the
// learning rate is cosine-annealed within each phase. After every epoch the
// largest network's validation accuracy is measured. No knowledge
// distillation (the CPU budgets here are too small for a teacher).
//
// A subnet's batch-norm statistics in the supernet mix those of every
// subnet trained, so CalibratedSubnet extracts the subnet as a standalone
// network (OfaSupernet::ExtractSubnet) and re-estimates its batch-norm
// running statistics on `calibration` images (cumulative average, no
// gradient) before it is measured, as Cai et al. do.
//
// The device is a parameter (the supernet must be on it). LibTorch errors
// come back as statuses (reasons as in trainer.h). Free functions; the
// supernet must not be used by another thread meanwhile.
#ifndef NAS_WORKER_ONESHOT_OFA_TRAIN_H_
#define NAS_WORKER_ONESHOT_OFA_TRAIN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "proto/nas/v1/architecture.pb.h"
#include "torch/types.h"
#include "worker/data/dataset.h"
#include "worker/model/network.h"
#include "worker/oneshot/ofa_supernet.h"

namespace nas::worker {

struct OfaTrainOptions {
  int epochs_per_phase = 1;
  int batch_size = 64;
  double learning_rate = 0.025;  // Per phase, cosine-annealed per step.
  double momentum = 0.9;
  double weight_decay = 3e-4;
  double grad_clip_norm = 5.0;
  uint64_t seed = 0;  // Data order and subnet sampling.
  Augmentation augmentation;
  int eval_batch_size = 128;
};

struct OfaEpoch {
  int phase = 0;  // 0..3 (common/task/ofa_task.h).
  int epoch = 0;  // 1-based over all phases.
  double train_loss = 0;
  double train_accuracy = 0;     // Of the sampled subnets.
  double largest_accuracy = 0;   // Validation, the largest network.
  double seconds = 0;
};

struct OfaTrainSummary {
  int epochs_completed = 0;
  bool stopped = false;
  OfaEpoch last;
  double seconds = 0;
  double images_per_second = 0;  // Training steps only.
};

struct OfaTrainCallbacks {
  // After each epoch; false stops training. May be empty.
  std::function<bool(const OfaEpoch&)> on_epoch;
  // Polled before every batch; true stops training. May be empty.
  std::function<bool()> should_stop;
  // The subnet each step trains (phase, genotype). May be empty.
  std::function<void(int, const nas::v1::ElasticGenotype&)> on_subnet;
};

absl::StatusOr<OfaTrainSummary> TrainProgressiveShrinking(
    OfaSupernet& net, const nas::v1::ElasticSpace& space, const Dataset& train,
    const Dataset& validation, const Normalization& norm,
    const OfaTrainOptions& options, const torch::Device& device,
    const OfaTrainCallbacks& callbacks);

// Top-1 accuracy of subnet `genotype` computed by the supernet itself (eval
// mode, the supernet's batch-norm statistics).
absl::StatusOr<double> SupernetAccuracy(OfaSupernet& net,
                                        const nas::v1::ElasticGenotype& genotype,
                                        const Dataset& data,
                                        const Normalization& norm,
                                        const torch::Device& device,
                                        int batch_size);

// The subnet as a standalone network with the supernet's slices and its
// batch norms recalibrated on the first `images` of `calibration` (all if
// fewer), in eval mode on `device`.
absl::StatusOr<std::shared_ptr<Network>> CalibratedSubnet(
    OfaSupernet& net, const nas::v1::ElasticGenotype& genotype,
    const Dataset& calibration, const Normalization& norm,
    const torch::Device& device, int64_t images, int batch_size);

// torch::save of the supernet's parameters and buffers to `path`, written
// to a temporary file and renamed (readers never see a partial file);
// parent directories are created.
absl::Status SaveOfaSupernet(OfaSupernet& net, const std::string& path);
// A supernet of `space` with the tensors saved at `path`. NOT_FOUND when
// the file is missing; INVALID_ARGUMENT when it does not fit the space.
absl::StatusOr<std::shared_ptr<OfaSupernet>> LoadOfaSupernet(
    const nas::v1::ElasticSpace& space, const NetworkOptions& options,
    const std::string& path);

// Exports subnet `genotype` of the supernet saved at `checkpoint` as a
// standalone network: worker/model's ordinary network of that genotype with
// the supernet's slices copied in, torch::save'd to `out`. With
// `calibration` (and `norm`) its batch norms are first re-estimated on up to
// `images` of it, as an "ofa_subnet" trial measured it.
absl::Status ExportOfaSubnet(const nas::v1::ElasticSpace& space,
                             const NetworkOptions& options,
                             const std::string& checkpoint,
                             const nas::v1::ElasticGenotype& genotype,
                             const Dataset* calibration,
                             const Normalization* norm, int64_t images,
                             const std::string& out);
// The network ExportOfaSubnet saved at `path` (in eval mode).
absl::StatusOr<std::shared_ptr<Network>> LoadOfaSubnet(
    const nas::v1::ElasticSpace& space, const NetworkOptions& options,
    const nas::v1::ElasticGenotype& genotype, const std::string& path);

}  // namespace nas::worker

#endif  // NAS_WORKER_ONESHOT_OFA_TRAIN_H_
