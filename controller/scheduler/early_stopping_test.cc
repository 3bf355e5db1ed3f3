#include "controller/scheduler/early_stopping.h"

#include <map>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

nas::v1::EarlyStopping Median(int min_trials, int start_step) {
  nas::v1::EarlyStopping config;
  config.mutable_median()->set_min_trials(min_trials);
  config.mutable_median()->set_start_step(start_step);
  return config;
}

nas::v1::EarlyStopping Asha(int min_resource, int eta) {
  nas::v1::EarlyStopping config;
  config.mutable_asha()->set_min_resource(min_resource);
  config.mutable_asha()->set_reduction_factor(eta);
  return config;
}

// Completes trials 1..n whose score is `value(i)` at steps 1..steps.
template <typename F>
void CompleteTrials(EarlyStopper& stopper, int n, int steps, F value) {
  for (int i = 1; i <= n; ++i) {
    for (int s = 1; s <= steps; ++s) stopper.Report(i, s, value(i));
    stopper.MarkCompleted(i);
  }
}

TEST(ScoreOfTest, NegatesMinimizedObjectivesAndNeedsEveryMetric) {
  google::protobuf::RepeatedPtrField<nas::v1::Objective> objectives;
  nas::v1::Objective* acc = objectives.Add();
  acc->set_metric("accuracy");
  acc->set_direction(nas::v1::MAXIMIZE);
  nas::v1::Objective* latency = objectives.Add();
  latency->set_metric("latency_ms");
  latency->set_direction(nas::v1::MINIMIZE);
  EXPECT_THAT(ScoreOf(objectives, {{"accuracy", 0.9}, {"latency_ms", 3}}),
              Optional(ElementsAre(0.9, -3.0)));
  EXPECT_EQ(ScoreOf(objectives, {{"accuracy", 0.9}}), std::nullopt);
}

TEST(EarlyStopperTest, NoRuleMeansNoStopper) {
  EXPECT_EQ(EarlyStopper::Create(nas::v1::EarlyStopping()), nullptr);
}

TEST(MedianStoppingTest, StopsTrialBelowMedianOfCompletedTrials) {
  std::unique_ptr<EarlyStopper> stopper = EarlyStopper::Create(Median(5, 1));
  CompleteTrials(*stopper, 5, 3, [](int i) { return Score{i / 10.0}; });
  // Median of the running averages is 0.3.
  EXPECT_TRUE(stopper->Report(100, 2, {0.2}));
  EXPECT_FALSE(stopper->Report(101, 2, {0.3}));  // not strictly worse
  EXPECT_FALSE(stopper->Report(102, 2, {0.45}));
}

TEST(MedianStoppingTest, UsesTheTrialsBestValueSoFar) {
  std::unique_ptr<EarlyStopper> stopper = EarlyStopper::Create(Median(5, 1));
  CompleteTrials(*stopper, 5, 3, [](int i) { return Score{i / 10.0}; });
  EXPECT_FALSE(stopper->Report(100, 1, {0.5}));
  EXPECT_FALSE(stopper->Report(100, 2, {0.1}));  // best so far is 0.5
}

TEST(MedianStoppingTest, WaitsForMinTrialsAndStartStep) {
  std::unique_ptr<EarlyStopper> stopper = EarlyStopper::Create(Median(5, 3));
  CompleteTrials(*stopper, 4, 3, [](int i) { return Score{i / 10.0}; });
  EXPECT_FALSE(stopper->Report(100, 3, {0.0}));  // only 4 completed
  CompleteTrials(*stopper, 5, 3, [](int i) { return Score{i / 10.0}; });
  EXPECT_FALSE(stopper->Report(101, 2, {0.0}));  // before start_step
  EXPECT_TRUE(stopper->Report(101, 3, {0.0}));
}

TEST(MedianStoppingTest, MultiObjectiveStopsOnlyDominatedTrials) {
  std::unique_ptr<EarlyStopper> stopper = EarlyStopper::Create(Median(3, 1));
  // Completed: a front of three, and two trials behind it.
  const std::map<int, Score> completed = {{1, {0.9, -5}},
                                          {2, {0.7, -3}},
                                          {3, {0.5, -1}},
                                          {4, {0.4, -6}},
                                          {5, {0.3, -7}}};
  CompleteTrials(*stopper, 5, 2, [&](int i) { return completed.at(i); });
  // On the front (best latency of all): continues although its accuracy
  // is below every completed trial's.
  EXPECT_FALSE(stopper->Report(100, 2, {0.2, -0.5}));
  // Dominated by most: worse than the median rank.
  EXPECT_TRUE(stopper->Report(101, 2, {0.2, -8}));
}

TEST(AshaTest, KeepsTopThirdAtEachRung) {
  std::unique_ptr<EarlyStopper> stopper = EarlyStopper::Create(Asha(1, 3));
  EXPECT_FALSE(stopper->Report(1, 1, {0.5}));  // fewer than eta recorded
  EXPECT_FALSE(stopper->Report(2, 1, {0.9}));
  EXPECT_TRUE(stopper->Report(3, 1, {0.1}));  // 3 recorded: top 1 goes on
  EXPECT_FALSE(stopper->Report(4, 1, {0.95}));
  // Rung 1 is at step 3; steps in between keep the rung-0 decision.
  EXPECT_FALSE(stopper->Report(4, 2, {0.2}));
}

TEST(AshaTest, HigherRungsUseTheirOwnRecords) {
  std::unique_ptr<EarlyStopper> stopper = EarlyStopper::Create(Asha(1, 2));
  for (int t = 1; t <= 4; ++t) stopper->Report(t, 1, {0.1 * t});
  // Rung 1 (step 2) has one record: continues whatever its value.
  EXPECT_FALSE(stopper->Report(1, 2, {0.0}));
  EXPECT_FALSE(stopper->Report(4, 2, {0.8}));  // 2 records, keeps the best
  EXPECT_TRUE(stopper->Report(3, 2, {0.1}));   // 3 records, keeps 1
}

TEST(AshaTest, MultiObjectiveKeepsTheParetoFront) {
  std::unique_ptr<EarlyStopper> stopper = EarlyStopper::Create(Asha(1, 3));
  EXPECT_FALSE(stopper->Report(1, 1, {1.0, 0.0}));
  EXPECT_FALSE(stopper->Report(2, 1, {0.0, 1.0}));
  EXPECT_FALSE(stopper->Report(3, 1, {0.5, 0.5}));  // all on the front
  EXPECT_TRUE(stopper->Report(4, 1, {0.1, 0.1}));   // dominated
}

TEST(AshaTest, ResetCurveKeepsRungRecordsButForgetsSteps) {
  std::unique_ptr<EarlyStopper> stopper = EarlyStopper::Create(Asha(1, 3));
  stopper->Report(1, 1, {0.5});
  stopper->Report(2, 1, {0.9});
  stopper->ResetCurve(1);
  // Trial 3 still competes with both earlier records.
  EXPECT_TRUE(stopper->Report(3, 1, {0.1}));
}

}  // namespace
}  // namespace nas::scheduler
