// The DARTS supernet (Liu et al. 2019) and the discrete cell derived from it.
//
// Every edge of a DARTS cell (node k reads every earlier node j: the two cell
// inputs and nodes 0..k-1) is a MixedOp: the softmax(alpha)-weighted sum of
// all ops of the search space's list. The network stacks normal and reduction
// cells as the plain DARTS network of the same plan (worker/model), with one
// alpha matrix [edges, ops] shared by all normal cells and one by all
// reduction cells. Edge e enumerates (node k, input j) in node order, then
// input order (EdgeInputs()).
//
// DeriveCell turns edge weights into a genotype: per node the
// `inputs_per_node` incoming edges with the strongest non-`none` op weight,
// each with its strongest non-`none` op (the DARTS rule).
//
// Modules are not thread-safe (LibTorch). Free functions are pure.
#ifndef NAS_WORKER_ONESHOT_DARTS_SUPERNET_H_
#define NAS_WORKER_ONESHOT_DARTS_SUPERNET_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/search_space.pb.h"
#include "torch/nn/module.h"
#include "torch/nn/modules/container/any.h"
#include "torch/nn/modules/linear.h"
#include "torch/types.h"
#include "worker/model/network.h"
#include "worker/model/plan.h"

namespace nas::worker {

// sum_i weights[i] * op_i(x) over the op list of one edge.
class MixedOpImpl : public torch::nn::Module {
 public:
  MixedOpImpl(const std::vector<std::string>& ops, int c, int stride);
  // `weights`: [num_ops], e.g. softmax(alpha) of this edge.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& weights);
  // Op i alone (tests compare the mix with the weighted sum of these).
  torch::Tensor ForwardOp(int i, const torch::Tensor& x);
  int num_ops() const { return static_cast<int>(ops_.size()); }

 private:
  std::vector<torch::nn::AnyModule> ops_;
};
TORCH_MODULE(MixedOp);

// (node k, input j) of every edge of a cell with `nodes` nodes, in edge order.
std::vector<std::pair<int, int>> EdgeInputs(int nodes);

// Input shape of one edge's ops (for a latency table).
struct EdgeShape {
  int channels = 0;
  int size = 0;
  int stride = 1;
};

class DartsSupernet : public Network {
 public:
  // `space`: a DARTS space with its op list; `options` as for MakePlan
  // (proxy channels/cells apply). Built on the CPU; move with ->to(device).
  static absl::StatusOr<std::shared_ptr<DartsSupernet>> Create(
      const nas::v1::DartsCellSpace& space, const NetworkOptions& options);

  torch::Tensor forward(torch::Tensor x) override;

  // The network weights (every parameter but the alphas).
  std::vector<torch::Tensor> WeightParameters();
  // {alpha_normal, alpha_reduce}, each [num_edges, num_ops].
  std::vector<torch::Tensor> ArchParameters() { return {alpha_normal_, alpha_reduce_}; }
  torch::Tensor alpha_normal() const { return alpha_normal_; }
  torch::Tensor alpha_reduce() const { return alpha_reduce_; }

  const std::vector<std::string>& ops() const { return ops_; }
  int nodes() const { return nodes_; }
  int num_edges() const { return static_cast<int>(EdgeInputs(nodes_).size()); }
  // Cell plans, in network order.
  const std::vector<DartsCellPlan>& cells() const { return plan_.darts_cells; }
  // Shape of edge `e`'s ops in cell `cell`.
  EdgeShape EdgeShapeOf(int cell, int e) const;

 private:
  DartsSupernet(NetworkPlan plan, std::vector<std::string> ops, int nodes);

  class CellImpl;
  const NetworkPlan plan_;
  const std::vector<std::string> ops_;
  const int nodes_;
  torch::nn::AnyModule stem_;
  std::vector<std::shared_ptr<CellImpl>> cells_;
  torch::nn::Linear classifier_{nullptr};
  torch::Tensor alpha_normal_;
  torch::Tensor alpha_reduce_;
};

// Edge weights [num_edges][num_ops] -> a cell genotype with `nodes` nodes.
// `inputs_per_node` is capped by the inputs a node has.
nas::v1::Cell DeriveCell(const std::vector<std::vector<double>>& weights,
                         const std::vector<std::string>& ops, int nodes,
                         int inputs_per_node);

// Number of edges of `cell` whose op is `op`.
int CountOp(const nas::v1::Cell& cell, const std::string& op);

// A [rows, cols] tensor as nested vectors of doubles (on the CPU).
std::vector<std::vector<double>> ToRows(const torch::Tensor& matrix);

}  // namespace nas::worker

#endif  // NAS_WORKER_ONESHOT_DARTS_SUPERNET_H_
