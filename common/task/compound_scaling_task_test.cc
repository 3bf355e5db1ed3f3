#include "common/task/compound_scaling_task.h"

#include <cmath>
#include <set>
#include <tuple>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::task {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

// Brute force over the full cube: every (alpha, beta, gamma) on the grid up
// to `limit` steps per axis that meets the constraint.
std::set<std::tuple<int, int, int>> BruteForceGrid(double step, double tol,
                                                   int limit) {
  std::set<std::tuple<int, int, int>> out;
  for (int i = 0; i <= limit; ++i) {
    for (int j = 0; j <= limit; ++j) {
      for (int k = 0; k <= limit; ++k) {
        const double a = 1 + i * step, b = 1 + j * step, g = 1 + k * step;
        if (std::abs(a * b * b * g * g - 2) <= tol + 1e-9) out.insert({i, j, k});
      }
    }
  }
  return out;
}

TEST(ScalingGridTest, EveryPointMeetsTheConstraintAndNoneIsMissing) {
  for (const auto& [step, tol] : std::vector<std::pair<double, double>>{
           {0.05, 0.1}, {0.1, 0.1}, {0.25, 0.15}, {0.2, 0.2}, {0.03, 0.05}}) {
    const std::vector<ScalingCoefficients> grid = ScalingGrid(step, tol);
    ASSERT_FALSE(grid.empty()) << step << " " << tol;
    EXPECT_EQ(ScalingGridSize(step, tol), static_cast<int64_t>(grid.size()));
    std::set<std::tuple<int, int, int>> got;
    for (const ScalingCoefficients& c : grid) {
      EXPECT_GE(c.alpha, 1);
      EXPECT_GE(c.beta, 1);
      EXPECT_GE(c.gamma, 1);
      EXPECT_LE(std::abs(FlopsFactor(c) - 2), tol + 1e-9)
          << c.alpha << " " << c.beta << " " << c.gamma;
      got.insert({static_cast<int>(std::lround((c.alpha - 1) / step)),
                  static_cast<int>(std::lround((c.beta - 1) / step)),
                  static_cast<int>(std::lround((c.gamma - 1) / step))});
    }
    EXPECT_EQ(got.size(), grid.size()) << "duplicate points";
    EXPECT_EQ(got, BruteForceGrid(step, tol, static_cast<int>(1.2 / step) + 2))
        << step << " " << tol;
  }
}

TEST(ScalingGridTest, KnownSmallGridInOrder) {
  const std::vector<ScalingCoefficients> grid = ScalingGrid(0.25, 0.15);
  ASSERT_EQ(grid.size(), 3u);
  EXPECT_DOUBLE_EQ(grid[0].alpha, 1.25);
  EXPECT_DOUBLE_EQ(grid[0].beta, 1.0);
  EXPECT_DOUBLE_EQ(grid[0].gamma, 1.25);
  EXPECT_DOUBLE_EQ(grid[1].alpha, 1.25);
  EXPECT_DOUBLE_EQ(grid[1].beta, 1.25);
  EXPECT_DOUBLE_EQ(grid[2].alpha, 2.0);
  EXPECT_TRUE(ScalingGrid(0, 0.1).empty());
  EXPECT_TRUE(ScalingGrid(0.1, 0).empty());
}

nas::v1::ElasticGenotype Base() {
  nas::v1::ElasticGenotype g;
  nas::v1::ElasticStageChoice* s0 = g.add_stages();
  s0->set_depth(1);
  s0->add_expand_ratios(4);
  s0->add_kernel_sizes(3);
  nas::v1::ElasticStageChoice* s1 = g.add_stages();
  s1->set_depth(2);
  s1->add_expand_ratios(3);
  s1->add_expand_ratios(6);
  s1->add_kernel_sizes(3);
  s1->add_kernel_sizes(5);
  g.set_resolution(20);
  g.set_width_multiplier(0.5);
  return g;
}

TEST(ScaleGenotypeTest, DepthRoundsUpWidthMultipliesResolutionRounds) {
  // phi = 1: 1 * 1.2 -> 2 blocks (ceil), 2 * 1.2 = 2.4 -> 3; width
  // 0.5 * 1.1 = 0.55; resolution 20 * 1.15 = 23.
  ASSERT_OK_AND_ASSIGN(nas::v1::ElasticGenotype g1,
                       ScaleGenotype(Base(), {1.2, 1.1, 1.15}, 1));
  EXPECT_EQ(g1.stages(0).depth(), 2);
  EXPECT_EQ(g1.stages(1).depth(), 3);
  EXPECT_DOUBLE_EQ(g1.width_multiplier(), 0.55);
  EXPECT_EQ(g1.resolution(), 23);
  // New blocks repeat the stage's last block.
  EXPECT_THAT(g1.stages(0).expand_ratios(), ::testing::ElementsAre(4, 4));
  EXPECT_THAT(g1.stages(1).expand_ratios(), ::testing::ElementsAre(3, 6, 6));
  EXPECT_THAT(g1.stages(1).kernel_sizes(), ::testing::ElementsAre(3, 5, 5));

  // phi = 3: 1.2^3 = 1.728 -> depths 2 and ceil(3.456) = 4; width
  // 0.5 * 1.331 = 0.6655; resolution round(20 * 1.520875) = round(30.4175).
  ASSERT_OK_AND_ASSIGN(nas::v1::ElasticGenotype g3,
                       ScaleGenotype(Base(), {1.2, 1.1, 1.15}, 3));
  EXPECT_EQ(g3.stages(0).depth(), 2);
  EXPECT_EQ(g3.stages(1).depth(), 4);
  EXPECT_EQ(g3.stages(1).expand_ratios_size(), 4);
  EXPECT_DOUBLE_EQ(g3.width_multiplier(), 0.6655);
  EXPECT_EQ(g3.resolution(), 30);

  // An exact product stays put (no spurious ceil from 2 * 1.5 = 3.0000001).
  ASSERT_OK_AND_ASSIGN(nas::v1::ElasticGenotype exact,
                       ScaleGenotype(Base(), {1.5, 1.0, 1.0}, 1));
  EXPECT_EQ(exact.stages(1).depth(), 3);
  EXPECT_EQ(exact.resolution(), 20);
  EXPECT_DOUBLE_EQ(exact.width_multiplier(), 0.5);

  // phi = 0 is the base itself.
  ASSERT_OK_AND_ASSIGN(nas::v1::ElasticGenotype g0,
                       ScaleGenotype(Base(), {1.2, 1.1, 1.15}, 0));
  EXPECT_EQ(ElasticCanonical(g0), ElasticCanonical(Base()));
  EXPECT_EQ(ElasticCanonical(Base()), "elastic:r=20;w=0.5;d=1:e4k3;d=2:e3k3,e6k5");
}

TEST(ScaleGenotypeTest, BadBaseIsRefusedByField) {
  nas::v1::ElasticGenotype bad = Base();
  bad.mutable_stages(1)->set_depth(3);
  EXPECT_THAT(ScaleGenotype(bad, {}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("architecture.elastic.stages[1]")));
  bad = Base();
  bad.set_resolution(0);
  EXPECT_THAT(ScaleGenotype(bad, {}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("architecture.elastic.resolution")));
}

TEST(ScaledTrainConfigTest, RoundTripsAndNamesBadFields) {
  ScaledTrainConfig config;
  config.scale_phase = true;
  config.coefficients = {1.25, 1.0, 1.25};
  config.phi = 2;
  EXPECT_EQ(ScaledTrainConfigJson(config),
            "{\"phase\":\"scale\",\"alpha\":1.25,\"beta\":1,\"gamma\":1.25,"
            "\"phi\":2}");
  ASSERT_OK_AND_ASSIGN(ScaledTrainConfig parsed,
                       ParseScaledTrainConfig(ScaledTrainConfigJson(config)));
  EXPECT_TRUE(parsed.scale_phase);
  EXPECT_EQ(parsed.coefficients.alpha, 1.25);
  EXPECT_EQ(parsed.coefficients.gamma, 1.25);
  EXPECT_EQ(parsed.phi, 2);
  EXPECT_THAT(ParseScaledTrainConfig("{\"phase\":\"grid\",\"alpha\":0.9,"
                                     "\"beta\":1,\"gamma\":1,\"phi\":1}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("task_config.alpha")));
  EXPECT_THAT(ParseScaledTrainConfig("{\"phase\":\"grid\",\"alpha\":1,"
                                     "\"beta\":1,\"gamma\":1}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("task_config.phi")));
  EXPECT_THAT(ParseScaledTrainConfig("not json"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("task_config")));
}

TEST(WidenedSpaceTest, AddsTheScaledValues) {
  nas::v1::ElasticSpace space;
  for (int s = 0; s < 2; ++s) {
    nas::v1::ElasticStage* stage = space.add_stages();
    stage->add_depths(1);
    stage->add_depths(2);
  }
  space.add_resolutions(20);
  space.add_width_multipliers(0.5);
  ASSERT_OK_AND_ASSIGN(nas::v1::ElasticGenotype g,
                       ScaleGenotype(Base(), {1.2, 1.1, 1.15}, 3));
  ASSERT_OK_AND_ASSIGN(nas::v1::ElasticSpace widened, WidenedSpace(space, g));
  EXPECT_THAT(widened.stages(1).depths(), ::testing::Contains(4));
  EXPECT_THAT(widened.resolutions(), ::testing::Contains(30));
  EXPECT_THAT(widened.width_multipliers(), ::testing::Contains(0.6655));
  // Values the space has already are not repeated (spec validation refuses
  // repeats; a width within 1e-9 counts as the same).
  nas::v1::ElasticGenotype same = g;
  same.set_width_multiplier(0.5 + 1e-12);
  same.set_resolution(20);
  same.mutable_stages(0)->set_depth(2);
  ASSERT_OK_AND_ASSIGN(nas::v1::ElasticSpace kept, WidenedSpace(space, same));
  EXPECT_EQ(kept.width_multipliers_size(), 1);
  EXPECT_EQ(kept.resolutions_size(), 1);
  EXPECT_EQ(kept.stages(0).depths_size(), 2);
  space.add_stages();
  EXPECT_THAT(WidenedSpace(space, g),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("architecture.elastic.stages")));
}

}  // namespace
}  // namespace nas::task
