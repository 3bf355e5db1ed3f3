#include "common/task/ofa_task.h"

#include <set>
#include <string>

#include "common/task/ofa_testing.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::task {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

nas::v1::ElasticSpace Space() {
  return testing::TinyOfaJob(1, 1, 1).search_space().elastic();
}

// Distinct values of each knob over many samples of `space`.
struct Seen {
  std::set<int> depths, expands, kernels, resolutions;
  std::set<double> widths;
};
Seen SampleMany(const nas::v1::ElasticSpace& space, int n) {
  std::mt19937_64 rng(1);
  Seen seen;
  for (int i = 0; i < n; ++i) {
    const nas::v1::ElasticGenotype g = SampleSubnet(space, rng);
    EXPECT_TRUE(InSpace(space, g)) << g.DebugString();
    for (const auto& stage : g.stages()) {
      seen.depths.insert(stage.depth());
      seen.expands.insert(stage.expand_ratios().begin(),
                          stage.expand_ratios().end());
      seen.kernels.insert(stage.kernel_sizes().begin(),
                          stage.kernel_sizes().end());
    }
    seen.resolutions.insert(g.resolution());
    seen.widths.insert(g.width_multiplier());
  }
  return seen;
}

TEST(OfaPhaseSpaceTest, EachPhaseOpensOneMoreDimension) {
  const nas::v1::ElasticSpace space = Space();
  using Ints = std::set<int>;
  using Doubles = std::set<double>;
  // full: only the largest network.
  Seen full = SampleMany(OfaPhaseSpace(space, 0), 200);
  EXPECT_EQ(full.depths, Ints({2}));
  EXPECT_EQ(full.expands, Ints({4}));
  EXPECT_EQ(full.kernels, Ints({5}));
  EXPECT_EQ(full.resolutions, Ints({28}));
  EXPECT_EQ(full.widths, Doubles({1.0}));
  // kernel: kernels and resolutions.
  Seen kernel = SampleMany(OfaPhaseSpace(space, 1), 200);
  EXPECT_EQ(kernel.depths, Ints({2}));
  EXPECT_EQ(kernel.expands, Ints({4}));
  EXPECT_EQ(kernel.kernels, Ints({3, 5}));
  EXPECT_EQ(kernel.resolutions, Ints({20, 28}));
  EXPECT_EQ(kernel.widths, Doubles({1.0}));
  // depth: and depths.
  Seen depth = SampleMany(OfaPhaseSpace(space, 2), 200);
  EXPECT_EQ(depth.depths, Ints({1, 2}));
  EXPECT_EQ(depth.expands, Ints({4}));
  EXPECT_EQ(depth.widths, Doubles({1.0}));
  // width: everything.
  Seen width = SampleMany(OfaPhaseSpace(space, 3), 200);
  EXPECT_EQ(width.depths, Ints({1, 2}));
  EXPECT_EQ(width.expands, Ints({2, 4}));
  EXPECT_EQ(width.kernels, Ints({3, 5}));
  EXPECT_EQ(width.widths, Doubles({0.5, 1.0}));
  // Every phase space lies inside the job's space.
  for (int phase = 0; phase < kOfaPhases; ++phase) {
    EXPECT_TRUE(InSpace(space, LargestSubnet(OfaPhaseSpace(space, phase))));
    EXPECT_TRUE(InSpace(space, SmallestSubnet(OfaPhaseSpace(space, phase))));
  }
  EXPECT_STREQ(OfaPhaseName(2), "depth");
}

TEST(ElasticMacsTest, GrowsWithEveryKnobAndHandComputedForOneBlock) {
  const nas::v1::ElasticSpace space = Space();
  const nas::v1::ElasticGenotype small = SmallestSubnet(space);
  const nas::v1::ElasticGenotype large = LargestSubnet(space);
  EXPECT_LT(ElasticMacs(space, small, 1, 28), ElasticMacs(space, large, 1, 28));
  nas::v1::ElasticGenotype wider = small;
  wider.set_width_multiplier(1.0);
  EXPECT_LT(ElasticMacs(space, small, 1, 28), ElasticMacs(space, wider, 1, 28));
  // Smallest: resolution 20, width 0.5 (4 and 8 channels), one block per
  // stage, expand 2, kernel 3, stride 2.
  //   stem     1 * 4 * 9 * 20^2                     = 14400
  //   block 1  expand 4 * 8 * 20^2 = 12800; depthwise 8 * 9 * 10^2 = 7200;
  //            project 8 * 4 * 10^2 = 3200
  //   block 2  expand 4 * 8 * 10^2 = 3200; depthwise 8 * 9 * 5^2 = 1800;
  //            project 8 * 8 * 5^2 = 1600
  //   classifier 8 * 10 = 80
  EXPECT_EQ(ElasticMacs(space, small, 1, 28),
            14400 + 12800 + 7200 + 3200 + 3200 + 1800 + 1600 + 80);
}

TEST(OfaConfigTest, RoundTripsAndNamesBadFields) {
  ASSERT_OK_AND_ASSIGN(
      OfaTrainConfig train,
      ParseOfaTrainConfig(OfaTrainConfigJson({3, OfaCheckpointPath("ab12")})));
  EXPECT_EQ(train.epochs_per_phase, 3);
  EXPECT_EQ(train.checkpoint, "ofa/ab12.pt");
  ASSERT_OK_AND_ASSIGN(OfaSubnetConfig subnet,
                       ParseOfaSubnetConfig(OfaSubnetConfigJson({"ofa/x.pt"})));
  EXPECT_EQ(subnet.checkpoint, "ofa/x.pt");

  EXPECT_THAT(ParseOfaTrainConfig("{\"checkpoint\":\"ofa/x.pt\"}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("task_config.epochs_per_phase")));
  EXPECT_THAT(ParseOfaSubnetConfig("{}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("task_config.checkpoint")));
  EXPECT_THAT(ParseOfaSubnetConfig("not json"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("task_config")));
  for (const char* bad : {"/etc/x.pt", "ofa/../../x.pt", "ofa/x.bin", "",
                          "ofa//x.pt"}) {
    EXPECT_THAT(CheckCheckpointPath(bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("task_config.checkpoint")))
        << bad;
  }
  EXPECT_OK(CheckCheckpointPath("ofa/0123abcd.pt"));
}

}  // namespace
}  // namespace nas::task
