#include "bench/train_bench/darts.h"

#include <array>
#include <string>
#include <utility>
#include <vector>

namespace nas::bench {
namespace {

constexpr std::array<const char*, 8> kDartsOps = {
    "none",         "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"};

using EdgeList = std::vector<std::pair<const char*, int>>;

// Two consecutive (op, input) pairs per node.
void FillCell(const EdgeList& edges, nas::v1::Cell* cell) {
  for (size_t i = 0; i < edges.size(); ++i) {
    if (i % 2 == 0) cell->add_nodes();
    nas::v1::CellEdge* edge = cell->mutable_nodes(i / 2)->add_edges();
    edge->set_op(edges[i].first);
    edge->set_input(edges[i].second);
  }
}

void FillRandomCell(std::mt19937_64& rng, nas::v1::Cell* cell) {
  EdgeList edges;
  for (int node = 0; node < 4; ++node) {
    const int inputs = node + 2;
    const int first = std::uniform_int_distribution<int>(0, inputs - 1)(rng);
    int second = std::uniform_int_distribution<int>(0, inputs - 2)(rng);
    if (second >= first) ++second;  // Two distinct inputs.
    std::uniform_int_distribution<int> op(0, kDartsOps.size() - 1);
    edges.emplace_back(kDartsOps[op(rng)], first);
    edges.emplace_back(kDartsOps[op(rng)], second);
  }
  FillCell(edges, cell);
}

}  // namespace

nas::v1::Architecture DartsV2() {
  nas::v1::Architecture arch;
  FillCell({{"sep_conv_3x3", 0},
            {"sep_conv_3x3", 1},
            {"sep_conv_3x3", 0},
            {"sep_conv_3x3", 1},
            {"sep_conv_3x3", 1},
            {"skip_connect", 0},
            {"skip_connect", 0},
            {"dil_conv_3x3", 2}},
           arch.mutable_cell()->mutable_normal());
  FillCell({{"max_pool_3x3", 0},
            {"max_pool_3x3", 1},
            {"skip_connect", 2},
            {"max_pool_3x3", 1},
            {"max_pool_3x3", 0},
            {"skip_connect", 2},
            {"skip_connect", 2},
            {"max_pool_3x3", 1}},
           arch.mutable_cell()->mutable_reduce());
  return arch;
}

nas::v1::Architecture RandomDartsArchitecture(std::mt19937_64& rng) {
  nas::v1::Architecture arch;
  FillRandomCell(rng, arch.mutable_cell()->mutable_normal());
  FillRandomCell(rng, arch.mutable_cell()->mutable_reduce());
  return arch;
}

nas::v1::SearchSpace DartsSpace(int channels, int cells) {
  nas::v1::SearchSpace space;
  space.mutable_darts()->set_nodes(4);
  space.mutable_darts()->set_cells(cells);
  space.mutable_darts()->set_init_channels(channels);
  return space;
}

nas::v1::TrialLease TrainLease(const nas::v1::Architecture& architecture,
                               const nas::v1::SearchSpace& space,
                               const LeaseOptions& options) {
  nas::v1::TrialLease lease;
  lease.set_trial_id(1);
  *lease.mutable_architecture() = architecture;
  *lease.mutable_search_space() = space;
  nas::v1::TrainEvaluation* train = lease.mutable_evaluation()->mutable_train();
  train->set_dataset("fashion_mnist");
  train->set_epochs(options.epochs);
  train->set_batch_size(options.batch_size);
  train->set_learning_rate(options.learning_rate);
  train->set_train_subset(options.train_subset);
  train->set_validation_size(options.validation_size);
  train->set_seed(options.seed);
  train->set_report_test(options.report_test);
  return lease;
}

}  // namespace nas::bench
