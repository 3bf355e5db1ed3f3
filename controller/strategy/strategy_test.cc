// Conformance suite run against every strategy and space, plus
// strategy-specific behaviour.
#include "controller/strategy/strategy.h"

#include <deque>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "common/testing/status_matchers.h"
#include "controller/strategy/objectives.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::strategy {
namespace {

using ::nas::testing::StatusIs;

nas::v1::SearchSpace SpaceOf(const std::string& kind) {
  nas::v1::SearchSpace s;
  if (kind == "nb201") s.mutable_nb201();
  if (kind == "darts") s.mutable_darts();
  if (kind == "elastic") {
    nas::v1::ElasticSpace* e = s.mutable_elastic();
    for (int i = 0; i < 2; ++i) {
      nas::v1::ElasticStage* stage = e->add_stages();
      stage->set_channels(16);
      stage->set_stride(2);
      for (int d : {1, 2, 3}) stage->add_depths(d);
      for (int x : {3, 6}) stage->add_expand_ratios(x);
      for (int k : {3, 5}) stage->add_kernel_sizes(k);
    }
    for (int r : {24, 32}) e->add_resolutions(r);
    for (double w : {0.75, 1.0}) e->add_width_multipliers(w);
  }
  return s;
}

nas::v1::JobSpec Spec(const std::string& strategy, const std::string& space,
                      uint64_t seed) {
  nas::v1::JobSpec spec;
  *spec.mutable_search_space() = SpaceOf(space);
  nas::v1::Strategy* s = spec.mutable_strategy();
  s->set_seed(seed);
  if (strategy == "random") s->mutable_random();
  if (strategy == "regularized_evolution") {
    s->mutable_regularized_evolution()->set_population(10);
    s->mutable_regularized_evolution()->set_sample_size(3);
  }
  if (strategy == "pareto_evolution") s->mutable_pareto_evolution()->set_population(10);
  if (strategy == "reinforce") s->mutable_reinforce();
  nas::v1::Objective* acc = spec.add_objectives();
  acc->set_metric("accuracy");
  acc->set_direction(nas::v1::MAXIMIZE);
  nas::v1::Objective* lat = spec.add_objectives();
  lat->set_metric("latency");
  lat->set_direction(nas::v1::MINIMIZE);
  return spec;
}

std::unique_ptr<Strategy> Make(const nas::v1::JobSpec& spec) {
  absl::StatusOr<std::unique_ptr<Strategy>> s = CreateStrategy(spec);
  EXPECT_OK(s);
  return std::move(s).value();
}

// Deterministic synthetic result of an architecture; every 7th fails.
Result Evaluate(const nas::v1::Architecture& arch) {
  uint64_t h = 0;
  EXPECT_TRUE(absl::SimpleHexAtoi(arch.hash(), &h));
  Result r;
  r.failed = h % 7 == 0;
  if (!r.failed) r.values = {(h % 1000) / 10.0, ((h >> 10) % 1000) / 10.0};
  return r;
}

// Runs `steps` steps of an asynchronous driver: each step suggests one
// architecture and, while more than 3 are outstanding, observes the oldest.
// Returns the hashes suggested (and appends the architectures to `suggested`
// if given).
std::vector<std::string> Drive(
    Strategy& s, int steps, std::deque<nas::v1::Architecture>& pending,
    std::vector<nas::v1::Architecture>* suggested = nullptr) {
  std::vector<std::string> hashes;
  for (int i = 0; i < steps; ++i) {
    absl::StatusOr<nas::v1::Architecture> arch = s.Suggest();
    EXPECT_OK(arch);
    if (!arch.ok()) break;
    hashes.push_back(arch->hash());
    if (suggested != nullptr) suggested->push_back(*arch);
    pending.push_back(*std::move(arch));
    while (pending.size() > 3) {
      EXPECT_OK(s.Observe(pending.front(), Evaluate(pending.front())));
      pending.pop_front();
    }
  }
  return hashes;
}

class ConformanceTest
    : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  nas::v1::JobSpec SpecWithSeed(uint64_t seed) const {
    return Spec(std::get<0>(GetParam()), std::get<1>(GetParam()), seed);
  }
};

TEST_P(ConformanceTest, SuggestionsAreValidCanonicalAndNeverRepeat) {
  const nas::v1::JobSpec spec = SpecWithSeed(1);
  std::unique_ptr<Strategy> s = Make(spec);
  absl::flat_hash_set<std::string> hashes;
  std::deque<nas::v1::Architecture> pending;
  for (int i = 0; i < 250; ++i) {
    ASSERT_OK_AND_ASSIGN(nas::v1::Architecture arch, s->Suggest());
    ASSERT_OK_AND_ASSIGN(nas::v1::Architecture c,
                         Canonicalize(spec.search_space(), arch));
    EXPECT_EQ(c.canonical(), arch.canonical());
    EXPECT_EQ(c.hash(), arch.hash());
    EXPECT_TRUE(hashes.insert(arch.hash()).second) << arch.canonical();
    pending.push_back(arch);
    if (i % 2 == 1) {  // Results arrive late and out of order.
      ASSERT_OK(s->Observe(pending.back(), Evaluate(pending.back())));
      pending.pop_back();
    }
  }
}

TEST_P(ConformanceTest, SameSeedSameRunOtherSeedOtherRun) {
  std::deque<nas::v1::Architecture> p1, p2, p3;
  std::unique_ptr<Strategy> a = Make(SpecWithSeed(5));
  std::unique_ptr<Strategy> b = Make(SpecWithSeed(5));
  std::unique_ptr<Strategy> c = Make(SpecWithSeed(6));
  const std::vector<std::string> run_a = Drive(*a, 120, p1);
  EXPECT_EQ(run_a, Drive(*b, 120, p2));
  EXPECT_NE(run_a, Drive(*c, 120, p3));
}

TEST_P(ConformanceTest, RestoredStateContinuesLikeTheUninterruptedRun) {
  for (int k : {0, 1, 37, 150}) {
    std::unique_ptr<Strategy> original = Make(SpecWithSeed(9));
    std::deque<nas::v1::Architecture> pending;
    std::vector<nas::v1::Architecture> history;
    Drive(*original, k, pending, &history);
    const std::string bytes = original->SaveState();

    // As the scheduler does: the snapshot, then every trial from the store
    // (in any order; half of them by genotype only).
    std::unique_ptr<Strategy> restored = Make(SpecWithSeed(9));
    ASSERT_OK(restored->RestoreState(bytes));
    for (size_t i = history.size(); i-- > 0;) {
      nas::v1::Architecture arch = history[i];
      if (i % 2 == 0) arch.clear_canonical();
      ASSERT_OK(restored->MarkSeen(arch));
    }
    EXPECT_EQ(restored->SaveState(), bytes);
    std::deque<nas::v1::Architecture> pending_copy = pending;
    EXPECT_EQ(Drive(*original, 80, pending), Drive(*restored, 80, pending_copy))
        << "after " << k << " steps";
    EXPECT_EQ(original->SaveState(), restored->SaveState());
  }
}

TEST_P(ConformanceTest, SnapshotSizeDoesNotGrowWithTheHistory) {
  std::unique_ptr<Strategy> s = Make(SpecWithSeed(11));
  std::deque<nas::v1::Architecture> pending;
  Drive(*s, 100, pending);
  const size_t early = s->SaveState().size();
  Drive(*s, 400, pending);
  // The old format grew by 8 bytes per architecture (3,200 here).
  EXPECT_LE(s->SaveState().size(), early + 64);
}

TEST_P(ConformanceTest, ForgetSeenUndoesSuggestionsAfterARollback) {
  std::unique_ptr<Strategy> s = Make(SpecWithSeed(13));
  std::deque<nas::v1::Architecture> pending;
  Drive(*s, 30, pending);
  const std::string bytes = s->SaveState();
  std::unique_ptr<Strategy> twin = Make(SpecWithSeed(13));
  std::deque<nas::v1::Architecture> twin_pending;
  Drive(*twin, 30, twin_pending);

  // Five suggestions whose trials were never stored: roll them back.
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(nas::v1::Architecture lost, s->Suggest());
    ASSERT_OK(s->ForgetSeen(lost));
  }
  ASSERT_OK(s->RestoreState(bytes));
  EXPECT_EQ(Drive(*s, 40, pending), Drive(*twin, 40, twin_pending));
}

TEST_P(ConformanceTest, MarkSeenArchitecturesAreNeverSuggested) {
  std::unique_ptr<Strategy> other = Make(SpecWithSeed(21));
  std::deque<nas::v1::Architecture> other_pending;
  std::vector<nas::v1::Architecture> marked;
  Drive(*other, 40, other_pending, &marked);
  std::unique_ptr<Strategy> s = Make(SpecWithSeed(21));
  absl::flat_hash_set<std::string> hashes;
  for (const nas::v1::Architecture& arch : marked) {
    ASSERT_OK(s->MarkSeen(arch));
    hashes.insert(arch.hash());
  }
  std::deque<nas::v1::Architecture> pending;
  for (const std::string& h : Drive(*s, 100, pending)) {
    EXPECT_FALSE(hashes.contains(h)) << h;
  }
  EXPECT_THAT(s->MarkSeen(nas::v1::Architecture()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(ConformanceTest, RestoreRejectsForeignBytesAndKeepsItsState) {
  std::unique_ptr<Strategy> s = Make(SpecWithSeed(2));
  std::deque<nas::v1::Architecture> pending;
  Drive(*s, 20, pending);
  const std::string before = s->SaveState();
  EXPECT_THAT(s->RestoreState("not a state"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string other_kind =
      std::get<0>(GetParam()) == "random" ? "reinforce" : "random";
  std::unique_ptr<Strategy> other =
      Make(Spec(other_kind, std::get<1>(GetParam()), 2));
  EXPECT_THAT(s->RestoreState(other->SaveState()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string other_space =
      std::get<1>(GetParam()) == "nb201" ? "darts" : "nb201";
  std::unique_ptr<Strategy> elsewhere =
      Make(Spec(std::get<0>(GetParam()), other_space, 2));
  EXPECT_THAT(s->RestoreState(elsewhere->SaveState()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(s->SaveState(), before);
}

TEST_P(ConformanceTest, ObserveRejectsBadInputAndMarksOutsideArchsSeen) {
  std::unique_ptr<Strategy> s = Make(SpecWithSeed(3));
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture arch, s->Suggest());
  EXPECT_THAT(s->Observe(arch, Result{{1.0}, false}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s->Observe(nas::v1::Architecture(), Result{{1.0, 2.0}, false}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_OK(s->Observe(arch, Result{{}, true}));  // Failed: no values needed.
  // An architecture this strategy never suggested is not suggested later.
  std::unique_ptr<Strategy> other = Make(SpecWithSeed(4));
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture outside, other->Suggest());
  ASSERT_OK(s->Observe(outside, Result{{50.0, 5.0}, false}));
  std::deque<nas::v1::Architecture> pending;
  for (const std::string& h : Drive(*s, 200, pending)) {
    EXPECT_NE(h, outside.hash());
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllStrategies, ConformanceTest,
    ::testing::Combine(::testing::Values("random", "regularized_evolution",
                                         "reinforce", "pareto_evolution"),
                       ::testing::Values("nb201", "darts", "elastic")),
    [](const auto& info) {
      return std::get<0>(info.param) + "_" + std::get<1>(info.param);
    });

// Small spaces run out: every strategy hands out each class once, then
// reports kResourceExhausted.
TEST(ExhaustionTest, EveryStrategyHandsOutEachClassOnceThenStops) {
  nas::v1::SearchSpace small;
  small.mutable_nb201()->add_ops("none");
  small.mutable_nb201()->add_ops("skip_connect");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Space> space, Space::Create(small));
  absl::flat_hash_set<std::string> classes;
  for (uint64_t i = 0; i < space->size(); ++i) {
    classes.insert(space->Canonical(space->Decode(i)));
  }
  for (const char* name :
       {"random", "regularized_evolution", "reinforce", "pareto_evolution"}) {
    nas::v1::JobSpec spec = Spec(name, "nb201", 1);
    *spec.mutable_search_space() = small;
    std::unique_ptr<Strategy> s = Make(spec);
    absl::flat_hash_set<std::string> seen;
    absl::StatusOr<nas::v1::Architecture> arch;
    while ((arch = s->Suggest()).ok()) {
      EXPECT_TRUE(seen.insert(arch->canonical()).second);
      ASSERT_OK(s->Observe(*arch, Evaluate(*arch)));
      ASSERT_LE(seen.size(), classes.size());
    }
    EXPECT_THAT(arch, StatusIs(absl::StatusCode::kResourceExhausted)) << name;
    EXPECT_EQ(seen.size(), classes.size()) << name;
    EXPECT_THAT(s->Suggest(), StatusIs(absl::StatusCode::kResourceExhausted));
  }
}

// Reward: the number of nor_conv_3x3 edges of the suggestion (its maximum,
// 6, is one class of ~6500).
double CountConv3x3(const nas::v1::Architecture& arch) {
  double n = 0;
  for (const auto& node : arch.cell().normal().nodes()) {
    for (const auto& edge : node.edges()) n += edge.op() == "nor_conv_3x3";
  }
  return n;
}

int SeedsFindingAllConv3x3(const std::string& strategy, int trials) {
  int found = 0;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    nas::v1::JobSpec spec = Spec(strategy, "nb201", seed);
    spec.mutable_strategy()->mutable_regularized_evolution()->Clear();
    if (strategy != "regularized_evolution") {
      spec.mutable_strategy()->mutable_random();
    }
    spec.mutable_objectives()->RemoveLast();
    std::unique_ptr<Strategy> s = Make(spec);
    for (int t = 0; t < trials; ++t) {
      absl::StatusOr<nas::v1::Architecture> arch = s->Suggest();
      EXPECT_OK(arch);
      const double reward = CountConv3x3(*arch);
      EXPECT_OK(s->Observe(*arch, Result{{reward}, false}));
      if (reward == 6) {
        ++found;
        break;
      }
    }
  }
  return found;
}

TEST(RegularizedEvolutionTest, FindsTheOptimumWhereRandomSearchDoesNot) {
  EXPECT_GE(SeedsFindingAllConv3x3("regularized_evolution", 300), 9);
  EXPECT_LE(SeedsFindingAllConv3x3("random", 300), 2);
}

// Mean number of nor_conv_3x3 edges over the first `trials` suggestions
// when that number is the reward.
double MeanConv3x3(const std::string& strategy, int trials) {
  nas::v1::JobSpec spec = Spec(strategy, "nb201", 3);
  spec.mutable_objectives()->RemoveLast();
  std::unique_ptr<Strategy> s = Make(spec);
  double sum = 0;
  for (int t = 0; t < trials; ++t) {
    absl::StatusOr<nas::v1::Architecture> arch = s->Suggest();
    EXPECT_OK(arch);
    const double reward = CountConv3x3(*arch);
    sum += reward;
    EXPECT_OK(s->Observe(*arch, Result{{reward}, false}));
  }
  return sum / trials;
}

TEST(ReinforceTest, PolicyMovesTowardsRewardedOps) {
  // Uniform sampling averages 6 edges / 5 ops = 1.2 (a bit less with dedup).
  EXPECT_LT(MeanConv3x3("random", 200), 1.4);
  EXPECT_GT(MeanConv3x3("reinforce", 200), 2.0);
}

TEST(ParetoEvolutionTest, KeepsTheExtremesOfTheFront) {
  // Objectives: #conv3x3 (max) and #conv3x3 + #conv1x1 (min): the all-none
  // cell and the all-conv3x3 cell are the two ends of the front.
  nas::v1::JobSpec spec = Spec("pareto_evolution", "nb201", 4);
  spec.mutable_strategy()->mutable_pareto_evolution()->set_sample_size(5);
  std::unique_ptr<Strategy> s = Make(spec);
  double best = 0;
  for (int t = 0; t < 400; ++t) {
    ASSERT_OK_AND_ASSIGN(nas::v1::Architecture arch, s->Suggest());
    double conv1 = 0;
    for (const auto& node : arch.cell().normal().nodes()) {
      for (const auto& edge : node.edges()) conv1 += edge.op() == "nor_conv_1x1";
    }
    const double conv3 = CountConv3x3(arch);
    best = std::max(best, conv3);
    ASSERT_OK(s->Observe(arch, Result{{conv3, conv3 + conv1}, false}));
  }
  EXPECT_EQ(best, 6);
}

TEST(ObjectivesTest, MnasRewardLimitsAndOrientation) {
  google::protobuf::RepeatedPtrField<nas::v1::Objective> specs;
  nas::v1::Objective* acc = specs.Add();
  acc->set_direction(nas::v1::MAXIMIZE);
  acc->set_limit(50);
  nas::v1::Objective* lat = specs.Add();
  lat->set_direction(nas::v1::MINIMIZE);
  lat->set_target(10);
  ASSERT_OK_AND_ASSIGN(Objectives o, Objectives::Create(specs));
  EXPECT_NEAR(o.Reward({80, 20}), 80 * std::pow(2.0, -0.07), 1e-12);
  EXPECT_DOUBLE_EQ(o.Reward({80, 10}), 80);
  EXPECT_TRUE(o.Feasible({50, 100}));
  EXPECT_FALSE(o.Feasible({49.9, 1}));
  EXPECT_EQ(o.Oriented({80, 20}), (std::vector<double>{80, -20}));
  lat->set_limit(15);  // A latency cap.
  lat->set_weight(-0.5);
  ASSERT_OK_AND_ASSIGN(o, Objectives::Create(specs));
  EXPECT_FALSE(o.Feasible({80, 16}));
  EXPECT_DOUBLE_EQ(o.Reward({80, 40}), 40);
  lat->set_target(0);
  EXPECT_THAT(Objectives::Create(specs),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CreateStrategyTest, DefaultsAndErrors) {
  nas::v1::JobSpec spec;
  spec.mutable_search_space()->mutable_nb201();
  EXPECT_OK(CreateStrategy(spec));  // No kind: random search.
  spec.mutable_strategy()->mutable_regularized_evolution()->set_sample_size(60);
  EXPECT_THAT(CreateStrategy(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("regularized_evolution")));
  spec.mutable_strategy()->mutable_reinforce()->set_baseline_decay(1.0);
  EXPECT_THAT(CreateStrategy(spec), StatusIs(absl::StatusCode::kInvalidArgument));
  spec.mutable_strategy()->mutable_darts();  // on an nb201 space
  EXPECT_THAT(CreateStrategy(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("search_space.darts")));
  spec.mutable_strategy()->mutable_once_for_all();  // on an nb201 space
  EXPECT_THAT(CreateStrategy(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("search_space.elastic")));
  spec.mutable_strategy()->mutable_random();
  spec.clear_search_space();
  EXPECT_THAT(CreateStrategy(spec), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace nas::strategy
