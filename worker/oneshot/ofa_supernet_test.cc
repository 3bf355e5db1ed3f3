#include "worker/oneshot/ofa_supernet.h"

#include <memory>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "torch/torch.h"
#include "worker/model/test_architectures.h"

namespace nas::worker {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

// The tiny elastic space with width multipliers 0.5 and 1.
nas::v1::ElasticSpace Space() {
  nas::v1::ElasticSpace space = testing::TinyElasticSpace().elastic();
  space.add_width_multipliers(0.5);
  space.add_width_multipliers(1.0);
  return space;
}

NetworkOptions Options() {
  NetworkOptions options;
  options.in_channels = 1;
  options.image_size = 28;
  return options;
}

// Stage 0: one block, expand 1 (no expand conv), kernel 3 of the max 5;
// stage 1: two blocks; width 0.5; resolution 24.
nas::v1::ElasticGenotype SmallSubnet() {
  return testing::ParseText<nas::v1::Architecture>(
             "elastic { resolution: 24 width_multiplier: 0.5 "
             "stages { depth: 1 expand_ratios: 1 kernel_sizes: 3 }"
             "stages { depth: 2 expand_ratios: 3 expand_ratios: 6 "
             "kernel_sizes: 5 kernel_sizes: 3 } }")
      .elastic();
}

class OfaSupernetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(7);
    ASSERT_OK_AND_ASSIGN(supernet_, OfaSupernet::Create(Space(), Options()));
    // Non-trivial batch norm statistics, so their slicing is checked too.
    torch::NoGradGuard no_grad;
    for (auto& buffer : supernet_->buffers()) {
      buffer.copy_(torch::rand_like(buffer) + 0.5);
    }
    for (auto& parameter : supernet_->parameters()) {
      if (parameter.dim() == 1) parameter.copy_(torch::randn_like(parameter));
    }
    supernet_->eval();
  }

  std::shared_ptr<OfaSupernet> supernet_;
};

TEST_F(OfaSupernetTest, SubnetWeightsAreTheSupernetSlices) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Network> subnet,
                       supernet_->ExtractSubnet(SmallSubnet()));
  const auto params = subnet->named_parameters();
  // Stage 0 at width 0.5: 2 channels; its block has expand ratio 1, so its
  // depthwise conv (body.0) takes the first 4 (stem) channels of the
  // supernet's and the centred 3 x 3 of its 5 x 5 kernel.
  const OfaBlock& first = supernet_->blocks()[0][0];
  const torch::Tensor depthwise = params["blocks.0.body.0.conv.weight"];
  ASSERT_EQ(depthwise.sizes(), (std::vector<int64_t>{4, 1, 3, 3}));
  EXPECT_TRUE(torch::equal(
      depthwise, first.depthwise.narrow(0, 0, 4).narrow(2, 1, 3).narrow(3, 1, 3)));
  const torch::Tensor project = params["blocks.0.body.3.conv.weight"];
  ASSERT_EQ(project.sizes(), (std::vector<int64_t>{2, 4, 1, 1}));
  EXPECT_TRUE(torch::equal(project,
                           first.project.narrow(0, 0, 2).narrow(1, 0, 4)));
  // Stage 1, block 1: 4 channels in and out, expand 6 -> 24 of the max 48.
  const OfaBlock& last = supernet_->blocks()[1][1];
  const torch::Tensor expand = params["blocks.2.body.0.conv.weight"];
  ASSERT_EQ(expand.sizes(), (std::vector<int64_t>{24, 4, 1, 1}));
  EXPECT_TRUE(
      torch::equal(expand, last.expand.narrow(0, 0, 24).narrow(1, 0, 4)));
  const auto buffers = subnet->named_buffers();
  EXPECT_TRUE(torch::equal(buffers["blocks.2.body.1.running_var"],
                           last.expand_bn.running_var.narrow(0, 0, 24)));
}

TEST_F(OfaSupernetTest, StandaloneSubnetComputesTheSupernetsOutput) {
  const torch::Tensor x = torch::randn({3, 1, 28, 28});
  for (const nas::v1::ElasticGenotype& genotype :
       {SmallSubnet(), testing::TinyElasticArchitecture().elastic()}) {
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<Network> subnet,
                         supernet_->ExtractSubnet(genotype));
    subnet->eval();
    ASSERT_OK_AND_ASSIGN(torch::Tensor expected,
                         supernet_->Forward(genotype, x));
    const torch::Tensor got = subnet->forward(x);
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_TRUE(torch::allclose(got, expected, 1e-4, 1e-5))
        << genotype.DebugString() << (got - expected).abs().max();
  }
  // Different subnets really compute different functions.
  ASSERT_OK_AND_ASSIGN(torch::Tensor small,
                       supernet_->Forward(SmallSubnet(), x));
  ASSERT_OK_AND_ASSIGN(
      torch::Tensor large,
      supernet_->Forward(testing::TinyElasticArchitecture().elastic(), x));
  EXPECT_FALSE(torch::allclose(small, large));
}

TEST_F(OfaSupernetTest, AGenotypeOutsideTheSpaceIsRefusedByField) {
  nas::v1::ElasticGenotype bad = SmallSubnet();
  bad.mutable_stages(0)->set_kernel_sizes(0, 7);
  EXPECT_THAT(supernet_->ExtractSubnet(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("architecture.elastic.stages[0]")));
  EXPECT_THAT(supernet_->Forward(bad, torch::zeros({1, 1, 28, 28})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace nas::worker
