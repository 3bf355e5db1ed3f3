// The DARTS search loop: alternating updates of the supernet's weights (SGD
// on the training split) and its alphas (Adam on the validation split), with
// the first-order or the second-order (unrolled) alpha gradient, optional
// latency awareness and guards against skip-connection collapse.
//
// Alpha objective per validation batch:
//   CE(val) + latency_weight * E[latency] + skip_decay * ||alpha[:, skip]||^2
// where E[latency] = sum over cells and edges of softmax(alpha) . latency(op),
// the per-op latencies measured on the worker's device (a table the caller
// passes as two [edges, ops] matrices, summed over the normal / reduction
// cells). Unrolled: the gradient of CE(val) at w' = w - lr * grad_w CE(train)
// with the finite-difference Hessian-vector term of Liu et al. (2019).
//
// After every epoch the genotype is derived (DeriveCell); with max_skips > 0
// the search stops when a derived cell has more than max_skips skip_connect
// edges and keeps the previous epoch's genotype (if any).
//
// The device is a parameter (net, alphas and latency tables must be on it).
// LibTorch errors come back as statuses (reasons as in trainer.h). Free
// function; the network must not be used by another thread meanwhile.
#ifndef NAS_WORKER_ONESHOT_DARTS_SEARCH_H_
#define NAS_WORKER_ONESHOT_DARTS_SEARCH_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas/v1/architecture.pb.h"
#include "torch/types.h"
#include "worker/data/dataset.h"
#include "worker/oneshot/darts_supernet.h"

namespace nas::worker {

struct DartsSearchOptions {
  int epochs = 1;
  int batch_size = 64;
  double learning_rate = 0.025;  // Weights: SGD, cosine-annealed per step.
  double momentum = 0.9;
  double weight_decay = 3e-4;
  double grad_clip_norm = 5.0;
  double arch_learning_rate = 3e-4;  // Alphas: Adam, betas (0.5, 0.999).
  double arch_weight_decay = 1e-3;
  bool unrolled = false;
  double skip_decay = 0;     // L2 weight on the skip_connect alphas.
  int max_skips = 2;         // 0: no early stop on skips.
  int inputs_per_node = 2;   // Of the derived cells.
  double latency_weight = 0; // lambda of the expected latency (ms).
  uint64_t seed = 0;         // Data order.
  int eval_batch_size = 128;
  // Per-op latency (ms) of every edge, summed over the normal / reduction
  // cells: [edges, ops] on the device. Undefined: no latency term (then
  // latency_weight must be 0) and expected_latency_ms is 0.
  torch::Tensor latency_normal;
  torch::Tensor latency_reduce;
};

struct DartsEpoch {
  int epoch = 0;  // 1-based.
  double train_loss = 0;
  double train_accuracy = 0;
  double validation_accuracy = 0;  // Of the supernet.
  double expected_latency_ms = 0;
  double seconds = 0;
  // softmax(alpha) rows per edge.
  std::vector<std::vector<double>> normal_weights;
  std::vector<std::vector<double>> reduce_weights;
  nas::v1::CellGenotype genotype;  // Derived from this epoch's alphas.
};

struct DartsSearchResult {
  nas::v1::CellGenotype genotype;  // The genotype the search settles on.
  int epochs_completed = 0;
  bool stopped = false;        // should_stop / on_epoch asked to stop.
  int skip_stop_epoch = 0;     // > 0: stopped by the skip guard then.
  DartsEpoch last;
  double seconds = 0;
  double images_per_second = 0;  // Weight-step training images per second.
};

struct DartsSearchCallbacks {
  // After every epoch; false stops the search.
  std::function<bool(const DartsEpoch&)> on_epoch;
  // Polled before every step; true stops the search.
  std::function<bool()> should_stop;
};

absl::StatusOr<DartsSearchResult> RunDartsSearch(
    DartsSupernet& net, const Dataset& train, const Dataset& validation,
    const Normalization& norm, const DartsSearchOptions& options,
    const torch::Device& device, const DartsSearchCallbacks& callbacks);

// sum(softmax(alpha_normal) * latency_normal) + the same for reduce.
torch::Tensor ExpectedLatency(DartsSupernet& net,
                              const torch::Tensor& latency_normal,
                              const torch::Tensor& latency_reduce);

}  // namespace nas::worker

#endif  // NAS_WORKER_ONESHOT_DARTS_SEARCH_H_
