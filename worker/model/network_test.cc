#include "worker/model/network.h"

#include <memory>
#include <tuple>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "torch/nn/modules/linear.h"
#include "worker/model/plan.h"
#include "worker/model/test_architectures.h"

namespace nas::worker {
namespace {

// MACs of the last forward, summed over every conv and linear layer (the
// C++ stand-in for a forward hook).
int64_t MeasuredMacs(torch::nn::Module& net) {
  int64_t macs = 0;
  for (const auto& m : net.modules()) {
    if (auto* conv = m->as<CountingConv2dImpl>()) macs += conv->last_macs();
    if (auto* linear = m->as<torch::nn::LinearImpl>()) {
      macs += linear->options.in_features() * linear->options.out_features();
    }
  }
  return macs;
}

struct Case {
  const char* name;
  nas::v1::Architecture arch;
  nas::v1::SearchSpace space;
  int in_channels;
  int image_size;
};

class NetworkCostTest : public ::testing::TestWithParam<int> {
 protected:
  static Case GetCase(int i) {
    switch (i) {
      case 0:
        return {"darts_fmnist", testing::AllOpsDartsArchitecture(),
                testing::TinyDartsSpace(), 1, 28};
      case 1:
        return {"darts_cifar", testing::AllOpsDartsArchitecture(),
                testing::TinyDartsSpace(), 3, 32};
      case 2:
        return {"nb201_fmnist", testing::Nb201Index1Architecture(),
                testing::TinyNb201Space(), 1, 28};
      case 3:
        return {"nb201_cifar", testing::Nb201Index1Architecture(),
                testing::TinyNb201Space(), 3, 32};
      default:
        return {"elastic_fmnist", testing::TinyElasticArchitecture(),
                testing::TinyElasticSpace(), 1, 28};
    }
  }
};

TEST_P(NetworkCostTest, AnalyticCostMatchesBuiltModule) {
  const Case c = GetCase(GetParam());
  NetworkOptions options;
  options.in_channels = c.in_channels;
  options.image_size = c.image_size;
  ASSERT_OK_AND_ASSIGN(NetworkPlan plan, MakePlan(c.arch, c.space, options));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Network> net, BuildNetwork(plan));
  const NetworkCost cost = AnalyticCost(plan);

  EXPECT_EQ(CountParameters(*net), cost.params) << c.name;
  net->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor logits = net->forward(
      torch::randn({2, c.in_channels, c.image_size, c.image_size}));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 10})) << c.name;
  EXPECT_EQ(MeasuredMacs(*net), cost.macs) << c.name;
  EXPECT_GT(cost.macs, 0);
}

INSTANTIATE_TEST_SUITE_P(AllSpaces, NetworkCostTest, ::testing::Range(0, 5));

TEST(NetworkTest, TrainingModeBackwardReachesEveryParameter) {
  NetworkOptions options;
  options.in_channels = 1;
  options.image_size = 28;
  ASSERT_OK_AND_ASSIGN(NetworkPlan plan,
                       MakePlan(testing::Nb201Index1Architecture(),
                                testing::TinyNb201Space(), options));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Network> net, BuildNetwork(plan));
  net->train();
  net->forward(torch::randn({4, 1, 28, 28})).sum().backward();
  for (const auto& p : net->named_parameters()) {
    EXPECT_TRUE(p.value().grad().defined()) << p.key();
  }
}

}  // namespace
}  // namespace nas::worker
