#include "worker/oneshot/darts_supernet.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace nas::worker {

using torch::Tensor;

MixedOpImpl::MixedOpImpl(const std::vector<std::string>& ops, int c,
                         int stride) {
  for (size_t i = 0; i < ops.size(); ++i) {
    ops_.push_back(MakeDartsOp(ops[i], c, stride));
    register_module(absl::StrCat("op", i), ops_.back().ptr());
  }
}

Tensor MixedOpImpl::forward(const Tensor& x, const Tensor& weights) {
  Tensor sum;
  for (size_t i = 0; i < ops_.size(); ++i) {
    Tensor out = weights[static_cast<int64_t>(i)] * ops_[i].forward(x);
    sum = sum.defined() ? sum + out : out;
  }
  return sum;
}

Tensor MixedOpImpl::ForwardOp(int i, const Tensor& x) {
  return ops_[i].forward(x);
}

std::vector<std::pair<int, int>> EdgeInputs(int nodes) {
  std::vector<std::pair<int, int>> edges;
  for (int k = 0; k < nodes; ++k) {
    for (int j = 0; j < k + 2; ++j) edges.emplace_back(k, j);
  }
  return edges;
}

// One searchable cell: a MixedOp on every edge.
class DartsSupernet::CellImpl : public torch::nn::Module {
 public:
  CellImpl(const DartsCellPlan& p, const std::vector<std::string>& ops,
           int nodes)
      : nodes_(nodes) {
    pre0_ = MakeDartsPreprocess(p.c_prev_prev, p.c, p.reduction_prev);
    pre1_ = MakeDartsPreprocess(p.c_prev, p.c, false);
    register_module("pre0", pre0_.ptr());
    register_module("pre1", pre1_.ptr());
    int e = 0;
    for (const auto& [node, input] : EdgeInputs(nodes)) {
      edges_.push_back(register_module(
          absl::StrCat("e", e++),
          MixedOp(ops, p.c, p.reduction && input < 2 ? 2 : 1)));
    }
  }

  Tensor forward(const Tensor& s0, const Tensor& s1, const Tensor& weights) {
    std::vector<Tensor> states = {pre0_.forward(s0), pre1_.forward(s1)};
    int64_t e = 0;
    for (int k = 0; k < nodes_; ++k) {
      Tensor sum;
      for (int j = 0; j < k + 2; ++j, ++e) {
        Tensor out = edges_[e]->forward(states[j], weights[e]);
        sum = sum.defined() ? sum + out : out;
      }
      states.push_back(sum);
    }
    return torch::cat(std::vector<Tensor>(states.begin() + 2, states.end()),
                      1);
  }

 private:
  const int nodes_;
  torch::nn::AnyModule pre0_, pre1_;
  std::vector<MixedOp> edges_;
};

absl::StatusOr<std::shared_ptr<DartsSupernet>> DartsSupernet::Create(
    const nas::v1::DartsCellSpace& space, const NetworkOptions& options) {
  const int nodes = space.nodes() > 0 ? space.nodes() : 4;
  nas::v1::Architecture skeleton;  // `nodes` nodes, no edges: shapes only
  for (int k = 0; k < nodes; ++k) {
    skeleton.mutable_cell()->mutable_normal()->add_nodes();
    skeleton.mutable_cell()->mutable_reduce()->add_nodes();
  }
  nas::v1::SearchSpace wrapped;
  *wrapped.mutable_darts() = space;
  ASSIGN_OR_RETURN(NetworkPlan plan, MakePlan(skeleton, wrapped, options));
  std::vector<std::string> ops(space.ops().begin(), space.ops().end());
  if (ops.empty()) {
    return absl::InvalidArgumentError(
        "search_space.darts.ops: the supernet needs the op list");
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    // MakePlan checked edges only; check the op names here.
    nas::v1::Architecture probe = skeleton;
    nas::v1::CellEdge* edge = probe.mutable_cell()
                                  ->mutable_normal()
                                  ->mutable_nodes(0)
                                  ->add_edges();
    edge->set_op(ops[i]);
    RETURN_IF_ERROR(MakePlan(probe, wrapped, options).status());
  }
  try {
    return std::shared_ptr<DartsSupernet>(
        new DartsSupernet(std::move(plan), std::move(ops), nodes));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("building the DARTS supernet: ", e.what()));
  }
}

DartsSupernet::DartsSupernet(NetworkPlan plan, std::vector<std::string> ops,
                             int nodes)
    : plan_(std::move(plan)), ops_(std::move(ops)), nodes_(nodes) {
  stem_ = MakeCellStem(plan_.options.in_channels, plan_.stem_channels);
  register_module("stem", stem_.ptr());
  for (size_t i = 0; i < plan_.darts_cells.size(); ++i) {
    cells_.push_back(register_module(
        absl::StrCat("cell", i),
        std::make_shared<CellImpl>(plan_.darts_cells[i], ops_, nodes_)));
  }
  classifier_ = register_module(
      "classifier", torch::nn::Linear(plan_.classifier_channels,
                                      plan_.options.num_classes));
  const int64_t edges = num_edges(), num_ops = ops_.size();
  alpha_normal_ = register_parameter("alpha_normal",
                                     1e-3 * torch::randn({edges, num_ops}));
  alpha_reduce_ = register_parameter("alpha_reduce",
                                     1e-3 * torch::randn({edges, num_ops}));
}

Tensor DartsSupernet::forward(Tensor x) {
  const Tensor normal = torch::softmax(alpha_normal_, -1);
  const Tensor reduce = torch::softmax(alpha_reduce_, -1);
  Tensor s0 = stem_.forward(x), s1 = s0;
  for (size_t i = 0; i < cells_.size(); ++i) {
    Tensor next = cells_[i]->forward(
        s0, s1, plan_.darts_cells[i].reduction ? reduce : normal);
    s0 = std::move(s1);
    s1 = std::move(next);
  }
  return classifier_(s1.mean({2, 3}));
}

std::vector<Tensor> DartsSupernet::WeightParameters() {
  std::vector<Tensor> weights;
  for (const auto& item : named_parameters()) {
    if (item.key() == "alpha_normal" || item.key() == "alpha_reduce") continue;
    weights.push_back(item.value());
  }
  return weights;
}

EdgeShape DartsSupernet::EdgeShapeOf(int cell, int e) const {
  const DartsCellPlan& p = plan_.darts_cells[cell];
  const int input = EdgeInputs(nodes_)[e].second;
  if (!p.reduction) return {p.c, p.size, 1};
  if (input < 2) return {p.c, p.size, 2};
  return {p.c, ConvOutputSize(p.size, 3, 2, 1), 1};
}

nas::v1::Cell DeriveCell(const std::vector<std::vector<double>>& weights,
                         const std::vector<std::string>& ops, int nodes,
                         int inputs_per_node) {
  // The strongest op of an edge, ignoring `none` unless it is the only op.
  auto best_op = [&](const std::vector<double>& w) {
    int best = -1;
    for (size_t o = 0; o < ops.size(); ++o) {
      if (ops[o] == "none") continue;
      if (best < 0 || w[o] > w[best]) best = static_cast<int>(o);
    }
    return best < 0 ? 0 : best;
  };
  nas::v1::Cell cell;
  size_t e = 0;
  for (int k = 0; k < nodes; ++k) {
    const int inputs = k + 2;
    std::vector<int> order(inputs);
    std::iota(order.begin(), order.end(), 0);
    std::vector<double> strength(inputs);
    for (int j = 0; j < inputs; ++j) {
      strength[j] = weights[e + j][best_op(weights[e + j])];
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return strength[a] > strength[b]; });
    nas::v1::CellNode* node = cell.add_nodes();
    for (int i = 0; i < std::min(inputs_per_node, inputs); ++i) {
      nas::v1::CellEdge* edge = node->add_edges();
      edge->set_input(order[i]);
      edge->set_op(ops[best_op(weights[e + order[i]])]);
    }
    e += inputs;
  }
  return cell;
}

int CountOp(const nas::v1::Cell& cell, const std::string& op) {
  int count = 0;
  for (const nas::v1::CellNode& node : cell.nodes()) {
    for (const nas::v1::CellEdge& edge : node.edges()) {
      if (edge.op() == op) ++count;
    }
  }
  return count;
}

std::vector<std::vector<double>> ToRows(const Tensor& matrix) {
  const Tensor m = matrix.detach().to(torch::kCPU, torch::kDouble).contiguous();
  std::vector<std::vector<double>> rows(m.size(0));
  const double* data = m.data_ptr<double>();
  for (int64_t r = 0; r < m.size(0); ++r) {
    rows[r].assign(data + r * m.size(1), data + (r + 1) * m.size(1));
  }
  return rows;
}

}  // namespace nas::worker
