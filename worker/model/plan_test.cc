#include "worker/model/plan.h"

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/model/test_architectures.h"

namespace nas::worker {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;
using testing::Nb201Architecture;

NetworkOptions FashionMnist() {
  NetworkOptions o;
  o.in_channels = 1;
  o.image_size = 28;
  return o;
}

// Worked by hand: stem 44 params; cells conv3x3 at 4, 8, 16 channels;
// residual reductions 4->8 and 8->16; final BN; Linear(16, 10).
TEST(PlanTest, Nb201CostMatchesHandCount) {
  const auto arch = Nb201Architecture("edges { input: 0 op: 'nor_conv_3x3' }",
                                      "edges { input: 1 op: 'skip_connect' }",
                                      "edges { input: 2 op: 'skip_connect' }");
  ASSERT_OK_AND_ASSIGN(
      NetworkPlan plan,
      MakePlan(arch, testing::TinyNb201Space(), FashionMnist()));
  const NetworkCost cost = AnalyticCost(plan);
  EXPECT_EQ(cost.params, 7902);
  EXPECT_EQ(cost.macs, 718304);
}

TEST(PlanTest, ProxyOverridesChannelsAndCells) {
  NetworkOptions o = FashionMnist();
  o.channels_override = 8;
  o.cells_override = 6;
  ASSERT_OK_AND_ASSIGN(NetworkPlan plan,
                       MakePlan(testing::AllOpsDartsArchitecture(),
                                testing::TinyDartsSpace(), o));
  ASSERT_EQ(plan.darts_cells.size(), 6u);
  EXPECT_EQ(plan.stem_channels, 24);
  // Default reductions for 6 cells: positions 2 and 4.
  EXPECT_FALSE(plan.darts_cells[1].reduction);
  EXPECT_TRUE(plan.darts_cells[2].reduction);
  EXPECT_EQ(plan.darts_cells[2].c, 16);
  EXPECT_TRUE(plan.darts_cells[3].reduction_prev);
  EXPECT_EQ(plan.darts_cells[5].c, 32);
  EXPECT_EQ(plan.darts_cells[5].size, 7);
  EXPECT_EQ(plan.classifier_channels, 4 * 32);
}

TEST(PlanTest, RejectsUnknownOp) {
  const auto arch = Nb201Architecture("edges { input: 0 op: 'conv_9x9' }",
                                      "edges { input: 1 op: 'skip_connect' }",
                                      "edges { input: 2 op: 'skip_connect' }");
  EXPECT_THAT(MakePlan(arch, testing::TinyNb201Space(), FashionMnist()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("nodes[0].edges[0].op")));
}

TEST(PlanTest, RejectsEdgeFromLaterNode) {
  const auto arch = Nb201Architecture("edges { input: 1 op: 'nor_conv_1x1' }",
                                      "edges { input: 1 op: 'skip_connect' }",
                                      "edges { input: 2 op: 'skip_connect' }");
  EXPECT_THAT(MakePlan(arch, testing::TinyNb201Space(), FashionMnist()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not an earlier node")));
}

TEST(PlanTest, RejectsDisallowedElasticChoice) {
  auto arch = testing::TinyElasticArchitecture();
  arch.mutable_elastic()->mutable_stages(1)->set_kernel_sizes(0, 7);
  EXPECT_THAT(MakePlan(arch, testing::TinyElasticSpace(), FashionMnist()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("stages[1].kernel_sizes[0]")));
}

TEST(PlanTest, RejectsGenotypeOfAnotherSpace) {
  EXPECT_THAT(MakePlan(testing::TinyElasticArchitecture(),
                       testing::TinyNb201Space(), FashionMnist()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace nas::worker
