// NetworkPlan: a search-space architecture resolved into concrete layer
// shapes, and its analytic cost (parameters and multiply-accumulates).
//
// MakePlan validates an Architecture against its SearchSpace (op names, edge
// inputs, elastic choices) and applies the proxy overrides (channels, cells)
// of a TrainEvaluation. The plan is plain data: the LibTorch builder
// (network.h) and AnalyticCost both read it, so the cost never needs a built
// module. Free functions; no shared state; thread-safe.
//
// Cost conventions: parameters are trainable tensors (conv/linear weights and
// biases, BatchNorm affine weight and bias; running statistics excluded).
// MACs count convolutions and linear layers for ONE input image; BatchNorm,
// activations, pooling, additions and input resizing count zero.
#ifndef NAS_WORKER_MODEL_PLAN_H_
#define NAS_WORKER_MODEL_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/search_space.pb.h"

namespace nas::worker {

// Input and proxy settings that are not part of the architecture.
struct NetworkOptions {
  int in_channels = 3;  // 1 for Fashion-MNIST, 3 for CIFAR-10.
  int image_size = 32;  // Square input side (28 or 32).
  int num_classes = 10;
  int channels_override = 0;  // Proxy: initial channels (0: the space's).
  int cells_override = 0;  // Proxy: cells / cells per stage (0: the space's).
};

enum class NetworkKind { kDarts, kNb201, kElastic };

// One DARTS cell with its resolved channel counts and input resolution.
struct DartsCellPlan {
  int c_prev_prev = 0;  // Channels of input 0 (output of cell i-2 or stem).
  int c_prev = 0;       // Channels of input 1 (output of cell i-1 or stem).
  int c = 0;            // Channels of every node inside the cell.
  bool reduction = false;
  bool reduction_prev = false;  // Input 0 is at twice input 1's resolution.
  int size_prev_prev = 0;       // Spatial side of input 0.
  int size = 0;  // Spatial side of input 1 (and of the ops' input).
};

// One NAS-Bench-201 layer: a cell or a residual reduction block.
struct Nb201LayerPlan {
  bool reduction = false;
  int c_in = 0;
  int c_out = 0;
  int size = 0;  // Spatial side of the layer input.
};

// One inverted-residual block of the elastic network.
struct ElasticBlockPlan {
  int c_in = 0;
  int c_out = 0;
  int expand_ratio = 1;
  int kernel_size = 3;
  int stride = 1;
  int size = 0;  // Spatial side of the block input.
};

struct NetworkPlan {
  NetworkKind kind = NetworkKind::kDarts;
  NetworkOptions options;
  // Channels after the stem.
  int stem_channels = 0;
  // Spatial side the network computes at (elastic: the genotype's resolution).
  int input_size = 0;
  // Channels entering the classifier.
  int classifier_channels = 0;

  // DARTS.
  nas::v1::Cell normal;
  nas::v1::Cell reduce;
  std::vector<DartsCellPlan> darts_cells;
  // NAS-Bench-201 (the cell is `normal`).
  std::vector<Nb201LayerPlan> nb201_layers;
  // Elastic.
  std::vector<ElasticBlockPlan> elastic_blocks;
};

// Validates `architecture` against `space` and resolves every layer.
// INVALID_ARGUMENT names the offending field.
absl::StatusOr<NetworkPlan> MakePlan(const nas::v1::Architecture& architecture,
                                     const nas::v1::SearchSpace& space,
                                     const NetworkOptions& options);

struct NetworkCost {
  int64_t params = 0;
  int64_t macs = 0;
};

// Parameters and MACs of the planned network, computed from shapes only.
NetworkCost AnalyticCost(const NetworkPlan& plan);

// Output side of a convolution or pooling window (PyTorch's formula).
int ConvOutputSize(int size, int kernel, int stride, int padding,
                   int dilation = 1);

}  // namespace nas::worker

#endif  // NAS_WORKER_MODEL_PLAN_H_
