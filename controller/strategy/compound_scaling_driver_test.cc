#include "controller/strategy/compound_scaling_driver.h"

#include <cmath>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "common/task/compound_scaling_task.h"
#include "common/task/compound_scaling_testing.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::strategy {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

using ::nas::task::testing::TinyScalingJob;

// The tiny job's grid: (1.25, 1, 1.25), (1.25, 1.25, 1), (2, 1, 1).
nas::v1::JobSpec ScalingJob(int max_phi = 2) { return TinyScalingJob(max_phi); }

Result Accuracy(double accuracy) {
  Result result;
  result.values = {accuracy};
  result.metrics = {{"accuracy", accuracy}};
  return result;
}

TEST(CompoundScalingDriverTest, GridThenScalesTheBestPointByPhi) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Strategy> driver,
                       CreateStrategy(ScalingJob(/*max_phi=*/3)));
  std::vector<nas::v1::Architecture> grid;
  std::set<std::string> hashes;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(nas::v1::Architecture arch, driver->Suggest());
    const TrialTask task = driver->Task(arch);
    EXPECT_EQ(task.name, nas::task::kScaledTrain);
    ASSERT_OK_AND_ASSIGN(nas::task::ScaledTrainConfig config,
                         nas::task::ParseScaledTrainConfig(task.config));
    EXPECT_FALSE(config.scale_phase);
    EXPECT_EQ(config.phi, 1);
    // The constraint holds for every grid trial, and its genotype is the
    // base scaled by its own coefficients.
    EXPECT_LE(std::abs(nas::task::FlopsFactor(config.coefficients) - 2), 0.15);
    ASSERT_OK_AND_ASSIGN(nas::v1::ElasticGenotype expected,
                         nas::task::ScaleGenotype(ScalingJob()
                                                      .strategy()
                                                      .compound_scaling()
                                                      .base_architecture()
                                                      .elastic(),
                                                  config.coefficients, 1));
    EXPECT_EQ(nas::task::ElasticCanonical(arch.elastic()),
              nas::task::ElasticCanonical(expected));
    hashes.insert(arch.hash());
    grid.push_back(arch);
  }
  EXPECT_EQ(hashes.size(), 3u);
  EXPECT_THAT(driver->Suggest(), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_OK(driver->Observe(grid[0], Accuracy(0.70)));
  ASSERT_OK(driver->Observe(grid[1], Accuracy(0.80)));  // (1.25, 1.25, 1)
  EXPECT_THAT(driver->Suggest(), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_OK(driver->Observe(grid[2], Accuracy(0.75)));

  for (int phi = 1; phi <= 3; ++phi) {
    ASSERT_OK_AND_ASSIGN(nas::v1::Architecture arch, driver->Suggest());
    ASSERT_OK_AND_ASSIGN(
        nas::task::ScaledTrainConfig config,
        nas::task::ParseScaledTrainConfig(driver->Task(arch).config));
    EXPECT_TRUE(config.scale_phase);
    EXPECT_EQ(config.phi, phi);
    EXPECT_EQ(config.coefficients.alpha, 1.25);
    EXPECT_EQ(config.coefficients.beta, 1.25);
    EXPECT_EQ(config.coefficients.gamma, 1.0);
    // depth ceil(1 * 1.25^phi): 2, 2, 2; width 0.5 * 1.25^phi (to 1e-6);
    // resolution 16.
    EXPECT_EQ(arch.elastic().stages(0).depth(), 2);
    EXPECT_NEAR(arch.elastic().width_multiplier(), 0.5 * std::pow(1.25, phi),
                1e-6);
    EXPECT_EQ(arch.elastic().resolution(), 16);
    EXPECT_TRUE(absl::StartsWith(arch.canonical(), "compound_scaling:scale;"));
    EXPECT_EQ(hashes.count(arch.hash()), 0u)
        << "phi=1 must not reuse a grid hash";
    hashes.insert(arch.hash());
    ASSERT_OK(driver->Observe(arch, Accuracy(0.8)));
  }
  EXPECT_THAT(driver->Suggest(),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(CompoundScalingDriverTest, FailedGridPointsAreNeverChosen) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Strategy> driver,
                       CreateStrategy(ScalingJob()));
  std::vector<nas::v1::Architecture> grid;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(grid.emplace_back(), driver->Suggest());
  }
  Result failed;
  failed.failed = true;
  ASSERT_OK(driver->Observe(grid[0], failed));
  ASSERT_OK(driver->Observe(grid[1], failed));
  ASSERT_OK(driver->Observe(grid[2], Accuracy(0.1)));
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture phi1, driver->Suggest());
  ASSERT_OK_AND_ASSIGN(
      nas::task::ScaledTrainConfig config,
      nas::task::ParseScaledTrainConfig(driver->Task(phi1).config));
  EXPECT_EQ(config.coefficients.alpha, 2.0);  // the only survivor
}

TEST(CompoundScalingDriverTest, AllGridPointsFailedEndsTheJob) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Strategy> driver,
                       CreateStrategy(ScalingJob()));
  Result failed;
  failed.failed = true;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(nas::v1::Architecture arch, driver->Suggest());
    ASSERT_OK(driver->Observe(arch, failed));
  }
  EXPECT_THAT(driver->Suggest(),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("every compound-scaling grid trial failed")));
}

TEST(CompoundScalingDriverTest, StateRestoresMidScaling) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Strategy> driver,
                       CreateStrategy(ScalingJob()));
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(nas::v1::Architecture arch, driver->Suggest());
    ASSERT_OK(driver->Observe(arch, Accuracy(i == 2 ? 0.9 : 0.5)));
  }
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture phi1, driver->Suggest());
  const std::string saved = driver->SaveState();

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Strategy> restored,
                       CreateStrategy(ScalingJob()));
  ASSERT_OK(restored->RestoreState(saved));
  ASSERT_OK(restored->MarkSeen(phi1));
  // phi = 1 is outstanding; phi = 2 comes next, scaled by (2, 1, 1).
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture phi2, restored->Suggest());
  EXPECT_NE(phi2.hash(), phi1.hash());
  EXPECT_EQ(phi2.elastic().stages(0).depth(), 4);  // ceil(1 * 2^2)
  EXPECT_EQ(restored->Task(phi1).config, driver->Task(phi1).config);
  ASSERT_OK(restored->Observe(phi1, Accuracy(0.9)));
  ASSERT_OK(restored->Observe(phi2, Accuracy(0.9)));
  EXPECT_THAT(restored->Suggest(),
              StatusIs(absl::StatusCode::kResourceExhausted));

  EXPECT_THAT(restored->RestoreState("garbage"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Strategy> other,
                       CreateStrategy(ScalingJob(/*max_phi=*/3)));
  EXPECT_THAT(other->RestoreState(saved),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CompoundScalingDriverTest, BadSpecsAreRefusedByField) {
  nas::v1::JobSpec spec = ScalingJob();
  spec.mutable_strategy()->mutable_compound_scaling()->set_base_trial_id(7);
  EXPECT_THAT(CreateStrategy(spec),
              StatusIs(absl::StatusCode::kUnimplemented,
                       HasSubstr("strategy.compound_scaling.base_trial_id")));
  spec = ScalingJob();
  // Step 0.3: no product of 1, 1.3, 1.6, ... lies within 0.01 of 2.
  spec.mutable_strategy()->mutable_compound_scaling()->set_grid_step(0.3);
  spec.mutable_strategy()->mutable_compound_scaling()->set_tolerance(0.01);
  EXPECT_THAT(CreateStrategy(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("strategy.compound_scaling.tolerance")));
  spec = ScalingJob();
  spec.mutable_strategy()
      ->mutable_compound_scaling()
      ->mutable_base_architecture()
      ->mutable_elastic()
      ->set_resolution(99);  // not in the space
  EXPECT_THAT(CreateStrategy(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("architecture.elastic")));
}

}  // namespace
}  // namespace nas::strategy
