#include "controller/strategy/darts_driver.h"

#include <map>
#include <memory>
#include <string>

#include "common/task/darts_task.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::strategy {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

const std::vector<std::string> kOps = {"none", "skip_connect", "sep_conv_3x3",
                                       "max_pool_3x3"};

nas::v1::JobSpec DartsJob(std::vector<double> lambdas) {
  nas::v1::JobSpec spec;
  nas::v1::DartsCellSpace* space = spec.mutable_search_space()->mutable_darts();
  for (const std::string& op : kOps) space->add_ops(op);
  space->set_nodes(2);
  space->set_inputs_per_node(2);
  space->set_cells(3);
  nas::v1::Darts* darts = spec.mutable_strategy()->mutable_darts();
  darts->set_search_epochs(2);
  darts->set_arch_learning_rate(3e-4);
  for (double lambda : lambdas) darts->add_latency_weights(lambda);
  spec.add_objectives()->set_metric("accuracy");
  return spec;
}

std::unique_ptr<Strategy> Create(const nas::v1::JobSpec& spec) {
  absl::StatusOr<std::unique_ptr<Strategy>> strategy = CreateStrategy(spec);
  EXPECT_OK(strategy);
  return strategy.ok() ? *std::move(strategy) : nullptr;
}

// A derived genotype (2 nodes) as the metrics a worker's search reports.
std::map<std::string, double> SearchResult(const std::string& normal_op) {
  nas::v1::CellGenotype g;
  for (nas::v1::Cell* cell : {g.mutable_normal(), g.mutable_reduce()}) {
    for (int k = 0; k < 2; ++k) {
      nas::v1::CellNode* node = cell->add_nodes();
      for (int input : {0, k + 1}) {
        nas::v1::CellEdge* edge = node->add_edges();
        edge->set_input(input);
        edge->set_op(cell == g.mutable_normal() ? normal_op : "max_pool_3x3");
      }
    }
  }
  std::map<std::string, double> metrics = {{"supernet_accuracy", 0.4}};
  EXPECT_OK(nas::task::EncodeDerivedGenotype(g, kOps, &metrics));
  return metrics;
}

// As the scheduler's adapter passes it: no `accuracy` objective in a search
// result, so `failed` is set, but the metrics are there.
Result Succeeded(std::map<std::string, double> metrics) {
  Result result;
  result.failed = metrics.count("accuracy") == 0;
  result.metrics = std::move(metrics);
  return result;
}

TEST(DartsDriverTest, SearchesEveryLambdaThenRetrainsEachDerivedCell) {
  std::unique_ptr<Strategy> driver = Create(DartsJob({0.0, 0.5}));
  ASSERT_NE(driver, nullptr);
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture search0, driver->Suggest());
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture search1, driver->Suggest());
  EXPECT_FALSE(search0.has_cell());
  EXPECT_NE(search0.hash(), search1.hash());
  const TrialTask task1 = driver->Task(search1);
  EXPECT_EQ(task1.name, nas::task::kDartsSearch);
  ASSERT_OK_AND_ASSIGN(nas::v1::Darts config1,
                       nas::task::ParseDartsSearchConfig(task1.config));
  EXPECT_EQ(config1.latency_weights(0), 0.5);
  EXPECT_EQ(config1.search_epochs(), 2);
  EXPECT_THAT(driver->Suggest(), StatusIs(absl::StatusCode::kUnavailable));

  // The second search finishes first: its cell is retrained at once.
  ASSERT_OK(driver->Observe(search1, Succeeded(SearchResult("sep_conv_3x3"))));
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture retrain1, driver->Suggest());
  ASSERT_TRUE(retrain1.has_cell());
  EXPECT_EQ(retrain1.cell().normal().nodes(1).edges(1).op(), "sep_conv_3x3");
  EXPECT_FALSE(retrain1.hash().empty());
  EXPECT_TRUE(driver->Task(retrain1).name.empty());
  EXPECT_THAT(driver->Suggest(), StatusIs(absl::StatusCode::kUnavailable));

  ASSERT_OK(driver->Observe(search0, Succeeded(SearchResult("skip_connect"))));
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture retrain0, driver->Suggest());
  EXPECT_EQ(retrain0.cell().normal().nodes(0).edges(0).op(), "skip_connect");
  EXPECT_NE(retrain0.hash(), retrain1.hash());
  EXPECT_THAT(driver->Suggest(),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(DartsDriverTest, AFailedSearchHasNoRetrain) {
  std::unique_ptr<Strategy> driver = Create(DartsJob({0.0}));
  ASSERT_NE(driver, nullptr);
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture search, driver->Suggest());
  Result failed;
  failed.failed = true;
  ASSERT_OK(driver->Observe(search, failed));
  EXPECT_THAT(driver->Suggest(),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(DartsDriverTest, AResultWithoutAGenotypeIsRefusedByName) {
  std::unique_ptr<Strategy> driver = Create(DartsJob({0.0}));
  ASSERT_NE(driver, nullptr);
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture search, driver->Suggest());
  EXPECT_THAT(driver->Observe(search, Succeeded({{"accuracy", 0.9}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("derived_normal")));
  EXPECT_THAT(driver->Suggest(),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(DartsDriverTest, RestoredStateContinuesExactly) {
  const nas::v1::JobSpec spec = DartsJob({0.0, 0.1, 0.2});
  std::unique_ptr<Strategy> original = Create(spec);
  ASSERT_NE(original, nullptr);
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture s0, original->Suggest());
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture s1, original->Suggest());
  ASSERT_OK(original->Observe(s1, Succeeded(SearchResult("sep_conv_3x3"))));

  std::unique_ptr<Strategy> restored = Create(spec);
  ASSERT_NE(restored, nullptr);
  ASSERT_OK(restored->RestoreState(original->SaveState()));
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<nas::v1::Architecture> a = original->Suggest();
    absl::StatusOr<nas::v1::Architecture> b = restored->Suggest();
    ASSERT_EQ(a.status().code(), b.status().code());
    if (a.ok()) {
      EXPECT_EQ(a->hash(), b->hash());
    }
  }
  std::unique_ptr<Strategy> other = Create(DartsJob({0.0}));
  ASSERT_NE(other, nullptr);
  EXPECT_THAT(other->RestoreState(original->SaveState()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(other->RestoreState("garbage"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DartsDriverTest, SameConfigGivesTheSameSearchHash) {
  std::unique_ptr<Strategy> a = Create(DartsJob({0.3}));
  std::unique_ptr<Strategy> b = Create(DartsJob({0.3}));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture sa, a->Suggest());
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture sb, b->Suggest());
  EXPECT_EQ(sa.hash(), sb.hash());  // a cache hit across jobs is legitimate
  EXPECT_OK(a->MarkSeen(sa));
}

}  // namespace
}  // namespace nas::strategy
