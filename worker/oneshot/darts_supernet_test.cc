// The DARTS supernet: a mixed op is the weighted sum of its ops, derivation
// recovers planted genotypes, and the search loop moves the alphas the way
// its objective says (latency term, skip guard), first- and second-order.
#include "worker/oneshot/darts_supernet.h"

#include <random>
#include <string>
#include <vector>

#include "ATen/Parallel.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/oneshot/darts_search.h"

namespace nas::worker {
namespace {

const std::vector<std::string> kOps = {
    "none",         "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
    "dil_conv_3x3", "dil_conv_5x5", "max_pool_3x3", "avg_pool_3x3"};

class DartsSupernetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    at::set_num_threads(1);
    torch::manual_seed(7);
  }
};

// A supernet on 8x8 one-channel images, 4 channels, 3 cells.
std::shared_ptr<DartsSupernet> TinySupernet(const std::vector<std::string>& ops,
                                            int nodes) {
  nas::v1::DartsCellSpace space;
  for (const std::string& op : ops) space.add_ops(op);
  space.set_nodes(nodes);
  space.set_cells(3);
  NetworkOptions options;
  options.in_channels = 1;
  options.image_size = 8;
  options.channels_override = 4;
  absl::StatusOr<std::shared_ptr<DartsSupernet>> net =
      DartsSupernet::Create(space, options);
  EXPECT_OK(net);
  return net.value_or(nullptr);
}

TEST_F(DartsSupernetTest, MixedOpEqualsTheWeightedSumOfItsOps) {
  for (int stride : {1, 2}) {
    MixedOp mixed(kOps, 4, stride);
    mixed->eval();  // BN with running statistics: each op is a fixed function
    torch::NoGradGuard no_grad;
    const torch::Tensor x = torch::randn({2, 4, 8, 8});
    const torch::Tensor w = torch::softmax(torch::randn({8}), 0);
    torch::Tensor expected = torch::zeros({2, 4, 8 / stride, 8 / stride});
    for (int i = 0; i < mixed->num_ops(); ++i) {
      expected = expected + w[i].item<double>() * mixed->ForwardOp(i, x);
    }
    const torch::Tensor got = mixed->forward(x, w);
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6))
        << "stride " << stride << ": max |diff| "
        << (got - expected).abs().max().item<double>();
    // A one-hot weight selects exactly that op.
    const torch::Tensor one_hot = torch::zeros({8}).index_fill_(0, torch::tensor({2}), 1.0);
    EXPECT_TRUE(torch::allclose(mixed->forward(x, one_hot),
                                mixed->ForwardOp(2, x), 1e-6, 1e-7));
  }
}

// Weights [edges][ops] that plant `cell`: its ops strongest on its edges;
// `none` is stronger still everywhere (it must be ignored) and the other
// edges get noise below the planted values.
std::vector<std::vector<double>> Plant(const nas::v1::Cell& cell, int nodes,
                                       std::mt19937_64& rng) {
  std::uniform_real_distribution<double> noise(0.0, 0.3);
  const auto edges = EdgeInputs(nodes);
  std::vector<std::vector<double>> w(edges.size(), std::vector<double>(8));
  for (size_t e = 0; e < edges.size(); ++e) {
    for (double& v : w[e]) v = noise(rng);
    w[e][0] = 0.99;  // none
    const auto& [k, j] = edges[e];
    for (const nas::v1::CellEdge& edge : cell.nodes(k).edges()) {
      if (edge.input() != j) continue;
      const int op = std::find(kOps.begin(), kOps.end(), edge.op()) - kOps.begin();
      w[e][op] = 0.5 + 0.1 * edge.input() / nodes + 0.05 * (op % 3);
    }
  }
  return w;
}

nas::v1::Cell RandomCell(int nodes, std::mt19937_64& rng) {
  nas::v1::Cell cell;
  for (int k = 0; k < nodes; ++k) {
    std::vector<int> inputs(k + 2);
    std::iota(inputs.begin(), inputs.end(), 0);
    std::shuffle(inputs.begin(), inputs.end(), rng);
    nas::v1::CellNode* node = cell.add_nodes();
    for (int i = 0; i < 2; ++i) {
      nas::v1::CellEdge* edge = node->add_edges();
      edge->set_input(inputs[i]);
      edge->set_op(kOps[1 + rng() % 7]);  // never none
    }
  }
  return cell;
}

// Inputs of each node as a sorted list of "input:op" (edge order is free).
std::vector<std::vector<std::string>> Edges(const nas::v1::Cell& cell) {
  std::vector<std::vector<std::string>> out;
  for (const nas::v1::CellNode& node : cell.nodes()) {
    std::vector<std::string>& edges = out.emplace_back();
    for (const nas::v1::CellEdge& e : node.edges()) {
      edges.push_back(std::to_string(e.input()) + ":" + e.op());
    }
    std::sort(edges.begin(), edges.end());
  }
  return out;
}

TEST_F(DartsSupernetTest, DerivationPicksThePlantedGenotype) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    const int nodes = 1 + trial % 5;
    const nas::v1::Cell planted = RandomCell(nodes, rng);
    const nas::v1::Cell derived =
        DeriveCell(Plant(planted, nodes, rng), kOps, nodes, 2);
    EXPECT_EQ(Edges(derived), Edges(planted)) << planted.DebugString();
  }
}

TEST_F(DartsSupernetTest, SupernetAlphasDeriveThePlantedGenotype) {
  std::shared_ptr<DartsSupernet> net = TinySupernet(kOps, 3);
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->num_edges(), 2 + 3 + 4);
  std::mt19937_64 rng(5);
  const nas::v1::Cell normal = RandomCell(3, rng), reduce = RandomCell(3, rng);
  {
    torch::NoGradGuard no_grad;
    auto to_alpha = [](const std::vector<std::vector<double>>& w) {
      torch::Tensor t = torch::empty({static_cast<int64_t>(w.size()), 8},
                                     torch::kFloat32);
      for (size_t e = 0; e < w.size(); ++e) {
        for (int o = 0; o < 8; ++o) t[e][o] = std::log(w[e][o]);
      }
      return t;
    };
    net->alpha_normal().copy_(to_alpha(Plant(normal, 3, rng)));
    net->alpha_reduce().copy_(to_alpha(Plant(reduce, 3, rng)));
  }
  const auto derive = [&](const torch::Tensor& alpha) {
    return DeriveCell(ToRows(torch::softmax(alpha, -1)), kOps, 3, 2);
  };
  EXPECT_EQ(Edges(derive(net->alpha_normal())), Edges(normal));
  EXPECT_EQ(Edges(derive(net->alpha_reduce())), Edges(reduce));
  // Forward gives logits and gradients reach both alphas and the weights.
  const torch::Tensor logits = net->forward(torch::randn({2, 1, 8, 8}));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 10}));
  logits.sum().backward();
  EXPECT_GT(net->alpha_normal().grad().abs().sum().item<double>(), 0);
  EXPECT_GT(net->alpha_reduce().grad().abs().sum().item<double>(), 0);
  EXPECT_EQ(net->WeightParameters().size() + 2, net->parameters().size());
}

// A tiny learnable task: the label is the quadrant of a bright 2x2 patch.
Dataset Patches(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Dataset d;
  d.channels = 1;
  d.height = d.width = 8;
  d.images.assign(static_cast<size_t>(n) * 64, 0);
  for (int i = 0; i < n; ++i) {
    const int label = static_cast<int>(rng() % 4);
    const int y = (label / 2) * 4 + rng() % 3, x = (label % 2) * 4 + rng() % 3;
    for (int dy = 0; dy < 2; ++dy) {
      for (int dx = 0; dx < 2; ++dx) d.images[i * 64 + (y + dy) * 8 + x + dx] = 255;
    }
    d.labels.push_back(label);
  }
  return d;
}

class DartsSearchTest : public DartsSupernetTest {
 protected:
  std::shared_ptr<DartsSupernet> Supernet(const std::vector<std::string>& ops) {
    return TinySupernet(ops, 2);
  }
  // [edges, ops] with `ms` for every op but the cheap ones.
  torch::Tensor Table(const DartsSupernet& net, double ms,
                      const std::vector<std::string>& cheap) {
    torch::Tensor t = torch::full({net.num_edges(), (int64_t)net.ops().size()}, ms);
    for (size_t o = 0; o < net.ops().size(); ++o) {
      if (std::find(cheap.begin(), cheap.end(), net.ops()[o]) != cheap.end()) {
        t.select(1, o).fill_(0.01);
      }
    }
    return t;
  }
  const Dataset train_ = Patches(96, 1);
  const Dataset valid_ = Patches(64, 2);
  const Normalization norm_ = ComputeNormalization(train_);
};

TEST_F(DartsSearchTest, FirstAndSecondOrderSearchesLearnAndMoveAlphas) {
  for (bool unrolled : {false, true}) {
    std::shared_ptr<DartsSupernet> net = Supernet({"none", "skip_connect",
                                                   "sep_conv_3x3", "max_pool_3x3"});
    ASSERT_NE(net, nullptr);
    const torch::Tensor before = net->alpha_normal().detach().clone();
    DartsSearchOptions options;
    options.epochs = 3;
    options.batch_size = 16;
    options.learning_rate = 0.05;
    options.arch_learning_rate = 3e-2;
    options.unrolled = unrolled;
    options.max_skips = 0;
    int epochs_seen = 0;
    DartsSearchCallbacks callbacks;
    callbacks.on_epoch = [&](const DartsEpoch& e) {
      ++epochs_seen;
      EXPECT_EQ(e.normal_weights.size(), 5u);
      EXPECT_NEAR(std::accumulate(e.normal_weights[0].begin(),
                                  e.normal_weights[0].end(), 0.0),
                  1.0, 1e-5);
      return true;
    };
    ASSERT_OK_AND_ASSIGN(DartsSearchResult result,
                         RunDartsSearch(*net, train_, valid_, norm_, options,
                                        torch::kCPU, callbacks));
    EXPECT_EQ(result.epochs_completed, 3);
    EXPECT_EQ(epochs_seen, 3);
    EXPECT_EQ(result.genotype.normal().nodes_size(), 2);
    EXPECT_EQ(result.genotype.reduce().nodes(1).edges_size(), 2);
    EXPECT_GT((net->alpha_normal().detach() - before).abs().max().item<double>(),
              1e-3)
        << "unrolled=" << unrolled;
    EXPECT_GT(result.last.validation_accuracy, 0.4) << "unrolled=" << unrolled;
  }
}

TEST_F(DartsSearchTest, LatencyWeightLowersTheExpectedLatency) {
  double expected[2];
  for (int i = 0; i < 2; ++i) {
    torch::manual_seed(3);
    std::shared_ptr<DartsSupernet> net = Supernet(kOps);
    ASSERT_NE(net, nullptr);
    DartsSearchOptions options;
    options.epochs = 2;
    options.batch_size = 16;
    options.arch_learning_rate = 3e-2;
    options.max_skips = 0;
    options.latency_normal = Table(*net, 1.0, {"none", "skip_connect"});
    options.latency_reduce = Table(*net, 1.0, {"none", "skip_connect"});
    options.latency_weight = i == 0 ? 0.0 : 1.0;
    ASSERT_OK_AND_ASSIGN(DartsSearchResult result,
                         RunDartsSearch(*net, train_, valid_, norm_, options,
                                        torch::kCPU, {}));
    expected[i] = result.last.expected_latency_ms;
  }
  EXPECT_LT(expected[1], 0.8 * expected[0])
      << "lambda 0: " << expected[0] << " ms, lambda 1: " << expected[1];
}

TEST_F(DartsSearchTest, SkipGuardStopsACollapsingSearch) {
  // Everything but skip_connect is expensive: the alphas collapse to skips.
  for (int max_skips : {2, 0}) {
    torch::manual_seed(3);
    std::shared_ptr<DartsSupernet> net =
        Supernet({"none", "skip_connect", "sep_conv_3x3", "max_pool_3x3"});
    ASSERT_NE(net, nullptr);
    DartsSearchOptions options;
    options.epochs = 4;
    options.batch_size = 16;
    options.arch_learning_rate = 0.3;
    options.max_skips = max_skips;
    options.latency_normal = Table(*net, 50.0, {"skip_connect"});
    options.latency_reduce = Table(*net, 50.0, {"skip_connect"});
    options.latency_weight = 1.0;
    ASSERT_OK_AND_ASSIGN(DartsSearchResult result,
                         RunDartsSearch(*net, train_, valid_, norm_, options,
                                        torch::kCPU, {}));
    if (max_skips == 0) {
      EXPECT_EQ(result.skip_stop_epoch, 0);
      EXPECT_EQ(result.epochs_completed, 4);
      EXPECT_EQ(CountOp(result.genotype.normal(), "skip_connect"), 4);
    } else {
      EXPECT_GE(result.skip_stop_epoch, 1);
      EXPECT_LT(result.epochs_completed, 4);
    }
  }
}

TEST_F(DartsSearchTest, SkipDecayKeepsSkipAlphasSmall) {
  double skip_weight[2];
  for (int i = 0; i < 2; ++i) {
    torch::manual_seed(3);
    std::shared_ptr<DartsSupernet> net =
        Supernet({"none", "skip_connect", "sep_conv_3x3", "max_pool_3x3"});
    ASSERT_NE(net, nullptr);
    DartsSearchOptions options;
    options.epochs = 2;
    options.batch_size = 16;
    options.arch_learning_rate = 0.3;
    options.max_skips = 0;
    options.latency_normal = Table(*net, 50.0, {"skip_connect"});
    options.latency_reduce = Table(*net, 50.0, {"skip_connect"});
    options.latency_weight = 1.0;
    options.skip_decay = i == 0 ? 0.0 : 50.0;
    ASSERT_OK(RunDartsSearch(*net, train_, valid_, norm_, options, torch::kCPU,
                             {}).status());
    skip_weight[i] = net->alpha_normal().select(1, 1).mean().item<double>();
  }
  EXPECT_LT(skip_weight[1], skip_weight[0] - 0.1)
      << "no decay " << skip_weight[0] << ", decay " << skip_weight[1];
}

}  // namespace
}  // namespace nas::worker
