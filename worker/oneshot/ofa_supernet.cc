#include "worker/oneshot/ofa_supernet.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "torch/nn/functional.h"
#include "torch/torch.h"

namespace nas::worker {
namespace {

namespace F = torch::nn::functional;
using torch::Tensor;

// The defaults of torch::nn::BatchNorm2d, which the standalone subnet uses.
constexpr double kBnMomentum = 0.1;
constexpr double kBnEps = 1e-5;

int MaxOf(const google::protobuf::RepeatedField<int32_t>& values) {
  return *std::max_element(values.begin(), values.end());
}

// The channels of a stage at width multiplier `width` (as plan.cc rounds).
int Scaled(int channels, double width) {
  return std::max(1, static_cast<int>(std::lround(channels * width)));
}

Tensor ConvWeight(int c_out, int c_in_per_group, int kernel) {
  return torch::randn({c_out, c_in_per_group, kernel, kernel}) *
         std::sqrt(2.0 / (c_in_per_group * kernel * kernel));
}

OfaBatchNorm SliceBn(const OfaBatchNorm& bn, int64_t channels) {
  return {bn.weight.narrow(0, 0, channels), bn.bias.narrow(0, 0, channels),
          bn.running_mean.narrow(0, 0, channels),
          bn.running_var.narrow(0, 0, channels)};
}

// The centred k x k of a [c, 1, K, K] depthwise kernel.
Tensor CropKernel(const Tensor& weight, int64_t k) {
  const int64_t offset = (weight.size(2) - k) / 2;
  return weight.narrow(2, offset, k).narrow(3, offset, k);
}

// The sliced tensors one active block uses.
struct BlockSlices {
  Tensor expand;  // undefined when the expand ratio is 1
  OfaBatchNorm expand_bn;
  Tensor depthwise;
  OfaBatchNorm depthwise_bn;
  Tensor project;
  OfaBatchNorm project_bn;
};

BlockSlices Slice(const OfaBlock& block, const ElasticBlockPlan& p) {
  const int64_t mid = static_cast<int64_t>(p.c_in) * p.expand_ratio;
  BlockSlices s;
  if (p.expand_ratio != 1) {
    s.expand = block.expand.narrow(0, 0, mid).narrow(1, 0, p.c_in);
    s.expand_bn = SliceBn(block.expand_bn, mid);
  }
  s.depthwise = CropKernel(block.depthwise.narrow(0, 0, mid), p.kernel_size);
  s.depthwise_bn = SliceBn(block.depthwise_bn, mid);
  s.project = block.project.narrow(0, 0, p.c_out).narrow(1, 0, mid);
  s.project_bn = SliceBn(block.project_bn, p.c_out);
  return s;
}

Tensor BatchNorm(const Tensor& x, const OfaBatchNorm& bn, bool training) {
  return F::batch_norm(x, bn.running_mean, bn.running_var,
                       F::BatchNormFuncOptions()
                           .weight(bn.weight)
                           .bias(bn.bias)
                           .training(training)
                           .momentum(kBnMomentum)
                           .eps(kBnEps));
}

Tensor Relu6(const Tensor& x) { return torch::hardtanh(x, 0, 6); }

}  // namespace

OfaSupernet::OfaSupernet(const nas::v1::ElasticSpace& space,
                         const NetworkOptions& options)
    : space_(space), options_(options) {
  const int stem = space_.stem_channels() > 0 ? space_.stem_channels() : 16;
  double width = 1.0;
  if (!space_.width_multipliers().empty()) {
    width = *std::max_element(space_.width_multipliers().begin(),
                              space_.width_multipliers().end());
  }
  stem_ = register_parameter("stem", ConvWeight(stem, options.in_channels, 3));
  stem_bn_ = AddBatchNorm("stem_bn", stem);
  int c_in = stem;
  for (int s = 0; s < space_.stages_size(); ++s) {
    const nas::v1::ElasticStage& stage = space_.stages(s);
    const int c_out = Scaled(stage.channels(), width);
    const int expand = MaxOf(stage.expand_ratios());
    const int kernel = MaxOf(stage.kernel_sizes());
    std::vector<OfaBlock>& blocks = blocks_.emplace_back();
    for (int b = 0; b < MaxOf(stage.depths()); ++b) {
      const std::string name = absl::StrCat("s", s, "_b", b, "_");
      const int mid = c_in * expand;
      OfaBlock& block = blocks.emplace_back();
      block.stride = b == 0 ? std::max(1, stage.stride()) : 1;
      block.expand =
          register_parameter(name + "expand", ConvWeight(mid, c_in, 1));
      block.expand_bn = AddBatchNorm(name + "expand_bn", mid);
      block.depthwise =
          register_parameter(name + "depthwise", ConvWeight(mid, 1, kernel));
      block.depthwise_bn = AddBatchNorm(name + "depthwise_bn", mid);
      block.project =
          register_parameter(name + "project", ConvWeight(c_out, mid, 1));
      block.project_bn = AddBatchNorm(name + "project_bn", c_out);
      c_in = c_out;
    }
  }
  const double bound = 1.0 / std::sqrt(static_cast<double>(c_in));
  classifier_weight_ = register_parameter(
      "classifier_weight",
      torch::empty({options.num_classes, c_in}).uniform_(-bound, bound));
  classifier_bias_ = register_parameter(
      "classifier_bias",
      torch::empty({options.num_classes}).uniform_(-bound, bound));
}

OfaBatchNorm OfaSupernet::AddBatchNorm(const std::string& name, int channels) {
  return {register_parameter(name + "_weight", torch::ones({channels})),
          register_parameter(name + "_bias", torch::zeros({channels})),
          register_buffer(name + "_mean", torch::zeros({channels})),
          register_buffer(name + "_var", torch::ones({channels}))};
}

absl::StatusOr<std::shared_ptr<OfaSupernet>> OfaSupernet::Create(
    const nas::v1::ElasticSpace& space, const NetworkOptions& options) {
  if (options.channels_override != 0) {
    return absl::InvalidArgumentError(
        "evaluation.train.channels: a proxy width does not apply to an OFA "
        "supernet");
  }
  if (space.stages().empty()) {
    return absl::InvalidArgumentError("search_space.elastic.stages: empty");
  }
  for (int s = 0; s < space.stages_size(); ++s) {
    const nas::v1::ElasticStage& stage = space.stages(s);
    if (stage.depths().empty() || stage.expand_ratios().empty() ||
        stage.kernel_sizes().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "search_space.elastic.stages[", s,
          "]: depths, expand_ratios and kernel_sizes must be non-empty"));
    }
  }
  try {
    return std::shared_ptr<OfaSupernet>(new OfaSupernet(space, options));
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("building the OFA supernet: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<NetworkPlan> OfaSupernet::PlanOf(
    const nas::v1::ElasticGenotype& genotype) const {
  nas::v1::Architecture arch;
  *arch.mutable_elastic() = genotype;
  nas::v1::SearchSpace space;
  *space.mutable_elastic() = space_;
  return MakePlan(arch, space, options_);
}

absl::StatusOr<Tensor> OfaSupernet::Forward(
    const nas::v1::ElasticGenotype& genotype, const Tensor& input) {
  ASSIGN_OR_RETURN(NetworkPlan plan, PlanOf(genotype));
  try {
    Tensor x = input;
    if (x.size(2) != plan.input_size || x.size(3) != plan.input_size) {
      x = F::interpolate(x, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{plan.input_size,
                                                           plan.input_size})
                                .mode(torch::kBilinear)
                                .align_corners(false));
    }
    x = F::conv2d(x, stem_.narrow(0, 0, plan.stem_channels),
                  F::Conv2dFuncOptions().padding(1));
    x = Relu6(BatchNorm(x, SliceBn(stem_bn_, plan.stem_channels), is_training()));
    size_t i = 0;
    for (int s = 0; s < genotype.stages_size(); ++s) {
      for (int b = 0; b < genotype.stages(s).depth(); ++b, ++i) {
        const ElasticBlockPlan& p = plan.elastic_blocks[i];
        const BlockSlices w = Slice(blocks_[s][b], p);
        const int64_t mid = static_cast<int64_t>(p.c_in) * p.expand_ratio;
        Tensor y = x;
        if (w.expand.defined()) {
          y = Relu6(BatchNorm(F::conv2d(y, w.expand), w.expand_bn,
                              is_training()));
        }
        y = F::conv2d(y, w.depthwise, F::Conv2dFuncOptions()
                                          .stride(p.stride)
                                          .padding(p.kernel_size / 2)
                                          .groups(mid));
        y = Relu6(BatchNorm(y, w.depthwise_bn, is_training()));
        y = BatchNorm(F::conv2d(y, w.project), w.project_bn, is_training());
        x = p.stride == 1 && p.c_in == p.c_out ? x + y : y;
      }
    }
    return F::linear(x.mean({2, 3}),
                     classifier_weight_.narrow(1, 0, plan.classifier_channels),
                     classifier_bias_);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("OFA supernet forward: ",
                                            e.what_without_backtrace()));
  }
}

absl::StatusOr<std::shared_ptr<Network>> OfaSupernet::ExtractSubnet(
    const nas::v1::ElasticGenotype& genotype) {
  ASSIGN_OR_RETURN(NetworkPlan plan, PlanOf(genotype));
  ASSIGN_OR_RETURN(std::shared_ptr<Network> net, BuildNetwork(plan));
  // The subnet's parameter and buffer names (worker/model/network.cc's
  // ElasticNetwork) and the slices they take.
  std::map<std::string, Tensor> slices;
  auto add_bn = [&](const std::string& prefix, const OfaBatchNorm& bn) {
    slices[prefix + ".weight"] = bn.weight;
    slices[prefix + ".bias"] = bn.bias;
    slices[prefix + ".running_mean"] = bn.running_mean;
    slices[prefix + ".running_var"] = bn.running_var;
  };
  slices["stem.0.conv.weight"] = stem_.narrow(0, 0, plan.stem_channels);
  add_bn("stem.1", SliceBn(stem_bn_, plan.stem_channels));
  size_t i = 0;
  for (int s = 0; s < genotype.stages_size(); ++s) {
    for (int b = 0; b < genotype.stages(s).depth(); ++b, ++i) {
      const BlockSlices w = Slice(blocks_[s][b], plan.elastic_blocks[i]);
      const std::string body = absl::StrCat("blocks.", i, ".body.");
      int layer = 0;  // index in the block's Sequential
      if (w.expand.defined()) {
        slices[absl::StrCat(body, 0, ".conv.weight")] = w.expand;
        add_bn(absl::StrCat(body, 1), w.expand_bn);
        layer = 3;  // after conv, BN, ReLU6
      }
      slices[absl::StrCat(body, layer, ".conv.weight")] = w.depthwise;
      add_bn(absl::StrCat(body, layer + 1), w.depthwise_bn);
      slices[absl::StrCat(body, layer + 3, ".conv.weight")] = w.project;
      add_bn(absl::StrCat(body, layer + 4), w.project_bn);
    }
  }
  slices["classifier.weight"] =
      classifier_weight_.narrow(1, 0, plan.classifier_channels);
  slices["classifier.bias"] = classifier_bias_;

  torch::NoGradGuard no_grad;
  size_t copied = 0;
  auto copy = [&](const std::string& name, Tensor& target) -> absl::Status {
    if (absl::EndsWith(name, "num_batches_tracked")) return absl::OkStatus();
    const auto it = slices.find(name);
    if (it == slices.end() || !target.sizes().equals(it->second.sizes())) {
      return absl::InternalError(absl::StrCat(
          "OFA subnet: no supernet slice of the right shape for ", name,
          " (did worker/model's elastic network layout change?)"));
    }
    target.copy_(it->second);
    ++copied;
    return absl::OkStatus();
  };
  for (auto& item : net->named_parameters()) {
    RETURN_IF_ERROR(copy(item.key(), item.value()));
  }
  for (auto& item : net->named_buffers()) {
    RETURN_IF_ERROR(copy(item.key(), item.value()));
  }
  if (copied != slices.size()) {
    return absl::InternalError(absl::StrCat(
        "OFA subnet: ", slices.size() - copied,
        " supernet slices have no subnet tensor"));
  }
  return net;
}

}  // namespace nas::worker
