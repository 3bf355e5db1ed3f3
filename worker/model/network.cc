#include "worker/model/network.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "torch/nn/functional/padding.h"
#include "torch/nn/functional/upsampling.h"
#include "torch/nn/modules/activation.h"
#include "torch/nn/modules/batchnorm.h"
#include "torch/nn/modules/container/any.h"
#include "torch/nn/modules/container/sequential.h"
#include "torch/nn/modules/linear.h"
#include "torch/nn/modules/pooling.h"
#include "torch/nn/options/padding.h"

namespace nas::worker {
namespace {

namespace nn = torch::nn;
using torch::Tensor;

// A Sequential with a concrete forward, so AnyModule can hold it.
class SeqImpl : public nn::SequentialImpl {
 public:
  using nn::SequentialImpl::SequentialImpl;
  Tensor forward(const Tensor& x) { return nn::SequentialImpl::forward(x); }
};
TORCH_MODULE(Seq);

Seq ReluConvBn(int c_in, int c_out, int kernel, int stride, int padding,
               int dilation = 1) {
  return Seq(nn::ReLU(),
             CountingConv2d(c_in, c_out, kernel, stride, padding, dilation),
             nn::BatchNorm2d(c_out));
}

// ReLU, depthwise k x k (dilated), pointwise 1x1, BN.
void AppendDepthwisePointwiseBn(Seq& seq, int c_in, int c_out, int kernel,
                                int stride, int dilation) {
  seq->push_back(nn::ReLU());
  seq->push_back(CountingConv2d(c_in, c_in, kernel, stride,
                                dilation * (kernel / 2), dilation, c_in));
  seq->push_back(CountingConv2d(c_in, c_out, 1, 1, 0));
  seq->push_back(nn::BatchNorm2d(c_out));
}

Seq SepConv(int c, int kernel, int stride) {
  Seq seq;
  AppendDepthwisePointwiseBn(seq, c, c, kernel, stride, 1);
  AppendDepthwisePointwiseBn(seq, c, c, kernel, 1, 1);
  return seq;
}

Seq DilConv(int c, int kernel, int stride) {
  Seq seq;
  AppendDepthwisePointwiseBn(seq, c, c, kernel, stride, 2);
  return seq;
}

// The `none` op: zeros at the output resolution.
class ZeroImpl : public nn::Module {
 public:
  explicit ZeroImpl(int stride) : stride_(stride) {}
  Tensor forward(const Tensor& x) {
    if (stride_ == 1) return x.mul(0.0);
    using torch::indexing::Slice;
    return x
        .index({Slice(), Slice(),
                Slice(torch::indexing::None, torch::indexing::None, stride_),
                Slice(torch::indexing::None, torch::indexing::None, stride_)})
        .mul(0.0);
  }

 private:
  int stride_;
};
TORCH_MODULE(Zero);

// Halves the resolution with two offset stride-2 1x1 convolutions whose
// outputs are concatenated. The shifted input is padded so odd sides work.
class FactorizedReduceImpl : public nn::Module {
 public:
  FactorizedReduceImpl(int c_in, int c_out)
      : conv1_(
            register_module("conv1", CountingConv2d(c_in, c_out / 2, 1, 2, 0))),
        conv2_(register_module(
            "conv2", CountingConv2d(c_in, c_out - c_out / 2, 1, 2, 0))),
        bn_(register_module("bn", nn::BatchNorm2d(c_out))) {}
  Tensor forward(const Tensor& x) {
    Tensor y = torch::relu(x);
    using torch::indexing::Slice;
    Tensor shifted =
        nn::functional::pad(y, nn::functional::PadFuncOptions({0, 1, 0, 1}))
            .index({Slice(), Slice(), Slice(1, torch::indexing::None),
                    Slice(1, torch::indexing::None)});
    return bn_(torch::cat({conv1_(y), conv2_(shifted)}, 1));
  }

 private:
  CountingConv2d conv1_, conv2_;
  nn::BatchNorm2d bn_;
};
TORCH_MODULE(FactorizedReduce);

nn::AnyModule Pool(const std::string& op, int stride) {
  if (op == "max_pool_3x3") {
    return nn::AnyModule(
        nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(stride).padding(1)));
  }
  return nn::AnyModule(nn::AvgPool2d(
      nn::AvgPool2dOptions(3).stride(stride).padding(1).count_include_pad(
          false)));
}

}  // namespace

nn::AnyModule MakeDartsOp(const std::string& op, int c, int stride) {
  if (op == "none") return nn::AnyModule(Zero(stride));
  if (op == "skip_connect") {
    return stride == 1 ? nn::AnyModule(nn::Identity())
                       : nn::AnyModule(FactorizedReduce(c, c));
  }
  if (op == "sep_conv_3x3") return nn::AnyModule(SepConv(c, 3, stride));
  if (op == "sep_conv_5x5") return nn::AnyModule(SepConv(c, 5, stride));
  if (op == "dil_conv_3x3") return nn::AnyModule(DilConv(c, 3, stride));
  if (op == "dil_conv_5x5") return nn::AnyModule(DilConv(c, 5, stride));
  return Pool(op,
              stride);  // max_pool_3x3, avg_pool_3x3 (validated by MakePlan).
}

nn::AnyModule MakeDartsPreprocess(int c_in, int c_out, bool reduce) {
  return reduce ? nn::AnyModule(FactorizedReduce(c_in, c_out))
                : nn::AnyModule(ReluConvBn(c_in, c_out, 1, 1, 0));
}

nn::AnyModule MakeCellStem(int in_channels, int out_channels) {
  return nn::AnyModule(Seq(CountingConv2d(in_channels, out_channels, 3, 1, 1),
                           nn::BatchNorm2d(out_channels)));
}

namespace {

nn::AnyModule Nb201Op(const std::string& op, int c) {
  if (op == "none") return nn::AnyModule(Zero(1));
  if (op == "skip_connect") return nn::AnyModule(nn::Identity());
  if (op == "nor_conv_1x1") return nn::AnyModule(ReluConvBn(c, c, 1, 1, 0));
  if (op == "nor_conv_3x3") return nn::AnyModule(ReluConvBn(c, c, 3, 1, 1));
  return Pool(op, 1);  // avg_pool_3x3.
}

// One edge of a cell: the op and the node it reads.
struct Edge {
  int input;
  nn::AnyModule op;
};

// Registers `edges` of every node under names n<k>e<i>; returns them.
std::vector<std::vector<Edge>> MakeEdges(
    nn::Module& owner, const nas::v1::Cell& cell, int num_inputs,
    const std::function<nn::AnyModule(const nas::v1::CellEdge&)>& make) {
  std::vector<std::vector<Edge>> nodes(cell.nodes_size());
  for (int k = 0; k < cell.nodes_size(); ++k) {
    for (int i = 0; i < cell.nodes(k).edges_size(); ++i) {
      const auto& e = cell.nodes(k).edges(i);
      Edge edge{e.input(), make(e)};
      owner.register_module(absl::StrCat("n", k, "e", i), edge.op.ptr());
      nodes[k].push_back(std::move(edge));
    }
  }
  return nodes;
}

// Computes every node as the sum of its edges; states[0..num_inputs) are the
// inputs. A node without edges is zero.
void ComputeNodes(std::vector<std::vector<Edge>>& nodes,
                  std::vector<Tensor>& states) {
  for (auto& node : nodes) {
    Tensor sum;
    for (Edge& edge : node) {
      Tensor out = edge.op.forward(states[edge.input]);
      sum = sum.defined() ? sum + out : out;
    }
    if (!sum.defined()) sum = torch::zeros_like(states.back());
    states.push_back(sum);
  }
}

class DartsCellImpl : public nn::Module {
 public:
  DartsCellImpl(const nas::v1::Cell& genotype, const DartsCellPlan& p) {
    pre0_ = MakeDartsPreprocess(p.c_prev_prev, p.c, p.reduction_prev);
    pre1_ = MakeDartsPreprocess(p.c_prev, p.c, false);
    register_module("pre0", pre0_.ptr());
    register_module("pre1", pre1_.ptr());
    nodes_ = MakeEdges(*this, genotype, 2, [&](const nas::v1::CellEdge& e) {
      return MakeDartsOp(e.op(), p.c, p.reduction && e.input() < 2 ? 2 : 1);
    });
  }
  Tensor forward(const Tensor& s0, const Tensor& s1) {
    std::vector<Tensor> states = {pre0_.forward(s0), pre1_.forward(s1)};
    ComputeNodes(nodes_, states);
    return torch::cat(std::vector<Tensor>(states.begin() + 2, states.end()), 1);
  }

 private:
  nn::AnyModule pre0_, pre1_;
  std::vector<std::vector<Edge>> nodes_;
};
TORCH_MODULE(DartsCell);

// Stem (conv 3x3 + BN) shared by the cell networks, and the classifier head.
class CellNetworkBase : public Network {
 protected:
  explicit CellNetworkBase(const NetworkPlan& plan)
      : stem_(register_module("stem",
                              Seq(CountingConv2d(plan.options.in_channels,
                                                 plan.stem_channels, 3, 1, 1),
                                  nn::BatchNorm2d(plan.stem_channels)))),
        classifier_(register_module(
            "classifier",
            nn::Linear(plan.classifier_channels, plan.options.num_classes))) {}
  Tensor Classify(const Tensor& features) {
    return classifier_(features.mean({2, 3}));
  }
  Seq stem_;
  nn::Linear classifier_;
};

class DartsNetwork : public CellNetworkBase {
 public:
  explicit DartsNetwork(const NetworkPlan& plan) : CellNetworkBase(plan) {
    for (size_t i = 0; i < plan.darts_cells.size(); ++i) {
      const DartsCellPlan& p = plan.darts_cells[i];
      cells_.push_back(register_module(
          absl::StrCat("cell", i),
          DartsCell(p.reduction ? plan.reduce : plan.normal, p)));
    }
  }
  Tensor forward(Tensor x) override {
    Tensor s0 = stem_->forward(x), s1 = s0;
    for (DartsCell& cell : cells_) {
      Tensor next = cell(s0, s1);
      s0 = std::move(s1);
      s1 = std::move(next);
    }
    return Classify(s1);
  }

 private:
  std::vector<DartsCell> cells_;
};

class Nb201CellImpl : public nn::Module {
 public:
  Nb201CellImpl(const nas::v1::Cell& genotype, int c) {
    nodes_ = MakeEdges(*this, genotype, 1, [&](const nas::v1::CellEdge& e) {
      return Nb201Op(e.op(), c);
    });
  }
  Tensor forward(const Tensor& x) {
    std::vector<Tensor> states = {x};
    ComputeNodes(nodes_, states);
    return states.back();
  }

 private:
  std::vector<std::vector<Edge>> nodes_;
};
TORCH_MODULE(Nb201Cell);

// ResNet basic block with stride 2 between NAS-Bench-201 stages.
class ResidualReductionImpl : public nn::Module {
 public:
  ResidualReductionImpl(int c_in, int c_out)
      : conv_a_(register_module("conv_a", ReluConvBn(c_in, c_out, 3, 2, 1))),
        conv_b_(register_module("conv_b", ReluConvBn(c_out, c_out, 3, 1, 1))),
        downsample_(register_module(
            "downsample", Seq(nn::AvgPool2d(nn::AvgPool2dOptions(2).stride(2)),
                              CountingConv2d(c_in, c_out, 1, 1, 0)))) {}
  Tensor forward(const Tensor& x) {
    return downsample_->forward(x) + conv_b_->forward(conv_a_->forward(x));
  }

 private:
  Seq conv_a_, conv_b_, downsample_;
};

class Nb201Network : public CellNetworkBase {
 public:
  explicit Nb201Network(const NetworkPlan& plan)
      : CellNetworkBase(plan),
        last_bn_(register_module("last_bn",
                                 nn::BatchNorm2d(plan.classifier_channels))) {
    for (size_t i = 0; i < plan.nb201_layers.size(); ++i) {
      const Nb201LayerPlan& p = plan.nb201_layers[i];
      layers_.push_back(
          p.reduction ? nn::AnyModule(std::make_shared<ResidualReductionImpl>(
                            p.c_in, p.c_out))
                      : nn::AnyModule(Nb201Cell(plan.normal, p.c_out)));
      register_module(absl::StrCat("layer", i), layers_.back().ptr());
    }
  }
  Tensor forward(Tensor x) override {
    x = stem_->forward(x);
    for (nn::AnyModule& layer : layers_) x = layer.forward(x);
    return Classify(torch::relu(last_bn_(x)));
  }

 private:
  nn::BatchNorm2d last_bn_;
  std::vector<nn::AnyModule> layers_;
};

// Inverted residual: [1x1 expand, BN, ReLU6], k x k depthwise, BN, ReLU6,
// 1x1 project, BN; identity shortcut when shapes allow.
class InvertedResidualImpl : public nn::Module {
 public:
  explicit InvertedResidualImpl(const ElasticBlockPlan& p)
      : residual_(p.stride == 1 && p.c_in == p.c_out) {
    const int mid = p.c_in * p.expand_ratio;
    if (p.expand_ratio != 1) {
      body_->push_back(CountingConv2d(p.c_in, mid, 1, 1, 0));
      body_->push_back(nn::BatchNorm2d(mid));
      body_->push_back(nn::ReLU6());
    }
    body_->push_back(CountingConv2d(mid, mid, p.kernel_size, p.stride,
                                    p.kernel_size / 2, 1, mid));
    body_->push_back(nn::BatchNorm2d(mid));
    body_->push_back(nn::ReLU6());
    body_->push_back(CountingConv2d(mid, p.c_out, 1, 1, 0));
    body_->push_back(nn::BatchNorm2d(p.c_out));
    register_module("body", body_);
  }
  Tensor forward(const Tensor& x) {
    Tensor y = body_->forward(x);
    return residual_ ? x + y : y;
  }

 private:
  bool residual_;
  Seq body_;
};

class ElasticNetwork : public Network {
 public:
  explicit ElasticNetwork(const NetworkPlan& plan)
      : resolution_(plan.input_size),
        stem_(register_module(
            "stem", Seq(CountingConv2d(plan.options.in_channels,
                                       plan.stem_channels, 3, 1, 1),
                        nn::BatchNorm2d(plan.stem_channels), nn::ReLU6()))),
        classifier_(register_module(
            "classifier",
            nn::Linear(plan.classifier_channels, plan.options.num_classes))) {
    for (const ElasticBlockPlan& b : plan.elastic_blocks) {
      blocks_->push_back(std::make_shared<InvertedResidualImpl>(b));
    }
    register_module("blocks", blocks_);
  }
  Tensor forward(Tensor x) override {
    if (x.size(2) != resolution_ || x.size(3) != resolution_) {
      namespace F = nn::functional;
      x = F::interpolate(
          x, F::InterpolateFuncOptions()
                 .size(std::vector<int64_t>{resolution_, resolution_})
                 .mode(torch::kBilinear)
                 .align_corners(false));
    }
    return classifier_(blocks_->forward(stem_->forward(x)).mean({2, 3}));
  }

 private:
  int64_t resolution_;
  Seq stem_;
  Seq blocks_;
  nn::Linear classifier_;
};

}  // namespace

CountingConv2dImpl::CountingConv2dImpl(int c_in, int c_out, int kernel,
                                       int stride, int padding, int dilation,
                                       int groups)
    : conv_(register_module("conv",
                            nn::Conv2d(nn::Conv2dOptions(c_in, c_out, kernel)
                                           .stride(stride)
                                           .padding(padding)
                                           .dilation(dilation)
                                           .groups(groups)
                                           .bias(false)))),
      weights_per_output_(static_cast<int64_t>(c_in / groups) * kernel *
                          kernel) {}

Tensor CountingConv2dImpl::forward(const Tensor& x) {
  Tensor y = conv_(x);
  last_macs_ =
      (y.numel() / std::max<int64_t>(1, y.size(0))) * weights_per_output_;
  return y;
}

absl::StatusOr<std::shared_ptr<Network>> BuildNetwork(const NetworkPlan& plan) {
  try {
    switch (plan.kind) {
      case NetworkKind::kDarts:
        return std::shared_ptr<Network>(std::make_shared<DartsNetwork>(plan));
      case NetworkKind::kNb201:
        return std::shared_ptr<Network>(std::make_shared<Nb201Network>(plan));
      case NetworkKind::kElastic:
        return std::shared_ptr<Network>(std::make_shared<ElasticNetwork>(plan));
    }
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("building the network: ", e.what()));
  }
  return absl::InvalidArgumentError("unknown network kind");
}

int64_t CountParameters(const torch::nn::Module& module) {
  int64_t total = 0;
  for (const Tensor& p : module.parameters()) total += p.numel();
  return total;
}

}  // namespace nas::worker
