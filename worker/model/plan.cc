#include "worker/model/plan.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace nas::worker {
namespace {

using nas::v1::Cell;

const std::vector<std::string>& DefaultDartsOps() {
  static const auto* ops = new std::vector<std::string>{
      "none",         "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
      "dil_conv_3x3", "dil_conv_5x5", "max_pool_3x3", "avg_pool_3x3"};
  return *ops;
}

const std::vector<std::string>& DefaultNb201Ops() {
  static const auto* ops = new std::vector<std::string>{
      "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};
  return *ops;
}

template <typename RepeatedString>
std::vector<std::string> OpsOrDefault(const RepeatedString& ops,
                                      const std::vector<std::string>& dflt) {
  if (ops.empty()) return dflt;
  return std::vector<std::string>(ops.begin(), ops.end());
}

// Checks op names and edge sources of `cell`. Node k may read nodes
// 0..k + num_inputs - 1.
absl::Status ValidateCell(const Cell& cell, const std::string& field,
                          int num_inputs,
                          const std::vector<std::string>& allowed_ops) {
  if (cell.nodes().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": no nodes"));
  }
  for (int k = 0; k < cell.nodes_size(); ++k) {
    for (int e = 0; e < cell.nodes(k).edges_size(); ++e) {
      const auto& edge = cell.nodes(k).edges(e);
      const std::string where =
          absl::StrCat(field, ".nodes[", k, "].edges[", e, "]");
      if (edge.input() < 0 || edge.input() >= k + num_inputs) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ".input: ", edge.input(), " is not an earlier node"));
      }
      if (!absl::c_linear_search(allowed_ops, edge.op())) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".op: unknown op '", edge.op(), "'"));
      }
    }
  }
  return absl::OkStatus();
}

int PositiveOr(int value, int dflt) { return value > 0 ? value : dflt; }

absl::Status PlanDarts(const nas::v1::CellGenotype& genotype,
                       const nas::v1::DartsCellSpace& space,
                       NetworkPlan& plan) {
  const std::vector<std::string> ops =
      OpsOrDefault(space.ops(), DefaultDartsOps());
  RETURN_IF_ERROR(
      ValidateCell(genotype.normal(), "architecture.cell.normal", 2, ops));
  const NetworkOptions& o = plan.options;
  const int cells = PositiveOr(o.cells_override, PositiveOr(space.cells(), 8));
  const int c_init =
      PositiveOr(o.channels_override, PositiveOr(space.init_channels(), 16));
  std::vector<int> reductions(space.reduction_positions().begin(),
                              space.reduction_positions().end());
  if (reductions.empty() || o.cells_override > 0) {
    reductions = {cells / 3, 2 * cells / 3};
  }
  for (int r : reductions) {
    if (r < 0 || r >= cells) {
      return absl::InvalidArgumentError(
          absl::StrCat("search_space.darts.reduction_positions: ", r,
                       " not in [0, ", cells, ")"));
    }
  }
  RETURN_IF_ERROR(
      ValidateCell(genotype.reduce(), "architecture.cell.reduce", 2, ops));
  plan.normal = genotype.normal();
  plan.reduce = genotype.reduce();

  constexpr int kStemMultiplier = 3;
  plan.stem_channels = kStemMultiplier * c_init;
  plan.input_size = o.image_size;
  int c_pp = plan.stem_channels, c_p = plan.stem_channels, c = c_init;
  int size_pp = o.image_size, size_p = o.image_size;
  bool reduction_prev = false;
  for (int i = 0; i < cells; ++i) {
    const bool reduction = absl::c_linear_search(reductions, i);
    if (reduction) c *= 2;
    DartsCellPlan cell{c_pp,           c_p,     c,     reduction,
                       reduction_prev, size_pp, size_p};
    plan.darts_cells.push_back(cell);
    const int nodes = (reduction ? plan.reduce : plan.normal).nodes_size();
    c_pp = c_p;
    c_p = nodes * c;
    size_pp = size_p;
    if (reduction) size_p = ConvOutputSize(size_p, 3, 2, 1);
    reduction_prev = reduction;
  }
  plan.classifier_channels = c_p;
  return absl::OkStatus();
}

absl::Status PlanNb201(const nas::v1::CellGenotype& genotype,
                       const nas::v1::Nb201CellSpace& space,
                       NetworkPlan& plan) {
  const std::vector<std::string> ops =
      OpsOrDefault(space.ops(), DefaultNb201Ops());
  if (genotype.normal().nodes_size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("architecture.cell.normal: NAS-Bench-201 cells have 3 "
                     "computed nodes, got ",
                     genotype.normal().nodes_size()));
  }
  RETURN_IF_ERROR(
      ValidateCell(genotype.normal(), "architecture.cell.normal", 1, ops));
  plan.normal = genotype.normal();
  const NetworkOptions& o = plan.options;
  const int n =
      PositiveOr(o.cells_override, PositiveOr(space.cells_per_stage(), 5));
  const int c =
      PositiveOr(o.channels_override, PositiveOr(space.init_channels(), 16));
  plan.stem_channels = c;
  plan.input_size = o.image_size;
  int c_prev = c, size = o.image_size;
  for (int stage = 0; stage < 3; ++stage) {
    const int c_stage = c << stage;
    if (stage > 0) {
      plan.nb201_layers.push_back({true, c_prev, c_stage, size});
      size = ConvOutputSize(size, 3, 2, 1);
    }
    for (int i = 0; i < n; ++i) {
      plan.nb201_layers.push_back({false, c_stage, c_stage, size});
    }
    c_prev = c_stage;
  }
  plan.classifier_channels = c_prev;
  return absl::OkStatus();
}

template <typename Repeated, typename T>
bool AllowedOrEmpty(const Repeated& allowed, T value) {
  return allowed.empty() || absl::c_linear_search(allowed, value);
}

absl::Status PlanElastic(const nas::v1::ElasticGenotype& genotype,
                         const nas::v1::ElasticSpace& space,
                         NetworkPlan& plan) {
  if (space.stages().empty()) {
    return absl::InvalidArgumentError("search_space.elastic.stages: empty");
  }
  if (genotype.stages_size() != space.stages_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("architecture.elastic.stages: ", genotype.stages_size(),
                     " stages, the space has ", space.stages_size()));
  }
  const NetworkOptions& o = plan.options;
  const double width =
      genotype.width_multiplier() > 0 ? genotype.width_multiplier() : 1.0;
  if (!space.width_multipliers().empty() &&
      absl::c_none_of(space.width_multipliers(),
                      [&](double w) { return std::abs(w - width) < 1e-9; })) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture.elastic.width_multiplier: ", width, " not allowed"));
  }
  const int resolution = PositiveOr(genotype.resolution(), o.image_size);
  if (!AllowedOrEmpty(space.resolutions(), resolution)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture.elastic.resolution: ", resolution, " not allowed"));
  }
  const int stem = PositiveOr(space.stem_channels(), 16);
  // The proxy channel override rescales every width by the same factor.
  const double scale = o.channels_override > 0
                           ? static_cast<double>(o.channels_override) / stem
                           : 1.0;
  auto scaled = [&](int channels, double w) {
    return std::max(1, static_cast<int>(std::lround(channels * w * scale)));
  };
  plan.stem_channels = scaled(stem, 1.0);
  plan.input_size = resolution;
  int c_prev = plan.stem_channels, size = resolution;
  for (int s = 0; s < space.stages_size(); ++s) {
    const auto& stage = space.stages(s);
    const auto& choice = genotype.stages(s);
    const std::string field =
        absl::StrCat("architecture.elastic.stages[", s, "]");
    if (choice.depth() < 1 || !AllowedOrEmpty(stage.depths(), choice.depth())) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".depth: ", choice.depth(), " not allowed"));
    }
    if (choice.expand_ratios_size() != choice.depth() ||
        choice.kernel_sizes_size() != choice.depth()) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": expand_ratios and kernel_sizes need one entry per block"));
    }
    const int c_out = scaled(stage.channels(), width);
    for (int b = 0; b < choice.depth(); ++b) {
      const int e = choice.expand_ratios(b), k = choice.kernel_sizes(b);
      if (e < 1 || !AllowedOrEmpty(stage.expand_ratios(), e)) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".expand_ratios[", b, "]: ", e, " not allowed"));
      }
      if (k < 1 || k % 2 == 0 || !AllowedOrEmpty(stage.kernel_sizes(), k)) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".kernel_sizes[", b, "]: ", k, " not allowed"));
      }
      const int stride = b == 0 ? std::max(1, stage.stride()) : 1;
      plan.elastic_blocks.push_back({c_prev, c_out, e, k, stride, size});
      size = ConvOutputSize(size, k, stride, k / 2);
      c_prev = c_out;
    }
  }
  plan.classifier_channels = c_prev;
  return absl::OkStatus();
}

// Cost accumulation helpers: shapes in, params/MACs added to `cost`.
void AddConv(NetworkCost& cost, int c_in, int c_out, int kernel, int groups,
             int out_size) {
  const int64_t weights =
      static_cast<int64_t>(c_out) * (c_in / groups) * kernel * kernel;
  cost.params += weights;
  cost.macs += weights * out_size * out_size;
}
void AddBatchNorm(NetworkCost& cost, int channels) {
  cost.params += 2 * channels;
}

void AddReluConvBn(NetworkCost& cost, int c_in, int c_out, int kernel,
                   int stride, int padding, int dilation, int size) {
  AddConv(cost, c_in, c_out, kernel, 1,
          ConvOutputSize(size, kernel, stride, padding, dilation));
  AddBatchNorm(cost, c_out);
}

void AddFactorizedReduce(NetworkCost& cost, int c_in, int c_out, int size) {
  const int out = ConvOutputSize(size, 1, 2, 0);
  AddConv(cost, c_in, c_out / 2, 1, 1, out);
  AddConv(cost, c_in, c_out - c_out / 2, 1, 1, out);
  AddBatchNorm(cost, c_out);
}

// Depthwise k x k (optionally dilated) then pointwise 1x1, then BN.
void AddDepthwisePointwiseBn(NetworkCost& cost, int c_in, int c_out, int kernel,
                             int stride, int dilation, int size) {
  const int out =
      ConvOutputSize(size, kernel, stride, dilation * (kernel / 2), dilation);
  AddConv(cost, c_in, c_in, kernel, c_in, out);
  AddConv(cost, c_in, c_out, 1, 1, out);
  AddBatchNorm(cost, c_out);
}

void AddDartsOp(NetworkCost& cost, const std::string& op, int c, int stride,
                int size) {
  if (op == "skip_connect") {
    if (stride == 2) AddFactorizedReduce(cost, c, c, size);
  } else if (op == "sep_conv_3x3" || op == "sep_conv_5x5") {
    const int k = op == "sep_conv_3x3" ? 3 : 5;
    AddDepthwisePointwiseBn(cost, c, c, k, stride, 1, size);
    AddDepthwisePointwiseBn(cost, c, c, k, 1, 1,
                            ConvOutputSize(size, k, stride, k / 2));
  } else if (op == "dil_conv_3x3" || op == "dil_conv_5x5") {
    AddDepthwisePointwiseBn(cost, c, c, op == "dil_conv_3x3" ? 3 : 5, stride, 2,
                            size);
  }
  // none, max_pool_3x3, avg_pool_3x3: no parameters, no MACs.
}

// Every network starts with a 3x3 convolution and BN at the input size.
void AddStem(const NetworkPlan& plan, NetworkCost& cost) {
  AddConv(cost, plan.options.in_channels, plan.stem_channels, 3, 1,
          plan.input_size);
  AddBatchNorm(cost, plan.stem_channels);
}

void AddDartsCost(const NetworkPlan& plan, NetworkCost& cost) {
  AddStem(plan, cost);
  for (const DartsCellPlan& cell : plan.darts_cells) {
    if (cell.reduction_prev) {
      AddFactorizedReduce(cost, cell.c_prev_prev, cell.c, cell.size_prev_prev);
    } else {
      AddReluConvBn(cost, cell.c_prev_prev, cell.c, 1, 1, 0, 1,
                    cell.size_prev_prev);
    }
    AddReluConvBn(cost, cell.c_prev, cell.c, 1, 1, 0, 1, cell.size);
    const Cell& genotype = cell.reduction ? plan.reduce : plan.normal;
    for (const auto& node : genotype.nodes()) {
      for (const auto& edge : node.edges()) {
        const int stride = cell.reduction && edge.input() < 2 ? 2 : 1;
        const int size =
            edge.input() < 2
                ? cell.size
                : (cell.reduction ? ConvOutputSize(cell.size, 3, 2, 1)
                                  : cell.size);
        AddDartsOp(cost, edge.op(), cell.c, stride, size);
      }
    }
  }
}

void AddNb201Cost(const NetworkPlan& plan, NetworkCost& cost) {
  AddStem(plan, cost);
  for (const Nb201LayerPlan& layer : plan.nb201_layers) {
    if (layer.reduction) {
      AddReluConvBn(cost, layer.c_in, layer.c_out, 3, 2, 1, 1, layer.size);
      const int out = ConvOutputSize(layer.size, 3, 2, 1);
      AddReluConvBn(cost, layer.c_out, layer.c_out, 3, 1, 1, 1, out);
      AddConv(cost, layer.c_in, layer.c_out, 1, 1,
              ConvOutputSize(layer.size, 2, 2, 0));
      continue;
    }
    for (const auto& node : plan.normal.nodes()) {
      for (const auto& edge : node.edges()) {
        if (edge.op() == "nor_conv_1x1" || edge.op() == "nor_conv_3x3") {
          const int k = edge.op() == "nor_conv_1x1" ? 1 : 3;
          AddReluConvBn(cost, layer.c_in, layer.c_out, k, 1, k / 2, 1,
                        layer.size);
        }
      }
    }
  }
  AddBatchNorm(cost, plan.classifier_channels);  // The final BN-ReLU.
}

void AddElasticCost(const NetworkPlan& plan, NetworkCost& cost) {
  AddStem(plan, cost);
  for (const ElasticBlockPlan& b : plan.elastic_blocks) {
    const int mid = b.c_in * b.expand_ratio;
    if (b.expand_ratio != 1) {
      AddConv(cost, b.c_in, mid, 1, 1, b.size);
      AddBatchNorm(cost, mid);
    }
    const int out =
        ConvOutputSize(b.size, b.kernel_size, b.stride, b.kernel_size / 2);
    AddConv(cost, mid, mid, b.kernel_size, mid, out);
    AddBatchNorm(cost, mid);
    AddConv(cost, mid, b.c_out, 1, 1, out);
    AddBatchNorm(cost, b.c_out);
  }
}

}  // namespace

int ConvOutputSize(int size, int kernel, int stride, int padding,
                   int dilation) {
  return (size + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
}

absl::StatusOr<NetworkPlan> MakePlan(const nas::v1::Architecture& architecture,
                                     const nas::v1::SearchSpace& space,
                                     const NetworkOptions& options) {
  if (options.in_channels < 1 || options.image_size < 1 ||
      options.num_classes < 1) {
    return absl::InvalidArgumentError(
        "network options: in_channels, image_size and num_classes must be > 0");
  }
  NetworkPlan plan;
  plan.options = options;
  switch (space.space_case()) {
    case nas::v1::SearchSpace::kDarts:
    case nas::v1::SearchSpace::kNb201:
      if (!architecture.has_cell()) {
        return absl::InvalidArgumentError(
            "architecture: a cell space needs architecture.cell");
      }
      if (space.has_darts()) {
        plan.kind = NetworkKind::kDarts;
        RETURN_IF_ERROR(PlanDarts(architecture.cell(), space.darts(), plan));
      } else {
        plan.kind = NetworkKind::kNb201;
        RETURN_IF_ERROR(PlanNb201(architecture.cell(), space.nb201(), plan));
      }
      break;
    case nas::v1::SearchSpace::kElastic:
      if (!architecture.has_elastic()) {
        return absl::InvalidArgumentError(
            "architecture: the elastic space needs architecture.elastic");
      }
      plan.kind = NetworkKind::kElastic;
      RETURN_IF_ERROR(
          PlanElastic(architecture.elastic(), space.elastic(), plan));
      break;
    default:
      return absl::InvalidArgumentError("search_space: no space set");
  }
  return plan;
}

NetworkCost AnalyticCost(const NetworkPlan& plan) {
  NetworkCost cost;
  switch (plan.kind) {
    case NetworkKind::kDarts:
      AddDartsCost(plan, cost);
      break;
    case NetworkKind::kNb201:
      AddNb201Cost(plan, cost);
      break;
    case NetworkKind::kElastic:
      AddElasticCost(plan, cost);
      break;
  }
  // Classifier: Linear(classifier_channels, num_classes) with bias.
  const int64_t linear =
      static_cast<int64_t>(plan.classifier_channels) * plan.options.num_classes;
  cost.params += linear + plan.options.num_classes;
  cost.macs += linear;
  return cost;
}

}  // namespace nas::worker
