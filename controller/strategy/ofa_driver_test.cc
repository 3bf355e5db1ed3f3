#include "controller/strategy/ofa_driver.h"

#include <cmath>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/task/ofa_task.h"
#include "common/task/ofa_testing.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::strategy {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int kSubnets = 12;
constexpr double kMacBudgetM = 0.15;
constexpr double kLatencyMs = 1.2;

nas::v1::JobSpec OfaJob(double mac_budget_m = kMacBudgetM) {
  nas::v1::JobSpec spec =
      nas::task::testing::TinyOfaJob(mac_budget_m, kLatencyMs, kSubnets);
  spec.mutable_evaluation()->mutable_train()->set_dataset("fashion_mnist");
  return spec;
}

std::unique_ptr<OfaDriver> MakeDriver(const nas::v1::JobSpec& spec) {
  auto space = Space::Create(spec.search_space());
  EXPECT_OK(space.status());
  auto driver = OfaDriver::Create(spec, *std::move(space));
  EXPECT_OK(driver.status());
  return driver.ok() ? *std::move(driver) : nullptr;
}

// A fake worker: MACs from the analytic count, latency 1 ms per 0.1M MACs,
// accuracy rising with MACs plus a small deterministic wobble.
Result FakeSubnetResult(const nas::v1::Architecture& arch) {
  const double macs = static_cast<double>(nas::task::ElasticMacs(
      OfaJob().search_space().elastic(), arch.elastic(), 1, 28));
  const double wobble =
      (Fingerprint(arch.canonical()) % 1000) / 1000.0 * 0.02 - 0.01;
  const double accuracy = 0.5 + 0.3 * (1 - std::exp(-macs / 2e5)) + wobble;
  Result result;
  result.values = {accuracy, macs};
  result.metrics = {{"accuracy", accuracy},
                    {"macs", macs},
                    {"latency_ms", macs / 1e5}};
  return result;
}

Result SupernetResult() {
  Result result;
  result.failed = true;  // no objective value: supernet metrics only
  result.metrics = {{"supernet_accuracy", 0.8}};
  return result;
}

TEST(OfaDriverTest, TrainsTheSupernetFirstThenSearchesWithItsCheckpoint) {
  std::unique_ptr<OfaDriver> driver = MakeDriver(OfaJob());
  ASSERT_NE(driver, nullptr);
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture train, driver->Suggest());
  EXPECT_EQ(train.canonical(), "ofa_train:" + driver->key());
  EXPECT_FALSE(train.has_elastic());
  const TrialTask task = driver->Task(train);
  EXPECT_EQ(task.name, nas::task::kOfaTrain);
  ASSERT_OK_AND_ASSIGN(nas::task::OfaTrainConfig config,
                       nas::task::ParseOfaTrainConfig(task.config));
  EXPECT_EQ(config.epochs_per_phase, 1);
  EXPECT_EQ(config.checkpoint, "ofa/" + driver->key() + ".pt");
  // No subnet before the supernet exists.
  EXPECT_THAT(driver->Suggest(), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_OK(driver->Observe(train, SupernetResult()));
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture subnet, driver->Suggest());
  EXPECT_TRUE(subnet.has_elastic());
  EXPECT_TRUE(absl::StartsWith(subnet.canonical(),
                               "ofa_subnet:" + driver->key() + ";elastic:"));
  const TrialTask subnet_task = driver->Task(subnet);
  EXPECT_EQ(subnet_task.name, nas::task::kOfaSubnet);
  ASSERT_OK_AND_ASSIGN(nas::task::OfaSubnetConfig subnet_config,
                       nas::task::ParseOfaSubnetConfig(subnet_task.config));
  EXPECT_EQ(subnet_config.checkpoint, config.checkpoint);

  // The key names the supernet: same spec, same key; another phase length
  // (another supernet), another key.
  EXPECT_EQ(MakeDriver(OfaJob())->key(), driver->key());
  nas::v1::JobSpec longer = OfaJob();
  longer.mutable_strategy()->mutable_once_for_all()->set_epochs_per_phase(2);
  EXPECT_NE(MakeDriver(longer)->key(), driver->key());
}

// Runs the whole job with results in suggestion order; the subnet trials.
std::vector<nas::v1::Architecture> RunJob(OfaDriver& driver,
                                          std::vector<int>* budgets) {
  std::vector<nas::v1::Architecture> subnets;
  absl::StatusOr<nas::v1::Architecture> train = driver.Suggest();
  EXPECT_OK(train.status());
  EXPECT_OK(driver.Observe(*train, SupernetResult()));
  for (;;) {
    absl::StatusOr<nas::v1::Architecture> arch = driver.Suggest();
    if (!arch.ok()) {
      EXPECT_THAT(arch, StatusIs(absl::StatusCode::kResourceExhausted));
      break;
    }
    budgets->push_back(driver.PendingBudget(*arch));
    EXPECT_OK(driver.Observe(*arch, FakeSubnetResult(*arch)));
    subnets.push_back(*std::move(arch));
  }
  return subnets;
}

TEST(OfaDriverTest, EveryBudgetGetsItsSubnetsAndMacBudgetsAreMet) {
  std::unique_ptr<OfaDriver> driver = MakeDriver(OfaJob());
  std::vector<int> budgets;
  const std::vector<nas::v1::Architecture> subnets = RunJob(*driver, &budgets);
  ASSERT_EQ(subnets.size(), 2u * kSubnets);  // + 1 training = max_trials
  std::set<std::string> hashes;
  for (size_t i = 0; i < subnets.size(); ++i) {
    EXPECT_TRUE(hashes.insert(subnets[i].hash()).second) << "repeated subnet";
    EXPECT_EQ(budgets[i], i < kSubnets ? 0 : 1);
    if (budgets[i] == 0) {
      EXPECT_LE(nas::task::ElasticMacs(OfaJob().search_space().elastic(),
                                       subnets[i].elastic(), 1, 28),
                kMacBudgetM * 1e6);
    }
  }
  // The best subnet of each budget meets it.
  ASSERT_NE(driver->BestWithin(0), nullptr);
  EXPECT_LE(driver->BestWithin(0)->macs, kMacBudgetM * 1e6);
  ASSERT_NE(driver->BestWithin(1), nullptr);
  EXPECT_LE(driver->BestWithin(1)->latency_ms, kLatencyMs);
}

TEST(OfaDriverTest, ParetoSetIsTheNonDominatedMeasuredSubnets) {
  std::unique_ptr<OfaDriver> driver = MakeDriver(OfaJob());
  std::vector<int> budgets;
  const std::vector<nas::v1::Architecture> subnets = RunJob(*driver, &budgets);
  // Brute force over every measured subnet; latency is MACs / 1e5 here, so
  // both projections give the same front.
  std::vector<Result> results;
  for (const auto& arch : subnets) results.push_back(FakeSubnetResult(arch));
  std::set<std::pair<double, double>> expected;
  for (const Result& a : results) {
    bool dominated = false;
    for (const Result& b : results) {
      const double aa = a.metrics.at("accuracy"), am = a.metrics.at("macs");
      const double ba = b.metrics.at("accuracy"), bm = b.metrics.at("macs");
      dominated |= ba >= aa && bm <= am && (ba > aa || bm < am);
    }
    if (!dominated) {
      expected.insert({a.metrics.at("macs"), a.metrics.at("accuracy")});
    }
  }
  std::set<std::pair<double, double>> got;
  double last_macs = -1;
  for (const OfaDriver::Subnet& s : driver->ParetoSet()) {
    EXPECT_GE(s.macs, last_macs);  // by increasing MACs
    last_macs = s.macs;
    got.insert({s.macs, s.accuracy});
  }
  EXPECT_EQ(got, expected);
  EXPECT_GE(got.size(), 2u);
}

TEST(OfaDriverTest, RestoredDriverContinuesExactly) {
  const nas::v1::JobSpec spec = OfaJob();
  std::unique_ptr<OfaDriver> a = MakeDriver(spec);
  // Up to 3 outstanding trials, results in a shuffled order.
  std::deque<nas::v1::Architecture> outstanding;
  std::vector<nas::v1::Architecture> history;
  auto step = [&](OfaDriver& d, std::deque<nas::v1::Architecture>& out,
                  int i) -> std::string {
    if (out.size() >= 3 || (i % 4 == 3 && !out.empty())) {
      const size_t pick = i % out.size();
      const nas::v1::Architecture arch = out[pick];
      out.erase(out.begin() + pick);
      EXPECT_OK(d.Observe(arch, arch.has_elastic() ? FakeSubnetResult(arch)
                                                   : SupernetResult()));
      return "observe " + arch.canonical();
    }
    absl::StatusOr<nas::v1::Architecture> arch = d.Suggest();
    if (!arch.ok()) return std::string(arch.status().ToString());
    out.push_back(*arch);
    return arch->canonical();
  };
  for (int i = 0; i < 14; ++i) {
    const std::string what = step(*a, outstanding, i);
    if (!absl::StartsWith(what, "observe") && !absl::StartsWith(what, "UNAV")) {
      history.push_back(outstanding.back());
    }
  }
  // A restarted controller: restore the bytes, mark the stored trials.
  std::unique_ptr<OfaDriver> b = MakeDriver(spec);
  ASSERT_OK(b->RestoreState(a->SaveState()));
  for (const auto& arch : history) ASSERT_OK(b->MarkSeen(arch));
  std::deque<nas::v1::Architecture> outstanding_b = outstanding;
  for (int i = 14; i < 40; ++i) {
    ASSERT_EQ(step(*a, outstanding, i), step(*b, outstanding_b, i)) << i;
  }
  EXPECT_EQ(a->SaveState(), b->SaveState());

  // Foreign bytes are refused and change nothing.
  const std::string before = b->SaveState();
  EXPECT_THAT(b->RestoreState("garbage"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  nas::v1::JobSpec other = spec;
  other.mutable_strategy()->mutable_once_for_all()->set_epochs_per_phase(3);
  EXPECT_THAT(MakeDriver(other)->RestoreState(before),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(b->SaveState(), before);
}

TEST(OfaDriverTest, RolledBackSuggestionsAreSuggestedAgain) {
  std::unique_ptr<OfaDriver> driver = MakeDriver(OfaJob());
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture train, driver->Suggest());
  ASSERT_OK(driver->Observe(train, SupernetResult()));
  const std::string saved = driver->SaveState();
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture first, driver->Suggest());
  // The scheduler could not store it: restore and forget.
  ASSERT_OK(driver->RestoreState(saved));
  ASSERT_OK(driver->ForgetSeen(first));
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture again, driver->Suggest());
  EXPECT_EQ(again.canonical(), first.canonical());
}

TEST(OfaDriverTest, AFailedSupernetFailsTheJob) {
  std::unique_ptr<OfaDriver> driver = MakeDriver(OfaJob());
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture train, driver->Suggest());
  Result failed;
  failed.failed = true;
  ASSERT_OK(driver->Observe(train, failed));
  EXPECT_THAT(driver->Suggest(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("supernet training trial failed")));
}

TEST(OfaDriverTest, AFailedSubnetTrialIsReplacedWithinItsBudget) {
  std::unique_ptr<OfaDriver> driver = MakeDriver(OfaJob());
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture train, driver->Suggest());
  ASSERT_OK(driver->Observe(train, SupernetResult()));
  int suggested = 0, failed = 0;
  std::set<std::string> hashes;
  for (;;) {
    absl::StatusOr<nas::v1::Architecture> arch = driver->Suggest();
    if (!arch.ok()) break;
    ++suggested;
    EXPECT_TRUE(hashes.insert(arch->hash()).second);
    Result result = FakeSubnetResult(*arch);
    if (suggested % 5 == 0) {  // a worker could not measure it
      result = Result();
      result.failed = true;
      ++failed;
    }
    ASSERT_OK(driver->Observe(*arch, result));
  }
  // Every budget still gets its kSubnets measured subnets.
  EXPECT_GT(failed, 0);
  EXPECT_EQ(suggested - failed, 2 * kSubnets);
}

TEST(OfaDriverTest, ABudgetWithoutNewSubnetsHandsItsTrialsToTheNext) {
  // Only the smallest subnet meets a MAC budget of exactly its MACs.
  const nas::v1::ElasticSpace space = OfaJob().search_space().elastic();
  const double smallest = static_cast<double>(nas::task::ElasticMacs(
      space, nas::task::SmallestSubnet(space), 1, 28));
  std::unique_ptr<OfaDriver> driver = MakeDriver(OfaJob((smallest + 1) / 1e6));
  ASSERT_NE(driver, nullptr);
  std::vector<int> budgets;
  const std::vector<nas::v1::Architecture> subnets = RunJob(*driver, &budgets);
  ASSERT_EQ(subnets.size(), 2u * kSubnets);
  EXPECT_EQ(std::count(budgets.begin(), budgets.end(), 0), 1);
  EXPECT_EQ(std::count(budgets.begin(), budgets.end(), 1), 2 * kSubnets - 1);
}

TEST(OfaDriverTest, BadSpecsAreRefusedByField) {
  nas::v1::JobSpec spec = OfaJob(0.001);  // below the smallest subnet
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Space> space,
                       Space::Create(spec.search_space()));
  EXPECT_THAT(OfaDriver::Create(spec, std::move(space)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("strategy.once_for_all.mac_budgets_m[0]")));
  spec = OfaJob();
  spec.mutable_strategy()->mutable_once_for_all()->clear_mac_budgets_m();
  spec.mutable_strategy()->mutable_once_for_all()->clear_latency_budgets_ms();
  EXPECT_THAT(CreateStrategy(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at least one of mac_budgets_m")));
  spec = OfaJob();
  spec.mutable_evaluation()->mutable_table()->set_path("x.csv");
  EXPECT_THAT(CreateStrategy(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("evaluation.train")));
  EXPECT_OK(CreateStrategy(OfaJob()));
}

}  // namespace
}  // namespace nas::strategy
