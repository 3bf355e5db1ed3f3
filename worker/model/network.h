// LibTorch modules for the three search spaces, built from a NetworkPlan.
//
// BuildNetwork turns a validated plan (plan.h) into a torch::nn::Module whose
// forward maps [N, in_channels, H, W] images to [N, num_classes] logits. The
// module is created on the CPU; callers move it with `->to(device)`. Every
// convolution is a CountingConv2d, which records the MACs of its last forward
// for one image, so tests can check AnalyticCost against a real forward.
// A module is not thread-safe (LibTorch modules are not); the returned
// shared_ptr owns it.
#ifndef NAS_WORKER_MODEL_NETWORK_H_
#define NAS_WORKER_MODEL_NETWORK_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "torch/nn/module.h"
#include "torch/nn/modules/container/any.h"
#include "torch/nn/modules/conv.h"
#include "torch/types.h"
#include "worker/model/plan.h"

namespace nas::worker {

// A classification network: images in, logits out.
class Network : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
};

// Conv2d without bias that remembers the MACs of its last forward per image
// (output elements per image x input channels per group x kernel area).
class CountingConv2dImpl : public torch::nn::Module {
 public:
  CountingConv2dImpl(int c_in, int c_out, int kernel, int stride, int padding,
                     int dilation = 1, int groups = 1);
  torch::Tensor forward(const torch::Tensor& x);
  int64_t last_macs() const { return last_macs_; }

 private:
  torch::nn::Conv2d conv_{nullptr};
  int64_t weights_per_output_ = 0;
  int64_t last_macs_ = 0;
};
TORCH_MODULE(CountingConv2d);

// The DARTS op `op` (a name MakePlan accepts) on `c` channels; stride 2
// halves the resolution. For the supernet (worker/oneshot), which mixes them.
torch::nn::AnyModule MakeDartsOp(const std::string& op, int c, int stride);
// The preprocessing of a DARTS cell input to `c_out` channels:
// FactorizedReduce when `reduce` (the input is at twice the resolution),
// else ReLU, 1x1 convolution, BN.
torch::nn::AnyModule MakeDartsPreprocess(int c_in, int c_out, bool reduce);
// Stem of the cell networks: 3x3 convolution and BN.
torch::nn::AnyModule MakeCellStem(int in_channels, int out_channels);

// Builds the network the plan describes (on the CPU). Wraps LibTorch errors.
absl::StatusOr<std::shared_ptr<Network>> BuildNetwork(const NetworkPlan& plan);

// Number of trainable parameter elements of `module`.
int64_t CountParameters(const torch::nn::Module& module);

}  // namespace nas::worker

#endif  // NAS_WORKER_MODEL_NETWORK_H_
